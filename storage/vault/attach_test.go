package vault

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/storage/keyslots"
	"golang.org/x/crypto/chacha20poly1305"
)

// attKey returns an attachment's key slot and the key in it.
func attKey(t *testing.T, v *Vault, id AttachmentID) (uint32, []byte) {
	t.Helper()
	var r attRecord
	err := v.View(func(tx *Tx) error {
		var ok bool
		var err error
		r, ok, err = tx.attachment(id)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		t.Fatalf("attachment %s: %v", id, err)
	}
	key, err := v.ks.Get(uint32(r.Slot - 1))
	if err != nil {
		t.Fatalf("attachment %s: slot %d: %v", id, r.Slot-1, err)
	}
	return uint32(r.Slot - 1), key
}

func putAttachment(t *testing.T, v *Vault, content []byte) AttachmentID {
	t.Helper()
	id, err := v.PutAttachment(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func readAttachment(v *Vault, id AttachmentID) ([]byte, error) {
	a, err := v.OpenAttachment(id)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return io.ReadAll(a)
}

// sealedCopies returns the plaintexts of every copy, live or left in a
// freed page, of the record with bbolt key k in the raw bytes of a
// vault.db, whose plaintext is n bytes long: what someone holding the
// file and the passphrase could open.
func sealedCopies(raw, master, k []byte, n int) [][]byte {
	ks, err := newKeys(bytes.Clone(master))
	if err != nil {
		panic(err)
	}
	aead, _ := chacha20poly1305.NewX(ks.seal)
	size := recordOverhead + n
	var out [][]byte
	for i := 0; i+size <= len(raw); i++ {
		if raw[i] != recordVersion {
			continue
		}
		if pt, err := openRecordWith(aead, bucketRecords, k, raw[i:i+size]); err == nil {
			out = append(out, pt)
		}
	}
	return out
}

// An attachment's key is in a key slot, overwritten when the attachment
// is deleted, when its message is deleted, and when its message
// expires; afterwards the key is in no file of the profile and the
// passphrase reads it from no slot.
func TestAttachmentShred(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOptsAt(clock)
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	master := bytes.Clone(v.keys.master)
	content := map[string][]byte{}
	ids := map[string]AttachmentID{}
	for _, name := range []string{"expiring", "deleted message", "deleted", "kept"} {
		content[name] = bytes.Repeat([]byte("attachment of the "+name+" case; "), 5000)
		ids[name] = putAttachment(t, v, content[name])
	}
	exp, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(time.Minute), Body: []byte("see file"), Attachments: []AttachmentID{ids["expiring"]}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := v.AddMessage(Message{Conversation: "c", Body: []byte("another file"), Attachments: []AttachmentID{ids["deleted message"]}})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := v.AddMessage(Message{Conversation: "c", Body: []byte("kept file"), Attachments: []AttachmentID{ids["kept"]}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := v.Message("c", exp.Seq); err != nil || len(m.Attachments) != 1 || m.Attachments[0] != ids["expiring"] {
		t.Fatalf("message with attachment: got %+v, %v", m.Attachments, err)
	}
	// An attachment has one owner; an unknown one cannot be attached.
	if _, err := v.AddMessage(Message{Conversation: "d", Attachments: []AttachmentID{ids["kept"]}}); !errors.Is(err, ErrAttachmentOwned) {
		t.Errorf("attachment of another message: got %v, want ErrAttachmentOwned", err)
	}
	if _, err := v.AddMessage(Message{Conversation: "d", Attachments: []AttachmentID{"0123456789abcdef0123456789abcdef"}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown attachment: got %v, want ErrNotFound", err)
	}

	type gone struct {
		slot uint32
		key  []byte
	}
	caps := map[string]gone{}
	for name, id := range ids {
		s, k := attKey(t, v, id)
		caps[name] = gone{s, k}
		// Before: the passphrase reads the key from its slot (so the
		// checks below can fail).
		v.ks.Close()
		if got, err := rawSlot(t, dir, master, s); err != nil || !bytes.Equal(got, k) {
			t.Fatalf("%s: raw slot before: %v", name, err)
		}
		if v.ks, err = openKeySlots(dir, master, false); err != nil {
			t.Fatal(err)
		}
	}

	if err := v.DeleteAttachment(ids["deleted"]); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteMessage("c", plain.Seq); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	expired, err := v.ExpireDue(clock.Now())
	if err != nil || len(expired) != 1 || expired[0].Seq != exp.Seq {
		t.Fatalf("ExpireDue: got %+v, %v", expired, err)
	}
	// Before Close and before any compaction.
	for _, name := range []string{"expiring", "deleted message", "deleted"} {
		id, c := ids[name], caps[name]
		if _, err := v.OpenAttachment(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: OpenAttachment: got %v, want ErrNotFound", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, BlobDir, string(id))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: blob left: %v", name, err)
		}
		if k, err := v.ks.Get(c.slot); !errors.Is(err, keyslots.ErrNoKey) {
			t.Errorf("%s: slot %d: got %x, %v, want ErrNoKey", name, c.slot, k, err)
		}
		assertNowhere(t, dir, name+" attachment key", c.key)
	}
	if got, err := readAttachment(v, ids["kept"]); err != nil || !bytes.Equal(got, content["kept"]) {
		t.Errorf("kept attachment: %d bytes, %v", len(got), err)
	}
	v.Close()
	for _, name := range []string{"expiring", "deleted message", "deleted"} {
		if k, err := rawSlot(t, dir, master, caps[name].slot); !errors.Is(err, keyslots.ErrNoKey) {
			t.Errorf("%s: raw slot after: got %x, %v, want ErrNoKey", name, k, err)
		}
	}
	if got, err := rawSlot(t, dir, master, caps["kept"].slot); err != nil || !bytes.Equal(got, caps["kept"].key) {
		t.Errorf("kept attachment's raw slot: %v", err)
	}
	// And after a reopen, everything is as it was left.
	w, err := Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if got, err := readAttachment(w, ids["kept"]); err != nil || !bytes.Equal(got, content["kept"]) {
		t.Errorf("kept attachment after reopen: %d bytes, %v", len(got), err)
	}
	if m, err := w.Message("c", kept.Seq); err != nil || len(m.Attachments) != 1 {
		t.Errorf("kept message: %+v, %v", m, err)
	}
	if n := len(w.ks.Allocated()); n != 1 {
		t.Errorf("allocated slots after reopen: %d, want 1 (the kept attachment)", n)
	}
}

// Open removes what interrupted attachment writes and deletions left:
// temporary files, blobs whose record never committed, keys no record
// names, and attachments whose owning message is gone.
func TestOpenRemovesOrphanBlobs(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOptsAt(clock)
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	live := putAttachment(t, v, []byte("live attachment"))
	unowned := putAttachment(t, v, []byte("not yet sent"))
	owned := putAttachment(t, v, []byte("owner lost"))
	m, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(time.Hour), Body: []byte("x"), Attachments: []AttachmentID{owned, live}})
	if err != nil {
		t.Fatal(err)
	}
	ownedSlot, _ := attKey(t, v, owned)
	// A crash inside ExpireDue after the message's records were deleted
	// but before its attachments were: the owner is gone.
	err = v.Update(func(tx *Tx) error {
		if err := tx.setEntry("c", m.Seq, pageEntry{}); err != nil {
			return err
		}
		return tx.del(bucketExpiry, tExpiry, "c", m.Seq)
	})
	if err != nil {
		t.Fatal(err)
	}
	// live now belongs to a message that stays.
	err = v.Update(func(tx *Tx) error {
		r, _, err := tx.attachment(live)
		if err != nil {
			return err
		}
		r.Conversation, r.Seq = "", 0
		if err := tx.put(bucketRecords, tAttachment, string(live), 0, r.encode()); err != nil {
			return err
		}
		_, err = tx.AddMessage(Message{Conversation: "c", Body: []byte("stays"), Attachments: []AttachmentID{live}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A PutAttachment that crashed before its commit: a blob without a
	// record and an allocated slot, and one that crashed while writing.
	orphanSlot, orphanKey, err := v.ks.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	blobs := filepath.Join(dir, BlobDir)
	orphan := filepath.Join(blobs, "00112233445566778899aabbccddeeff")
	tmp := filepath.Join(blobs, blobTempPrefix+"12345")
	foreign := filepath.Join(blobs, "notes.txt")
	for _, p := range []string{orphan, tmp, foreign} {
		if err := os.WriteFile(p, []byte("leftover"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	v.Close()

	v, err = Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, p := range []string{orphan, tmp, filepath.Join(blobs, string(owned))} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Open: %v", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("a file that is not the vault's was touched: %v", err)
	}
	if _, err := v.OpenAttachment(owned); !errors.Is(err, ErrNotFound) {
		t.Errorf("attachment whose owner is gone: got %v, want ErrNotFound", err)
	}
	for name, id := range map[string]AttachmentID{"live": live, "unowned": unowned} {
		if _, err := readAttachment(v, id); err != nil {
			t.Errorf("%s attachment after Open: %v", name, err)
		}
	}
	for _, s := range []uint32{orphanSlot, ownedSlot} {
		if _, err := v.ks.Get(s); !errors.Is(err, keyslots.ErrNoKey) {
			t.Errorf("slot %d after Open: got %v, want ErrNoKey", s, err)
		}
	}
	if n := len(v.ks.Allocated()); n != 2 {
		t.Errorf("allocated slots: %d, want 2 (live and unowned)", n)
	}
	v.Close()
	assertNowhere(t, dir, "orphan key", orphanKey)
}

// downgradeToV2 rewrites a vault's attachments, data version and header
// the way schema version 2 kept them: each attachment's key inside its
// sealed record, no key slot.
func downgradeToV2(t *testing.T, dir string, v *Vault, ids []AttachmentID) {
	t.Helper()
	var slots []uint32
	err := v.Update(func(tx *Tx) error {
		for _, id := range ids {
			r, ok, err := tx.attachment(id)
			if err != nil || !ok {
				t.Fatalf("attachment %s: %v", id, err)
			}
			key, err := v.ks.Get(uint32(r.Slot - 1))
			if err != nil {
				return err
			}
			slots = append(slots, uint32(r.Slot-1))
			if err := tx.put(bucketRecords, tAttachment, string(id), 0, key); err != nil {
				return err
			}
		}
		// Messages of conversation c go back to records of their own
		// under HMAC record keys, without order times, and its span loses
		// its last order time.
		if err := toV3Records(tx, "c", true); err != nil {
			return err
		}
		return tx.tx.Bucket(bucketMeta).Put(metaVersion, encodeVersion(2))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.ks.DestroyMany(slots); err != nil {
		t.Fatal(err)
	}
	h := *v.hdr
	h.Version = 2
	wrapKey(&h, testPass, v.keys.master)
	v.Close()
	if err := writeHeader(dir, &h); err != nil {
		t.Fatal(err)
	}
}

// A version 2 vault's attachment keys move into key slots on Open; the
// old records that held them are compacted away, so no copy in
// vault.db opens to the key any more.
func TestMigrateAttachmentKeys(t *testing.T) {
	v, dir := newVault(t)
	master := bytes.Clone(v.keys.master)
	content := bytes.Repeat([]byte("migrated attachment "), 4000)
	id := putAttachment(t, v, content)
	id2 := putAttachment(t, v, []byte("second"))
	_, key := attKey(t, v, id)
	for i, body := range []string{"old message", "old, updated later", "old, deleted later"} {
		if _, err := v.AddMessage(Message{Conversation: "c", Time: time.Unix(int64(100+i), 0), Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	downgradeToV2(t, dir, v, []AttachmentID{id, id2})
	if got := headerVersion(t, dir); got != 2 {
		t.Fatalf("downgraded header version %d", got)
	}
	rk := func() []byte {
		k, _ := newKeys(bytes.Clone(master))
		return k.recordKey(tAttachment, string(id), 0)
	}()
	found := false
	for _, pt := range sealedCopies(rawDB(t, dir), master, rk, len(key)) {
		found = found || bytes.Equal(pt, key)
	}
	if !found {
		t.Fatal("version 2 record holding the key not found in vault.db: the scan would prove nothing")
	}

	v, err := Open(dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if got := headerVersion(t, dir); got != SchemaVersion {
		t.Errorf("header version after Open: %d, want %d", got, SchemaVersion)
	}
	if got, err := readAttachment(v, id); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("attachment after migration: %d bytes, %v", len(got), err)
	}
	slot, got := attKey(t, v, id)
	if !bytes.Equal(got, key) {
		t.Errorf("migrated key differs")
	}
	// Version 2 message records (HMAC keys, no order time) move into
	// pages, page by their Time, and can be updated and deleted.
	v.View(func(tx *Tx) error {
		if tx.tx.Bucket(bucketMeta).Get(metaLegacyKeys) != nil {
			t.Error("migrated vault still marked as holding version 2 message keys")
		}
		for seq := uint64(1); seq <= 3; seq++ {
			if tx.tx.Bucket(bucketRecords).Get(tx.hmacKey(tMessage, "c", seq)) != nil {
				t.Errorf("version 2 record of message %d left", seq)
			}
		}
		return nil
	})
	if page, err := v.MessagesBefore("c", time.Unix(101, 0), 10); err != nil || len(page) != 1 || string(page[0].Body) != "old message" {
		t.Errorf("version 2 message after migration: %+v, %v", page, err)
	}
	if page, err := v.MessagesBefore("c", time.Unix(100, 0), 10); err != nil || len(page) != 0 {
		t.Errorf("version 2 message before its time: %+v, %v", page, err)
	}
	if err := v.UpdateMessage(Message{Conversation: "c", Seq: 2, Time: time.Unix(101, 0), Body: []byte("updated")}); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteMessage("c", 3); err != nil {
		t.Fatal(err)
	}
	v.View(func(tx *Tx) error {
		if e, err := tx.entry("c", 3); err != nil || e.present() {
			t.Errorf("deleted version 2 message still in its page: %v", err)
		}
		return nil
	})
	if _, err := v.AddMessage(Message{Conversation: "c", Time: time.Unix(200, 0), Body: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	page, err := v.Messages("c", 0, 10)
	if err != nil || len(page) != 3 || string(page[0].Body) != "new" || string(page[1].Body) != "updated" || string(page[2].Body) != "old message" {
		t.Errorf("page over old and new records: %+v, %v", page, err)
	}
	// Seq 3 is deleted: SeqAt may answer 3 or 4, the page is the same.
	if seq, err := v.SeqAt("c", time.Unix(150, 0)); err != nil || (seq != 3 && seq != 4) {
		t.Errorf("SeqAt between old and new: %d, %v, want 3 or 4", seq, err)
	}
	if page, err := v.MessagesBefore("c", time.Unix(150, 0), 10); err != nil || len(page) != 2 || page[0].Seq != 2 {
		t.Errorf("MessagesBefore between old and new: %+v, %v", page, err)
	}
	raw := rawDB(t, dir)
	for _, pt := range sealedCopies(raw, master, rk, len(key)) {
		if bytes.Contains(pt, key) {
			t.Error("a copy of the version 2 record with the key is still in vault.db")
		}
	}
	if err := v.DeleteAttachment(id); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ks.Get(slot); !errors.Is(err, keyslots.ErrNoKey) {
		t.Errorf("slot after DeleteAttachment: %v, want ErrNoKey", err)
	}
	if _, err := readAttachment(v, id2); err != nil {
		t.Errorf("second attachment: %v", err)
	}
	v.Close()
	assertNowhere(t, dir, "attachment key", key)
}

// Export and Import carry attachment keys in the key file.
func TestExportImportAttachmentOwner(t *testing.T) {
	clock := newClock()
	opts := testOptsAt(clock)
	v, err := Create(t.TempDir(), testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	id := putAttachment(t, v, []byte("owned by an expiring message"))
	if _, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(time.Hour), Attachments: []AttachmentID{id}}); err != nil {
		t.Fatal(err)
	}
	backup := export(t, v)
	dir := filepath.Join(t.TempDir(), "restored")
	if err := Import(bytes.NewReader(backup), backupPass, dir, opts); err != nil {
		t.Fatal(err)
	}
	w, err := Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAttachment(w, id); err != nil || string(got) != "owned by an expiring message" {
		t.Fatalf("imported attachment: %q, %v", got, err)
	}
	_, key := attKey(t, w, id)
	w.Close()
	// Due after the import: the first Open destroys it with its message.
	clock.Advance(2 * time.Hour)
	w, err = Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.OpenAttachment(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("attachment of a message expired on import: got %v, want ErrNotFound", err)
	}
	w.Close()
	assertNowhere(t, dir, "attachment key", key)
}

// A file that arrives after its message is attached with UpdateMessage;
// the message then owns it, and its expiry destroys the key. An update
// that lists no attachments keeps them.
func TestAttachLater(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOptsAt(clock)
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	m, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(time.Hour), Body: []byte("file coming")})
	if err != nil {
		t.Fatal(err)
	}
	id := putAttachment(t, v, []byte("the file"))
	other, err := v.AddMessage(Message{Conversation: "c", Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	m.Attachments = []AttachmentID{id}
	m.Body = []byte("file here")
	if err := v.UpdateMessage(m); err != nil {
		t.Fatal(err)
	}
	other.Attachments = []AttachmentID{id}
	if err := v.UpdateMessage(other); !errors.Is(err, ErrAttachmentOwned) {
		t.Errorf("attaching another message's file: got %v, want ErrAttachmentOwned", err)
	}
	m.Attachments, m.Body = nil, []byte("file here, read")
	if err := v.UpdateMessage(m); err != nil {
		t.Fatal(err)
	}
	got, err := v.Message("c", m.Seq)
	if err != nil || len(got.Attachments) != 1 || got.Attachments[0] != id || string(got.Body) != "file here, read" {
		t.Fatalf("after updates: %+v, %v", got, err)
	}
	slot, key := attKey(t, v, id)
	clock.Advance(time.Hour)
	if _, err := v.ExpireDue(clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.ks.Get(slot); !errors.Is(err, keyslots.ErrNoKey) {
		t.Errorf("attachment slot after its message expired: %v, want ErrNoKey", err)
	}
	if _, err := v.OpenAttachment(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("attachment after its message expired: %v, want ErrNotFound", err)
	}
	assertNowhere(t, dir, "attachment key", key)
}
