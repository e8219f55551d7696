package stream

import (
	"fmt"
	"io"
	"sync"
)

// ReaderAt decrypts a stream at random offsets; see NewReaderAt. It is safe
// for concurrent use if the underlying io.ReaderAt is.
type ReaderAt struct {
	src      io.ReaderAt
	c        *chunkCipher
	size     int64  // plaintext size
	chunks   int64  // number of chunks
	lastData []byte // plaintext of the last chunk, authenticated once
	bufs     sync.Pool
}

type chunkBufs struct{ enc, plain []byte }

// NewReaderAt returns a ReaderAt over the stream stored in the first size
// bytes of src, decrypting under key. It checks the header and
// authenticates the last chunk, so that Size is authentic and a stream cut
// at a chunk boundary is rejected here rather than silently read short.
// Errors wrap ErrFormat, ErrTruncated or ErrAuth.
func NewReaderAt(src io.ReaderAt, size int64, key []byte) (*ReaderAt, error) {
	if size < int64(HeaderSize) {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrTruncated, max(size, 0))
	}
	hdr := make([]byte, HeaderSize)
	if _, err := src.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("stream: reading header: %w", err)
	}
	if err := parseHeader(hdr); err != nil {
		return nil, err
	}
	c, err := payloadCipher(key, hdr)
	if err != nil {
		return nil, err
	}
	payload := size - int64(HeaderSize)
	if payload == 0 {
		return nil, fmt.Errorf("%w: no payload after header", ErrTruncated)
	}
	chunks := (payload + encChunkSize - 1) / encChunkSize
	lastEnc := payload - (chunks-1)*encChunkSize
	if lastEnc < tagSize {
		return nil, fmt.Errorf("%w: last chunk has %d bytes", ErrTruncated, lastEnc)
	}
	r := &ReaderAt{
		src:    src,
		c:      c,
		size:   payload - chunks*tagSize,
		chunks: chunks,
	}
	r.bufs.New = func() any {
		return &chunkBufs{enc: make([]byte, encChunkSize), plain: make([]byte, 0, ChunkSize)}
	}
	b := r.bufs.Get().(*chunkBufs)
	defer r.bufs.Put(b)
	p, err := r.chunk(b, b.plain, chunks-1)
	if err != nil {
		return nil, err
	}
	r.lastData = append([]byte(nil), p...)
	return r, nil
}

// Size returns the plaintext size.
func (r *ReaderAt) Size() int64 { return r.size }

// chunk reads chunk i into b.enc and decrypts it into dst, which must have
// room for ChunkSize bytes.
func (r *ReaderAt) chunk(b *chunkBufs, dst []byte, i int64) ([]byte, error) {
	off := int64(HeaderSize) + i*encChunkSize
	n := int64(encChunkSize)
	last := i == r.chunks-1
	if last {
		n = r.size + r.chunks*tagSize + int64(HeaderSize) - off
	}
	enc := b.enc[:n]
	if k, err := r.src.ReadAt(enc, off); k < len(enc) {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: chunk %d", ErrTruncated, i)
		}
		return nil, fmt.Errorf("stream: reading chunk %d: %w", i, err)
	}
	return r.c.open(dst, enc, uint64(i), last)
}

// ReadAt decrypts len(p) bytes starting at plaintext offset off, reading
// and authenticating only the chunks that hold them. As io.ReaderAt
// requires, it returns an error (io.EOF at the end of the plaintext) when
// it returns fewer than len(p) bytes.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("stream: negative offset %d", off)
	}
	if off >= r.size {
		if len(p) == 0 && off == r.size {
			return 0, nil
		}
		return 0, io.EOF
	}
	var b *chunkBufs
	defer func() {
		if b != nil {
			r.bufs.Put(b)
		}
	}()
	n := 0
	for n < len(p) && off < r.size {
		i := off / ChunkSize
		var data []byte
		if i == r.chunks-1 {
			data = r.lastData
		} else {
			if b == nil {
				b = r.bufs.Get().(*chunkBufs)
			}
			dst := b.plain
			if off == i*ChunkSize && len(p)-n >= ChunkSize {
				dst = p[n:n] // a whole chunk wanted: decrypt straight into p
			}
			d, err := r.chunk(b, dst, i)
			if err != nil {
				return n, err
			}
			data = d
		}
		k := copy(p[n:], data[off-i*ChunkSize:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
