package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sort"
	"time"

	"github.com/ephemera-im/ephemera/storage/keyslots"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/chacha20poly1305"
)

// Tx is one transaction over the vault's records, given to the function
// passed to View or Update. It is valid only during that call and only
// on that goroutine. Write methods on a Tx from View fail.
type Tx struct {
	tx       *bolt.Tx
	v        *Vault
	writable bool
	minDue   int64 // earliest expiry added in this transaction

	// allocs are the key slots allocated in this transaction, destroyed
	// again if it does not commit; shredded is set once expireDue has
	// destroyed slots, so a failed commit is known to leave records
	// whose keys are gone.
	allocs   []uint32
	shredded bool

	// dropSlots and dropBlobs are the key slots and blobs of attachments
	// deleted in this transaction: destroyed and removed once it has
	// committed (a crash before that leaves a slot no record names and a
	// blob without a record, which the next Open removes).
	dropSlots []uint32
	dropBlobs []AttachmentID

	// Made on first use and dropped with the Tx: a page of 50 messages
	// then costs one HMAC and one AEAD setup instead of 50 of each, and
	// no bucket lookup per record.
	mac    hash.Hash
	conv   cipher.Block // page keys of conversation convID
	convID string
	aead   cipher.AEAD
	kbuf   [recordKeySize]byte
	adbuf  []byte
	cur    *bolt.Cursor // over recs, for point lookups in read-only Txs
	recs   *bolt.Bucket
	exps   *bolt.Bucket

	// The page of messages last read (loadPage): its entries alias
	// pgbuf, its plaintext, which is reused for the next page. Messages
	// decoded from it copy what they keep.
	pg     [pageSize]entryRef
	pgN    int // entries in pg; 0 if the page has no record
	pgbuf  []byte
	pgConv string
	pgNo   uint64
	pgOK   bool // pg is page pgNo of pgConv
}

// lookup is Bucket.Get. In a read-only Tx, lookups in the records
// bucket reuse one cursor instead of making one per Get.
func (t *Tx) lookup(bucket, k []byte) []byte {
	b := t.bucket(bucket)
	if t.writable || b != t.recs {
		return b.Get(k)
	}
	if t.cur == nil {
		t.cur = b.Cursor()
	}
	got, v := t.cur.Seek(k)
	if !bytes.Equal(got, k) {
		return nil
	}
	return v
}

// bucket returns one of the vault's buckets, looked up once per Tx.
func (t *Tx) bucket(name []byte) *bolt.Bucket {
	switch string(name) {
	case string(bucketRecords):
		if t.recs == nil {
			t.recs = t.tx.Bucket(bucketRecords)
		}
		return t.recs
	case string(bucketExpiry):
		if t.exps == nil {
			t.exps = t.tx.Bucket(bucketExpiry)
		}
		return t.exps
	}
	return t.tx.Bucket(name)
}

// open opens a sealed value of bucket under key k, with the Tx's AEAD
// and associated-data buffer.
func (t *Tx) open(bucket, k, sealed []byte) ([]byte, error) {
	return t.openInto(nil, bucket, k, sealed)
}

// openInto is open appending the plaintext to dst.
func (t *Tx) openInto(dst, bucket, k, sealed []byte) ([]byte, error) {
	if len(sealed) < recordOverhead {
		return nil, fmt.Errorf("%w: sealed record of %d bytes", ErrCorrupt, len(sealed))
	}
	if sealed[0] != recordVersion {
		return nil, fmt.Errorf("%w: sealed record version %d", ErrCorrupt, sealed[0])
	}
	t.adbuf = appendRecordAD(t.adbuf[:0], bucket, k)
	pt, err := t.aeadFor().Open(dst, sealed[1:1+nonceSize], sealed[1+nonceSize:], t.adbuf)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed record fails to open", ErrCorrupt)
	}
	return pt, nil
}

// key returns the bbolt key of a record; it is valid until the next call.
// Messages have no record of their own: see pageKey.
func (t *Tx) key(typ recordType, id string, seq uint64) []byte {
	return t.hmacKey(typ, id, seq)
}

func (t *Tx) hmacKey(typ recordType, id string, seq uint64) []byte {
	if t.mac == nil {
		t.mac = hmac.New(sha256.New, t.v.keys.id)
	}
	return t.v.keys.permute(recordKeyWith(t.mac, t.kbuf[:0], typ, id, seq))
}

