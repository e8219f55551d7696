package identity_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// The primitives under the identity, checked against their standards' own
// vectors, so our vectors are not only checked against themselves.

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRFC8032Ed25519(t *testing.T) {
	// RFC 8032 section 7.1, TEST 1 (empty message).
	priv := ed25519.NewKeyFromSeed(unhex(t, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
	if got, want := priv.Public().(ed25519.PublicKey), unhex(t, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"); !bytes.Equal(got, want) {
		t.Fatalf("public key %x, want %x", got, want)
	}
	want := unhex(t, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	if got := ed25519.Sign(priv, nil); !bytes.Equal(got, want) {
		t.Fatalf("signature %x, want %x", got, want)
	}
}

func TestRFC7748X25519(t *testing.T) {
	// RFC 7748 section 6.1.
	a, err := ecdh.X25519().NewPrivateKey(unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ecdh.X25519().NewPrivateKey(unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.PublicKey().Bytes(), unhex(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"); !bytes.Equal(got, want) {
		t.Fatalf("Alice public %x, want %x", got, want)
	}
	if got, want := b.PublicKey().Bytes(), unhex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"); !bytes.Equal(got, want) {
		t.Fatalf("Bob public %x, want %x", got, want)
	}
	s, err := a.ECDH(b.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"); !bytes.Equal(s, want) {
		t.Fatalf("shared %x, want %x", s, want)
	}
}

func TestRFC5869HKDF(t *testing.T) {
	// RFC 5869 appendix A.1, test case 1 (SHA-256).
	okm, err := hkdf.Key(sha256.New, bytes.Repeat([]byte{0x0b}, 22), unhex(t, "000102030405060708090a0b0c"), string(unhex(t, "f0f1f2f3f4f5f6f7f8f9")), 42)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"); !bytes.Equal(okm, want) {
		t.Fatalf("OKM %x, want %x", okm, want)
	}
}
