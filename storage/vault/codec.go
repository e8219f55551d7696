package vault

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Plaintexts of records are sequences of fields: uint64 as 8 bytes big
// endian, byte strings as a 4-byte length then the bytes. The encoding
// is canonical (one encoding per value) so decode(encode(x)) == x and
// encode(decode(b)) == b for every b decode accepts.

type encoder struct{ b []byte }

func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *encoder) bytes(v []byte) {
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(len(v)))
	e.b = append(e.b, v...)
}
func (e *encoder) str(v string) { e.bytes([]byte(v)) }
func (e *encoder) time(t time.Time) {
	e.u64(uint64(timeToNanos(t)))
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: record truncated in %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("integer")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) bytes() []byte {
	if len(d.b) < 4 {
		d.fail("length")
		return nil
	}
	n := binary.BigEndian.Uint32(d.b)
	if uint64(n) > uint64(len(d.b)-4) {
		d.fail("bytes")
		return nil
	}
	v := d.b[4 : 4+n : 4+n]
	d.b = d.b[4+n:]
	if n == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// bytesNoCopy is bytes without the copy: the result aliases the input.
func (d *decoder) bytesNoCopy() []byte {
	if len(d.b) < 4 {
		d.fail("length")
		return nil
	}
	n := binary.BigEndian.Uint32(d.b)
	if uint64(n) > uint64(len(d.b)-4) {
		d.fail("bytes")
		return nil
	}
	v := d.b[4 : 4+n : 4+n]
	d.b = d.b[4+n:]
	if n == 0 {
		return nil
	}
	return v
}

func (d *decoder) str() string     { return string(d.bytesNoCopy()) }
func (d *decoder) time() time.Time { return nanosToTime(int64(d.u64())) }
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d bytes after record", ErrCorrupt, len(d.b))
	}
	return d.err
}

// Times are kept as Unix nanoseconds in UTC, 0 meaning the zero time.
func timeToNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosToTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Message is one message of a conversation.
type Message struct {
	// Conversation is the conversation's id (opaque to the vault).
	Conversation string
	// Seq is the message's position in its conversation, from 1,
	// assigned by AddMessage in the order messages are stored.
	Seq uint64
	// ID is the protocol's message id, kept for the caller (duplicate
	// detection); may be empty.
	ID string
	// Time is when the message was sent or received, for display.
	Time time.Time
	// Expires, if not zero, is when ExpireDue deletes the message.
	Expires time.Time
	// BurnOnRead marks a message to be destroyed once read: Burn, which
	// the GUI calls after showing it, expires it at once. A message with
	// Expires or BurnOnRead is sealed under a key of its own, kept in the
	// key-slot file and destroyed on expiry (crypto-shredding).
	BurnOnRead bool
	// Body is the message's content, opaque to the vault.
	Body []byte
	// Attachments are the attachments (from PutAttachment) that belong to
	// the message. AddMessage makes the message their owner: when it is
	// deleted or expires, their keys are destroyed and their blobs
	// removed with it. An attachment has at most one owner.
	Attachments []AttachmentID
}

func (m *Message) encode() []byte {
	e := encoder{make([]byte, 0, 64+len(m.Conversation)+len(m.ID)+len(m.Body))}
	e.str(m.Conversation)
	e.u64(m.Seq)
	e.str(m.ID)
	e.time(m.Time)
	e.time(m.Expires)
	var flags uint64
	if m.BurnOnRead {
		flags = 1
	}
	e.u64(flags)
	e.bytes(m.Body)
	// Written only when present, so messages without attachments keep
	// the encoding of schema version 2.
	if len(m.Attachments) > 0 {
		e.u64(uint64(len(m.Attachments)))
		for _, id := range m.Attachments {
			e.str(string(id))
		}
	}
	return e.b
}

// canExpire reports whether m is sealed under a key slot of its own.
func (m *Message) canExpire() bool { return !m.Expires.IsZero() || m.BurnOnRead }

func decodeMessage(b []byte) (Message, error) { return decodeMessageIn(b, "") }

