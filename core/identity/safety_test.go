package identity_test

import (
	"bytes"
	"errors"
	"image/png"
	"regexp"
	"testing"

	"github.com/ephemera-im/ephemera/core/identity"
)

func safety(t *testing.T, a, b *identity.Identity) *identity.SafetyNumber {
	t.Helper()
	s, err := a.SafetyNumber(b.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSafetyNumberSymmetric(t *testing.T) {
	alice, bob := mustIdentity(t, 1, "Alice"), mustIdentity(t, 50, "Bob")
	ab, ba := safety(t, alice, bob), safety(t, bob, alice)
	if ab.String() != ba.String() {
		t.Fatalf("Alice sees %s, Bob sees %s", ab, ba)
	}
	if !ab.Equal(ba) {
		t.Fatal("Equal is false for the same number")
	}
	if !regexp.MustCompile(`^(\d{5} ){11}\d{5}$`).MatchString(ab.String()) {
		t.Fatalf("format %q, want 12 groups of 5 digits", ab)
	}
	if len(ab.Groups()) != 12 || len(ab.Digits()) != 60 {
		t.Fatalf("groups %d, digits %d", len(ab.Groups()), len(ab.Digits()))
	}
	// Renaming does not change the number; stable across calls.
	if safety(t, alice, bob).String() != ab.String() {
		t.Fatal("not stable")
	}
}

func TestSafetyNumberDiffers(t *testing.T) {
	alice, bob, mallory := mustIdentity(t, 1, "Alice"), mustIdentity(t, 50, "Bob"), mustIdentity(t, 99, "Bob")
	ab, am := safety(t, alice, bob), safety(t, alice, mallory)
	if ab.String() == am.String() || ab.Equal(am) {
		t.Fatal("different contact key, same safety number")
	}
	// Each half changes: Mallory in the middle shows Alice and Bob
	// numbers that differ.
	mb := safety(t, mallory, bob)
	if am.String() == mb.String() {
		t.Fatal("MITM numbers equal")
	}
}

func TestSafetyNumberBadBundle(t *testing.T) {
	alice, bob := mustIdentity(t, 1, "Alice"), mustIdentity(t, 50, "Bob")
	b := bob.Bundle()
	b.DHKey = alice.Bundle().DHKey
	if _, err := alice.SafetyNumber(b); !errors.Is(err, identity.ErrBadSignature) {
		t.Fatalf("got %v, want ErrBadSignature", err)
	}
}

func TestSafetyQR(t *testing.T) {
	alice, bob, mallory := mustIdentity(t, 1, "Alice"), mustIdentity(t, 50, "Bob"), mustIdentity(t, 99, "Mallory")
	ab, ba, am := safety(t, alice, bob), safety(t, bob, alice), safety(t, alice, mallory)

	if p := ab.QRPayload(); len(p) != identity.SafetyQRSize || p[0] != identity.SafetyVersion {
		t.Fatalf("payload %x", p)
	}
	for _, c := range []struct {
		name    string
		s       *identity.SafetyNumber
		scanned []byte
		want    bool
		err     error
	}{
		{"Alice scans Bob", ab, ba.QRPayload(), true, nil},
		{"Bob scans Alice", ba, ab.QRPayload(), true, nil},
		{"Alice scans her own", ab, ab.QRPayload(), false, identity.ErrOwnCode},
		{"Mallory in the middle", ab, safety(t, mallory, alice).QRPayload(), false, nil},
		{"other conversation", am, ba.QRPayload(), false, nil},
		{"empty", ab, nil, false, identity.ErrMalformed},
		{"short", ab, ba.QRPayload()[:64], false, identity.ErrMalformed},
		{"long", ab, append(ba.QRPayload(), 0), false, identity.ErrMalformed},
		{"version", ab, append([]byte{2}, ba.QRPayload()[1:]...), false, identity.ErrUnsupportedVersion},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.s.CompareQR(c.scanned)
			if got != c.want || !errors.Is(err, c.err) {
				t.Fatalf("got %v, %v; want %v, %v", got, err, c.want, c.err)
			}
		})
	}
	// Any flipped bit is a mismatch.
	p := ba.QRPayload()
	for i := 1; i < len(p); i++ {
		m := bytes.Clone(p)
		m[i] ^= 0x10
		if ok, _ := ab.CompareQR(m); ok {
			t.Fatalf("byte %d flipped still matches", i)
		}
	}
}

func TestSafetyQRCodePNG(t *testing.T) {
	s := safety(t, mustIdentity(t, 1, "Alice"), mustIdentity(t, 50, "Bob"))
	for _, size := range []int{128, 256, 512} {
		p, err := s.QRCodePNG(size)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != size || b.Dy() != size {
			t.Fatalf("image %v, want %dx%d", b, size, size)
		}
	}
	for _, size := range []int{-1, 0, 10, identity.MaxQRPixels + 1} {
		if _, err := s.QRCodePNG(size); err == nil {
			t.Fatalf("size %d accepted", size)
		}
	}
}
