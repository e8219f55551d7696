package identity_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"errors"
	"strings"
	"testing"

	"github.com/ephemera-im/ephemera/core/identity"
)

func TestGenerateDeterministic(t *testing.T) {
	a := mustIdentity(t, 1, "Alice")
	b := mustIdentity(t, 1, "Alice")
	ab, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	if !bytes.Equal(ab, bb) {
		t.Fatalf("same seed, different identities:\n%x\n%x", ab, bb)
	}
	if !bytes.Equal(a.Bundle().Marshal(), b.Bundle().Marshal()) {
		t.Fatal("same seed, different bundles")
	}
	c := mustIdentity(t, 2, "Alice")
	if bytes.Equal(a.SigningPublicKey(), c.SigningPublicKey()) {
		t.Fatal("different seeds, same signing key")
	}
}

func TestGenerateRandom(t *testing.T) {
	a, err := identity.Generate(nil, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.Generate(nil, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.SigningPublicKey(), b.SigningPublicKey()) {
		t.Fatal("two random identities share a key")
	}
	if err := a.Bundle().Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateShortReader(t *testing.T) {
	_, err := identity.Generate(bytes.NewReader(make([]byte, identity.SeedSize-1)), "Alice")
	if err == nil {
		t.Fatal("Generate with a short reader succeeded")
	}
}

func TestGenerateBadPseudonym(t *testing.T) {
	_, err := identity.Generate(bytes.NewReader(seed(1)), "  ")
	if !errors.Is(err, identity.ErrInvalidPseudonym) {
		t.Fatalf("got %v, want ErrInvalidPseudonym", err)
	}
}

func TestKeysWork(t *testing.T) {
	a := mustIdentity(t, 1, "Alice")
	b := mustIdentity(t, 50, "Bob")

	msg := []byte("hello")
	if !ed25519.Verify(a.SigningPublicKey(), msg, ed25519.Sign(a.SigningKey(), msg)) {
		t.Fatal("signing key does not match its public key")
	}
	s1, err := a.DHKey().ECDH(b.DHPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	bpub, err := a.Bundle().DHPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := b.DHKey().ECDH(bpub)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s1, s2) {
		t.Fatal("X25519 shared secrets differ")
	}

	// The envelope key from the Bundle seals to the identity's private key.
	pk, err := b.Bundle().EnvelopePublicKey()
	if err != nil {
		t.Fatal(err)
	}
	ct, err := hpke.Seal(pk, hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), []byte("info"), msg)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := hpke.Open(b.EnvelopeKey(), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), []byte("info"), ct)
	if err != nil || !bytes.Equal(pt, msg) {
		t.Fatalf("HPKE open: %q, %v", pt, err)
	}
}

func TestLabeledSignature(t *testing.T) {
	a := mustIdentity(t, 1, "Alice")
	sig := a.Sign("label/a", []byte("msg"))
	if !identity.VerifyLabeled(a.SigningPublicKey(), "label/a", []byte("msg"), sig) {
		t.Fatal("labeled signature does not verify")
	}
	if identity.VerifyLabeled(a.SigningPublicKey(), "label/b", []byte("msg"), sig) {
		t.Fatal("signature verifies under another label")
	}
	if identity.VerifyLabeled(a.SigningPublicKey(), "label/", []byte("amsg"), sig) {
		t.Fatal("label and message boundary is ambiguous")
	}
	if identity.VerifyLabeled(a.SigningPublicKey()[:31], "label/a", []byte("msg"), sig) {
		t.Fatal("short key accepted")
	}
}

