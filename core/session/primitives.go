package session

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/mlkem"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// Errors returned by this package, tested with errors.Is.
var (
	// ErrMalformed: bytes that do not parse (wrong length, version, flags).
	ErrMalformed = errors.New("session: malformed input")
	// ErrBadSignature: a prekey signature does not verify under the
	// identity key.
	ErrBadSignature = errors.New("session: bad prekey signature")
	// ErrIdentityMismatch: a bundle is for another identity than expected.
	ErrIdentityMismatch = errors.New("session: bundle identity does not match the expected peer")
	// ErrUnknownPrekey: an initial message names a prekey the store does
	// not hold (never existed, expired, or a one-time key already used).
	ErrUnknownPrekey = errors.New("session: unknown or already used prekey")
	// ErrZeroDH: an X25519 output was all zero (a low-order public key).
	ErrZeroDH = errors.New("session: X25519 output is all zero")
	// ErrDecrypt: a message failed authentication: forged, corrupted,
	// replayed, or from a chain whose keys are gone. State is unchanged.
	ErrDecrypt = errors.New("session: message authentication failed")
	// ErrDuplicate: the header authenticated but the message number was
	// already used (a replay or redelivery). State is unchanged.
	ErrDuplicate = errors.New("session: duplicate or expired message")
	// ErrTooFarAhead: accepting the message would skip more than MaxSkip
	// message keys. State is unchanged.
	ErrTooFarAhead = errors.New("session: message too far ahead")
)

const (
	x25519Size = 32
	kemEKSize  = mlkem.EncapsulationKeySize768 // 1184
	kemCTSize  = mlkem.CiphertextSize768       // 1088
	kemSeedSz  = mlkem.SeedSize                // 64
	keySize    = 32
)

// KDF and signature labels. Every derivation has its own.
const (
	labelPQXDH      = "Ephemera_PQXDH_X25519_SHA-256_ML-KEM-768"
	labelRoot       = "Ephemera_Ratchet_Root_X25519_ML-KEM-768_v1"
	labelPrekeySig  = "Ephemera_Prekey_Signature_v1"
	labelSessionAD  = "Ephemera_Session_AD_v1"
	chainMessageKey = 0x01 // HMAC input for a message key
	chainNextKey    = 0x02 // HMAC input for the next chain key
)

// Identity is one side's long-term keys: the Ed25519 signing key and the
// X25519 key (signed by it in core/identity). Session takes them as
// primitives so that it does not depend on core/identity's types.
type Identity struct {
	Signing ed25519.PrivateKey
	DH      *ecdh.PrivateKey
}

// PublicIdentity is the public half of an Identity.
type PublicIdentity struct {
	Signing ed25519.PublicKey
	DH      *ecdh.PublicKey
}

// Public returns the public half of id.
func (id Identity) Public() PublicIdentity {
	return PublicIdentity{Signing: id.Signing.Public().(ed25519.PublicKey), DH: id.DH.PublicKey()}
}

func (id Identity) check() error {
	if len(id.Signing) != ed25519.PrivateKeySize || id.DH == nil || id.DH.Curve() != ecdh.X25519() {
		return errors.New("session: identity needs an Ed25519 signing key and an X25519 key")
	}
	return nil
}

// Equal reports whether p and q are the same identity.
func (p PublicIdentity) Equal(q PublicIdentity) bool {
	return p.DH != nil && q.DH != nil && p.Signing.Equal(q.Signing) && p.DH.Equal(q.DH)
}

// appendIdentity appends the type-prefixed encoding of an identity:
// 0x02 ‖ Ed25519 key ‖ 0x01 ‖ X25519 key.
func appendIdentity(b []byte, p PublicIdentity) []byte {
	b = append(append(b, tagEd25519), p.Signing...)
	return append(append(b, tagX25519), p.DH.Bytes()...)
}

