package invite_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ephemera-im/ephemera/core/invite"
)

// FuzzParse: text never panics; an accepted code re-encodes to the canonical
// text, which parses to the same binary form.
func FuzzParse(f *testing.F) {
	alice := mustIdentity(f, 1, "Alice")
	text := mustInvite(f, alice, params(true)).String()
	f.Add(text)
	f.Add("ephemera:" + text[9:40] + " - " + text[40:])
	f.Add(invite.Prefix)
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := invite.Parse(s, t0)
		if err != nil {
			return
		}
		again, err := invite.Parse(inv.String(), t0)
		if err != nil || !bytes.Equal(again.Marshal(), inv.Marshal()) {
			t.Fatalf("re-encoded code does not round-trip: %v", err)
		}
	})
}

// FuzzParseBinary: binary never panics; what is accepted is canonical
// (Marshal returns the input); a rejection behind a valid checksum is never
// reported as a typo.
func FuzzParseBinary(f *testing.F) {
	f.Add(mustInvite(f, mustIdentity(f, 1, "Alice"), params(true)).Marshal())
	f.Add(mustInvite(f, mustIdentity(f, 2, "李小龙"), params(false)).Marshal())
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := invite.ParseBinary(data, t0)
		if len(data) <= invite.MaxBinary {
			_, terr := invite.Parse(withCRC(data), t0)
			if (err == nil) != (terr == nil) || errors.Is(terr, invite.ErrChecksum) {
				t.Fatalf("binary error %v, text error %v", err, terr)
			}
		}
		if err != nil {
			return
		}
		if !bytes.Equal(inv.Marshal(), data) {
			t.Fatalf("accepted non-canonical invite %x", data)
		}
	})
}