func TestPrivateRoundTrip(t *testing.T) {
	for _, name := range []string{"A", "Alice", "Zoë 🙂", strings.Repeat("𝔸", identity.MaxPseudonymRunes)} {
		t.Run(name, func(t *testing.T) {
			a := mustIdentity(t, 1, name)
			enc, err := a.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(enc) > identity.MaxPrivateSize {
				t.Fatalf("encoding is %d bytes, limit %d", len(enc), identity.MaxPrivateSize)
			}
			b, err := identity.ParsePrivate(enc)
			if err != nil {
				t.Fatal(err)
			}
			enc2, _ := b.MarshalBinary()
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("round trip changed the encoding:\n got %x\nwant %x", enc2, enc)
			}
			if !a.Bundle().Equal(b.Bundle()) || b.Pseudonym() != name {
				t.Fatal("round trip changed the bundle")
			}
		})
	}
}

func TestParsePrivateErrors(t *testing.T) {
	a := mustIdentity(t, 1, "Alice")
	enc, _ := a.MarshalBinary()
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(enc)) }
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, identity.ErrMalformed},
		{"version", mod(func(b []byte) []byte { b[0] = 2; return b }), identity.ErrUnsupportedVersion},
		{"truncated", enc[:len(enc)-1], identity.ErrMalformed},
		{"trailing", append(bytes.Clone(enc), 0), identity.ErrMalformed},
		{"too long", make([]byte, identity.MaxPrivateSize+1), identity.ErrMalformed},
		{"pseudonym control", mod(func(b []byte) []byte { b[len(b)-1] = '\n'; return b }), identity.ErrMalformed},
		{"pseudonym padded", mod(func(b []byte) []byte { b[len(b)-5] = ' '; return b }), identity.ErrMalformed},
		{"pseudonym length", mod(func(b []byte) []byte { b[len(b)-6] = 0xff; return b }), identity.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := identity.ParsePrivate(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestWithPseudonym(t *testing.T) {
	a := mustIdentity(t, 1, "Alice")
	b, err := a.WithPseudonym("  Alicia ")
	if err != nil {
		t.Fatal(err)
	}
	if b.Pseudonym() != "Alicia" || a.Pseudonym() != "Alice" {
		t.Fatalf("pseudonyms %q, %q", a.Pseudonym(), b.Pseudonym())
	}
	if err := b.Bundle().Verify(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bundle().EnvelopeKey, b.Bundle().EnvelopeKey) || !bytes.Equal(a.Bundle().DHKey, b.Bundle().DHKey) {
		t.Fatal("renaming changed keys")
	}
	bob := mustIdentity(t, 50, "Bob")
	s1, _ := a.SafetyNumber(bob.Bundle())
	s2, _ := b.SafetyNumber(bob.Bundle())
	if !s1.Equal(s2) {
		t.Fatal("renaming changed the safety number")
	}
}

func TestValidatePseudonym(t *testing.T) {
	ok := map[string]string{
		"Alice":                 "Alice",
		"  Bob\t":               "Bob",
		"José":                  "José",
		"李小龙":                   "李小龙",
		"👩‍💻 dev":               "👩‍💻 dev", // ZWJ sequence allowed
		strings.Repeat("x", 64): strings.Repeat("x", 64),
	}
	for in, want := range ok {
		got, err := identity.ValidatePseudonym(in)
		if err != nil || got != want {
			t.Errorf("ValidatePseudonym(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "   ", strings.Repeat("x", 65), "a\x00b", "a\nb", "a\x7fb", "a\u0085b",
		"evil\u202egpj.exe", "a\u200fb", "a\u2066b", "a\u2028b", "a\u200bb", "a\ufeffb",
		string([]byte{'a', 0xff}),
	}
	for _, in := range bad {
		if _, err := identity.ValidatePseudonym(in); !errors.Is(err, identity.ErrInvalidPseudonym) {
			t.Errorf("ValidatePseudonym(%q) = %v, want ErrInvalidPseudonym", in, err)
		}
	}
}

func TestSignReservedLabel(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Sign with the bundle label did not panic")
		}
	}()
	mustIdentity(t, 1, "Alice").Sign("ephemera/identity/bundle/v1", nil)
}