// sessionAD is the associated data of a session: both identities,
// type-prefixed, the initiator first.
func sessionAD(initiator, responder PublicIdentity) []byte {
	b := append([]byte(labelSessionAD), 0)
	b = appendIdentity(b, initiator)
	return appendIdentity(b, responder)
}

// readKey reads n bytes of key material from rand.
func readKey(rand io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("session: reading randomness: %w", err)
	}
	return b, nil
}

// newX25519 makes an X25519 key from 32 bytes of rand (so that an injected
// reader gives deterministic keys; crypto/ecdh.GenerateKey ignores it).
func newX25519(rand io.Reader) (*ecdh.PrivateKey, error) {
	b, err := readKey(rand, x25519Size)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return ecdh.X25519().NewPrivateKey(b)
}

// newKEM makes an ML-KEM-768 decapsulation key from a 64-byte seed read
// from rand.
func newKEM(rand io.Reader) (*mlkem.DecapsulationKey768, error) {
	b, err := readKey(rand, kemSeedSz)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return mlkem.NewDecapsulationKey768(b)
}

// dh computes X25519 and refuses an all-zero output.
func dh(priv *ecdh.PrivateKey, pub *ecdh.PublicKey) ([]byte, error) {
	out, err := priv.ECDH(pub)
	if err != nil {
		// crypto/ecdh reports the all-zero (low-order) case as an error.
		return nil, fmt.Errorf("%w: %v", ErrZeroDH, err)
	}
	if subtle.ConstantTimeCompare(out, make([]byte, len(out))) == 1 {
		return nil, ErrZeroDH
	}
	return out, nil
}

// kdfRoot is the root KDF of the ratchet: HKDF-SHA-256 with the root key as
// salt and DH output ‖ KEM shared secret as input keying material. When a
// KEM was used, the encapsulation key and the ciphertext (type-prefixed)
// are bound into the info string through their SHA-256 hash.
func kdfRoot(rk *[keySize]byte, dhOut, ss, ek, ct []byte) (newRK, ck, nhk [keySize]byte) {
	ikm := make([]byte, 0, len(dhOut)+len(ss))
	ikm = append(append(ikm, dhOut...), ss...)
	info := []byte(labelRoot)
	if ct == nil {
		info = append(info, 0)
	} else {
		h := sha256.New()
		h.Write([]byte{tagMLKEMEK})
		h.Write(ek)
		h.Write([]byte{tagMLKEMCT})
		h.Write(ct)
		info = h.Sum(append(info, 1))
	}
	out, err := hkdf.Key(sha256.New, ikm, rk[:], string(info), 3*keySize)
	if err != nil {
		panic("session: hkdf: " + err.Error()) // only on absurd lengths
	}
	copy(newRK[:], out)
	copy(ck[:], out[keySize:])
	copy(nhk[:], out[2*keySize:])
	clear(out)
	clear(ikm)
	return
}

// kdfChain steps a symmetric chain: message key = HMAC(ck, 0x01), next
// chain key = HMAC(ck, 0x02).
func kdfChain(ck *[keySize]byte) (mk, next [keySize]byte) {
	return hmac1(ck, chainMessageKey), hmac1(ck, chainNextKey)
}

// hmac1 is HMAC-SHA-256 (RFC 2104) of a one-byte message under a 32-byte
// key, written out so that the hot path does not allocate.
func hmac1(key *[keySize]byte, msg byte) [keySize]byte {
	var in [sha256.BlockSize + 1]byte
	var out [sha256.BlockSize + sha256.Size]byte
	for i := range sha256.BlockSize {
		k := byte(0)
		if i < keySize {
			k = key[i]
		}
		in[i] = k ^ 0x36
		out[i] = k ^ 0x5c
	}
	in[sha256.BlockSize] = msg
	inner := sha256.Sum256(in[:])
	copy(out[sha256.BlockSize:], inner[:])
	res := sha256.Sum256(out[:])
	clear(in[:])
	clear(out[:])
	clear(inner[:])
	return res
}
