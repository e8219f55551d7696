package identity

import (
	"bytes"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// Safety-number parameters.
const (
	SafetyVersion = 1
	// fingerprintIterations follows Signal's numeric fingerprints: enough
	// work that searching for a key with a chosen fingerprint costs 5200
	// SHA-512 calls per try, cheap enough to compute on every display.
	fingerprintIterations = 5200
	fingerprintSize       = 32 // bytes per identity in the QR payload
	digitsPerIdentity     = 30
	// SafetyQRSize is the length of a safety-number QR payload.
	SafetyQRSize = 1 + 2*fingerprintSize
	// MaxQRPixels bounds QRCodePNG's size argument.
	MaxQRPixels = 4096
)

const labelSafety = "ephemera/safety-number/v1"

// fingerprint computes one identity's fingerprint:
//
//	keys = 0x01 || Ed25519 key || 0x02 || X25519 key
//	h0   = SHA-512(u16 SafetyVersion || label || keys)
//	hi+1 = SHA-512(hi || keys), 5200 times
//
// and keeps the first 32 bytes. The pseudonym is left out on purpose: it
// changes and proves nothing. The envelope key is left out because the
// Ed25519 key certifies it.
func fingerprint(signingKey, dhKey []byte) [fingerprintSize]byte {
	keys := make([]byte, 0, 2+len(signingKey)+len(dhKey))
	keys = append(keys, typeEd25519)
	keys = append(keys, signingKey...)
	keys = append(keys, typeX25519)
	keys = append(keys, dhKey...)

	h := sha512.New()
	var v [2]byte
	binary.BigEndian.PutUint16(v[:], SafetyVersion)
	h.Write(v[:])
	h.Write([]byte(labelSafety))
	h.Write(keys)
	sum := h.Sum(nil)
	for range fingerprintIterations {
		h.Reset()
		h.Write(sum)
		h.Write(keys)
		sum = h.Sum(sum[:0])
	}
	var fp [fingerprintSize]byte
	copy(fp[:], sum)
	return fp
}

// digits renders the first 30 bytes of a fingerprint as 30 digits: each
// 5-byte chunk, big-endian, modulo 100000, zero-padded to 5 digits.
func digits(fp [fingerprintSize]byte) string {
	var sb strings.Builder
	for i := 0; i < digitsPerIdentity/5; i++ {
		c := fp[i*5 : i*5+5]
		n := uint64(c[0])<<32 | uint64(c[1])<<24 | uint64(c[2])<<16 | uint64(c[3])<<8 | uint64(c[4])
		fmt.Fprintf(&sb, "%05d", n%100000)
	}
	return sb.String()
}

// A SafetyNumber is the fingerprint of a pair of identities, computed by one
// of them. Both sides get the same String; the QR payloads differ in order
// (the shower's fingerprint first) so CompareQR can tell a match from a scan
// of one's own screen. A SafetyNumber is immutable and safe for concurrent
// use.
type SafetyNumber struct {
	local, remote [fingerprintSize]byte
}

// SafetyNumber computes the safety number between id and a contact's Bundle.
// The Bundle is verified first.
func (id *Identity) SafetyNumber(contact *Bundle) (*SafetyNumber, error) {
	return NewSafetyNumber(id.bundle, contact)
}

// NewSafetyNumber computes the safety number that the owner of local sees
// for remote. Both Bundles are verified first.
func NewSafetyNumber(local, remote *Bundle) (*SafetyNumber, error) {
	if err := local.Verify(); err != nil {
		return nil, fmt.Errorf("safety number: own bundle: %w", err)
	}
	if err := remote.Verify(); err != nil {
		return nil, fmt.Errorf("safety number: contact's bundle: %w", err)
	}
	return &SafetyNumber{
		local:  fingerprint(local.SigningKey, local.DHKey),
		remote: fingerprint(remote.SigningKey, remote.DHKey),
	}, nil
}

// sorted returns the two fingerprints, smaller first.
func (s *SafetyNumber) sorted() (a, b [fingerprintSize]byte) {
	if bytes.Compare(s.local[:], s.remote[:]) <= 0 {
		return s.local, s.remote
	}
	return s.remote, s.local
}

// Digits returns the 60 digits of the safety number without separators.
func (s *SafetyNumber) Digits() string {
	a, b := s.sorted()
	return digits(a) + digits(b)
}

// String returns the safety number as 12 groups of 5 digits separated by
// spaces, identical on both sides.
func (s *SafetyNumber) String() string {
	return strings.Join(s.Groups(), " ")
}

// Groups returns the 12 groups of 5 digits, for display on 3 lines of 4.
func (s *SafetyNumber) Groups() []string {
	d := s.Digits()
	g := make([]string, 0, len(d)/5)
	for i := 0; i < len(d); i += 5 {
		g = append(g, d[i:i+5])
	}
	return g
}

// Equal reports in constant time whether two safety numbers are the same
// number, whichever side computed them.
func (s *SafetyNumber) Equal(o *SafetyNumber) bool {
	a1, b1 := s.sorted()
	a2, b2 := o.sorted()
	return subtle.ConstantTimeCompare(append(a1[:], b1[:]...), append(a2[:], b2[:]...)) == 1
}

// QRPayload returns the bytes to show as a QR code:
//
//	u8 SafetyVersion || [32] shower's fingerprint || [32] contact's fingerprint
func (s *SafetyNumber) QRPayload() []byte {
	p := make([]byte, 0, SafetyQRSize)
	p = append(p, SafetyVersion)
	p = append(p, s.local[:]...)
	return append(p, s.remote[:]...)
}

// QRCodePNG renders QRPayload as a size×size PNG (medium error correction).
func (s *SafetyNumber) QRCodePNG(size int) ([]byte, error) {
	return QRCodePNG(s.QRPayload(), size)
}

// QRCodePNG renders payload as a size×size PNG QR code with medium error
// correction (payloads of text use the QR alphanumeric or byte mode as they
// fit). size must give each module, quiet zone included, at least one pixel.
// It is shared with core/invite.
func QRCodePNG(payload []byte, size int) ([]byte, error) {
	if size > MaxQRPixels {
		return nil, fmt.Errorf("identity: QR code size %d pixels, limit %d", size, MaxQRPixels)
	}
	q, err := qrcode.New(string(payload), qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("identity: QR code: %w", err)
	}
	// go-qrcode silently draws a larger image than asked when size is below
	// one pixel per module; refuse instead, so callers get what they asked.
	if modules := len(q.Bitmap()); size < modules {
		return nil, fmt.Errorf("identity: QR code size %d pixels, need at least %d for this payload", size, modules)
	}
	return q.PNG(size)
}

// CompareQR checks a payload scanned from the contact's screen against this
// safety number. It returns true when the contact computed the same pair of
// fingerprints, false (with a nil error) when the numbers differ, false and
// ErrOwnCode when the scan is of this side's own code, and an error wrapping
// ErrMalformed or ErrUnsupportedVersion when the payload is not a safety-number
// code. Comparisons are constant-time.
func (s *SafetyNumber) CompareQR(scanned []byte) (bool, error) {
	if len(scanned) == 0 {
		return false, fmt.Errorf("%w: empty safety-number code", ErrMalformed)
	}
	if scanned[0] != SafetyVersion {
		return false, fmt.Errorf("%w: safety-number code version %d", ErrUnsupportedVersion, scanned[0])
	}
	if len(scanned) != SafetyQRSize {
		return false, fmt.Errorf("%w: safety-number code is %d bytes, want %d", ErrMalformed, len(scanned), SafetyQRSize)
	}
	theirs, mine := scanned[1:1+fingerprintSize], scanned[1+fingerprintSize:]
	match := subtle.ConstantTimeCompare(theirs, s.remote[:]) & subtle.ConstantTimeCompare(mine, s.local[:])
	if match == 1 {
		return true, nil
	}
	own := subtle.ConstantTimeCompare(theirs, s.local[:]) & subtle.ConstantTimeCompare(mine, s.remote[:])
	if own == 1 && s.local != s.remote {
		return false, ErrOwnCode
	}
	return false, nil
}
