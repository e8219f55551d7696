package identity_test

import (
	"bytes"
	"testing"

	"github.com/ephemera-im/ephemera/core/identity"
)

// FuzzParseBundle: the decoder never panics, and what it accepts is
// canonical (re-encodes to the input) and verifies.
func FuzzParseBundle(f *testing.F) {
	f.Add(mustIdentity(f, 1, "Alice").Bundle().Marshal())
	f.Add(mustIdentity(f, 2, "Zoë 🙂").Bundle().Marshal())
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := identity.ParseBundle(data)
		if err != nil {
			return
		}
		if !bytes.Equal(b.Marshal(), data) {
			t.Fatalf("accepted non-canonical bundle %x", data)
		}
		if err := b.Verify(); err != nil {
			t.Fatalf("accepted bundle fails Verify: %v", err)
		}
	})
}

// FuzzParsePrivate: the decoder never panics; what it accepts re-encodes to
// the input and yields a verifying bundle.
func FuzzParsePrivate(f *testing.F) {
	for _, name := range []string{"Alice", "李小龙"} {
		enc, err := mustIdentity(f, 1, name).MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := identity.ParsePrivate(data)
		if err != nil {
			return
		}
		enc, err := id.MarshalBinary()
		if err != nil || !bytes.Equal(enc, data) {
			t.Fatalf("accepted non-canonical private identity %x (%v)", data, err)
		}
		if err := id.Bundle().Verify(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzCompareQR: any scanned bytes give an answer, never a panic, and only
// the contact's exact payload matches.
func FuzzCompareQR(f *testing.F) {
	alice, bob := mustIdentity(f, 1, "Alice"), mustIdentity(f, 50, "Bob")
	ab, err := alice.SafetyNumber(bob.Bundle())
	if err != nil {
		f.Fatal(err)
	}
	ba, err := bob.SafetyNumber(alice.Bundle())
	if err != nil {
		f.Fatal(err)
	}
	want := ba.QRPayload()
	f.Add(want)
	f.Add(ab.QRPayload())
	f.Fuzz(func(t *testing.T, scanned []byte) {
		ok, err := ab.CompareQR(scanned)
		if ok != bytes.Equal(scanned, want) {
			t.Fatalf("CompareQR(%x) = %v, %v", scanned, ok, err)
		}
	})
}

// FuzzValidatePseudonym: an accepted name is a fixed point and re-validates.
func FuzzValidatePseudonym(f *testing.F) {
	for _, s := range []string{"Alice", " Bob ", "a\u202eb", "👩‍💻"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := identity.ValidatePseudonym(s)
		if err != nil {
			return
		}
		again, err := identity.ValidatePseudonym(name)
		if err != nil || again != name {
			t.Fatalf("ValidatePseudonym(%q) = %q, then %q, %v", s, name, again, err)
		}
		if len(name) > identity.MaxPseudonymBytes {
			t.Fatalf("accepted %d bytes", len(name))
		}
	})
}
