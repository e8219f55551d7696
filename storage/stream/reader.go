package stream

import (
	"errors"
	"fmt"
	"io"
)

// Reader decrypts a stream; see NewReader. It is not safe for concurrent use.
type Reader struct {
	src     io.Reader
	c       *chunkCipher
	enc     []byte // one encrypted chunk plus one byte of look-ahead
	have    int    // bytes of enc already read (the look-ahead byte, moved to enc[0])
	plain   []byte // decrypted chunk; buffer reused
	out     []byte // unread part of plain
	counter uint64
	done    bool  // last chunk decrypted
	err     error // sticky
}

// NewReader reads and checks the header from src and returns a Reader that
// decrypts the payload under key, one chunk at a time. Errors, from
// NewReader or from Read, wrap ErrFormat, ErrTruncated or ErrAuth (or are
// the underlying reader's errors); Read returns io.EOF only after the last
// chunk has been authenticated.
func NewReader(src io.Reader, key []byte) (io.Reader, error) {
	hdr := make([]byte, HeaderSize)
	if n, err := io.ReadFull(src, hdr); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: header of %d bytes", ErrTruncated, n)
		}
		return nil, fmt.Errorf("stream: reading header: %w", err)
	}
	if err := parseHeader(hdr); err != nil {
		return nil, err
	}
	c, err := payloadCipher(key, hdr)
	if err != nil {
		return nil, err
	}
	return &Reader{
		src:   src,
		c:     c,
		enc:   make([]byte, encChunkSize+1),
		plain: make([]byte, 0, ChunkSize),
	}, nil
}

// Read decrypts into p.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			r.err = io.EOF
			return 0, io.EOF
		}
		if len(p) >= ChunkSize {
			// Decrypt straight into p, saving a copy.
			out, err := r.next(p)
			if err != nil {
				r.err = err
				return 0, err
			}
			if len(out) > 0 {
				return len(out), nil
			}
			continue
		}
		out, err := r.next(r.plain)
		r.out, r.err = out, err
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// next reads and decrypts one chunk into dst, which must have room for
// ChunkSize bytes. It reads one byte past a full chunk to learn whether the
// chunk is the last one.
func (r *Reader) next(dst []byte) ([]byte, error) {
	n, err := io.ReadFull(r.src, r.enc[r.have:])
	n += r.have
	last := false
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		last = true
	default:
		return nil, fmt.Errorf("stream: reading chunk %d: %w", r.counter, err)
	}
	if last && n == 0 {
		// Only possible for chunk 0: the header was not followed by anything.
		return nil, fmt.Errorf("%w: no payload after header", ErrTruncated)
	}
	size := n
	if !last {
		size = encChunkSize
	}
	p, err := r.c.open(dst, r.enc[:size], r.counter, last)
	if err != nil {
		return nil, err
	}
	if !last {
		r.enc[0] = r.enc[encChunkSize]
		r.have = 1
	}
	r.done = last
	r.counter++
	return p, nil
}
