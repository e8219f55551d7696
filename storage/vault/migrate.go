package vault

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/ephemera-im/ephemera/storage/stream"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/chacha20poly1305"
)

// Schema migrations. vault.db records its own data version in the meta
// bucket (key metaVersion, a big-endian uint16 in the clear, like the
// header's), next to the header's version. Open, once the passphrase and
// the check record are verified:
//
//  1. reads the data version (a vault.db without one has the header's);
//  2. if it is older than currentVersion, runs migrations[n] for every n
//     from it up to currentVersion-1 and stores the new data version, all
//     in one bbolt transaction: the data is migrated entirely or not at
//     all;
//  3. if the header's version differs from the data's, rewraps the master
//     key (the version is part of the wrapped key's associated data) and
//     replaces vault.hdr atomically.
//
// A crash between 2 and 3 leaves a header older than the data; the next
// Open sees the data version, runs no migration, and finishes step 3. A
// migration thus runs to commit at most once, and migrations need not be
// idempotent across crashes, though keeping them so costs little.

// metaVersion is the meta bucket's key of vault.db's data version.
var metaVersion = []byte("version")

// metaLegacyKeys, present in the meta bucket of a version 3 vault
// migrated from version 2, says that message records may still be under
// the HMAC record keys of version 2; version 3 keyed new ones with
// msgKey. The migration to version 4, which moves every message into
// pages and looks for both keys, removes it.
var metaLegacyKeys = []byte("legacy message keys")

// migration moves vault.db's data from one version to the next inside
// tx. v is the vault being opened: its keys and its key file (v.ks) are
// ready, nothing else has run. Key slots a migration allocates go in
// v.migrated; if the migration does not commit they are destroyed again.
type migration func(tx *bolt.Tx, v *Vault) error

// migrations[n] migrates version n to n+1. A nil entry for a version
// older than currentVersion is an error.
var migrations = map[uint16]migration{
	1: refuseV1,
	2: attachmentKeysToSlots,
	3: messagesToPages,
}

// currentVersion is SchemaVersion; tests raise it to exercise migrations.
var currentVersion uint16 = SchemaVersion

// migrateHook, if set, is called after the data migration committed and
// before the header is rewritten; an error stops Open there, as a crash
// would. For tests.
var migrateHook func() error

// refuseV1 refuses version 1: that pre-release format changed (message
// records, expiry entries) without a version bump, so a version 1 vault
// can hold either layout and cannot be migrated with confidence. No
// released program wrote one.
func refuseV1(*bolt.Tx, *Vault) error {
	return fmt.Errorf("%w: schema version 1 is a pre-release format; create a new vault", ErrOldVersion)
}

// attachmentKeysToSlots migrates version 2 to 3. Message records keep
// their version 2 keys (HMAC-SHA-256, like every other record), found
// because metaLegacyKeys is set: new messages are keyed by their
// conversation's block cipher (msgKey). And each attachment's key
// moves from its sealed record (the whole plaintext, 32 bytes) into a
// slot of vault.keys, and the record becomes an attRecord naming the
// slot, with no owner. Records are found through the blob folder, as
// their keys are keyed hashes of the attachment ids. Version 3's
// message records and conversation spans add optional trailing fields
// that version 2 records lack and are read without them, so they are
// not rewritten. Open compacts vault.db afterwards, since the old
// records, keys included, stay in bbolt's freed pages until then.
func attachmentKeysToSlots(tx *bolt.Tx, v *Vault) error {
	if err := tx.Bucket(bucketMeta).Put(metaLegacyKeys, []byte{1}); err != nil {
		return err
	}
	dir := filepath.Join(v.dir, BlobDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketRecords)
	aead, err := chacha20poly1305.NewX(v.keys.seal)
	if err != nil {
		return err
	}
	for _, e := range ents {
		id := AttachmentID(e.Name())
		if !id.valid() {
			continue
		}
		k := v.keys.recordKey(tAttachment, string(id), 0)
		sealed := b.Get(k)
		if sealed == nil {
			continue // a blob whose record never committed: removed later
		}
		key, err := openRecordWith(aead, bucketRecords, k, sealed)
		if err != nil {
			return fmt.Errorf("attachment %s: %w", id, err)
		}
		if len(key) != stream.KeySize {
			clear(key)
			return fmt.Errorf("%w: attachment %s: key record of %d bytes", ErrCorrupt, id, len(key))
		}
		slot, err := v.ks.AllocKey(key)
		clear(key)
		if err != nil {
			return fmt.Errorf("attachment %s: %w", id, err)
		}
		v.migrated = append(v.migrated, slot)
		rec := attRecord{Slot: uint64(slot) + 1}
		if err := b.Put(k, sealRecordWith(aead, bucketRecords, k, rec.encode())); err != nil {
			return err
		}
	}
	return nil
}