// convCipher makes t.conv the block cipher of a conversation's page
// keys. The cipher of the last conversation used is kept for the Tx, so
// a page of messages costs one key derivation and then one block
// encryption per page instead of an HMAC each.
func (t *Tx) convCipher(conversation string) {
	if t.conv == nil || t.convID != conversation {
		if t.mac == nil {
			t.mac = hmac.New(sha256.New, t.v.keys.id)
		}
		var buf [sha256.Size]byte
		ck := conversationKeyWith(t.mac, buf[:0], conversation)
		t.conv, _ = aes.NewCipher(ck) // 32 bytes: cannot fail
		clear(ck)
		t.convID = conversation
	}
}

// msgKey returns the bbolt key that schema version 3 gave message seq of
// a conversation (one record per message); only the migration to
// version 4 looks for it.
func (t *Tx) msgKey(conversation string, seq uint64) []byte {
	t.convCipher(conversation)
	return t.v.keys.permute(msgKeyWith(t.conv, t.kbuf[:0], tMessage, seq))
}

func (t *Tx) aeadFor() cipher.AEAD {
	if t.aead == nil {
		t.aead, _ = chacha20poly1305.NewX(t.v.keys.seal)
	}
	return t.aead
}

// ErrReadOnly: a write method was called on a Tx from View.
var ErrReadOnly = errors.New("vault: write in a read-only transaction")

func (t *Tx) get(bucket []byte, typ recordType, id string, seq uint64) ([]byte, []byte, error) {
	k := t.key(typ, id, seq)
	sealed := t.lookup(bucket, k)
	if sealed == nil {
		return k, nil, nil
	}
	pt, err := t.open(bucket, k, sealed)
	return k, pt, err
}

func (t *Tx) put(bucket []byte, typ recordType, id string, seq uint64, pt []byte) error {
	if !t.writable {
		return ErrReadOnly
	}
	k := bytes.Clone(t.key(typ, id, seq)) // bbolt keeps the key until commit
	return t.bucket(bucket).Put(k, sealRecordWith(t.aeadFor(), bucket, k, pt))
}

func (t *Tx) del(bucket []byte, typ recordType, id string, seq uint64) error {
	if !t.writable {
		return ErrReadOnly
	}
	return t.bucket(bucket).Delete(t.key(typ, id, seq))
}

// getBytes reads an opaque record; ErrNotFound if there is none.
func (t *Tx) getBytes(typ recordType, id, what string) ([]byte, error) {
	_, pt, err := t.get(bucketRecords, typ, id, 0)
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", what, err)
	}
	if pt == nil {
		return nil, fmt.Errorf("vault: %s: %w", what, ErrNotFound)
	}
	return pt, nil
}

// Profile returns the user's profile, opaque to the vault.
func (t *Tx) Profile() ([]byte, error) { return t.getBytes(tProfile, "", "profile") }

// PutProfile replaces the user's profile.
func (t *Tx) PutProfile(data []byte) error { return t.put(bucketRecords, tProfile, "", 0, data) }

// Setting returns the setting called name; ErrNotFound if unset.
func (t *Tx) Setting(name string) ([]byte, error) {
	return t.getBytes(tSetting, name, "setting")
}

// PutSetting sets the setting called name.
func (t *Tx) PutSetting(name string, value []byte) error {
	return t.put(bucketRecords, tSetting, name, 0, value)
}

// DeleteSetting removes a setting; removing an unset one is no error.
func (t *Tx) DeleteSetting(name string) error { return t.del(bucketRecords, tSetting, name, 0) }

// Identity returns the identity (key pair, prekeys...) called name.
func (t *Tx) Identity(name string) ([]byte, error) {
	return t.getBytes(tIdentity, name, "identity")
}

// PutIdentity stores the identity called name.
func (t *Tx) PutIdentity(name string, data []byte) error {
	return t.put(bucketRecords, tIdentity, name, 0, data)
}

// DeleteIdentity removes an identity; removing a missing one is no error.
func (t *Tx) DeleteIdentity(name string) error { return t.del(bucketRecords, tIdentity, name, 0) }

