// Package stream encrypts attachments at rest in 64 KiB chunks, so that a
// file can be read as a stream, or at random offsets, without loading it
// whole, and so that truncation, reordering, appending and swapping of chunks
// are all detected.
//
// # Format (version 1)
//
//	header  = magic "EPHS" ‖ version 0x01 ‖ nonce[16]
//	payload = chunk₀ ‖ chunk₁ ‖ … ‖ chunkₙ₋₁
//	chunkᵢ  = ChaCha20-Poly1305(payloadKey, counterᵢ ‖ lastᵢ, plaintextᵢ)
//
// The payload key is HKDF-SHA-256(ikm = file key, salt = header,
// info = "ephemera stream v1 payload"), so one file key may safely encrypt
// several files (each has its own random nonce) and any change to the header
// changes the key and fails the first chunk. The 12-byte chunk nonce is an
// 11-byte big-endian chunk counter followed by a flag byte, 0x01 for the last
// chunk and 0x00 otherwise, as in age's STREAM payload. Every chunk holds
// exactly 64 KiB of plaintext except the last, which holds 1 to 64 KiB; an
// empty file is a single empty last chunk, and only an empty file may end in
// an empty chunk.
//
// # What is promised
//
// A Reader returns only authenticated plaintext, one chunk at a time. A file
// cut short, extended, or with chunks reordered, swapped or altered yields an
// error wrapping ErrTruncated, ErrAuth or ErrFormat; the plaintext of the
// chunks before the damage has already been returned by then, as with any
// streaming decryption, so a caller that must act on the whole file only
// acts after reading io.EOF. A ReaderAt authenticates the last chunk when it
// is created, so its size is authentic, and each ReadAt authenticates every
// chunk it touches.
//
// # Performance
//
// BenchmarkEncrypt and BenchmarkDecrypt (4 MiB) compare the Writer, Reader
// and ReaderAt with bare ChaCha20-Poly1305 over the same 64 KiB pieces in the
// same run. In a quiet run on the 2-core development machine: encryption
// 1.66 GB/s against 1.85 GB/s bare (0.90), Reader 1.45 GB/s against
// 1.70 GB/s (0.85). The difference is buffer copies (bytes.Reader into the
// chunk buffer, the look-ahead byte) and the key derivation per file. On a
// loaded machine single runs vary by 2×; compare ratios within one run.
package stream

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes of the format.
const (
	// ChunkSize is the plaintext size of every chunk but the last.
	ChunkSize = 64 << 10
	// KeySize is the size of a file key.
	KeySize = chacha20poly1305.KeySize
	// HeaderSize is the size of the header in front of the payload.
	HeaderSize = len(magic) + 1 + nonceSize

	version      = 1
	nonceSize    = 16
	tagSize      = chacha20poly1305.Overhead
	encChunkSize = ChunkSize + tagSize
	lastChunk    = 0x01
)

const magic = "EPHS"

const payloadInfo = "ephemera stream v1 payload"

// Errors returned (wrapped) by readers. Test them with errors.Is.
var (
	// ErrFormat means the input is not a stream of a version this code reads,
	// or its chunk structure is invalid (for example data after the last chunk).
	ErrFormat = errors.New("stream: invalid format")
	// ErrTruncated means the input ends before its last chunk.
	ErrTruncated = errors.New("stream: truncated")
	// ErrAuth means a chunk failed authentication: wrong key, or altered,
	// reordered or swapped data.
	ErrAuth = errors.New("stream: authentication failed")
)

// EncryptedSize returns the size of the encryption of plain bytes of
// plaintext, header included. It panics if plain is negative.
func EncryptedSize(plain int64) int64 {
	if plain < 0 {
		panic("stream: negative size")
	}
	chunks := (plain + ChunkSize - 1) / ChunkSize
	if chunks == 0 {
		chunks = 1
	}
	return int64(HeaderSize) + plain + chunks*tagSize
}

// header builds a header around nonce.
func header(nonce []byte) []byte {
	h := make([]byte, 0, HeaderSize)
	h = append(h, magic...)
	h = append(h, version)
	return append(h, nonce...)
}

// parseHeader checks a header read from an input.
func parseHeader(h []byte) error {
	if len(h) < HeaderSize {
		return fmt.Errorf("%w: header of %d bytes", ErrTruncated, len(h))
	}
	if string(h[:len(magic)]) != magic {
		return fmt.Errorf("%w: not an encrypted attachment (bad magic)", ErrFormat)
	}
	if v := h[len(magic)]; v != version {
		return fmt.Errorf("%w: unsupported version %d", ErrFormat, v)
	}
	return nil
}

// payloadCipher derives the AEAD of the payload from the file key and header.
func payloadCipher(key, hdr []byte) (*chunkCipher, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("stream: key is %d bytes, want %d", len(key), KeySize)
	}
	pk, err := hkdf.Key(sha256.New, key, hdr, payloadInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("stream: deriving payload key: %w", err)
	}
	aead, err := chacha20poly1305.New(pk)
	clear(pk)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	return &chunkCipher{aead: aead}, nil
}

// randomNonce returns a fresh header nonce.
func randomNonce() []byte {
	n := make([]byte, nonceSize)
	rand.Read(n) // never fails (crypto/rand)
	return n
}
