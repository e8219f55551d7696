package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/storage/keyslots"
	bolt "go.etcd.io/bbolt"
)

// withSchema pretends, for one test, that this program's schema is
// version to, migrating from to-1 with m.
func withSchema(t *testing.T, to uint16, m migration) {
	t.Helper()
	old, oldM := currentVersion, migrations
	currentVersion = to
	migrations = map[uint16]migration{}
	for k, v := range oldM {
		migrations[k] = v
	}
	migrations[to-1] = m
	t.Cleanup(func() { currentVersion, migrations, migrateHook = old, oldM, nil })
}

func headerVersion(t *testing.T, dir string) uint16 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, HeaderFile))
	if err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint16(b[len(headerMagic):])
}

func dataVersion(t *testing.T, v *Vault) uint16 {
	t.Helper()
	var n uint16
	v.db.View(func(tx *bolt.Tx) error {
		n, _ = decodeVersion(tx.Bucket(bucketMeta).Get(metaVersion))
		return nil
	})
	return n
}

var migratedKey = []byte("test migration ran")

// markMigration is a test migration: it counts its runs and leaves a
// mark in the meta bucket.
func markMigration(runs *int) migration {
	return func(tx *bolt.Tx, _ *Vault) error {
		*runs++
		return tx.Bucket(bucketMeta).Put(migratedKey, []byte{1})
	}
}

func TestMigrate(t *testing.T) {
	v, dir := newVault(t)
	if _, err := v.AddMessage(Message{Conversation: "c", Body: []byte("survives")}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if got := headerVersion(t, dir); got != SchemaVersion {
		t.Fatalf("new vault: header version %d, want %d", got, SchemaVersion)
	}

	runs := 0
	withSchema(t, SchemaVersion+1, markMigration(&runs))
	v, err := Open(dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if runs != 1 || headerVersion(t, dir) != SchemaVersion+1 || dataVersion(t, v) != SchemaVersion+1 {
		t.Errorf("after Open: %d runs, header %d, data %d; want 1, %d, %d", runs, headerVersion(t, dir), dataVersion(t, v), SchemaVersion+1, SchemaVersion+1)
	}
	v.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(migratedKey) == nil {
			t.Error("the migration's write is missing")
		}
		return nil
	})
	if m, err := v.Message("c", 1); err != nil || string(m.Body) != "survives" {
		t.Errorf("message after migration: got %+v, %v", m, err)
	}
	v.Close()
	// A second Open runs nothing, and the rewrapped header still opens
	// with the passphrase.
	v, err = Open(dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	if runs != 1 {
		t.Errorf("second Open ran the migration again (%d runs)", runs)
	}

	// Back to this program: the migrated vault is newer.
	currentVersion = SchemaVersion
	if _, err := Open(dir, testPass, testOpts()); !errors.Is(err, ErrNewerVersion) {
		t.Errorf("Open of a newer vault: got %v, want ErrNewerVersion", err)
	}
}

// A crash after the data migration committed but before the header was
// rewritten: the next Open does not migrate again, and fixes the header.
func TestMigrateCrashBeforeHeader(t *testing.T) {
	v, dir := newVault(t)
	v.Close()
	runs := 0
	withSchema(t, SchemaVersion+1, markMigration(&runs))
	crash := errors.New("crash")
	migrateHook = func() error { return crash }
	if _, err := Open(dir, testPass, testOpts()); !errors.Is(err, crash) {
		t.Fatalf("Open with the crash hook: got %v", err)
	}
	if runs != 1 || headerVersion(t, dir) != SchemaVersion {
		t.Fatalf("after the crash: %d runs, header %d; want 1, %d", runs, headerVersion(t, dir), SchemaVersion)
	}
	migrateHook = nil
	v, err := Open(dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	if runs != 1 || headerVersion(t, dir) != SchemaVersion+1 {
		t.Errorf("after reopening: %d runs, header %d; want 1, %d", runs, headerVersion(t, dir), SchemaVersion+1)
	}
}

// A failing migration commits nothing: files are byte-identical.
func TestMigrateFails(t *testing.T) {
	v, dir := newVault(t)
	v.Close()
	before := hashDir(t, dir)
	fail := errors.New("cannot")
	withSchema(t, SchemaVersion+1, func(tx *bolt.Tx, _ *Vault) error {
		tx.Bucket(bucketMeta).Put(migratedKey, []byte{1})
		return fail
	})
	if _, err := Open(dir, testPass, testOpts()); !errors.Is(err, fail) {
		t.Fatalf("got %v, want the migration's error", err)
	}
	sameHashes(t, before, hashDir(t, dir))
}

// Version 1 vaults (pre-release, layout changed without a bump) are
// refused, not misread, and left unchanged.
func TestVersion1Refused(t *testing.T) {
	old := currentVersion
	currentVersion = 1
	v, dir := newVault(t)
	v.Close()
	currentVersion = old
	// A version 1 program wrote no data version.
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaVersion) })
	db.Close()
	before := hashDir(t, dir)
	if _, err := Open(dir, testPass, testOpts()); !errors.Is(err, ErrOldVersion) {
		t.Errorf("Open of a version 1 vault: got %v, want ErrOldVersion", err)
	}
	sameHashes(t, before, hashDir(t, dir))
}