// Session returns the session (ratchet state) with a contact.
func (t *Tx) Session(contact string) ([]byte, error) {
	return t.getBytes(tSession, contact, "session")
}

// PutSession stores the session with a contact.
func (t *Tx) PutSession(contact string, state []byte) error {
	return t.put(bucketRecords, tSession, contact, 0, state)
}

// DeleteSession removes the session with a contact.
func (t *Tx) DeleteSession(contact string) error { return t.del(bucketRecords, tSession, contact, 0) }

func (t *Tx) contactIndex() ([]string, error) {
	_, pt, err := t.get(bucketRecords, tContactIndex, "", 0)
	if err != nil || pt == nil {
		return nil, err
	}
	return decodeStrings(pt)
}

// Contact returns the contact with that id.
func (t *Tx) Contact(id string) (Contact, error) {
	_, pt, err := t.get(bucketRecords, tContact, id, 0)
	if err == nil && pt == nil {
		err = ErrNotFound
	}
	if err != nil {
		return Contact{}, fmt.Errorf("vault: contact: %w", err)
	}
	c, err := decodeContact(pt)
	if err != nil {
		return Contact{}, fmt.Errorf("vault: contact: %w", err)
	}
	return c, nil
}

// PutContact adds or replaces a contact.
func (t *Tx) PutContact(c Contact) error {
	ids, err := t.contactIndex()
	if err != nil {
		return fmt.Errorf("vault: put contact: %w", err)
	}
	if i, found := slices.BinarySearch(ids, c.ID); !found {
		ids = slices.Insert(ids, i, c.ID)
		if err := t.put(bucketRecords, tContactIndex, "", 0, encodeStrings(ids)); err != nil {
			return err
		}
	}
	return t.put(bucketRecords, tContact, c.ID, 0, c.encode())
}

// DeleteContact removes a contact (not its session or conversation);
// removing a missing one is no error.
func (t *Tx) DeleteContact(id string) error {
	ids, err := t.contactIndex()
	if err != nil {
		return fmt.Errorf("vault: delete contact: %w", err)
	}
	if i, found := slices.BinarySearch(ids, id); found {
		ids = slices.Delete(ids, i, i+1)
		if err := t.put(bucketRecords, tContactIndex, "", 0, encodeStrings(ids)); err != nil {
			return err
		}
	}
	return t.del(bucketRecords, tContact, id, 0)
}

