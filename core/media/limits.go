package media

import (
	"bufio"
	"errors"
	"io"
)

// Limits of the image formats, besides those in media.go.
const (
	// readBuffer is the read-ahead of the streaming image parsers.
	readBuffer = 64 << 10
	// maxKeptHeader bounds what an image sanitizer holds in memory before
	// it starts writing (JPEG tables before the first scan, WebP chunk
	// lists), so a file of millions of tiny segments is refused.
	maxKeptHeader = maxMetadataBlock
	// maxChunks bounds the number of chunks, segments or blocks one image
	// file may have.
	maxChunks = 1 << 20
)

// checkPixels refuses declared dimensions that are zero or beyond
// MaxPixels, before anything is decoded.
func checkPixels(t Type, w, h int64) error {
	if w <= 0 || h <= 0 {
		return malformed(t, "image is %d×%d pixels", w, h)
	}
	if w > MaxPixels || h > MaxPixels || w*h > MaxPixels {
		return tooLarge(t, "image is %d×%d pixels, limit %d pixels", w, h, int64(MaxPixels))
	}
	return nil
}

// fileReader reads a file forward through a buffer, keeping the offset,
// and turns a premature end into an error wrapping ErrMalformed.
type fileReader struct {
	t    Type
	br   *bufio.Reader
	off  int64
	size int64
}

func newFileReader(t Type, r io.ReaderAt, size int64) *fileReader {
	return &fileReader{t: t, br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), readBuffer), size: size}
}

func (f *fileReader) err(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed(f.t, "truncated at byte %d", f.off)
	}
	return err
}

// left is the number of bytes not read yet.
func (f *fileReader) left() int64 { return f.size - f.off }

func (f *fileReader) byte() (byte, error) {
	b, err := f.br.ReadByte()
	if err != nil {
		return 0, f.err(err)
	}
	f.off++
	return b, nil
}

// full reads exactly n bytes into a new slice; n is bounded by the
// caller, and checked against what is left so a declared size cannot
// make it allocate more than the file holds.
func (f *fileReader) full(n int) ([]byte, error) {
	if int64(n) > f.left() {
		return nil, malformed(f.t, "truncated: %d bytes declared at byte %d, %d left", n, f.off, f.left())
	}
	b := make([]byte, n)
	m, err := io.ReadFull(f.br, b)
	f.off += int64(m)
	if err != nil {
		return nil, f.err(err)
	}
	return b, nil
}

// copyN copies n bytes to w, or skips them when w is nil.
func (f *fileReader) copyN(w io.Writer, n int64) error {
	if n > f.left() {
		return malformed(f.t, "truncated: %d bytes declared at byte %d, %d left", n, f.off, f.left())
	}
	if w == nil {
		m, err := f.br.Discard(int(n))
		f.off += int64(m)
		if err != nil {
			return f.err(err)
		}
		return nil
	}
	m, err := io.CopyN(w, f.br, n)
	f.off += m
	if err != nil {
		return f.err(err)
	}
	return nil
}

// peek returns at least one buffered byte without consuming it.
func (f *fileReader) peek() ([]byte, error) {
	if _, err := f.br.Peek(1); err != nil {
		return nil, f.err(err)
	}
	b, _ := f.br.Peek(f.br.Buffered())
	return b, nil
}

func (f *fileReader) discard(n int) {
	m, _ := f.br.Discard(n)
	f.off += int64(m)
}

// nopWriter stands in for dst when inspecting.
type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
