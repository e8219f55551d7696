package vault

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

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
