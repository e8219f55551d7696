package envelope

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen checks that Open never panics, and never accepts anything but an
// envelope that was really sealed to the key (the seed), and that Parse is
// canonical: whatever it accepts, Marshal gives back byte for byte.
func FuzzOpen(f *testing.F) {
	// The seed must be the same bytes in every fuzzing process, and Seal is
	// randomized, so it comes from a fixed vector.
	b, err := os.ReadFile(filepath.Join(vectorDir, "envelope-hello.json"))
	if err != nil {
		f.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	kb, _ := hex.DecodeString(v.PrivateKey)
	good, _ := hex.DecodeString(v.Envelope)
	want, _ := hex.DecodeString(v.Payload)
	k, err := KEM().NewPrivateKey(kb)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:MinSize])
	f.Add([]byte{})
	f.Add([]byte{Version})
	f.Add(make([]byte, MinSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, perr := Parse(b)
		if perr == nil && !bytes.Equal(e.Marshal(), b) {
			t.Fatalf("Marshal(Parse(b)) != b")
		}
		p, err := Open(k, b)
		if err == nil {
			if !bytes.Equal(b, good) || !bytes.Equal(p, want) {
				t.Fatalf("Open accepted an envelope that was never sealed: %x", b)
			}
			return
		}
		if p != nil {
			t.Fatal("Open returned a payload with an error")
		}
		if perr != nil && err == nil {
			t.Fatal("Open accepted what Parse refused")
		}
	})
}
