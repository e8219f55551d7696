package identity

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// Type prefixes of keys in signed and hashed inputs, so that no key can be
// read as a key of another kind.
const (
	typeEd25519  = 0x01
	typeX25519   = 0x02
	typeEnvelope = 0x03 // followed by the u16 HPKE KEM id
)

const labelBundle = "ephemera/identity/bundle/v1"

const (
	bundleFixedSize = 1 + 2 + SigningKeySize + DHKeySize + EnvelopeKeySize + SignatureSize
	// MaxBundleSize bounds the Bundle encoding.
	MaxBundleSize = bundleFixedSize + MaxPseudonymBytes
)

// A Bundle is the public half of an Identity: what a contact needs to talk to
// it. Decoded Bundles (ParseBundle) are verified; a Bundle built by hand must
// be checked with Verify before use. The fields are the encoding's; methods do
// not modify them.
type Bundle struct {
	Pseudonym   string
	SigningKey  ed25519.PublicKey // 32 bytes
	DHKey       []byte            // X25519 public key, 32 bytes
	EnvelopeKey []byte            // HPKE MLKEM768-X25519 public key, 1216 bytes
	Signature   []byte            // Ed25519, 64 bytes, see signedMessage
}

func (b *Bundle) clone() *Bundle {
	return &Bundle{
		Pseudonym:   b.Pseudonym,
		SigningKey:  bytes.Clone(b.SigningKey),
		DHKey:       bytes.Clone(b.DHKey),
		EnvelopeKey: bytes.Clone(b.EnvelopeKey),
		Signature:   bytes.Clone(b.Signature),
	}
}

// EnvelopeKeyDigest returns SHA-256 of the envelope public key: what the
// Bundle's signature and invites commit to.
func (b *Bundle) EnvelopeKeyDigest() [32]byte { return sha256.Sum256(b.EnvelopeKey) }

// signedMessage is the input of the Bundle signature, before the label:
//
//	u8 version || u16 len || pseudonym || 0x01 || Ed25519 key ||
//	0x02 || X25519 key || 0x03 || u16 KEM id 0x647a || SHA-256(envelope key)
func (b *Bundle) signedMessage() []byte {
	d := b.EnvelopeKeyDigest()
	m := make([]byte, 0, 3+len(b.Pseudonym)+1+SigningKeySize+1+DHKeySize+3+len(d))
	m = append(m, Version)
	m = binary.BigEndian.AppendUint16(m, uint16(len(b.Pseudonym)))
	m = append(m, b.Pseudonym...)
	m = append(m, typeEd25519)
	m = append(m, b.SigningKey...)
	m = append(m, typeX25519)
	m = append(m, b.DHKey...)
	m = append(m, typeEnvelope)
	m = binary.BigEndian.AppendUint16(m, EnvelopeKEM().ID())
	m = append(m, d[:]...)
	return labeled(labelBundle, m)
}

// Verify checks the Bundle's shape, its keys and its signature. A changed
// field gives an error wrapping ErrBadSignature (or ErrMalformed when the
// field is no longer well formed).
func (b *Bundle) Verify() error {
	if err := b.checkSizes(); err != nil {
		return err
	}
	// The signature first: it is cheaper than checking the keys, and a
	// changed key is a bad signature before it is anything else.
	if !ed25519.Verify(b.SigningKey, b.signedMessage(), b.Signature) {
		return fmt.Errorf("%w (pseudonym %q)", ErrBadSignature, b.Pseudonym)
	}
	if _, err := b.DHPublicKey(); err != nil {
		return err
	}
	if _, err := b.EnvelopePublicKey(); err != nil {
		return err
	}
	return nil
}

func (b *Bundle) checkSizes() error {
	if name, err := ValidatePseudonym(b.Pseudonym); err != nil {
		return fmt.Errorf("%w: bundle: %w", ErrMalformed, err)
	} else if name != b.Pseudonym {
		return fmt.Errorf("%w: bundle: pseudonym has leading or trailing white space", ErrMalformed)
	}
	if len(b.SigningKey) != SigningKeySize {
		return fmt.Errorf("%w: bundle: Ed25519 key is %d bytes, want %d", ErrMalformed, len(b.SigningKey), SigningKeySize)
	}
	if len(b.Signature) != SignatureSize {
		return fmt.Errorf("%w: bundle: signature is %d bytes, want %d", ErrMalformed, len(b.Signature), SignatureSize)
	}
	if len(b.DHKey) != DHKeySize {
		return fmt.Errorf("%w: bundle: X25519 key is %d bytes, want %d", ErrMalformed, len(b.DHKey), DHKeySize)
	}
	if len(b.EnvelopeKey) != EnvelopeKeySize {
		return fmt.Errorf("%w: bundle: envelope key is %d bytes, want %d", ErrMalformed, len(b.EnvelopeKey), EnvelopeKeySize)
	}
	return nil
}

