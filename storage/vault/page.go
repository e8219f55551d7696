package vault

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Messages are stored in pages (schema version 4): page n of a
// conversation holds its messages n*pageSize+1 .. (n+1)*pageSize, and is
// one sealed record whose bbolt key is msgKeyWith(tPage, n) under the
// conversation's block cipher. Reading the newest 50 messages is then
// four or five lookups and AEAD opens instead of fifty: the per-record
// B-tree descent and AEAD were 70% of a page's cost.
//
// 16 balances reads against writes: appending a message re-seals its
// page (on average 8 messages), and a page of the newest 50 opens at
// most 50+15 messages in four or five pages. With 32, reads were about
// 10% cheaper, but a page of 200-byte messages outgrew bbolt's 4 KiB
// page, and storing cost up to 2x plain bbolt (docs/PERFORMANCE.md).
const pageSize = 16

// pageOf returns the page number of message seq and its index there.
func pageOf(seq uint64) (no uint64, idx int) {
	return (seq - 1) / pageSize, int((seq - 1) % pageSize)
}

// pageFirst returns the sequence number of the first message of page no.
func pageFirst(no uint64) uint64 { return no*pageSize + 1 }

// pageEntry is one message's place in a page. Slot 0 means no message
// there (never stored, deleted or expired); 1 means Payload is the
// message's encoding, in the clear inside the page's seal; s+2 means
// Payload is nonce || ciphertext of the encoding under the key in key
// slot s (sealMessage), so once that slot is overwritten no copy of the
// page, in the file or in bbolt's freed pages, yields the message.
// Order is the message's order time (see Tx.SeqAt), outside the inner
// seal so that paging by time needs no message key.
type pageEntry struct {
	Slot    uint64
	Order   int64
	Payload []byte
}

const (
	entryAbsent = 0
	entryInline = 1
	entrySlot0  = 2 // Slot of an entry sealed under key slot 0
)

func (e pageEntry) present() bool { return e.Slot != entryAbsent }

// keySlot returns the key slot of an entry sealed under one, or -1.
func (e pageEntry) keySlot() int64 {
	if e.Slot < entrySlot0 {
		return -1
	}
	return int64(e.Slot - entrySlot0)
}

// The plaintext of a page is its entries in order, from the page's
// first message, each:
//
//	kind     uvarint: 0 absent, 1 in the clear, s+2 sealed under key slot s
//	order    uvarint, present entries only: the order time minus that of
//	         the previous present entry of the page (of 0 for the first),
//	         modulo 2^64 (order times never decrease, so this is small)
//	payload  uvarint length, then the bytes; present entries only
//
// It ends at its last present entry, so a page never ends in an absent
// entry and is never empty (a page with no message left is deleted).
// Varints must be minimal. The encoding is thus canonical: decoding then
// encoding gives back the same bytes. A message's payload is
// appendMessage's compact encoding (in the clear or under its key):
// reading a page costs one AEAD over every byte of it, so its bytes are
// few (about 20 for a short message instead of about 95).
func encodePage(ents []pageEntry) []byte {
	n := 0
	for i := range ents {
		n += 16 + len(ents[i].Payload)
	}
	b := make([]byte, 0, n)
	var prev int64
	for _, x := range trimPage(ents) {
		b = binary.AppendUvarint(b, x.Slot)
		if x.present() {
			b = binary.AppendUvarint(b, uint64(x.Order-prev))
			prev = x.Order
			b = binary.AppendUvarint(b, uint64(len(x.Payload)))
			b = append(b, x.Payload...)
		}
	}
	return b
}

// trimPage drops the absent entries at the end.
func trimPage(ents []pageEntry) []pageEntry {
	for len(ents) > 0 && !ents[len(ents)-1].present() {
		ents = ents[:len(ents)-1]
	}
	return ents
}

// entryRef is a page entry as the page cache keeps it: Payload as
// offsets into the page's plaintext rather than a slice, so that
// decoding a page stores no pointers (no write barriers while the
// garbage collector runs, which is most of the time when reading).
type entryRef struct {
	slot     uint64
	order    int64
	off, end uint32
}

// decodePage parses a page's plaintext into ents (reused, and returned
// resliced). Payloads alias b. Any malformed page, more than pageSize
// entries, a key slot past 2^32, a page ending in an absent entry or an
// empty page is ErrCorrupt.
func decodePage(ents []pageEntry, b []byte) ([]pageEntry, error) {
	var refs [pageSize]entryRef
	n, err := scanPage(&refs, b)
	ents = ents[:0]
	for _, r := range refs[:n] {
		ents = append(ents, r.entry(b))
	}
	return ents, err
}

func (r *entryRef) entry(b []byte) pageEntry {
	e := pageEntry{Slot: r.slot, Order: r.order}
	if r.end > r.off {
		e.Payload = b[r.off:r.end:r.end]
	}
	return e
}

