// Package message defines the contents of an Ephemera message: what the
// Double Ratchet (core/session) encrypts, so that neither the relay nor the
// network ever sees a message's id, time, kind, expiry or body.
//
// The encoding is binary and canonical: every Message has exactly one
// encoding, Unmarshal accepts only that encoding, and Marshal(Unmarshal(b))
// returns b. All integers are unsigned big-endian.
//
//	u8      version = 1
//	[16]    id            random, chosen by the sender; duplicates are dropped by id
//	u64     sent_at       Unix time in milliseconds, at most 2^63−1
//	u32     timer         seconds after sending until the message expires; 0 = none; ≤ MaxTimer
//	u8      flags         bit 0: burn-on-read; other bits must be 0
//	u8      kind          1 text, 2 file, 3 control (see Kind)
//	u32     body length   at most MaxBody
//	...     body          encoded by kind, no trailing bytes
//
// Bodies:
//
//	text     the UTF-8 text itself (valid UTF-8, at most MaxText bytes)
//	file     [32] blob id, str16 relay URL (≤ 2048), u64 size (≤ MaxFileSize),
//	         str16 media type (≤ 255), str16 file name (≤ 255),
//	         [32] content key, [32] SHA-256 of the blob as stored
//	control  u16 type, u16 data length (≤ MaxControlData), data
//
// where str16 is a u16 length then that many bytes of valid UTF-8.
//
// Forward compatibility: kinds 4 (reaction), 5 (group) and 6 (call) are
// reserved. A decoder that meets a kind it does not know refuses the message
// with an error wrapping ErrUnknownKind; because the body is length-prefixed,
// that error still carries the id and time (see UnknownKindError), so a
// client can acknowledge and show "unsupported message" rather than drop it
// silently. Unknown flag bits are refused, so they can be given meaning
// later by bumping the version.
package message

import (
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
)

// Version is the encoding version this package writes and reads.
const Version = 1

// Limits of the encoding.
const (
	MaxText        = 64 << 10           // bytes of text
	MaxURL         = 2048               // bytes of relay URL
	MaxMediaType   = 255                // bytes of media type
	MaxFileName    = 255                // bytes of file name
	MaxFileSize    = 1 << 40            // bytes of an attachment
	MaxControlData = 4096               // bytes of control data
	MaxTimer       = 365 * 24 * 60 * 60 // seconds: one year
	MaxBody        = MaxText            // the largest body of any kind
	headerSize     = 1 + 16 + 8 + 4 + 1 + 1 + 4
	// MaxSize is the largest encoded message.
	MaxSize = headerSize + MaxBody
)

// Errors returned (wrapped) by Unmarshal and Marshal. Test with errors.Is.
var (
	ErrTooLarge    = errors.New("message: too large")
	ErrTruncated   = errors.New("message: truncated")
	ErrTrailing    = errors.New("message: trailing bytes")
	ErrVersion     = errors.New("message: unsupported version")
	ErrUnknownKind = errors.New("message: unknown kind")
	ErrInvalid     = errors.New("message: invalid field")
)

// ID identifies a message. It is random, chosen by the sender.
type ID [16]byte

// NewID returns a random ID read from rand; nil means crypto/rand.
func NewID(rand io.Reader) (ID, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	var id ID
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return ID{}, fmt.Errorf("message: new id: %w", err)
	}
	return id, nil
}

// Kind says what a message's body is.
type Kind uint8

// Kinds. The zero Kind is never valid.
const (
	KindText    Kind = 1
	KindFile    Kind = 2
	KindControl Kind = 3
	// Reserved for later versions; not accepted yet.
	KindReaction Kind = 4
	KindGroup    Kind = 5
	KindCall     Kind = 6
)

func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindFile:
		return "file"
	case KindControl:
		return "control"
	case KindReaction:
		return "reaction"
	case KindGroup:
		return "group"
	case KindCall:
		return "call"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Expiry says when a message disappears. The zero Expiry means never.
type Expiry struct {
	// Timer is the number of seconds after SentAt when the message
	// expires; 0 means no timer. At most MaxTimer.
	Timer uint32
	// BurnOnRead makes the message expire once it has been shown.
	BurnOnRead bool
}

// Message is one message's contents. A Message is a value; Marshal does
// not modify it.
type Message struct {
	ID ID
	// SentAt is the sender's clock at sending, Unix milliseconds (≥ 0).
	SentAt int64
	Expiry Expiry
	// Body is one of Text, *File or *Control.
	Body Body
}

// Body is the kind-specific part of a message: Text, *File or *Control.
type Body interface {
	Kind() Kind
	appendBody(b []byte) ([]byte, error)
}

// New returns a message with a fresh random id read from rand (nil means
// crypto/rand), sent now.
func New(body Body, expiry Expiry, now time.Time, rand io.Reader) (Message, error) {
	id, err := NewID(rand)
	if err != nil {
		return Message{}, err
	}
	return Message{ID: id, SentAt: now.UnixMilli(), Expiry: expiry, Body: body}, nil
}

// Time returns SentAt as a time.Time.
func (m *Message) Time() time.Time { return time.UnixMilli(m.SentAt) }

// UnknownKindError is returned by Unmarshal for a well-formed message of a
// kind this version does not know. It wraps ErrUnknownKind.
type UnknownKindError struct {
	Kind   Kind
	ID     ID
	SentAt int64
}

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("message: unknown kind %d (from a newer version?)", uint8(e.Kind))
}

func (e *UnknownKindError) Unwrap() error { return ErrUnknownKind }
