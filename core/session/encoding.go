package session

import (
	"encoding/binary"
	"fmt"
)

// Type prefixes put in front of every public key and ciphertext that enters
// a signature, a KDF input or associated data, so that bytes of one type can
// never be read as another.
const (
	tagX25519   byte = 0x01 // X25519 public key, 32 bytes
	tagEd25519  byte = 0x02 // Ed25519 public key, 32 bytes
	tagMLKEMEK  byte = 0x03 // ML-KEM-768 encapsulation key, 1184 bytes
	tagMLKEMCT  byte = 0x04 // ML-KEM-768 ciphertext, 1088 bytes
	tagPrekeyID byte = 0x05 // prekey id and creation time
)

// writer appends big-endian fields to a byte slice.
type writer struct{ b []byte }

func (w *writer) u8(v byte)               { w.b = append(w.b, v) }
func (w *writer) u16(v uint16)            { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32)            { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64)            { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) fixed(p []byte)          { w.b = append(w.b, p...) }
func (w *writer) tagged(t byte, p []byte) { w.b = append(append(w.b, t), p...) }
func (w *writer) bytes16(p []byte) {
	w.u16(uint16(len(p)))
	w.fixed(p)
}

// reader consumes big-endian fields; the first failure sticks in err and
// every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("%s: need %d bytes, have %d", what, n, len(r.b))
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8(what string) byte {
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

func (r *reader) bytes16(max int, what string) []byte {
	n := int(r.u16(what + " length"))
	if r.err == nil && n > max {
		r.fail("%s is %d bytes, limit %d", what, n, max)
		return nil
	}
	return r.take(n, what)
}

// expect reads one byte and fails unless it equals want.
func (r *reader) expect(want byte, what string) {
	if got := r.u8(what); r.err == nil && got != want {
		r.fail("%s is 0x%02x, want 0x%02x", what, got, want)
	}
}

// done fails on trailing bytes and returns the sticky error.
func (r *reader) done(what string) error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes after %s", len(r.b), what)
	}
	return r.err
}
