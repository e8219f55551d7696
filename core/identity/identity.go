package identity

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Version is the version byte of the encodings this package writes.
const Version = 1

// SeedSize is how many bytes Generate reads from its random source.
const SeedSize = 32

// Sizes of the keys in the encodings.
const (
	SigningKeySize     = ed25519.PublicKeySize // 32
	DHKeySize          = 32
	EnvelopeKeySize    = 1216 // MLKEM768-X25519 public key: 1184 + 32
	envelopeSecretSize = 32   // MLKEM768-X25519 private key: a seed
	SignatureSize      = ed25519.SignatureSize

	privateFixedSize = 1 + ed25519.SeedSize + DHKeySize + envelopeSecretSize + 2
	// MaxPrivateSize bounds the private identity encoding.
	MaxPrivateSize = privateFixedSize + MaxPseudonymBytes
)

// EnvelopeKEM is the HPKE KEM of the envelope key.
func EnvelopeKEM() hpke.KEM { return hpke.MLKEM768X25519() }

// HKDF info labels deriving the three private keys from the seed.
const (
	labelSeedSigning  = "ephemera/identity/v1/seed/ed25519"
	labelSeedDH       = "ephemera/identity/v1/seed/x25519"
	labelSeedEnvelope = "ephemera/identity/v1/seed/hpke-mlkem768x25519"
)

// An Identity is the user's private identity. Its methods are safe for
// concurrent use; it is never modified after creation. The zero value is not
// usable: make one with Generate or ParsePrivate.
type Identity struct {
	pseudonym    string
	signing      ed25519.PrivateKey
	dh           *ecdh.PrivateKey
	envelopeSeed [envelopeSecretSize]byte
	envelope     hpke.PrivateKey
	bundle       *Bundle
}

// Generate makes a new identity named pseudonym (see ValidatePseudonym). It
// reads SeedSize bytes from rand (crypto/rand when rand is nil) and derives
// the three private keys from them with HKDF-SHA-256, so a fixed reader gives
// a fixed identity (test vectors); the standard library's own key generators
// ignore injected randomness.
func Generate(rand io.Reader, pseudonym string) (*Identity, error) {
	seed := make([]byte, SeedSize)
	if err := readRandom(rand, seed); err != nil {
		return nil, fmt.Errorf("identity: reading randomness: %w", err)
	}
	return FromSeed(seed, pseudonym)
}

// FromSeed derives an identity from a SeedSize-byte seed, as Generate does.
func FromSeed(seed []byte, pseudonym string) (*Identity, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("identity: seed is %d bytes, want %d", len(seed), SeedSize)
	}
	sk, err := hkdf.Key(sha256.New, seed, nil, labelSeedSigning, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	dk, err := hkdf.Key(sha256.New, seed, nil, labelSeedDH, DHKeySize)
	if err != nil {
		return nil, err
	}
	ek, err := hkdf.Key(sha256.New, seed, nil, labelSeedEnvelope, envelopeSecretSize)
	if err != nil {
		return nil, err
	}
	return newIdentity(pseudonym, sk, dk, ek)
}

func readRandom(r io.Reader, b []byte) error {
	if r == nil {
		_, err := rand.Read(b)
		return err
	}
	_, err := io.ReadFull(r, b)
	return err
}

func newIdentity(pseudonym string, signingSeed, dhKey, envelopeSeed []byte) (*Identity, error) {
	name, err := ValidatePseudonym(pseudonym)
	if err != nil {
		return nil, err
	}
	dh, err := ecdh.X25519().NewPrivateKey(dhKey)
	if err != nil {
		return nil, fmt.Errorf("%w: X25519 private key: %v", ErrMalformed, err)
	}
	env, err := EnvelopeKEM().NewPrivateKey(envelopeSeed)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope private key: %v", ErrMalformed, err)
	}
	id := &Identity{
		pseudonym: name,
		signing:   ed25519.NewKeyFromSeed(signingSeed),
		dh:        dh,
		envelope:  env,
	}
	copy(id.envelopeSeed[:], envelopeSeed)
	b := &Bundle{
		Pseudonym:   name,
		SigningKey:  id.signing.Public().(ed25519.PublicKey),
		DHKey:       dh.PublicKey().Bytes(),
		EnvelopeKey: env.PublicKey().Bytes(),
	}
	b.Signature = ed25519.Sign(id.signing, b.signedMessage())
	id.bundle = b
	return id, nil
}

// WithPseudonym returns a copy of the identity under a new pseudonym, with a
// newly signed Bundle. The keys, and so the safety numbers, do not change.
func (id *Identity) WithPseudonym(pseudonym string) (*Identity, error) {
	return newIdentity(pseudonym, id.signing.Seed(), id.dh.Bytes(), id.envelopeSeed[:])
}

// Pseudonym returns the identity's validated pseudonym.
func (id *Identity) Pseudonym() string { return id.pseudonym }

// SigningKey returns a copy of the Ed25519 private key.
func (id *Identity) SigningKey() ed25519.PrivateKey {
	return append(ed25519.PrivateKey(nil), id.signing...)
}