// uvarint reads a minimal uvarint from b; n is 0 if there is none.
func uvarint(b []byte) (v uint64, n int) {
	if len(b) > 0 && b[0] < 0x80 { // the common case, inline
		return uint64(b[0]), 1
	}
	v, n = binary.Uvarint(b)
	if n <= 0 || b[n-1] == 0 {
		return 0, 0
	}
	return v, n
}

// scanPage parses a page's plaintext into refs and returns the number
// of entries: decodePage without pointers.
func scanPage(refs *[pageSize]entryRef, b []byte) (int, error) {
	if len(b) > math.MaxUint32 {
		return 0, fmt.Errorf("%w: page of %d bytes", ErrCorrupt, len(b))
	}
	var prev int64
	n, p := 0, 0
	for p < len(b) {
		if n == pageSize {
			return n, fmt.Errorf("%w: page of more than %d entries", ErrCorrupt, pageSize)
		}
		var r entryRef
		var k int
		if r.slot, k = uvarint(b[p:]); k == 0 {
			return n, fmt.Errorf("%w: page entry %d: bad kind", ErrCorrupt, n)
		}
		p += k
		if r.slot > entrySlot0+math.MaxUint32 {
			return n, fmt.Errorf("%w: key slot %d", ErrCorrupt, r.slot-entrySlot0)
		}
		if r.slot != entryAbsent {
			d, k := uvarint(b[p:])
			if k == 0 {
				return n, fmt.Errorf("%w: page entry %d: bad order time", ErrCorrupt, n)
			}
			p += k
			prev += int64(d)
			r.order = prev
			size, k := uvarint(b[p:])
			if k == 0 {
				return n, fmt.Errorf("%w: page entry %d: bad length", ErrCorrupt, n)
			}
			p += k
			if size > uint64(len(b)-p) {
				return n, fmt.Errorf("%w: page entry %d of %d bytes in %d", ErrCorrupt, n, size, len(b)-p)
			}
			r.off, r.end = uint32(p), uint32(p)+uint32(size)
			p += int(size)
		}
		refs[n] = r
		n++
	}
	if n == 0 || refs[n-1].slot == entryAbsent {
		return n, fmt.Errorf("%w: page ends in an absent entry", ErrCorrupt)
	}
	return n, nil
}

// Flags of appendMessage's encoding: which optional fields follow.
const (
	mfBurn        = 1 << iota // BurnOnRead
	mfID                      // ID, a length and bytes
	mfTime                    // Time, as order time minus Time (uvarint, mod 2^64)
	mfExpires                 // Expires, 8 bytes (Unix nanoseconds)
	mfAttachments             // a count, then 32-byte ids
	mfAll         = 1<<iota - 1
)

// appendMessage appends the compact encoding of m that pages hold: its
// conversation and sequence number are the page's, so they are left
// out, and so are empty fields:
//
//	flags        1 byte (mf*)
//	ID           uvarint length, bytes           if mfID (never empty)
//	Time         uvarint (order - Time) mod 2^64 if mfTime (Time not zero)
//	Expires      8 bytes, Unix nanoseconds       if mfExpires (not zero)
//	Body         uvarint length, bytes
//	Attachments  uvarint count >= 1, 32 bytes each, if mfAttachments
func appendMessage(b []byte, m *Message, order int64) []byte {
	var f byte
	if m.BurnOnRead {
		f |= mfBurn
	}
	if m.ID != "" {
		f |= mfID
	}
	tm, ex := timeToNanos(m.Time), timeToNanos(m.Expires)
	if tm != 0 {
		f |= mfTime
	}
	if ex != 0 {
		f |= mfExpires
	}
	if len(m.Attachments) > 0 {
		f |= mfAttachments
	}
	b = append(b, f)
	if f&mfID != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.ID)))
		b = append(b, m.ID...)
	}
	if f&mfTime != 0 {
		b = binary.AppendUvarint(b, uint64(order-tm))
	}
	if f&mfExpires != 0 {
		b = binary.BigEndian.AppendUint64(b, uint64(ex))
	}
	b = binary.AppendUvarint(b, uint64(len(m.Body)))
	b = append(b, m.Body...)
	if f&mfAttachments != 0 {
		b = binary.AppendUvarint(b, uint64(len(m.Attachments)))
		for _, id := range m.Attachments {
			b = append(b, id...)
		}
	}
	return b
}

