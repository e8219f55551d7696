// Package envelope implements Ephemera's sealed-sender envelope: the only
// bytes a relay ever stores for a message.
//
// An envelope hides from the relay who sent it and everything about the
// message except an approximate size. It is a single-shot HPKE (RFC 9180)
// encryption, base mode, to the recipient's envelope key, using the
// post-quantum hybrid KEM MLKEM768-X25519 (X-Wing, draft-ietf-hpke-pq),
// HKDF-SHA256 and ChaCha20-Poly1305:
//
//	envelope = version (1 byte, 0x01) || enc (1120 bytes) || ct
//	ct       = ChaCha20-Poly1305(pad(payload)), 16-byte tag included
//	info     = "ephemera envelope v1"
//	aad      = version byte
//
// The payload (a ratchet message from core/session) is padded with the
// ISO/IEC 7816-4 scheme — a 0x80 byte, then zero bytes — up to the smallest
// bucket that holds it. The buckets (padded plaintext lengths) are the powers
// of two from 256 B to 128 KiB, then one last bucket that makes the envelope
// exactly 256 KiB, the relay's default max_envelope:
//
//	padded  256 512 1Ki 2Ki 4Ki 8Ki 16Ki 32Ki 64Ki 128Ki 261007
//	wire    padded + 1137 (1 version + 1120 enc + 16 tag), largest 262144
//
// A payload of n bytes needs n+1 padded bytes, so it fits a bucket of size
// b when n ≤ b−1; the largest payload is MaxPayload (261006 bytes).
//
// Promises: the relay (and anyone but the holder of the recipient's private
// key) learns only the bucket. Confidentiality holds if either X25519 or
// ML-KEM-768 holds. What it does not promise: the sender is NOT
// authenticated — anyone who knows a recipient's public key can seal to it.
// That is deliberate (deniability: nothing in the envelope is signed);
// authentication comes from the session inside, which the caller must check.
// Envelopes are not protected against replay here either; the session layer
// rejects replays. Timing, IP addresses and the bucket remain visible.
//
// Sealing is randomized by the HPKE encapsulation, which crypto/hpke draws
// from the system's secure source; it cannot be given a reader. Tests make it
// deterministic with testing/cryptotest.SetGlobalRandom, and the vectors in
// testdata/e2e/envelope*.json are known-answer tests of Open (a fixed
// envelope opened with a private key derived from a fixed seed).
//
// Performance: go test -run='^$' -bench=SealOpen -benchtime=2s ./core/envelope
// on the 2-core AMD EPYC build machine (Go 1.26.8, shared with other jobs)
// gives 0.64–0.75 ms per Seal+Open of a 1 KiB payload (padded to the 2 KiB
// bucket). Nearly all of it is the ML-KEM-768 and X25519 work of
// encapsulation and decapsulation; ChaCha20-Poly1305 over 2 KiB costs a few
// microseconds.
package envelope

import (
	"crypto/hpke"
	"errors"
	"fmt"
)

// Version is the only envelope format version this package speaks.
const Version = 1

// Info is the HPKE info string: it binds every key derived for an envelope to
// this protocol and format version.
const Info = "ephemera envelope v1"

const (
	// EncSize is the size of the MLKEM768-X25519 encapsulated key: an
	// ML-KEM-768 ciphertext (1088 bytes) followed by an X25519 public key.
	EncSize = 1088 + 32
	// TagSize is the ChaCha20-Poly1305 authentication tag size.
	TagSize = 16
	// Overhead is the number of bytes an envelope adds to its padded payload.
	Overhead = 1 + EncSize + TagSize

	// MaxSize is the largest envelope: the relay's default max_envelope.
	MaxSize = 256 << 10
	// MinSize is the smallest envelope.
	MinSize = minBucket + Overhead
	// MaxPayload is the largest payload Seal accepts.
	MaxPayload = MaxSize - Overhead - 1

	minBucket = 256
)

// Errors returned (wrapped) by Seal and Open. Test with errors.Is.
var (
	ErrTooLarge  = errors.New("envelope: too large")
	ErrMalformed = errors.New("envelope: malformed")
	ErrVersion   = errors.New("envelope: unsupported version")
	ErrKEM       = errors.New("envelope: key is not MLKEM768-X25519")
	// ErrDecrypt means the envelope was not sealed to this key, or was
	// modified after sealing. The two cannot be told apart.
	ErrDecrypt = errors.New("envelope: cannot decrypt (wrong key or tampered)")
)