// messagesToPages migrates version 3 to 4: each message record (one per
// message, under msgKey or, in a vault migrated from version 2, under
// its HMAC record key) moves into its conversation's page (page.go).
// Record keys cannot be listed by conversation, so every record of
// bucket "r" is opened and a message record is recognised by its
// contents: the conversation and sequence number in the message must
// give back its bbolt key. A message that can expire is sealed again
// under its own key, unchanged, with version 4's associated data; its
// record whose key is already destroyed (a crash in an expiry) cannot be
// read, is found through the expiry index instead, and is deleted, as
// Open would have. Order times of version 2 records (none stored) are
// the messages' Times, kept non-decreasing. Open compacts vault.db
// afterwards, so the old records leave the file.
func messagesToPages(tx *bolt.Tx, v *Vault) error {
	t := &Tx{tx: tx, v: v, writable: true}
	aead := t.aeadFor()
	b := tx.Bucket(bucketRecords)
	expiring, _, err := t.expiryIndex(func(*expiryEntry) bool { return true })
	if err != nil {
		return err
	}
	keyGone := map[string]bool{} // record keys of messages whose slot is destroyed
	for _, x := range expiring {
		if _, err := v.ks.Get(x.Slot); err == nil {
			continue
		}
		keyGone[string(t.msgKey(x.Conversation, x.Seq))] = true
		keyGone[string(t.hmacKey(tMessage, x.Conversation, x.Seq))] = true
	}
	type oldMsg struct {
		seq   uint64
		slot  int64
		order int64
		msg   Message
	}
	convs := map[string][]oldMsg{}
	var drop [][]byte
	err = b.ForEach(func(k, sealed []byte) error {
		if keyGone[string(k)] {
			drop = append(drop, bytes.Clone(k))
			return nil
		}
		pt, err := openRecordWith(aead, bucketRecords, k, sealed)
		if err != nil {
			return err
		}
		rec, err := decodeMsgRecord(pt)
		if err != nil {
			return nil // not a message record
		}
		enc, slot := rec.Payload, int64(rec.Slot)-1
		if slot >= 0 {
			key, err := v.ks.Get(uint32(slot))
			if err != nil {
				return nil // not a message record (its slot would hold a key)
			}
			enc, err = openMessage(key, append([]byte(msgADLabel), k...), rec.Payload)
			clear(key)
			if err != nil {
				return nil
			}
		}
		m, err := decodeMessage(enc)
		if err != nil {
			return nil
		}
		if !bytes.Equal(k, t.msgKey(m.Conversation, m.Seq)) && !bytes.Equal(k, t.hmacKey(tMessage, m.Conversation, m.Seq)) {
			return nil
		}
		order := rec.Order
		if !rec.HasOrder {
			order = timeToNanos(m.Time)
		}
		convs[m.Conversation] = append(convs[m.Conversation], oldMsg{seq: m.Seq, slot: slot, order: order, msg: m})
		drop = append(drop, bytes.Clone(k))
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	for conv, msgs := range convs {
		slices.SortFunc(msgs, func(a, b oldMsg) int { return cmp.Compare(a.seq, b.seq) })
		var last int64
		var ents []pageEntry
		page := uint64(0)
		flush := func() error {
			if len(ents) == 0 {
				return nil
			}
			err := t.putPage(conv, page, ents)
			ents = ents[:0]
			return err
		}
		for _, m := range msgs {
			last = max(last, m.order)
			e := pageEntry{Slot: entryInline, Order: last, Payload: appendMessage(nil, &m.msg, last)}
			if m.slot >= 0 {
				key, err := v.ks.Get(uint32(m.slot))
				if err != nil {
					return err
				}
				e.Slot = entrySlot0 + uint64(m.slot)
				e.Payload = sealMessage(key, msgAD(nil, conv, m.seq), e.Payload)
				clear(key)
			}
			no, idx := pageOf(m.seq)
			if no != page {
				if err := flush(); err != nil {
					return err
				}
				page = no
			}
			for len(ents) < idx {
				ents = append(ents, pageEntry{})
			}
			ents = append(ents, e)
		}
		if err := flush(); err != nil {
			return err
		}
		s, err := t.getSpan(tConversation, conv)
		if err != nil {
			return fmt.Errorf("conversation span: %w", err)
		}
		if s.HasLast {
			last = max(last, s.Last)
		}
		s.Last, s.HasLast = last, true
		s.Next = max(s.Next, msgs[len(msgs)-1].seq+1)
		if err := t.put(bucketRecords, tConversation, conv, 0, s.encode()); err != nil {
			return err
		}
	}
	v.compactAfterMigration = true
	return tx.Bucket(bucketMeta).Delete(metaLegacyKeys)
}

func encodeVersion(n uint16) []byte { return binary.BigEndian.AppendUint16(nil, n) }

func decodeVersion(b []byte) (uint16, error) {
	if len(b) != 2 || binary.BigEndian.Uint16(b) == 0 {
		return 0, fmt.Errorf("%w: data version %x", ErrCorrupt, b)
	}
	return binary.BigEndian.Uint16(b), nil
}

// migrate brings vault.db and the header to currentVersion; see above.
// kek is the key that unwrapped the master key.
func (v *Vault) migrate(kek []byte) error {
	data := v.hdr.Version
	err := v.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta).Get(metaVersion)
		if b == nil {
			return nil
		}
		var err error
		data, err = decodeVersion(b)
		return err
	})
	switch {
	case err != nil:
		return err
	case data > currentVersion:
		return fmt.Errorf("%w: %s has data version %d, this program reads up to %d", ErrNewerVersion, DBFile, data, currentVersion)
	case data < v.hdr.Version:
		// Data is migrated before the header, never after.
		return fmt.Errorf("%w: %s has data version %d, older than the header's %d", ErrCorrupt, DBFile, data, v.hdr.Version)
	}
	if data < currentVersion {
		err := v.db.Update(func(tx *bolt.Tx) error {
			for n := data; n < currentVersion; n++ {
				m := migrations[n]
				if m == nil {
					return fmt.Errorf("%w: no migration from schema version %d", ErrOldVersion, n)
				}
				if err := m(tx, v); err != nil {
					return fmt.Errorf("migrating from schema version %d: %w", n, err)
				}
			}
			return tx.Bucket(bucketMeta).Put(metaVersion, encodeVersion(currentVersion))
		})
		if err != nil {
			if len(v.migrated) > 0 {
				v.ks.DestroyMany(v.migrated) // best effort: else orphans for the next Open
				v.migrated = nil
			}
			return err
		}
		data = currentVersion
		if migrateHook != nil {
			if err := migrateHook(); err != nil {
				return err
			}
		}
	}
	if v.hdr.Version == data {
		return nil
	}
	if kek == nil {
		return errNeedPassphrase
	}
	h := *v.hdr
	h.Version = data
	sealWith(&h, kek, v.keys.master)
	if err := writeHeader(v.dir, &h); err != nil {
		return fmt.Errorf("rewriting %s for schema version %d: %w", HeaderFile, data, err)
	}
	v.hdr = &h
	return nil
}