// toV3Records moves a conversation's messages out of their pages into
// records of their own, as schema version 3 kept them: under msgKey with
// their order times, or, if v2, under HMAC record keys without order
// times (and the span without its last order time), as version 2 did.
// A message that can expire is sealed again under its key with version
// 3's associated data (the record key).
func toV3Records(tx *Tx, conv string, v2 bool) error {
	sp, err := tx.getSpan(tConversation, conv)
	if err != nil {
		return err
	}
	for seq := sp.Low; seq < sp.Next; seq++ {
		e, err := tx.entry(conv, seq)
		if err != nil {
			return err
		}
		if !e.present() {
			continue
		}
		m, slot, err := tx.message(conv, seq)
		if err != nil {
			return err
		}
		k := bytes.Clone(tx.msgKey(conv, seq))
		rec := msgRecord{Payload: m.encode(), Order: e.Order, HasOrder: true}
		if v2 {
			k = bytes.Clone(tx.hmacKey(tMessage, conv, seq))
			rec.HasOrder, rec.Order = false, 0
		}
		if slot >= 0 {
			key, err := tx.v.ks.Get(uint32(slot))
			if err != nil {
				return err
			}
			rec.Slot = uint64(slot) + 1
			rec.Payload = sealMessage(key, append([]byte(msgADLabel), k...), rec.Payload)
		}
		if err := tx.tx.Bucket(bucketRecords).Put(k, sealRecordWith(tx.aeadFor(), bucketRecords, k, rec.encode())); err != nil {
			return err
		}
	}
	for no, _ := pageOf(sp.Low); pageFirst(no) < sp.Next; no++ {
		if err := tx.putPage(conv, no, nil); err != nil {
			return err
		}
	}
	tx.pgOK = false
	if v2 {
		sp.Last, sp.HasLast = 0, false
		return tx.put(bucketRecords, tConversation, conv, 0, sp.encode())
	}
	return nil
}

// downgradeToV3 rewrites a vault's messages, data version and header
// the way schema version 3 kept them: one record per message.
func downgradeToV3(t *testing.T, dir string, v *Vault, convs ...string) {
	t.Helper()
	err := v.Update(func(tx *Tx) error {
		for _, c := range convs {
			if err := toV3Records(tx, c, false); err != nil {
				return err
			}
		}
		return tx.tx.Bucket(bucketMeta).Put(metaVersion, encodeVersion(3))
	})
	if err != nil {
		t.Fatal(err)
	}
	h := *v.hdr
	h.Version = 3
	wrapKey(&h, testPass, v.keys.master)
	v.Close()
	if err := writeHeader(dir, &h); err != nil {
		t.Fatal(err)
	}
}