// decodeMessageIn is decodeMessage for a message expected in
// conversation conv: when it is, Conversation shares conv's string
// instead of a copy.
func decodeMessageIn(b []byte, conv string) (Message, error) {
	d := decoder{b: b}
	var m Message
	if c := d.bytesNoCopy(); string(c) == conv {
		m.Conversation = conv
	} else {
		m.Conversation = string(c)
	}
	m.Seq, m.ID, m.Time, m.Expires = d.u64(), d.str(), d.time(), d.time()
	flags := d.u64()
	m.Body = d.bytes()
	if d.err == nil && flags > 1 {
		d.err = fmt.Errorf("%w: message flags %#x", ErrCorrupt, flags)
	}
	m.BurnOnRead = flags == 1
	if d.err == nil && len(d.b) > 0 {
		n := d.u64()
		if d.err == nil && (n == 0 || n > uint64(len(d.b))/(4+32)) {
			d.err = fmt.Errorf("%w: %d attachments in %d bytes", ErrCorrupt, n, len(d.b))
		}
		for i := uint64(0); d.err == nil && i < n; i++ {
			id := AttachmentID(d.str())
			if d.err == nil && !id.valid() {
				d.err = fmt.Errorf("%w: attachment id %q", ErrCorrupt, id)
			}
			m.Attachments = append(m.Attachments, id)
		}
	}
	return m, d.done()
}

// msgRecord is the plaintext of a message's sealed record in schema
// versions 2 and 3, which the migration to version 4 (pages, page.go)
// reads. A message
// that cannot expire is stored inline (Slot zero, Payload its encoding).
// One that can is sealed again under the key in key slot Slot-1, and
// Payload is nonce || ciphertext of its encoding: the slot number is
// inside the outer sealed record, invisible without the master key.
//
// Since schema version 3 it also holds the message's order time (Unix
// nanoseconds, see Tx.SeqAt), outside the per-message seal so that the
// time index can be searched without the message keys. Records written
// by version 2 have none (HasOrder false); their order time is the
// message's Time.
type msgRecord struct {
	Slot     uint64 // key slot + 1; 0 means inline
	Payload  []byte
	Order    int64
	HasOrder bool
}

func (r *msgRecord) encode() []byte {
	e := encoder{make([]byte, 0, 20+len(r.Payload))}
	e.u64(r.Slot)
	e.bytes(r.Payload)
	if r.HasOrder {
		e.u64(uint64(r.Order))
	}
	return e.b
}

func decodeMsgRecord(b []byte) (msgRecord, error) {
	d := decoder{b: b}
	r := msgRecord{Slot: d.u64(), Payload: d.bytesNoCopy()}
	if d.err == nil && r.Slot > 1<<32 {
		d.err = fmt.Errorf("%w: key slot %d", ErrCorrupt, r.Slot-1)
	}
	if d.err == nil && len(d.b) > 0 {
		r.Order, r.HasOrder = int64(d.u64()), true
	}
	return r, d.done()
}

// attRecord is the plaintext of an attachment's sealed record (schema
// version 3): the key slot holding the blob's key, and the message that
// owns the attachment (Seq 0: none yet). Version 2 kept the key itself
// here, so a deleted attachment's key stayed in bbolt's freed pages.
type attRecord struct {
	Slot         uint64 // key slot + 1
	Conversation string
	Seq          uint64
}

func (r *attRecord) encode() []byte {
	e := encoder{make([]byte, 0, 20+len(r.Conversation))}
	e.u64(r.Slot)
	e.str(r.Conversation)
	e.u64(r.Seq)
	return e.b
}

func decodeAttRecord(b []byte) (attRecord, error) {
	d := decoder{b: b}
	r := attRecord{Slot: d.u64(), Conversation: d.str(), Seq: d.u64()}
	switch {
	case d.err != nil:
	case r.Slot == 0 || r.Slot > 1<<32:
		d.err = fmt.Errorf("%w: attachment key slot %d", ErrCorrupt, int64(r.Slot)-1)
	case r.Seq == 0 && r.Conversation != "":
		d.err = fmt.Errorf("%w: attachment owner without a sequence number", ErrCorrupt)
	}
	return r, d.done()
}

