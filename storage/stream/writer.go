package stream

import (
	"fmt"
	"io"
)

// Writer encrypts a stream; see NewWriter. It is not safe for concurrent use.
type Writer struct {
	dst     io.Writer
	c       *chunkCipher
	buf     []byte // plaintext of the pending chunk, with room for the tag
	n       int    // plaintext bytes in buf
	counter uint64
	err     error // sticky: first write error, or errClosed
}

// NewWriter writes a header to dst and returns a Writer that encrypts what
// is written to it under key (KeySize bytes) in chunks. Close must be called
// to write the last chunk; it does not close dst. A chunk is held back until
// the next byte arrives, because only then is it known not to be the last.
func NewWriter(dst io.Writer, key []byte) (io.WriteCloser, error) {
	return newWriter(dst, key, randomNonce())
}

// newWriter is NewWriter with a chosen nonce, for tests.
func newWriter(dst io.Writer, key, nonce []byte) (*Writer, error) {
	hdr := header(nonce)
	c, err := payloadCipher(key, hdr)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(hdr); err != nil {
		return nil, fmt.Errorf("stream: writing header: %w", err)
	}
	return &Writer{dst: dst, c: c, buf: make([]byte, encChunkSize)}, nil
}

// Write encrypts p. It returns an error only if writing a chunk failed or
// the Writer was closed; after an error every later call fails.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	total := 0
	for len(p) > 0 {
		if w.n == ChunkSize {
			// More data follows, so the pending chunk is not the last.
			if err := w.flush(false); err != nil {
				return total, err
			}
		}
		if w.n == 0 && len(p) > ChunkSize {
			// A whole chunk that is known not to be the last: seal it
			// straight from p, saving a copy.
			n := chunkNonce(w.counter, false)
			enc := w.c.aead.Seal(w.buf[:0], n[:], p[:ChunkSize], nil)
			if err := w.write(enc); err != nil {
				return total, err
			}
			total += ChunkSize
			p = p[ChunkSize:]
			continue
		}
		k := copy(w.buf[w.n:ChunkSize], p)
		w.n += k
		total += k
		p = p[k:]
	}
	return total, nil
}

// Close writes the last chunk. It does not close the underlying writer.
// Calling Close again returns the first error, or nil.
func (w *Writer) Close() error {
	if w.err == errClosed {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	if err := w.flush(true); err != nil {
		return err
	}
	clear(w.buf)
	w.err = errClosed
	return nil
}

func (w *Writer) flush(last bool) error {
	return w.write(w.c.seal(w.buf[:w.n], w.counter, last))
}

func (w *Writer) write(enc []byte) error {
	if _, err := w.dst.Write(enc); err != nil {
		w.err = fmt.Errorf("stream: writing chunk %d: %w", w.counter, err)
		return w.err
	}
	w.counter++
	w.n = 0
	return nil
}
