package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCreateOpen(t *testing.T) {
	v, dir := newVault(t)
	if err := v.PutProfile([]byte("me")); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(dir, testPass, testOpts()); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over a vault: got %v, want ErrExists", err)
	}
	v.Close()
	v, err := Open(dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	p, err := v.Profile()
	if err != nil || string(p) != "me" {
		t.Fatalf("profile: got %q, %v, want me", p, err)
	}
}

func TestWrongPassphraseChangesNothing(t *testing.T) {
	v, dir := newVault(t)
	v.PutSetting("a", []byte("b"))
	v.Close()
	before := hashDir(t, dir)
	if _, err := Open(dir, []byte("wrong"), testOpts()); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("got %v, want ErrWrongPassphrase", err)
	}
	sameHashes(t, before, hashDir(t, dir))
}

func TestChangePassphrase(t *testing.T) {
	v, dir := newVault(t)
	v.PutSetting("k", []byte("v"))
	dbBefore, _ := os.ReadFile(filepath.Join(dir, DBFile))
	if err := v.ChangePassphrase([]byte("wrong"), []byte("new")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong old passphrase: got %v", err)
	}
	if err := v.ChangePassphrase(testPass, []byte("new")); err != nil {
		t.Fatal(err)
	}
	// Still usable after the change.
	if b, err := v.Setting("k"); err != nil || string(b) != "v" {
		t.Fatalf("setting after change: %q %v", b, err)
	}
	v.Close()
	dbAfter, _ := os.ReadFile(filepath.Join(dir, DBFile))
	if !bytes.Equal(dbBefore, dbAfter) {
		t.Error("vault.db changed: want only the header rewritten")
	}
	if _, err := Open(dir, testPass, testOpts()); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("old passphrase: got %v, want ErrWrongPassphrase", err)
	}
	v, err := Open(dir, []byte("new"), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if b, err := v.Setting("k"); err != nil || string(b) != "v" {
		t.Fatalf("setting: %q %v", b, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("files left: %d, want 3 (no temporary header)", len(ents))
	}
}

func TestLockWipes(t *testing.T) {
	v, _ := newVault(t)
	k := v.keys
	held := [][]byte{k.master, k.seal, k.id}
	for _, b := range held {
		if bytes.Equal(b, make([]byte, len(b))) {
			t.Fatal("key is zero before Lock")
		}
	}
	if err := v.Lock(); err != nil {
		t.Fatal(err)
	}
	for i, b := range held {
		if !bytes.Equal(b, make([]byte, len(b))) {
			t.Errorf("key %d not wiped", i)
		}
	}
	if _, err := v.Profile(); !errors.Is(err, ErrLocked) {
		t.Errorf("Profile after Lock: got %v, want ErrLocked", err)
	}
	if err := v.PutProfile(nil); !errors.Is(err, ErrLocked) {
		t.Errorf("PutProfile after Lock: got %v, want ErrLocked", err)
	}
	if _, err := v.ExpireDue(v.now()); !errors.Is(err, ErrLocked) {
		t.Errorf("ExpireDue after Lock: got %v, want ErrLocked", err)
	}
	if err := v.ChangePassphrase(testPass, testPass); !errors.Is(err, ErrLocked) {
		t.Errorf("ChangePassphrase after Lock: got %v, want ErrLocked", err)
	}
	if err := v.Lock(); err != nil {
		t.Errorf("second Lock: %v", err)
	}
}

// writeHeaderBytes replaces the header of a closed vault with b.
func vaultWithHeader(t *testing.T, edit func(hdr []byte) []byte) string {
	t.Helper()
	v, dir := newVault(t)
	v.Close()
	path := filepath.Join(dir, HeaderFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rechecksum fixes the header checksum after an edit.
func rechecksum(b []byte) []byte {
	h, err := decodeHeaderNoSum(b)
	if err != nil {
		panic(err)
	}
	return h
}

func TestBadHeaders(t *testing.T) {
	setKDF := func(mem, passes uint32, threads byte) func([]byte) []byte {
		return func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[fixedPrefix+1:], mem)
			binary.BigEndian.PutUint32(b[fixedPrefix+5:], passes)
			b[fixedPrefix+9] = threads
			return rechecksum(b)
		}
	}
	tests := []struct {
		name string
		edit func([]byte) []byte
		want error
		opts Options
	}{
		{"empty", func([]byte) []byte { return nil }, ErrNotVault, testOpts()},
		{"not a vault", func([]byte) []byte { return []byte("PK\x03\x04 a zip file, not a vault at all") }, ErrNotVault, testOpts()},
		{"magic prefix", func(b []byte) []byte { return b[:4] }, ErrCorrupt, testOpts()},
		{"magic only", func(b []byte) []byte { return b[:len(headerMagic)] }, ErrCorrupt, testOpts()},
		{"truncated", func(b []byte) []byte { return b[:headerSize-1] }, ErrCorrupt, testOpts()},
		{"too long", func(b []byte) []byte { return append(b, 0) }, ErrCorrupt, testOpts()},
		{"flipped bit", func(b []byte) []byte { b[40] ^= 1; return b }, ErrCorrupt, testOpts()},
		{"flipped checksum", func(b []byte) []byte { b[headerSize-1] ^= 1; return b }, ErrCorrupt, testOpts()},
		{"newer version", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[len(headerMagic):], SchemaVersion+1)
			return b[:20] // a newer layout: whatever follows
		}, ErrNewerVersion, testOpts()},
		{"version 0", func(b []byte) []byte { binary.BigEndian.PutUint16(b[len(headerMagic):], 0); return b }, ErrCorrupt, testOpts()},
		{"hostile memory", setKDF(1<<31, 1, 1), ErrCorrupt, testOpts()},
		{"hostile passes", setKDF(64, 1<<30, 1), ErrCorrupt, testOpts()},
		{"hostile threads", setKDF(64, 1, 255), ErrCorrupt, testOpts()},
		{"zero threads", setKDF(64, 1, 0), ErrWeakKDF, testOpts()},
		// A test vault's cheap parameters are a downgrade for a real Open.
		{"downgrade", func(b []byte) []byte { return b }, ErrWeakKDF, Options{}},
		{"wrapped key edited, checksum fixed", func(b []byte) []byte {
			b[headerAADSize+nonceSize] ^= 1
			return rechecksum(b)
		}, ErrWrongPassphrase, testOpts()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := vaultWithHeader(t, tt.edit)
			before := hashDir(t, dir)
			v, err := Open(dir, testPass, tt.opts)
			if !errors.Is(err, tt.want) {
				if v != nil {
					v.Close()
				}
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			sameHashes(t, before, hashDir(t, dir))
		})
	}
}

