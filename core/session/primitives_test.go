package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func TestHMAC1MatchesStdlib(t *testing.T) {
	var k [keySize]byte
	for i := range k {
		k[i] = byte(i * 7)
	}
	for _, b := range []byte{0, chainMessageKey, chainNextKey, 0xFF} {
		m := hmac.New(sha256.New, k[:])
		m.Write([]byte{b})
		if got, want := hmac1(&k, b), m.Sum(nil); string(got[:]) != string(want) {
			t.Errorf("HMAC(k, %#x): got %x, want %x", b, got, want)
		}
	}
}
