package stream

import (
	"bufio"
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// TestFormatSpec decrypts by hand, following only the package
// documentation, so the documented format and the code cannot drift apart.
func TestFormatSpec(t *testing.T) {
	plain := plaintext(2*ChunkSize+10, 20)
	enc := encrypt(t, plain, testKey)
	if string(enc[:4]) != "EPHS" || enc[4] != 1 {
		t.Fatalf("header starts %q, want \"EPHS\\x01\"", enc[:5])
	}
	hdr := enc[:4+1+16]
	pk, err := hkdf.Key(sha256.New, testKey, hdr, "ephemera stream v1 payload", 32)
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := chacha20poly1305.New(pk)
	var got []byte
	rest := enc[len(hdr):]
	for i := 0; len(rest) > 0; i++ {
		n := min(len(rest), 64<<10+16)
		nonce := make([]byte, 12)
		nonce[10] = byte(i) // 11-byte big-endian counter
		if n == len(rest) {
			nonce[11] = 1
		}
		p, err := aead.Open(nil, nonce, rest[:n], nil)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		got = append(got, p...)
		rest = rest[n:]
	}
	if !bytes.Equal(got, plain) {
		t.Fatal("hand decryption differs from the plaintext")
	}
}

// TestVectors pins the format: testdata/vectors.txt lists, per line, a
// plaintext size, the header nonce, and the SHA-256 of the ciphertext of
// plaintext(size, 1) under testKey. There is deliberately no flag to
// regenerate it: changing a line is changing the format.
func TestVectors(t *testing.T) {
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	loaded := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("bad vector line %q", line)
		}
		loaded++
		t.Run(fields[0], func(t *testing.T) {
			size, err := strconv.Atoi(fields[0])
			if err != nil {
				t.Fatal(err)
			}
			nonce, err := hex.DecodeString(fields[1])
			if err != nil || len(nonce) != nonceSize {
				t.Fatalf("bad nonce %q", fields[1])
			}
			plain := plaintext(size, 1)
			enc := encryptWithNonce(t, plain, nonce)
			sum := sha256.Sum256(enc)
			if got := hex.EncodeToString(sum[:]); got != fields[2] {
				t.Errorf("ciphertext SHA-256: got %s, want %s", got, fields[2])
			}
			dec, err := decrypt(enc, testKey)
			if err != nil || !bytes.Equal(dec, plain) {
				t.Errorf("decrypt: %v", err)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if loaded == 0 {
		t.Fatal("no vectors loaded")
	}
}