// decodeMessageAt decodes appendMessage's encoding of message seq of
// conversation conv, whose order time is order. It copies what it
// keeps (b may alias the page cache); Conversation shares conv. What
// appendMessage would not write back byte for byte is ErrCorrupt.
func decodeMessageAt(b []byte, conv string, seq uint64, order int64) (Message, error) {
	m := Message{Conversation: conv, Seq: seq}
	bad := func(what string) (Message, error) {
		return Message{}, fmt.Errorf("%w: message %d: bad %s", ErrCorrupt, seq, what)
	}
	if len(b) == 0 || b[0]&^mfAll != 0 {
		return bad("flags")
	}
	f := b[0]
	p := 1
	m.BurnOnRead = f&mfBurn != 0
	if f&mfID != 0 {
		size, k := uvarint(b[p:])
		if k == 0 || size == 0 || size > uint64(len(b)-p-k) {
			return bad("id")
		}
		p += k
		m.ID = string(b[p : p+int(size)])
		p += int(size)
	}
	if f&mfTime != 0 {
		d, k := uvarint(b[p:])
		tm := order - int64(d)
		if k == 0 || tm == 0 {
			return bad("time")
		}
		p += k
		m.Time = nanosToTime(tm)
	}
	if f&mfExpires != 0 {
		if len(b)-p < 8 || binary.BigEndian.Uint64(b[p:]) == 0 {
			return bad("expiry")
		}
		m.Expires = nanosToTime(int64(binary.BigEndian.Uint64(b[p:])))
		p += 8
	}
	size, k := uvarint(b[p:])
	if k == 0 || size > uint64(len(b)-p-k) {
		return bad("body")
	}
	p += k
	if size > 0 {
		m.Body = append([]byte(nil), b[p:p+int(size)]...)
	}
	p += int(size)
	if f&mfAttachments != 0 {
		count, k := uvarint(b[p:])
		if k == 0 || count == 0 || count > uint64(len(b)-p-k)/32 {
			return bad("attachments")
		}
		p += k
		m.Attachments = make([]AttachmentID, count)
		for i := range m.Attachments {
			id := AttachmentID(b[p : p+32])
			if !id.valid() {
				return bad("attachment id")
			}
			m.Attachments[i] = id
			p += 32
		}
	}
	if p != len(b) {
		return Message{}, fmt.Errorf("%w: message %d: %d bytes after it", ErrCorrupt, seq, len(b)-p)
	}
	return m, nil
}

// pageKey returns the bbolt key of page no of a conversation; it is
// valid until the next call.
func (t *Tx) pageKey(conversation string, no uint64) []byte {
	t.convCipher(conversation)
	return t.v.keys.permute(msgKeyWith(t.conv, t.kbuf[:0], tPage, no))
}

// loadPage reads page no of a conversation into the Tx's page cache,
// and reports whether the page has a record. Reading a conversation's
// pages one after another thus costs one lookup and one open per page,
// not per message. The cache holds until the next loadPage or setEntry.
func (t *Tx) loadPage(conversation string, no uint64) (found bool, err error) {
	if t.pgOK && t.pgNo == no && t.pgConv == conversation {
		return t.pgN > 0, nil
	}
	t.pgOK, t.pgN = false, 0
	k := t.pageKey(conversation, no)
	sealed := t.lookup(bucketRecords, k)
	if sealed != nil {
		pt, err := t.openInto(t.pgbuf[:0], bucketRecords, k, sealed)
		if err != nil {
			return false, err
		}
		t.pgbuf = pt
		if t.pgN, err = scanPage(&t.pg, pt); err != nil {
			t.pgN = 0
			return false, err
		}
	}
	t.pgOK, t.pgNo, t.pgConv = true, no, conversation
	return t.pgN > 0, nil
}

// cached returns entry idx of the cached page (absent past its end). Its
// Payload aliases the cache.
func (t *Tx) cached(idx int) pageEntry {
	if idx >= t.pgN {
		return pageEntry{}
	}
	return t.pg[idx].entry(t.pgbuf)
}

// setEntry puts e (absent: a deletion) at message seq's place in its
// page and stores the page, or deletes it if no message is left.
func (t *Tx) setEntry(conversation string, seq uint64, e pageEntry) error {
	if !t.writable {
		return ErrReadOnly
	}
	no, idx := pageOf(seq)
	if _, err := t.loadPage(conversation, no); err != nil {
		return err
	}
	ents := make([]pageEntry, max(t.pgN, idx+1))
	for i := range t.pgN {
		ents[i] = t.cached(i)
	}
	ents[idx] = e
	t.pgOK = false // the page changes; its encoding reads the old payloads
	return t.putPage(conversation, no, ents)
}

// putPage stores page no of a conversation, or deletes it if it holds
// no message. It leaves the page cache alone.
func (t *Tx) putPage(conversation string, no uint64, ents []pageEntry) error {
	k := bytes.Clone(t.pageKey(conversation, no)) // bbolt keeps the key until commit
	if len(trimPage(ents)) == 0 {
		return t.bucket(bucketRecords).Delete(k)
	}
	return t.bucket(bucketRecords).Put(k, sealRecordWith(t.aeadFor(), bucketRecords, k, encodePage(ents)))
}

// entry returns message seq's entry (absent if there is none); its
// Payload aliases the page cache.
func (t *Tx) entry(conversation string, seq uint64) (pageEntry, error) {
	no, idx := pageOf(seq)
	if _, err := t.loadPage(conversation, no); err != nil {
		return pageEntry{}, err
	}
	return t.cached(idx), nil
}

// msgAD is the associated data of a message sealed under its own key:
// the label, the sequence number and the conversation, so a sealed
// message copied to another place fails to open.
func msgAD(dst []byte, conversation string, seq uint64) []byte {
	dst = append(dst, msgADLabelV4...)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return append(dst, conversation...)
}
