package message

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Marshal returns the canonical encoding of m, or an error wrapping
// ErrInvalid or ErrTooLarge if a field is out of range.
func (m *Message) Marshal() ([]byte, error) {
	if m.SentAt < 0 {
		return nil, fmt.Errorf("%w: negative time %d", ErrInvalid, m.SentAt)
	}
	if m.Expiry.Timer > MaxTimer {
		return nil, fmt.Errorf("%w: timer %d s, at most %d", ErrInvalid, m.Expiry.Timer, MaxTimer)
	}
	if m.Body == nil {
		return nil, fmt.Errorf("%w: no body", ErrInvalid)
	}
	switch m.Body.(type) {
	case Text, *File, *Control:
	default:
		return nil, fmt.Errorf("%w: body of type %T", ErrInvalid, m.Body)
	}
	b := make([]byte, 0, 128)
	b = append(b, Version)
	b = append(b, m.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.SentAt))
	b = appendExpiry(b, m.Expiry)
	b = append(b, byte(m.Body.Kind()))
	b = append(b, 0, 0, 0, 0) // body length, set below
	b, err := m.Body.appendBody(b)
	if err != nil {
		return nil, err
	}
	n := len(b) - headerSize
	if n > MaxBody {
		return nil, fmt.Errorf("%w: body of %d bytes, at most %d", ErrTooLarge, n, MaxBody)
	}
	binary.BigEndian.PutUint32(b[headerSize-4:], uint32(n))
	return b, nil
}

// Unmarshal decodes a message. Errors wrap ErrTooLarge, ErrTruncated,
// ErrTrailing, ErrVersion, ErrUnknownKind (as *UnknownKindError) or
// ErrInvalid. The result does not alias b.
func Unmarshal(b []byte) (Message, error) {
	if len(b) > MaxSize {
		return Message{}, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxSize)
	}
	if len(b) < 1 {
		return Message{}, fmt.Errorf("%w: empty", ErrTruncated)
	}
	if b[0] != Version {
		return Message{}, fmt.Errorf("%w: %d", ErrVersion, b[0])
	}
	if len(b) < headerSize {
		return Message{}, fmt.Errorf("%w: header of %d bytes, want %d", ErrTruncated, len(b), headerSize)
	}
	var m Message
	copy(m.ID[:], b[1:17])
	t := binary.BigEndian.Uint64(b[17:25])
	if t > math.MaxInt64 {
		return Message{}, fmt.Errorf("%w: time %d out of range", ErrInvalid, t)
	}
	m.SentAt = int64(t)
	e, err := decodeExpiry(b[25:30])
	if err != nil {
		return Message{}, err
	}
	m.Expiry = e
	kind := Kind(b[30])
	n := binary.BigEndian.Uint32(b[31:35])
	if n > MaxBody {
		return Message{}, fmt.Errorf("%w: body of %d bytes, at most %d", ErrTooLarge, n, MaxBody)
	}
	body := b[headerSize:]
	if uint32(len(body)) < n {
		return Message{}, fmt.Errorf("%w: body of %d bytes, %d present", ErrTruncated, n, len(body))
	}
	if uint32(len(body)) > n {
		return Message{}, fmt.Errorf("%w: %d after the body", ErrTrailing, uint32(len(body))-n)
	}
	switch kind {
	case KindText:
		s := string(body)
		if err := checkText(s); err != nil {
			return Message{}, err
		}
		m.Body = Text(s)
	case KindFile:
		m.Body, err = decodeFile(body)
	case KindControl:
		m.Body, err = decodeControl(body)
	default:
		return Message{}, &UnknownKindError{Kind: kind, ID: m.ID, SentAt: m.SentAt}
	}
	if err != nil {
		return Message{}, err
	}
	return m, nil
}

// reader reads fields from a body, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: %s", ErrTruncated, what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u16(what string) int {
	v := r.bytes(2, what)
	if v == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(v))
}

func (r *reader) u64(what string) uint64 {
	v := r.bytes(8, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// str16 reads a u16 length and that many bytes, refusing lengths above max
// before looking for the bytes.
func (r *reader) str16(what string, max int) string {
	n := r.u16(what + " length")
	if r.err == nil && n > max {
		r.err = fmt.Errorf("%w: %s of %d bytes, at most %d", ErrTooLarge, what, n, max)
	}
	return string(r.bytes(n, what))
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d after the body's fields", ErrTrailing, len(r.b))
	}
	return r.err
}

func decodeFile(b []byte) (*File, error) {
	r := &reader{b: b}
	f := &File{}
	copy(f.BlobID[:], r.bytes(32, "blob id"))
	f.Relay = r.str16("relay URL", MaxURL)
	f.Size = r.u64("size")
	f.MediaType = r.str16("media type", MaxMediaType)
	f.Name = r.str16("file name", MaxFileName)
	copy(f.Key[:], r.bytes(32, "content key"))
	copy(f.Hash[:], r.bytes(32, "hash"))
	if err := r.end(); err != nil {
		return nil, err
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return f, nil
}

func decodeControl(b []byte) (*Control, error) {
	r := &reader{b: b}
	c := &Control{Type: ControlType(r.u16("control type"))}
	n := r.u16("control data length")
	if r.err == nil && n > MaxControlData {
		return nil, fmt.Errorf("%w: control data of %d bytes, at most %d", ErrTooLarge, n, MaxControlData)
	}
	c.Data = append([]byte{}, r.bytes(n, "control data")...)
	if err := r.end(); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}