func TestNoHeader(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, testPass, testOpts()); !errors.Is(err, ErrNotVault) {
		t.Fatalf("got %v, want ErrNotVault", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Open wrote %d files", len(ents))
	}
}

func TestBadDB(t *testing.T) {
	tests := []struct {
		name string
		edit func(db []byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:100] }},
		{"garbage", func(b []byte) []byte { return bytes.Repeat([]byte{0x5a}, len(b)) }},
		{"empty", func([]byte) []byte { return nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, dir := newVault(t)
			v.Close()
			path := filepath.Join(dir, DBFile)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, tt.edit(b), 0o600)
			v, err := Open(dir, testPass, testOpts())
			if err == nil {
				v.Close()
				t.Fatal("opened a damaged vault.db")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("other vault's db", func(t *testing.T) {
		v1, dir1 := newVault(t)
		v1.Close()
		v2, dir2 := newVault(t)
		v2.Close()
		b, _ := os.ReadFile(filepath.Join(dir2, DBFile))
		os.WriteFile(filepath.Join(dir1, DBFile), b, 0o600)
		if _, err := Open(dir1, testPass, testOpts()); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("got %v, want ErrCorrupt", err)
		}
	})
}

func TestCreateAfterCrash(t *testing.T) {
	// A crash inside Create, after vault.db but before the header: a
	// second Create succeeds, and Open meanwhile says ErrNotVault.
	// Create's mark (CreatingFile) is what tells its leftovers apart
	// from a vault that lost its header, which Create must not delete.
	v, dir := newVault(t)
	v.Close()
	os.Remove(filepath.Join(dir, HeaderFile))
	if _, err := Open(dir, testPass, testOpts()); !errors.Is(err, ErrNotVault) {
		t.Fatalf("Open: got %v, want ErrNotVault", err)
	}
	before := hashDir(t, dir)
	if _, err := Create(dir, testPass, testOpts()); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over a vault without its header: got %v, want ErrExists", err)
	}
	sameHashes(t, before, hashDir(t, dir))
	if err := os.WriteFile(filepath.Join(dir, CreatingFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := Create(dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	// And a missing vault.db under a header is corruption, not a new vault.
	os.Remove(filepath.Join(dir, DBFile))
	if _, err := Open(dir, testPass, testOpts()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open without vault.db: got %v, want ErrCorrupt", err)
	}
	if _, err := os.Stat(filepath.Join(dir, DBFile)); err == nil {
		t.Error("Open made a vault.db")
	}
}

func TestKDFOptionsBounds(t *testing.T) {
	if _, err := Create(t.TempDir(), testPass, Options{KDF: KDFParams{MemoryKiB: 1024, Passes: 1, Threads: 1}}); !errors.Is(err, ErrWeakKDF) {
		t.Errorf("weak KDF: got %v, want ErrWeakKDF", err)
	}
	if _, err := Create(t.TempDir(), testPass, Options{KDF: KDFParams{MemoryKiB: 4 << 20, Passes: 3, Threads: 1}}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge KDF: got %v, want ErrCorrupt", err)
	}
}

func TestConcurrent(t *testing.T) {
	v, _ := newVault(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			conv := string(rune('a' + g))
			for i := range 50 {
				if _, err := v.AddMessage(Message{Conversation: conv, Body: []byte{byte(i)}}); err != nil {
					t.Error(err)
					return
				}
				if _, err := v.Messages(conv, 0, 5); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			v.Contacts()
		}
	})
	wg.Wait()
	for g := range 4 {
		if n, _ := v.LastSeq(string(rune('a' + g))); n != 50 {
			t.Errorf("conversation %d: last seq %d, want 50", g, n)
		}
	}
	// Lock while others use the vault: they see ErrLocked or succeed.
	var wg2 sync.WaitGroup
	for range 4 {
		wg2.Go(func() {
			for range 100 {
				if _, err := v.Messages("a", 0, 5); err != nil && !errors.Is(err, ErrLocked) {
					t.Error(err)
					return
				}
			}
		})
	}
	v.Lock()
	wg2.Wait()
}
