package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the protocol version carried in every frame.
const Version = 1

// HeaderSize is the size of the frame header: version, type, request id.
const HeaderSize = 6

// Hard limits of the encoding itself. A relay announces its own, lower
// limits in ServerHello and enforces them on top of these.
const (
	MaxFrameSize    = 17 << 20 // whole frame
	MaxEnvelopeSize = 16 << 20 // Send.Envelope, Deliver.Envelope
	MaxChunkSize    = 4 << 20  // BlobPut.Data, BlobData.Data, BlobGet.Length
	MaxPrekeySize   = 16 << 10 // each prekey bundle or key
	MaxPrekeyCount  = 500      // one-time keys in one PutPrekeys
	MaxAckCount     = 4096     // sequence numbers in one Ack
	MaxErrorMessage = 512      // bytes of Error.Message
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("wire: malformed frame")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// writer appends big-endian fields to a byte slice.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)     { w.b = append(w.b, v) }
func (w *writer) u16(v uint16)   { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32)   { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64)   { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) fixed(p []byte) { w.b = append(w.b, p...) }
func (w *writer) bytes(p []byte) { w.u32(uint32(len(p))); w.b = append(w.b, p...) }
func (w *writer) str(s string)   { w.u32(uint32(len(s))); w.b = append(w.b, s...) }
func (w *writer) boolean(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// reader consumes fields; the first error sticks and later reads return
// zero values, so decoders check r.err once at the end.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = malformed(format, args...)
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("truncated %s", what)
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8(what string) uint8 {
	p := r.take(1, what)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u16(what string) uint16 {
	p := r.take(2, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (r *reader) u32(what string) uint32 {
	p := r.take(4, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (r *reader) u64(what string) uint64 {
	p := r.take(8, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (r *reader) fixed(dst []byte, what string) {
	copy(dst, r.take(len(dst), what))
}

// bytes reads a length-prefixed byte string of at most max bytes. The result
// is a copy, so decoded frames never alias the input buffer.
func (r *reader) bytes(max int, what string) []byte {
	n := r.u32(what + " length")
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		r.fail("%s is %d bytes, limit %d", what, n, max)
		return nil
	}
	p := r.take(int(n), what)
	if p == nil {
		return nil
	}
	out := make([]byte, len(p))
	copy(out, p)
	return out
}

func (r *reader) str(max int, what string) string {
	return string(r.bytes(max, what))
}

func (r *reader) boolean(what string) bool {
	v := r.u8(what)
	if v > 1 {
		r.fail("%s is %d, want 0 or 1", what, v)
	}
	return v == 1
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}