// Contact is one contact: its id and the caller's data about it.
type Contact struct {
	ID   string
	Data []byte
}

func (c *Contact) encode() []byte {
	e := encoder{}
	e.str(c.ID)
	e.bytes(c.Data)
	return e.b
}

func decodeContact(b []byte) (Contact, error) {
	d := decoder{b: b}
	c := Contact{ID: d.str(), Data: d.bytes()}
	return c, d.done()
}

// OutboxEntry is a message waiting to be sent.
type OutboxEntry struct {
	// Seq orders the outbox; PutOutbox assigns it when zero.
	Seq uint64
	// Contact is the recipient's contact id.
	Contact string
	// Data is the caller's entry (the sealed envelope, attempts...).
	Data []byte
}

func (o *OutboxEntry) encode() []byte {
	e := encoder{}
	e.u64(o.Seq)
	e.str(o.Contact)
	e.bytes(o.Data)
	return e.b
}

func decodeOutbox(b []byte) (OutboxEntry, error) {
	d := decoder{b: b}
	o := OutboxEntry{Seq: d.u64(), Contact: d.str(), Data: d.bytes()}
	return o, d.done()
}

// span is a sequence range [Low, Next): a conversation's messages or the
// outbox. Below Low every record is gone; Next is the next to assign.
// A conversation's span written since schema version 3 also holds Last,
// the order time of its newest message (HasLast).
type span struct {
	Low, Next uint64
	Last      int64
	HasLast   bool
}

func (s span) encode() []byte {
	e := encoder{}
	e.u64(s.Low)
	e.u64(s.Next)
	if s.HasLast {
		e.u64(uint64(s.Last))
	}
	return e.b
}

func decodeSpan(b []byte) (span, error) {
	d := decoder{b: b}
	s := span{Low: d.u64(), Next: d.u64()}
	if d.err == nil && len(d.b) > 0 {
		s.Last, s.HasLast = int64(d.u64()), true
	}
	if err := d.done(); err != nil {
		return s, err
	}
	if s.Low == 0 || s.Low > s.Next {
		return s, fmt.Errorf("%w: sequence range [%d, %d)", ErrCorrupt, s.Low, s.Next)
	}
	return s, nil
}

// expiryEntry is one entry of the expiry index: a message that can
// expire and its key slot. Expires is zero for a burn-on-read message not
// yet burnt.
type expiryEntry struct {
	Conversation string
	Seq          uint64
	Expires      time.Time
	Slot         uint32
}

func (x *expiryEntry) encode() []byte {
	e := encoder{}
	e.str(x.Conversation)
	e.u64(x.Seq)
	e.time(x.Expires)
	e.u64(uint64(x.Slot))
	return e.b
}

func decodeExpiry(b []byte) (expiryEntry, error) {
	d := decoder{b: b}
	x := expiryEntry{Conversation: d.str(), Seq: d.u64(), Expires: d.time()}
	slot := d.u64()
	if d.err == nil && slot > 1<<32-1 {
		d.err = fmt.Errorf("%w: key slot %d", ErrCorrupt, slot)
	}
	x.Slot = uint32(slot)
	return x, d.done()
}

// The contact index is the list of contact ids, so contacts can be
// listed without a bucket of their own (whose key count would be the
// number of contacts).
func encodeStrings(v []string) []byte {
	e := encoder{}
	e.u64(uint64(len(v)))
	for _, s := range v {
		e.str(s)
	}
	return e.b
}

func decodeStrings(b []byte) ([]string, error) {
	d := decoder{b: b}
	n := d.u64()
	if n > uint64(len(b))/4 {
		return nil, fmt.Errorf("%w: list of %d strings in %d bytes", ErrCorrupt, n, len(b))
	}
	v := make([]string, 0, n)
	for range n {
		v = append(v, d.str())
	}
	return v, d.done()
}