// SigningPublicKey returns a copy of the Ed25519 public key.
func (id *Identity) SigningPublicKey() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), id.bundle.SigningKey...)
}

// DHKey returns the X25519 identity private key (ecdh keys are immutable).
func (id *Identity) DHKey() *ecdh.PrivateKey { return id.dh }

// DHPublicKey returns the X25519 identity public key.
func (id *Identity) DHPublicKey() *ecdh.PublicKey { return id.dh.PublicKey() }

// EnvelopeKey returns the HPKE private key that opens sealed-sender
// envelopes addressed to this identity.
func (id *Identity) EnvelopeKey() hpke.PrivateKey { return id.envelope }

// Bundle returns a copy of the identity's signed public Bundle.
func (id *Identity) Bundle() *Bundle { return id.bundle.clone() }

// Sign signs msg with the identity's Ed25519 key under a domain-separation
// label: the signed bytes are u16(len(label)) || label || msg. Packages that
// sign with the identity key (invites, prekeys) use their own label, so a
// signature made for one purpose cannot be replayed as another. Labels
// starting with "ephemera/identity/" are this package's own: Sign panics on
// them (a programming error), so no caller can forge a Bundle signature.
func (id *Identity) Sign(label string, msg []byte) []byte {
	if strings.HasPrefix(label, reservedLabelPrefix) {
		panic("identity: Sign with reserved label " + label)
	}
	return ed25519.Sign(id.signing, labeled(label, msg))
}

const reservedLabelPrefix = "ephemera/identity/"

// VerifyLabeled checks a signature made by Identity.Sign with the same label.
func VerifyLabeled(pub ed25519.PublicKey, label string, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != SignatureSize {
		return false
	}
	return ed25519.Verify(pub, labeled(label, msg), sig)
}

func labeled(label string, msg []byte) []byte {
	b := make([]byte, 0, 2+len(label)+len(msg))
	b = binary.BigEndian.AppendUint16(b, uint16(len(label)))
	b = append(b, label...)
	return append(b, msg...)
}

// MarshalBinary encodes the private identity for the vault:
//
//	u8 version = 1 || [32] Ed25519 seed || [32] X25519 private key ||
//	[32] HPKE MLKEM768-X25519 private key (seed) || u16 len || pseudonym
//
// The result holds every secret of the identity: seal it before storing.
func (id *Identity) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, privateFixedSize+len(id.pseudonym))
	b = append(b, Version)
	b = append(b, id.signing.Seed()...)
	b = append(b, id.dh.Bytes()...)
	b = append(b, id.envelopeSeed[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(id.pseudonym)))
	b = append(b, id.pseudonym...)
	return b, nil
}

// ParsePrivate decodes an encoding made by MarshalBinary.
func ParsePrivate(b []byte) (*Identity, error) {
	if len(b) > MaxPrivateSize {
		return nil, fmt.Errorf("%w: private identity is %d bytes, limit %d", ErrMalformed, len(b), MaxPrivateSize)
	}
	r := reader{b: b, what: "private identity"}
	v := r.byte("version")
	if r.err == nil && v != Version {
		return nil, fmt.Errorf("%w: private identity version %d", ErrUnsupportedVersion, v)
	}
	sk := r.fixed(ed25519.SeedSize, "Ed25519 seed")
	dk := r.fixed(DHKeySize, "X25519 private key")
	ek := r.fixed(envelopeSecretSize, "envelope private key")
	name := r.pseudonym()
	if err := r.done(); err != nil {
		return nil, err
	}
	return newIdentity(name, sk, dk, ek)
}

// reader reads a big-endian encoding, remembering the first error.
type reader struct {
	b    []byte
	off  int
	what string
	err  error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s", ErrMalformed, r.what, fmt.Sprintf(format, args...))
	}
}

func (r *reader) fixed(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < n {
		r.fail("truncated in %s at byte %d (need %d, have %d)", field, r.off, n, len(r.b)-r.off)
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *reader) byte(field string) byte {
	v := r.fixed(1, field)
	if v == nil {
		return 0
	}
	return v[0]
}

func (r *reader) u16(field string) int {
	v := r.fixed(2, field)
	if v == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(v))
}

// pseudonym reads a u16-prefixed pseudonym and insists it is valid and
// canonical (already trimmed).
func (r *reader) pseudonym() string {
	n := r.u16("pseudonym length")
	if r.err != nil {
		return ""
	}
	if n > MaxPseudonymBytes {
		r.fail("pseudonym length %d, limit %d", n, MaxPseudonymBytes)
		return ""
	}
	raw := string(r.fixed(n, "pseudonym"))
	if r.err != nil {
		return ""
	}
	name, err := ValidatePseudonym(raw)
	if err != nil {
		r.fail("%v", err)
		return ""
	}
	if name != raw {
		r.fail("pseudonym has leading or trailing white space")
		return ""
	}
	return name
}

func (r *reader) done() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}
