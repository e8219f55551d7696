package stream

import (
	"bytes"
	"testing"
)

// FuzzDecrypt feeds arbitrary bytes to both readers. Properties: no panic;
// Reader and ReaderAt agree; and decryption succeeds only on a genuine
// stream: re-encrypting the plaintext with the header's nonce must give the
// input back byte for byte, so no tampered input is ever accepted.
func FuzzDecrypt(f *testing.F) {
	nonce := bytes.Repeat([]byte{7}, nonceSize)
	for _, size := range []int{0, 1, 50, ChunkSize, ChunkSize + 3} {
		f.Add(encryptWithNonce(f, plaintext(size, 11), nonce))
	}
	f.Add([]byte(magic))
	f.Add([]byte("EPHS\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p1, err1 := decrypt(data, testKey)
		p2, err2 := decryptAt(data, testKey)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("Reader error %v, ReaderAt error %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if !bytes.Equal(p1, p2) {
			t.Fatal("Reader and ReaderAt return different plaintext")
		}
		again := encryptWithNonce(t, p1, data[len(magic)+1:HeaderSize])
		if !bytes.Equal(again, data) {
			t.Fatal("accepted an input that is not the genuine encryption of its plaintext")
		}
	})
}

// FuzzRoundTrip encrypts a fuzzed plaintext, or a generated one of a size
// near a chunk boundary, written in fuzzed pieces; decryption must return
// it, and flipping any one bit of the ciphertext must make both readers fail.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint32(0), uint16(3), uint32(0))
	f.Add([]byte{}, uint32(ChunkSize), uint16(4096), uint32(100))
	f.Add([]byte{1}, uint32(2*ChunkSize+1), uint16(0), uint32(ChunkSize+20))
	f.Fuzz(func(t *testing.T, data []byte, gen uint32, piece uint16, flip uint32) {
		plain := data
		if gen != 0 {
			// Sizes up to 3 chunks, dense around the boundaries.
			size := int(gen % (3*ChunkSize + 2))
			if gen&0x8000_0000 != 0 {
				size = int(gen>>8%4)*ChunkSize + int(int8(gen)) // boundary ± 128
				size = max(size, 0)
			}
			plain = plaintext(size, uint64(gen))
		}
		var buf bytes.Buffer
		w, err := NewWriter(&buf, testKey)
		if err != nil {
			t.Fatal(err)
		}
		step := max(int(piece), 1)
		for p := plain; len(p) > 0; {
			k := min(step, len(p))
			if _, err := w.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		enc := buf.Bytes()
		if int64(len(enc)) != EncryptedSize(int64(len(plain))) {
			t.Fatalf("size %d: got %d encrypted bytes, want %d", len(plain), len(enc), EncryptedSize(int64(len(plain))))
		}
		for _, dec := range []func([]byte, []byte) ([]byte, error){decrypt, decryptAt} {
			got, err := dec(enc, testKey)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("size %d: round trip failed: %v", len(plain), err)
			}
		}
		pos := int(flip>>3) % len(enc)
		enc[pos] ^= 1 << (flip & 7)
		for _, dec := range []func([]byte, []byte) ([]byte, error){decrypt, decryptAt} {
			if _, err := dec(enc, testKey); err == nil {
				t.Fatalf("size %d: bit %d of byte %d flipped, decryption succeeded", len(plain), flip&7, pos)
			}
		}
	})
}

func encryptWithNonce(t testing.TB, plain, nonce []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := newWriter(&buf, testKey, nonce)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