var buckets = func() []int {
	var bs []int
	for b := minBucket; b <= 128<<10; b *= 2 {
		bs = append(bs, b)
	}
	return append(bs, MaxSize-Overhead)
}()

// Buckets returns the padded plaintext sizes, smallest first. The envelope
// for a bucket b is b+Overhead bytes long.
func Buckets() []int { return append([]int(nil), buckets...) }

// PaddedSize returns the bucket a payload of n bytes is padded to, or false
// if n is negative or above MaxPayload.
func PaddedSize(n int) (int, bool) {
	if n < 0 {
		return 0, false
	}
	for _, b := range buckets {
		if n < b {
			return b, true
		}
	}
	return 0, false
}

// SealedSize returns the length of the envelope Seal makes for a payload of
// n bytes, or false if n is negative or above MaxPayload.
func SealedSize(n int) (int, bool) {
	b, ok := PaddedSize(n)
	return b + Overhead, ok
}

func isBucket(n int) bool {
	for _, b := range buckets {
		if n == b {
			return true
		}
	}
	return false
}

var (
	kdf  = hpke.HKDFSHA256()
	aead = hpke.ChaCha20Poly1305()
	kem  = hpke.MLKEM768X25519()
)

// KEM returns the KEM envelope keys use, for generating and parsing them.
func KEM() hpke.KEM { return kem }

// Seal pads payload to its bucket and encrypts it to recipient, which must be
// an MLKEM768-X25519 key. The result is at most MaxSize bytes.
func Seal(recipient hpke.PublicKey, payload []byte) ([]byte, error) {
	if recipient == nil || recipient.KEM().ID() != kem.ID() {
		return nil, ErrKEM
	}
	size, ok := PaddedSize(len(payload))
	if !ok {
		return nil, fmt.Errorf("%w: payload of %d bytes, at most %d", ErrTooLarge, len(payload), MaxPayload)
	}
	padded := make([]byte, size)
	copy(padded, payload)
	padded[len(payload)] = 0x80

	enc, sender, err := hpke.NewSender(recipient, kdf, aead, []byte(Info))
	if err != nil {
		return nil, fmt.Errorf("envelope: seal: %w", err)
	}
	if len(enc) != EncSize {
		return nil, fmt.Errorf("envelope: seal: encapsulated key of %d bytes, want %d", len(enc), EncSize)
	}
	out := make([]byte, 0, 1+EncSize+size+TagSize)
	out = append(out, Version)
	out = append(out, enc...)
	ct, err := sender.Seal(out[:1], padded)
	if err != nil {
		return nil, fmt.Errorf("envelope: seal: %w", err)
	}
	return append(out, ct...), nil
}

// Open checks the outer format of envelope, decrypts it with priv and
// removes the padding. It returns an error wrapping ErrTooLarge,
// ErrMalformed, ErrVersion, ErrKEM or ErrDecrypt; it never panics. The
// returned payload is authenticated only as "sealed to priv by someone": the
// session inside must authenticate the sender.
func Open(priv hpke.PrivateKey, envelope []byte) ([]byte, error) {
	if priv == nil || priv.KEM().ID() != kem.ID() {
		return nil, ErrKEM
	}
	e, err := Parse(envelope)
	if err != nil {
		return nil, err
	}
	recipient, err := hpke.NewRecipient(e.Enc, priv, kdf, aead, []byte(Info))
	if err != nil {
		// Only a malformed X25519 share can fail here (an all-zero
		// shared secret); ML-KEM decapsulation never fails.
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	padded, err := recipient.Open([]byte{e.Version}, e.Ciphertext)
	if err != nil {
		return nil, ErrDecrypt
	}
	return unpad(padded)
}

// unpad removes ISO/IEC 7816-4 padding: trailing zeros, then one 0x80.
func unpad(padded []byte) ([]byte, error) {
	i := len(padded) - 1
	for i >= 0 && padded[i] == 0 {
		i--
	}
	if i < 0 || padded[i] != 0x80 {
		return nil, fmt.Errorf("%w: bad padding", ErrMalformed)
	}
	if b, _ := PaddedSize(i); b != len(padded) {
		// A sender that pads beyond the smallest bucket leaks nothing
		// new, but one canonical form keeps implementations honest.
		return nil, fmt.Errorf("%w: payload of %d bytes padded to %d, want %d", ErrMalformed, i, len(padded), b)
	}
	return padded[:i], nil
}
