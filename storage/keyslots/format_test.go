package keyslots

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// TestFormatSpec reads a key file by hand, following only the package
// documentation, so the documented format and the code cannot drift apart.
func TestFormatSpec(t *testing.T) {
	kf, path, master := openTemp(t)
	var want [][]byte
	for range 3 {
		_, k, err := kf.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	if err := kf.Destroy(1); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw[:8]) != "EPHKSLOT" || binary.BigEndian.Uint16(raw[8:]) != 1 ||
		binary.BigEndian.Uint16(raw[10:]) != 64 || binary.BigEndian.Uint32(raw[12:]) != 0 {
		t.Fatalf("header: got %x", raw[:16])
	}
	salt := raw[16:32]
	ck, _ := hkdf.Key(sha256.New, master, salt, "ephemera keyslots v1 check", 32)
	m := hmac.New(sha256.New, ck)
	m.Write(raw[:32])
	if !bytes.Equal(m.Sum(nil), raw[32:64]) {
		t.Fatal("header check does not match HMAC-SHA-256(checkKey, header[:32])")
	}
	sk, _ := hkdf.Key(sha256.New, master, salt, "ephemera keyslots v1 slot", 32)
	aead, _ := chacha20poly1305.New(sk)
	if (len(raw)-64)%64 != 0 {
		t.Fatalf("file of %d bytes is not header plus whole slots", len(raw))
	}
	for i := range 3 {
		s := raw[64*(i+1) : 64*(i+2)]
		ad := binary.BigEndian.AppendUint32(bytes.Clone(raw[:32]), uint32(i))
		pt, err := aead.Open(nil, s[:12], s[12:], ad)
		if i == 1 {
			if err == nil {
				t.Error("destroyed slot 1 still opens")
			}
			continue
		}
		if err != nil {
			t.Fatalf("slot %d: %v", i, err)
		}
		if !bytes.Equal(pt[:4], []byte{1, 0, 0, 0}) || !bytes.Equal(pt[4:], want[i]) {
			t.Errorf("slot %d: got state %x key %x, want state 01000000 key %x", i, pt[:4], pt[4:], want[i])
		}
	}
}
