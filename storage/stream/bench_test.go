package stream

import (
	"bytes"
	"io"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

const benchSize = 4 << 20

// BenchmarkEncrypt compares the stream writer with bare ChaCha20-Poly1305
// sealing the same bytes in 64 KiB pieces, in the same run.
func BenchmarkEncrypt(b *testing.B) {
	plain := plaintext(benchSize, 1)
	b.Run("stream", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			w, err := NewWriter(io.Discard, testKey)
			if err != nil {
				b.Fatal(err)
			}
			w.Write(plain)
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("aead", func(b *testing.B) {
		aead, _ := chacha20poly1305.New(testKey)
		nonce := make([]byte, chacha20poly1305.NonceSize)
		buf := make([]byte, 0, encChunkSize)
		b.SetBytes(benchSize)
		for b.Loop() {
			for p := plain; len(p) > 0; p = p[min(ChunkSize, len(p)):] {
				buf = aead.Seal(buf[:0], nonce, p[:min(ChunkSize, len(p))], nil)
			}
		}
	})
}

// BenchmarkDecrypt compares the Reader and ReaderAt with bare
// ChaCha20-Poly1305 opening the same chunks, in the same run.
func BenchmarkDecrypt(b *testing.B) {
	plain := plaintext(benchSize, 1)
	enc := encrypt(b, plain, testKey)
	out := make([]byte, benchSize)
	b.Run("stream", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			r, err := NewReader(bytes.NewReader(enc), testKey)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(r, out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("readerat", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			r, err := NewReaderAt(bytes.NewReader(enc), int64(len(enc)), testKey)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.ReadAt(out, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("aead", func(b *testing.B) {
		aead, _ := chacha20poly1305.New(testKey)
		nonce := make([]byte, chacha20poly1305.NonceSize)
		var sealed [][]byte
		for p := plain; len(p) > 0; p = p[min(ChunkSize, len(p)):] {
			sealed = append(sealed, aead.Seal(nil, nonce, p[:min(ChunkSize, len(p))], nil))
		}
		buf := make([]byte, 0, ChunkSize)
		b.SetBytes(benchSize)
		for b.Loop() {
			for _, c := range sealed {
				if _, err := aead.Open(buf[:0], nonce, c, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
