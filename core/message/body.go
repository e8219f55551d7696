package message

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text is the body of a text message: UTF-8, at most MaxText bytes.
type Text string

// Kind returns KindText.
func (Text) Kind() Kind { return KindText }

func (t Text) appendBody(b []byte) ([]byte, error) {
	if err := checkText(string(t)); err != nil {
		return nil, err
	}
	return append(b, t...), nil
}

func checkText(s string) error {
	if len(s) > MaxText {
		return fmt.Errorf("%w: text of %d bytes, at most %d", ErrTooLarge, len(s), MaxText)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	}
	return nil
}

// File refers to an attachment stored as a blob on a relay. The blob holds
// the attachment encrypted under Key; Hash lets the receiver check the blob
// before decrypting it.
type File struct {
	BlobID    [32]byte // the relay's blob id
	Relay     string   // relay URL the blob is on, at most MaxURL bytes
	Size      uint64   // plaintext size in bytes, at most MaxFileSize
	MediaType string   // e.g. "image/png", at most MaxMediaType bytes
	Name      string   // file name without directories, at most MaxFileName bytes
	Key       [32]byte // content key of the blob
	Hash      [32]byte // SHA-256 of the blob as stored at the relay
}

// Kind returns KindFile.
func (*File) Kind() Kind { return KindFile }

func (f *File) appendBody(b []byte) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	b = append(b, f.BlobID[:]...)
	b = appendStr16(b, f.Relay)
	b = binary.BigEndian.AppendUint64(b, f.Size)
	b = appendStr16(b, f.MediaType)
	b = appendStr16(b, f.Name)
	b = append(b, f.Key[:]...)
	return append(b, f.Hash[:]...), nil
}

func (f *File) check() error {
	if err := checkStr("relay URL", f.Relay, MaxURL); err != nil {
		return err
	}
	if f.Relay == "" {
		return fmt.Errorf("%w: empty relay URL", ErrInvalid)
	}
	if f.Size > MaxFileSize {
		return fmt.Errorf("%w: file size %d, at most %d", ErrInvalid, f.Size, uint64(MaxFileSize))
	}
	if err := checkStr("media type", f.MediaType, MaxMediaType); err != nil {
		return err
	}
	if err := checkStr("file name", f.Name, MaxFileName); err != nil {
		return err
	}
	// A name that could leave the download folder is refused outright;
	// receivers still sanitize names for their platform.
	if f.Name == "." || f.Name == ".." || strings.ContainsAny(f.Name, "/\\") {
		return fmt.Errorf("%w: file name %q is a path", ErrInvalid, f.Name)
	}
	return nil
}

// checkStr accepts valid UTF-8 of at most max bytes without control characters.
func checkStr(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes, at most %d", ErrTooLarge, what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s contains control character %U", ErrInvalid, what, r)
		}
	}
	return nil
}

func appendStr16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// ControlType says what a control message does.
type ControlType uint16

// Control types. Data layouts:
//
//	ControlDelivered, ControlRead  one or more message ids (16 bytes each, at most 256)
//	ControlTimer                   u32 timer seconds (≤ MaxTimer), u8 flags as in the header
//	ControlKeyChange               empty; the sender's identity key changed
//
// Other types are carried as opaque data for the messenger to interpret or
// ignore, so new control types need no new encoding version.
const (
	ControlDelivered ControlType = 1
	ControlRead      ControlType = 2
	ControlTimer     ControlType = 3
	ControlKeyChange ControlType = 4
)

// Control is the body of a control message: receipts, timer changes and
// notices that the user does not read as text.
type Control struct {
	Type ControlType
	Data []byte // at most MaxControlData bytes; layout by Type
}

// Kind returns KindControl.
func (*Control) Kind() Kind { return KindControl }

func (c *Control) appendBody(b []byte) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, uint16(c.Type))
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Data)))
	return append(b, c.Data...), nil
}

// maxReceiptIDs bounds the ids in one receipt.
const maxReceiptIDs = 256

func (c *Control) check() error {
	if len(c.Data) > MaxControlData {
		return fmt.Errorf("%w: control data of %d bytes, at most %d", ErrTooLarge, len(c.Data), MaxControlData)
	}
	switch c.Type {
	case ControlDelivered, ControlRead:
		if n := len(c.Data); n == 0 || n%16 != 0 || n/16 > maxReceiptIDs {
			return fmt.Errorf("%w: receipt of %d bytes, want 1 to %d ids of 16 bytes", ErrInvalid, n, maxReceiptIDs)
		}
	case ControlTimer:
		if len(c.Data) != 5 {
			return fmt.Errorf("%w: timer change of %d bytes, want 5", ErrInvalid, len(c.Data))
		}
		if _, err := decodeExpiry(c.Data); err != nil {
			return err
		}
	case ControlKeyChange:
		if len(c.Data) != 0 {
			return fmt.Errorf("%w: key change notice with %d bytes of data, want none", ErrInvalid, len(c.Data))
		}
	}
	return nil
}

// Receipt returns a delivery (ControlDelivered) or read (ControlRead) receipt
// for the given messages.
func Receipt(t ControlType, ids ...ID) *Control {
	data := make([]byte, 0, 16*len(ids))
	for _, id := range ids {
		data = append(data, id[:]...)
	}
	return &Control{Type: t, Data: data}
}

// ReceiptIDs returns the ids of a receipt, or an error if c is not a valid
// receipt.
func (c *Control) ReceiptIDs() ([]ID, error) {
	if c.Type != ControlDelivered && c.Type != ControlRead {
		return nil, fmt.Errorf("%w: control type %d is not a receipt", ErrInvalid, c.Type)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	ids := make([]ID, len(c.Data)/16)
	for i := range ids {
		copy(ids[i][:], c.Data[16*i:])
	}
	return ids, nil
}

// TimerChange returns a control message that sets the conversation's
// default expiry.
func TimerChange(e Expiry) *Control {
	return &Control{Type: ControlTimer, Data: appendExpiry(nil, e)}
}

// Expiry returns the expiry a ControlTimer message sets.
func (c *Control) Expiry() (Expiry, error) {
	if c.Type != ControlTimer {
		return Expiry{}, fmt.Errorf("%w: control type %d is not a timer change", ErrInvalid, c.Type)
	}
	if err := c.check(); err != nil {
		return Expiry{}, err
	}
	return decodeExpiry(c.Data)
}

const flagBurnOnRead = 1

func appendExpiry(b []byte, e Expiry) []byte {
	b = binary.BigEndian.AppendUint32(b, e.Timer)
	var flags byte
	if e.BurnOnRead {
		flags |= flagBurnOnRead
	}
	return append(b, flags)
}

// decodeExpiry reads u32 timer and u8 flags from exactly 5 bytes.
func decodeExpiry(b []byte) (Expiry, error) {
	e := Expiry{Timer: binary.BigEndian.Uint32(b), BurnOnRead: b[4]&flagBurnOnRead != 0}
	if e.Timer > MaxTimer {
		return Expiry{}, fmt.Errorf("%w: timer %d s, at most %d", ErrInvalid, e.Timer, MaxTimer)
	}
	if b[4]&^flagBurnOnRead != 0 {
		return Expiry{}, fmt.Errorf("%w: unknown flags %#02x", ErrInvalid, b[4])
	}
	return e, nil
}