// probe is a fixed X25519 scalar used only to test public keys: a low-order
// point gives an all-zero shared secret, which crypto/ecdh reports as an
// error.
var probe = func() *ecdh.PrivateKey {
	k, err := ecdh.X25519().NewPrivateKey(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		panic(err)
	}
	return k
}()

func checkX25519(raw []byte, what string) (*ecdh.PublicKey, error) {
	if len(raw) != DHKeySize {
		return nil, fmt.Errorf("%w: bundle: %s is %d bytes, want %d", ErrMalformed, what, len(raw), DHKeySize)
	}
	k, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: bundle: %s: %v", ErrMalformed, what, err)
	}
	if _, err := probe.ECDH(k); err != nil {
		return nil, fmt.Errorf("%w: bundle: %s is a low-order point", ErrMalformed, what)
	}
	return k, nil
}

// DHPublicKey returns the X25519 identity key, checked not to be a
// low-order point.
func (b *Bundle) DHPublicKey() (*ecdh.PublicKey, error) {
	return checkX25519(b.DHKey, "X25519 key")
}

// EnvelopePublicKey returns the HPKE public key to seal envelopes to.
func (b *Bundle) EnvelopePublicKey() (hpke.PublicKey, error) {
	if len(b.EnvelopeKey) != EnvelopeKeySize {
		return nil, fmt.Errorf("%w: bundle: envelope key is %d bytes, want %d", ErrMalformed, len(b.EnvelopeKey), EnvelopeKeySize)
	}
	if _, err := checkX25519(b.EnvelopeKey[EnvelopeKeySize-DHKeySize:], "envelope key's X25519 part"); err != nil {
		return nil, err
	}
	k, err := EnvelopeKEM().NewPublicKey(b.EnvelopeKey)
	if err != nil {
		return nil, fmt.Errorf("%w: bundle: envelope key: %v", ErrMalformed, err)
	}
	return k, nil
}

// Marshal returns the canonical encoding of the Bundle:
//
//	u8 version = 1 || u16 len || pseudonym || [32] Ed25519 key ||
//	[32] X25519 key || [1216] HPKE key || [64] signature
//
// It encodes the fields as they are; call it on verified Bundles.
func (b *Bundle) Marshal() []byte {
	m := make([]byte, 0, bundleFixedSize+len(b.Pseudonym))
	m = append(m, Version)
	m = binary.BigEndian.AppendUint16(m, uint16(len(b.Pseudonym)))
	m = append(m, b.Pseudonym...)
	m = append(m, b.SigningKey...)
	m = append(m, b.DHKey...)
	m = append(m, b.EnvelopeKey...)
	m = append(m, b.Signature...)
	return m
}

// ParseBundle decodes and verifies a Bundle encoding (see Marshal). Errors
// wrap ErrMalformed, ErrUnsupportedVersion or ErrBadSignature.
func ParseBundle(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: bundle is %d bytes, limit %d", ErrMalformed, len(data), MaxBundleSize)
	}
	r := reader{b: data, what: "bundle"}
	v := r.byte("version")
	if r.err == nil && v != Version {
		return nil, fmt.Errorf("%w: bundle version %d", ErrUnsupportedVersion, v)
	}
	b := &Bundle{Pseudonym: r.pseudonym()}
	b.SigningKey = bytes.Clone(r.fixed(SigningKeySize, "Ed25519 key"))
	b.DHKey = bytes.Clone(r.fixed(DHKeySize, "X25519 key"))
	b.EnvelopeKey = bytes.Clone(r.fixed(EnvelopeKeySize, "envelope key"))
	b.Signature = bytes.Clone(r.fixed(SignatureSize, "signature"))
	if err := r.done(); err != nil {
		return nil, err
	}
	if err := b.Verify(); err != nil {
		return nil, err
	}
	return b, nil
}

// Equal reports whether two Bundles encode to the same bytes, in constant
// time for equal lengths.
func (b *Bundle) Equal(o *Bundle) bool {
	return subtle.ConstantTimeCompare(b.Marshal(), o.Marshal()) == 1
}

// ParseDHPublicKey checks a 32-byte X25519 public key the way Bundles are
// checked (right size, not a low-order point) and returns it. Errors wrap
// ErrMalformed.
func ParseDHPublicKey(raw []byte) (*ecdh.PublicKey, error) {
	return checkX25519(raw, "X25519 key")
}