// Contacts returns every contact, ordered by id.
func (t *Tx) Contacts() ([]Contact, error) {
	ids, err := t.contactIndex()
	if err != nil {
		return nil, fmt.Errorf("vault: contacts: %w", err)
	}
	cs := make([]Contact, 0, len(ids))
	for _, id := range ids {
		c, err := t.Contact(id)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// getSpan reads a sequence range; a missing one is [1, 1).
func (t *Tx) getSpan(typ recordType, id string) (span, error) {
	_, pt, err := t.get(bucketRecords, typ, id, 0)
	if err != nil {
		return span{}, err
	}
	if pt == nil {
		return span{Low: 1, Next: 1}, nil
	}
	return decodeSpan(pt)
}

// AddMessage appends m to its conversation, assigning m.Seq (ignored on
// input), and returns the stored message. If m can expire (Expires or
// BurnOnRead set), it is sealed under a fresh key in a key slot and
// entered in the expiry index; the slot is synced to disk before the
// transaction commits, and destroyed again if it does not.
func (t *Tx) AddMessage(m Message) (Message, error) {
	if !t.writable {
		return m, ErrReadOnly
	}
	s, err := t.getSpan(tConversation, m.Conversation)
	if err != nil {
		return m, fmt.Errorf("vault: add message: %w", err)
	}
	m.Seq = s.Next
	s.Next++
	// The order time never goes back (see SeqAt).
	order := max(timeToNanos(m.Time), s.Last)
	s.Last, s.HasLast = order, true
	if err := t.put(bucketRecords, tConversation, m.Conversation, 0, s.encode()); err != nil {
		return m, err
	}
	if err := t.own(m.Conversation, m.Seq, m.Attachments); err != nil {
		return m, fmt.Errorf("vault: add message: %w", err)
	}
	if !m.canExpire() {
		return m, t.setEntry(m.Conversation, m.Seq, pageEntry{Slot: entryInline, Order: order, Payload: appendMessage(nil, &m, order)})
	}
	if t.v.shredPending.Load() {
		return m, fmt.Errorf("vault: add message: %w", errShredPending)
	}
	slot, key, err := t.v.ks.Alloc()
	if err != nil {
		return m, fmt.Errorf("vault: add message: %w", err)
	}
	defer clear(key)
	t.allocs = append(t.allocs, slot)
	e := pageEntry{Slot: entrySlot0 + uint64(slot), Order: order, Payload: sealMessage(key, msgAD(nil, m.Conversation, m.Seq), appendMessage(nil, &m, order))}
	if err := t.setEntry(m.Conversation, m.Seq, e); err != nil {
		return m, err
	}
	x := expiryEntry{Conversation: m.Conversation, Seq: m.Seq, Expires: m.Expires, Slot: slot}
	if err := t.put(bucketExpiry, tExpiry, m.Conversation, m.Seq, x.encode()); err != nil {
		return m, err
	}
	if n := timeToNanos(m.Expires); n != 0 && (t.minDue == 0 || n < t.minDue) {
		t.minDue = n
	}
	return m, nil
}

// Message returns message seq of a conversation. A message whose expiry
// has passed is ErrNotFound even before ExpireDue has deleted it, and so
// is one whose key slot is gone.
func (t *Tx) Message(conversation string, seq uint64) (Message, error) {
	return t.messageAt(conversation, seq, t.v.now())
}

// messageAt is Message with the clock read once per page.
func (t *Tx) messageAt(conversation string, seq uint64, now time.Time) (Message, error) {
	m, _, err := t.message(conversation, seq)
	if err != nil {
		return Message{}, err
	}
	if !m.Expires.IsZero() && !m.Expires.After(now) {
		return Message{}, fmt.Errorf("vault: message: %w (expired)", ErrNotFound)
	}
	return m, nil
}

// message reads a message whatever its expiry, with its slot (-1 for
// one that cannot expire).
func (t *Tx) message(conversation string, seq uint64) (Message, int64, error) {
	e, err := t.entry(conversation, seq)
	if err != nil {
		return Message{}, -1, fmt.Errorf("vault: message: %w", err)
	}
	return t.decodeEntry(conversation, seq, &e)
}

// decodeEntry decodes message seq from its page entry. decodeMessageAt
// copies what it keeps, so the entry may alias the page cache.
func (t *Tx) decodeEntry(conversation string, seq uint64, e *pageEntry) (Message, int64, error) {
	if !e.present() {
		return Message{}, -1, fmt.Errorf("vault: message: %w", ErrNotFound)
	}
	pt := e.Payload
	slot := e.keySlot()
	if slot >= 0 {
		key, err := t.v.ks.Get(uint32(slot))
		if errors.Is(err, keyslots.ErrNoKey) || errors.Is(err, keyslots.ErrRange) {
			// Destroyed: expired, with the entry left by a crash or a
			// failed commit; ExpireDue or the next Open deletes it.
			return Message{}, slot, fmt.Errorf("vault: message: %w (key destroyed)", ErrNotFound)
		}
		if err != nil {
			return Message{}, slot, fmt.Errorf("vault: message: %w", err)
		}
		pt, err = openMessage(key, msgAD(nil, conversation, seq), e.Payload)
		clear(key)
		if err != nil {
			return Message{}, slot, fmt.Errorf("vault: message: %w", err)
		}
	}
	m, err := decodeMessageAt(pt, conversation, seq, e.Order)
	if err != nil {
		return Message{}, slot, fmt.Errorf("vault: message: %w", err)
	}
	return m, slot, nil
}

// LastSeq returns the sequence number of the newest message stored in a
// conversation (0 if none ever was), the starting point for Messages.
func (t *Tx) LastSeq(conversation string) (uint64, error) {
	s, err := t.getSpan(tConversation, conversation)
	if err != nil {
		return 0, fmt.Errorf("vault: last seq: %w", err)
	}
	return s.Next - 1, nil
}

// Messages returns up to limit messages of a conversation with Seq <
// before, newest first; before == 0 means from the newest. The next
// page is Messages(conv, page[len(page)-1].Seq, limit). A page costs one
// point lookup and one AEAD open per page of pageSize (16) stored
// messages it reaches into, deleted ones included: the newest 50 are
// four or five; its cost does not grow with the conversation's length.
func (t *Tx) Messages(conversation string, before uint64, limit int) ([]Message, error) {
	s, err := t.getSpan(tConversation, conversation)
	if err != nil {
		return nil, fmt.Errorf("vault: messages: %w", err)
	}
	if before == 0 || before > s.Next {
		before = s.Next
	}
	if limit <= 0 || before <= s.Low {
		return nil, nil
	}
	page := make([]Message, 0, min(uint64(limit), before-s.Low))
	now := t.v.now()
	for seq := before - 1; seq >= s.Low && len(page) < limit; {
		no, idx := pageOf(seq)
		if _, err := t.loadPage(conversation, no); err != nil {
			return nil, fmt.Errorf("vault: messages: %w", err)
		}
		for ; idx >= 0 && seq >= s.Low && len(page) < limit; idx, seq = idx-1, seq-1 {
			e := t.cached(idx)
			if !e.present() {
				continue // deleted or expired
			}
			m, _, err := t.decodeEntry(conversation, seq, &e)
			if err == nil && !m.Expires.IsZero() && !m.Expires.After(now) {
				continue // due, not yet expired
			}
			if errors.Is(err, ErrNotFound) {
				continue // key destroyed
			}
			if err != nil {
				return nil, err
			}
			page = append(page, m)
		}
	}
	return page, nil
}

// orderAt returns the order time (Unix nanoseconds) of message seq; ok
// is false when there is no such message. The order time is outside the
// message's own seal: a message whose key is gone still answers.
func (t *Tx) orderAt(conversation string, seq uint64) (order int64, ok bool, err error) {
	e, err := t.entry(conversation, seq)
	if err != nil {
		return 0, false, fmt.Errorf("vault: message: %w", err)
	}
	return e.Order, e.present(), nil
}

// SeqAt returns the sequence number of the oldest message of a
// conversation whose order time is at or after at (LastSeq+1 if there
// is none), for paging by time: Messages(conv, SeqAt(conv, at), n) is
// the page of messages before at. If messages just below that one were
// deleted, it may return the number of one of them instead: every
// message below the result is before at, and every message from it on
// is not.
//
// A message's order time is its Time, or the order time of the message
// stored before it in the conversation if that is later: order times
// never decrease with the sequence number, and a message stored late
// (a delayed delivery, an imported history) keeps the place where it
// was stored, as on screen, rather than being moved back in the list.
// Its Time is still the one it was given. A zero Time takes the order
// time of the message before it.
//
// It is a binary search over the sequence numbers, each step reading
// the page of the message (whose order time is outside the message's
// own seal, so even a message whose own key is gone still answers):
// about 17 steps in a conversation of 100,000 messages, touching about
// 13 pages (the last steps stay in one page, read once), and no record
// key or range scan reveals anything. Deleted messages are stepped over,
// one step each.
func (t *Tx) SeqAt(conversation string, at time.Time) (uint64, error) {
	s, err := t.getSpan(tConversation, conversation)
	if err != nil {
		return 0, fmt.Errorf("vault: seq at: %w", err)
	}
	want := timeToNanos(at)
	// Present messages below lo are before want; those at or above hi
	// are not.
	lo, hi := s.Low, s.Next
	for lo < hi {
		mid := lo + (hi-lo)/2
		p, order, found := mid, int64(0), false
		for ; p < hi; p++ {
			o, ok, err := t.orderAt(conversation, p)
			if err != nil {
				return 0, err
			}
			if ok {
				order, found = o, true
				break
			}
		}
		switch {
		case !found: // [mid, hi) holds no message
			hi = mid
		case order < want:
			lo = p + 1
		default:
			hi = mid
		}
	}
	return lo, nil
}

// MessagesBefore returns up to limit messages of a conversation whose
// order time (see SeqAt) is before before, newest first; a zero before
// means from the newest. The next page is
// Messages(conv, page[len(page)-1].Seq, limit), or MessagesBefore with
// the last message's order time when times are distinct.
func (t *Tx) MessagesBefore(conversation string, before time.Time, limit int) ([]Message, error) {
	var seq uint64
	if !before.IsZero() {
		var err error
		if seq, err = t.SeqAt(conversation, before); err != nil {
			return nil, err
		}
		if seq == 0 { // no messages at all: Messages reads from the newest
			return nil, nil
		}
	}
	return t.Messages(conversation, seq, limit)
}

// DeleteMessage removes a message, its expiry entry and the attachments
// it owns (their key slots are overwritten and their blobs removed once
// the transaction commits); removing a missing one is no error.
func (t *Tx) DeleteMessage(conversation string, seq uint64) error {
	if !t.writable {
		return ErrReadOnly
	}
	var atts []AttachmentID
	if m, _, err := t.message(conversation, seq); err == nil {
		atts = m.Attachments
	}
	return t.deleteMessage(conversation, seq, atts)
}

// deleteMessage is DeleteMessage with the message's attachments known
// (nil when the message could not be read: its key is gone).
func (t *Tx) deleteMessage(conversation string, seq uint64, atts []AttachmentID) error {
	if err := t.disown(conversation, seq, atts); err != nil {
		return err
	}
	if e, err := t.entry(conversation, seq); err != nil {
		return err
	} else if e.present() {
		if err := t.setEntry(conversation, seq, pageEntry{}); err != nil {
			return err
		}
	}
	if err := t.del(bucketExpiry, tExpiry, conversation, seq); err != nil {
		return err
	}
	return t.advanceConversationLow(conversation)
}

// advanceConversationLow moves a conversation's Low past deleted
// messages at its bottom, a page at a time where a whole page is gone,
// so pages of a conversation whose oldest messages expired do not skip
// over them one by one. It looks at a bounded number of pages and
// entries per call; the rest is done by later deletions.
func (t *Tx) advanceConversationLow(conversation string) error {
	s, err := t.getSpan(tConversation, conversation)
	if err != nil {
		return err
	}
	low := s.Low
	for n := 0; low < s.Next && n < 64; n++ {
		no, idx := pageOf(low)
		found, err := t.loadPage(conversation, no)
		if err != nil {
			return err
		}
		if !found {
			low = min(pageFirst(no+1), s.Next)
			continue
		}
		if t.cached(idx).present() {
			break
		}
		low++
	}
	if low == s.Low {
		return nil
	}
	s.Low = low
	return t.put(bucketRecords, tConversation, conversation, 0, s.encode())
}

// advanceLow moves the outbox's Low past deleted records at its bottom,
// so that reading it does not step over them one lookup at a time. It
// looks at most a bounded number of records per call; the rest is done
// by later deletions. (Conversations: advanceConversationLow.)
func (t *Tx) advanceLow(spanType, recType recordType, id string) error {
	s, err := t.getSpan(spanType, id)
	if err != nil {
		return err
	}
	low := s.Low
	b := t.bucket(bucketRecords)
	for n := 0; low < s.Next && n < 64; n++ {
		if b.Get(t.key(recType, id, low)) != nil {
			break
		}
		low++
	}
	if low == s.Low {
		return nil
	}
	s.Low = low
	return t.put(bucketRecords, spanType, id, 0, s.encode())
}

// PutOutbox adds an entry to the outbox (Seq zero: a new Seq is assigned
// after every other) or replaces entry e.Seq. It returns the entry's Seq.
func (t *Tx) PutOutbox(e OutboxEntry) (uint64, error) {
	if !t.writable {
		return 0, ErrReadOnly
	}
	if e.Seq == 0 {
		s, err := t.getSpan(tOutboxHead, "")
		if err != nil {
			return 0, fmt.Errorf("vault: put outbox: %w", err)
		}
		e.Seq = s.Next
		s.Next++
		if err := t.put(bucketRecords, tOutboxHead, "", 0, s.encode()); err != nil {
			return 0, err
		}
	}
	return e.Seq, t.put(bucketRecords, tOutbox, "", e.Seq, e.encode())
}

// Outbox returns the outbox's entries, oldest first.
func (t *Tx) Outbox() ([]OutboxEntry, error) {
	s, err := t.getSpan(tOutboxHead, "")
	if err != nil {
		return nil, fmt.Errorf("vault: outbox: %w", err)
	}
	var es []OutboxEntry
	for seq := s.Low; seq < s.Next; seq++ {
		_, pt, err := t.get(bucketRecords, tOutbox, "", seq)
		if err != nil {
			return nil, fmt.Errorf("vault: outbox: %w", err)
		}
		if pt == nil {
			continue
		}
		e, err := decodeOutbox(pt)
		if err != nil {
			return nil, fmt.Errorf("vault: outbox: %w", err)
		}
		es = append(es, e)
	}
	return es, nil
}

// OutboxAfter returns up to limit outbox entries with Seq > after, oldest
// first (limit <= 0: all): a sender that remembers the last entry it saw
// reads only new ones.
func (t *Tx) OutboxAfter(after uint64, limit int) ([]OutboxEntry, error) {
	s, err := t.getSpan(tOutboxHead, "")
	if err != nil {
		return nil, fmt.Errorf("vault: outbox: %w", err)
	}
	var es []OutboxEntry
	for seq := max(s.Low, after+1); seq < s.Next && (limit <= 0 || len(es) < limit); seq++ {
		_, pt, err := t.get(bucketRecords, tOutbox, "", seq)
		if err != nil {
			return nil, fmt.Errorf("vault: outbox: %w", err)
		}
		if pt == nil {
			continue
		}
		e, err := decodeOutbox(pt)
		if err != nil {
			return nil, fmt.Errorf("vault: outbox: %w", err)
		}
		es = append(es, e)
	}
	return es, nil
}

// DeleteOutbox removes an outbox entry; removing a missing one is no
// error.
func (t *Tx) DeleteOutbox(seq uint64) error {
	if err := t.del(bucketRecords, tOutbox, "", seq); err != nil {
		return err
	}
	return t.advanceLow(tOutboxHead, tOutbox, "")
}

// expireDue deletes the messages due at now and returns them, oldest
// expiry first. It reads the whole expiry index (one sealed entry per
// message that can expire, and nothing else) and returns the earliest
// expiry left, or 0. The due messages' key slots are destroyed (one
// fsync) before their records are deleted: if the commit then fails or
// the process dies, the records left behind name destroyed keys, read as
// gone, and are deleted by the next ExpireDue or Open.
func (t *Tx) expireDue(now time.Time) ([]Message, int64, error) {
	n := timeToNanos(now)
	due, next, err := t.expiryIndex(func(x *expiryEntry) bool {
		e := timeToNanos(x.Expires)
		return e != 0 && e <= n
	})
	if err != nil {
		return nil, 0, err
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Expires.Before(due[j].Expires) })
	msgs := make([]Message, 0, len(due))
	atts := make([][]AttachmentID, len(due))
	slots := make([]uint32, 0, len(due))
	for i, x := range due {
		m, _, err := t.message(x.Conversation, x.Seq)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, 0, err
		default:
			msgs = append(msgs, m)
			atts[i] = m.Attachments
		}
		slots = append(slots, x.Slot)
	}
	if len(slots) > 0 {
		if err := t.v.ks.DestroyMany(slots); err != nil {
			return nil, 0, fmt.Errorf("vault: expire: %w", err)
		}
		t.shredded = true
	}
	// The messages' attachments lose their keys after the commit
	// (dropSlots): destroyed before it, a failed commit would leave
	// attachment records naming slots that could be reused.
	for i, x := range due {
		if err := t.deleteMessage(x.Conversation, x.Seq, atts[i]); err != nil {
			return nil, 0, err
		}
	}
	return msgs, next, nil
}

// expiryIndex reads the expiry index, returning the entries for which
// pick is true and the earliest non-zero expiry among the others.
func (t *Tx) expiryIndex(pick func(*expiryEntry) bool) ([]expiryEntry, int64, error) {
	var out []expiryEntry
	var next int64
	b := t.bucket(bucketExpiry)
	err := b.ForEach(func(k, sealed []byte) error {
		pt, err := t.open(bucketExpiry, k, sealed)
		if err != nil {
			return err
		}
		x, err := decodeExpiry(pt)
		if err != nil {
			return err
		}
		if pick(&x) {
			out = append(out, x)
		} else if e := timeToNanos(x.Expires); e != 0 && (next == 0 || e < next) {
			next = e
		}
		return nil
	})
	return out, next, err
}