// A version 3 vault's messages move into pages on Open: every message
// reads back the same, in the same order and with the same order times;
// expiring messages keep their keys and still expire; a message whose
// key was destroyed by a crashed expiry is deleted; the old records
// leave vault.db.
func TestMigrateToPages(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOptsAt(clock)
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	master := bytes.Clone(v.keys.master)
	base := clock.Now()
	var want []Message
	for i := range 69 {
		m := Message{Conversation: "c", ID: fmt.Sprint("id", i), Time: base.Add(time.Duration(i) * time.Second), Body: fmt.Appendf(nil, "body of message %d", i)}
		switch {
		case i == 7: // stored late
			m.Time = base.Add(-time.Hour)
		case i%10 == 3:
			m.Expires = base.Add(time.Duration(i) * time.Hour)
		case i == 11:
			m.BurnOnRead = true
		}
		got, err := v.AddMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, got)
	}
	if _, err := v.AddMessage(Message{Conversation: "d", Time: base, Body: []byte("another conversation")}); err != nil {
		t.Fatal(err)
	}
	if err := v.DeleteMessage("c", 40); err != nil {
		t.Fatal(err)
	}
	want = slices.Delete(want, 39, 40)
	orders := map[uint64]int64{}
	v.View(func(tx *Tx) error {
		for _, m := range want {
			o, _, _ := tx.orderAt("c", m.Seq)
			orders[m.Seq] = o
		}
		return nil
	})
	gone := capture(t, v, "c", 4)
	want = slices.Delete(want, 3, 4)
	var old []byte // the sealed version 3 record of message 1
	downgradeToV3(t, dir, v, "c", "d")
	// A crash inside an expiry left message 4 with a destroyed key.
	func() {
		km, _ := keySlotsMaster(master)
		kf, err := keyslots.Open(filepath.Join(dir, KeysFile), km)
		if err != nil {
			t.Fatal(err)
		}
		defer kf.Close()
		if err := kf.Destroy(gone.slot); err != nil {
			t.Fatal(err)
		}
	}()
	// ExpireDue destroys only due keys: message 4 (expiring at 3h) is due
	// at the next Open, the others not yet.
	clock.Advance(4 * time.Hour)
	if got := headerVersion(t, dir); got != 3 {
		t.Fatalf("downgraded header version %d", got)
	}
	func() {
		db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.View(func(tx *bolt.Tx) error {
			k, _ := newKeys(bytes.Clone(master))
			vv := &Vault{keys: k}
			old = bytes.Clone(tx.Bucket(bucketRecords).Get((&Tx{v: vv}).msgKey("c", 1)))
			return nil
		})
	}()
	if old == nil || !bytes.Contains(rawDB(t, dir), old) {
		t.Fatal("version 3 message record not found in vault.db: the scan would prove nothing")
	}

	v, err = Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if got := headerVersion(t, dir); got != SchemaVersion {
		t.Errorf("header version after Open: %d, want %d", got, SchemaVersion)
	}
	if got := dataVersion(t, v); got != SchemaVersion {
		t.Errorf("data version after Open: %d, want %d", got, SchemaVersion)
	}
	if bytes.Contains(rawDB(t, dir), old) {
		t.Error("version 3 message record still in vault.db after the migration")
	}
	page, err := v.Messages("c", 0, 1000)
	if err != nil || len(page) != len(want) {
		t.Fatalf("after migration: %d messages, %v, want %d", len(page), err, len(want))
	}
	for i, m := range page {
		w := want[len(want)-1-i]
		if m.Seq != w.Seq || m.ID != w.ID || !m.Time.Equal(w.Time) || !m.Expires.Equal(w.Expires) || m.BurnOnRead != w.BurnOnRead || !bytes.Equal(m.Body, w.Body) {
			t.Errorf("message %d: got %+v, want %+v", w.Seq, m, w)
		}
	}
	v.View(func(tx *Tx) error {
		for _, m := range want {
			if o, ok, err := tx.orderAt("c", m.Seq); err != nil || !ok || o != orders[m.Seq] {
				t.Errorf("order time of %d: got %d, %v, %v, want %d", m.Seq, o, ok, err, orders[m.Seq])
			}
		}
		return nil
	})
	if m, err := v.Message("d", 1); err != nil || string(m.Body) != "another conversation" {
		t.Errorf("conversation d: %q, %v", m.Body, err)
	}
	if seq, err := v.SeqAt("c", base.Add(20*time.Second)); err != nil || seq != 21 {
		t.Errorf("SeqAt: %d, %v, want 21", seq, err)
	}
	// Expiring messages keep their keys and expire.
	s := capture(t, v, "c", 14)
	clock.Advance(14 * time.Hour)
	if _, err := v.ExpireDue(clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Message("c", 14); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired after migration: got %v, want ErrNotFound", err)
	}
	if _, err := v.AddMessage(Message{Conversation: "c", Body: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	if n, _ := v.LastSeq("c"); n != 70 {
		t.Errorf("last seq %d", n)
	}
	v.Close()
	assertGone(t, dir, opts, "c", 14, s)
	assertGone(t, dir, opts, "c", 4, gone)
}
