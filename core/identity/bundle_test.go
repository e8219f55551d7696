package identity_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ephemera-im/ephemera/core/identity"
)

func TestBundleRoundTrip(t *testing.T) {
	a := mustIdentity(t, 1, "Alice")
	enc := a.Bundle().Marshal()
	if want := 1 + 2 + 5 + 32 + 32 + 1216 + 64; len(enc) != want {
		t.Fatalf("bundle is %d bytes, want %d", len(enc), want)
	}
	b, err := identity.ParseBundle(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Marshal(), enc) {
		t.Fatal("round trip changed the bundle")
	}
	if !b.Equal(a.Bundle()) {
		t.Fatal("Equal is false for the same bundle")
	}
}

// Every single-byte change and every truncation is an error, never a panic,
// and a change inside a key or the signature is a signature error.
func TestBundleTamper(t *testing.T) {
	enc := mustIdentity(t, 1, "Alice").Bundle().Marshal()
	for i := range enc {
		x := byte(0x01) << (i % 8)
		m := bytes.Clone(enc)
		m[i] ^= x
		if _, err := identity.ParseBundle(m); err == nil {
			t.Fatalf("byte %d ^ %#x accepted", i, x)
		}
	}
	for n := range len(enc) {
		if _, err := identity.ParseBundle(enc[:n]); !errors.Is(err, identity.ErrMalformed) {
			t.Fatalf("truncated to %d: %v, want ErrMalformed", n, err)
		}
	}
	// A flipped bit in the signature is a bad signature, not malformed.
	m := bytes.Clone(enc)
	m[len(m)-1] ^= 1
	if _, err := identity.ParseBundle(m); !errors.Is(err, identity.ErrBadSignature) {
		t.Fatalf("signature changed: %v, want ErrBadSignature", err)
	}
}

func TestBundleVerifyFields(t *testing.T) {
	a := mustIdentity(t, 1, "Alice")
	other := mustIdentity(t, 50, "Bob").Bundle()
	cases := []struct {
		name string
		mod  func(b *identity.Bundle)
		want error
	}{
		{"pseudonym", func(b *identity.Bundle) { b.Pseudonym = "Mallory" }, identity.ErrBadSignature},
		{"signing key", func(b *identity.Bundle) { b.SigningKey = other.SigningKey }, identity.ErrBadSignature},
		{"DH key", func(b *identity.Bundle) { b.DHKey = other.DHKey }, identity.ErrBadSignature},
		{"envelope key", func(b *identity.Bundle) { b.EnvelopeKey = other.EnvelopeKey }, identity.ErrBadSignature},
		{"signature", func(b *identity.Bundle) { b.Signature = other.Signature }, identity.ErrBadSignature},
		{"low-order DH key", func(b *identity.Bundle) { b.DHKey = make([]byte, 32) }, identity.ErrBadSignature},
		{"short DH key", func(b *identity.Bundle) { b.DHKey = b.DHKey[:31] }, identity.ErrMalformed},
		{"short envelope key", func(b *identity.Bundle) { b.EnvelopeKey = b.EnvelopeKey[:100] }, identity.ErrMalformed},
		{"bad envelope key", func(b *identity.Bundle) { b.EnvelopeKey = bytes.Repeat([]byte{0xff}, identity.EnvelopeKeySize) }, identity.ErrBadSignature},
		{"short signature", func(b *identity.Bundle) { b.Signature = b.Signature[:63] }, identity.ErrMalformed},
		{"short signing key", func(b *identity.Bundle) { b.SigningKey = b.SigningKey[:31] }, identity.ErrMalformed},
		{"empty pseudonym", func(b *identity.Bundle) { b.Pseudonym = "" }, identity.ErrMalformed},
		{"padded pseudonym", func(b *identity.Bundle) { b.Pseudonym = " Alice" }, identity.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := a.Bundle()
			c.mod(b)
			if err := b.Verify(); !errors.Is(err, c.want) {
				t.Fatalf("Verify: %v, want %v", err, c.want)
			}
			if a.Bundle().Verify() != nil {
				t.Fatal("Bundle() shares memory with the identity")
			}
		})
	}
}

func TestParseBundleLimits(t *testing.T) {
	if _, err := identity.ParseBundle(make([]byte, identity.MaxBundleSize+1)); !errors.Is(err, identity.ErrMalformed) {
		t.Fatalf("oversized: %v", err)
	}
	enc := mustIdentity(t, 1, "Alice").Bundle().Marshal()
	enc[0] = 9
	if _, err := identity.ParseBundle(enc); !errors.Is(err, identity.ErrUnsupportedVersion) {
		t.Fatalf("version 9: %v", err)
	}
	// The largest pseudonym fits the limit.
	big := mustIdentity(t, 1, string(bytes.Repeat([]byte("𝔸"), identity.MaxPseudonymRunes)))
	if n := len(big.Bundle().Marshal()); n != identity.MaxBundleSize {
		t.Fatalf("largest bundle is %d bytes, MaxBundleSize %d", n, identity.MaxBundleSize)
	}
	if _, err := identity.ParseBundle(big.Bundle().Marshal()); err != nil {
		t.Fatal(err)
	}
}

func TestKeyChecks(t *testing.T) {
	bad := [][]byte{
		make([]byte, 32), // the identity point
		append([]byte{1}, make([]byte, 31)...),
		bytes.Repeat([]byte{0xff}, 31), // wrong size
	}
	for _, k := range bad {
		if _, err := identity.ParseDHPublicKey(k); !errors.Is(err, identity.ErrMalformed) {
			t.Errorf("ParseDHPublicKey(%x): %v, want ErrMalformed", k, err)
		}
	}
	good := mustIdentity(t, 1, "Alice").Bundle()
	if _, err := identity.ParseDHPublicKey(good.DHKey); err != nil {
		t.Fatal(err)
	}
	// The envelope key's checks, reached directly.
	b := good
	b.EnvelopeKey = bytes.Repeat([]byte{0xff}, identity.EnvelopeKeySize)
	if _, err := b.EnvelopePublicKey(); !errors.Is(err, identity.ErrMalformed) {
		t.Fatalf("bad ML-KEM part: %v", err)
	}
	b.EnvelopeKey = append(bytes.Clone(good.EnvelopeKey[:identity.EnvelopeKeySize-32]), make([]byte, 32)...)
	if _, err := b.EnvelopePublicKey(); !errors.Is(err, identity.ErrMalformed) {
		t.Fatalf("low-order X25519 part: %v", err)
	}
}
