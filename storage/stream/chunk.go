package stream

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// chunkCipher seals and opens single chunks. It holds no mutable state, so
// one value may be used by several goroutines.
type chunkCipher struct {
	aead cipher.AEAD
}

// chunkNonce is the 11-byte big-endian counter followed by the last flag.
// Counters beyond 2⁶⁴ chunks (2⁸⁰ bytes) cannot occur, so the three top
// counter bytes are always zero.
func chunkNonce(counter uint64, last bool) [chacha20poly1305.NonceSize]byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(n[3:11], counter)
	if last {
		n[11] = lastChunk
	}
	return n
}

// seal encrypts plaintext in place; buf must have room for the tag.
func (c *chunkCipher) seal(plaintext []byte, counter uint64, last bool) []byte {
	n := chunkNonce(counter, last)
	return c.aead.Seal(plaintext[:0], n[:], plaintext, nil)
}

// open authenticates and decrypts the chunk at index counter into dst
// (which must not overlap enc; its capacity is reused), returning the
// plaintext. enc is the whole encrypted chunk and last says whether it is
// the final chunk of the payload. Errors wrap ErrAuth, or ErrTruncated when
// the chunk is authentic but was expected to be last (the input was cut at a
// chunk boundary), or ErrFormat when the chunk is authentic and last but more
// data follows, or when a non-first last chunk is empty.
func (c *chunkCipher) open(dst, enc []byte, counter uint64, last bool) ([]byte, error) {
	if len(enc) < tagSize {
		return nil, fmt.Errorf("%w: chunk %d has %d bytes", ErrTruncated, counter, len(enc))
	}
	n := chunkNonce(counter, last)
	p, err := c.aead.Open(dst[:0], n[:], enc, nil)
	if err == nil {
		if last && len(p) == 0 && counter > 0 {
			return nil, fmt.Errorf("%w: empty last chunk %d", ErrFormat, counter)
		}
		return p, nil
	}
	// Diagnose, for a clearer error: a full chunk that opens with the other
	// flag means the stream was cut (or extended) at a chunk boundary.
	if len(enc) == encChunkSize {
		alt := chunkNonce(counter, !last)
		if _, err2 := c.aead.Open(dst[:0], alt[:], enc, nil); err2 == nil {
			clear(dst[:ChunkSize]) // callers give dst room for ChunkSize bytes
			if last {
				return nil, fmt.Errorf("%w: input ends after chunk %d, which is not the last", ErrTruncated, counter)
			}
			return nil, fmt.Errorf("%w: data follows last chunk %d", ErrFormat, counter)
		}
	}
	return nil, fmt.Errorf("%w: chunk %d", ErrAuth, counter)
}

var errClosed = errors.New("stream: writer is closed")
