package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/storage/stream"
)

var backupPass = []byte("a different backup passphrase")

func testExportOpts() ExportOptions { return ExportOptions{InsecureTestKDF: true} }

// fillProfile stores one record of every type, two messages (one
// expiring at due) and an attachment, and returns the attachment's id.
func fillProfile(t *testing.T, v *Vault, due time.Time) AttachmentID {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(v.PutProfile([]byte("profile-1")))
	must(v.PutSetting("theme", []byte("dark")))
	must(v.PutIdentity("main", []byte("ed25519-secret")))
	must(v.PutSession("alice", []byte("ratchet-a")))
	must(v.PutContact(Contact{ID: "alice", Data: []byte("Alice pseudonym")}))
	_, err := v.AddMessage(Message{Conversation: "alice", ID: "id1", Body: []byte("kept")})
	must(err)
	_, err = v.AddMessage(Message{Conversation: "alice", ID: "id2", Expires: due, Body: []byte("expires")})
	must(err)
	_, err = v.PutOutbox(OutboxEntry{Contact: "alice", Data: []byte("env1")})
	must(err)
	id, err := v.PutAttachment(bytes.NewReader(bytes.Repeat([]byte("attachment "), 20000)))
	must(err)
	return id
}

func export(t *testing.T, v *Vault) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := v.Export(&buf, backupPass, testExportOpts()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportImport(t *testing.T) {
	clock := newClock()
	opts := testOptsAt(clock)
	v, err := Create(t.TempDir(), testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	id := fillProfile(t, v, clock.Now().Add(48*time.Hour))
	backup := export(t, v)
	for _, plain := range []string{"kept", "Alice pseudonym", "attachment attachment", "ed25519-secret"} {
		if bytes.Contains(backup, []byte(plain)) {
			t.Errorf("backup holds %q in the clear", plain)
		}
	}

	dir := filepath.Join(t.TempDir(), "restored")
	if err := Import(bytes.NewReader(backup), backupPass, dir, opts); err != nil {
		t.Fatal(err)
	}
	w, err := Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for name, get := range map[string]func(*Vault) ([]byte, error){
		"profile":  func(v *Vault) ([]byte, error) { return v.Profile() },
		"setting":  func(v *Vault) ([]byte, error) { return v.Setting("theme") },
		"identity": func(v *Vault) ([]byte, error) { return v.Identity("main") },
		"session":  func(v *Vault) ([]byte, error) { return v.Session("alice") },
		"contact":  func(v *Vault) ([]byte, error) { c, err := v.Contact("alice"); return c.Data, err },
		"outbox": func(v *Vault) ([]byte, error) {
			ob, err := v.Outbox()
			if err != nil || len(ob) != 1 {
				return nil, err
			}
			return ob[0].Data, nil
		},
		"messages": func(v *Vault) ([]byte, error) {
			ms, err := v.Messages("alice", 0, 10)
			var b []byte
			for _, m := range ms {
				b = append(b, m.ID+":"+string(m.Body)+":"+m.Expires.String()+";"...)
			}
			return b, err
		},
		"attachment": func(v *Vault) ([]byte, error) {
			a, err := v.OpenAttachment(id)
			if err != nil {
				return nil, err
			}
			defer a.Close()
			return io.ReadAll(a)
		},
	} {
		want, err := get(v)
		if err != nil {
			t.Fatalf("%s in the original: %v", name, err)
		}
		got, err := get(w)
		if err != nil || !bytes.Equal(got, want) || len(want) == 0 {
			t.Errorf("%s after import: got %.80q, %v, want %.80q", name, got, err, want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 4 {
		t.Errorf("imported folder: got %d entries, want vault.hdr, vault.db, vault.keys, blobs", len(ents))
	}
}

// A message due between export and import is expired by the first Open
// after the import, and its key is in no file of the imported profile.
func TestImportExpires(t *testing.T) {
	clock := newClock()
	opts := testOptsAt(clock)
	v, err := Create(t.TempDir(), testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	fillProfile(t, v, clock.Now().Add(time.Hour))
	s := capture(t, v, "alice", 2)
	backup := export(t, v)
	v.Close()

	clock.Advance(2 * time.Hour)
	dir := t.TempDir()
	if err := Import(bytes.NewReader(backup), backupPass, dir, opts); err != nil {
		t.Fatal(err)
	}
	w, err := Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := w.Message("alice", 1); err != nil || string(m.Body) != "kept" {
		t.Errorf("message not due: got %+v, %v", m, err)
	}
	w.Close()
	assertGone(t, dir, opts, "alice", 2, s)
}

func TestImportWrongPassphrase(t *testing.T) {
	v, _ := newVault(t)
	fillProfile(t, v, time.Time{})
	backup := export(t, v)
	dir := t.TempDir()
	err := Import(bytes.NewReader(backup), []byte("wrong"), dir, testOpts())
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong backup passphrase: got %v, want ErrWrongPassphrase", err)
	}
	assertEmpty(t, dir)
	// The vault's own passphrase is not the backup's.
	if err := Import(bytes.NewReader(backup), testPass, dir, testOpts()); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("vault passphrase as backup passphrase: got %v, want ErrWrongPassphrase", err)
	}
	assertEmpty(t, dir)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("%s left in the target folder", e.Name())
	}
}

func TestImportDamaged(t *testing.T) {
	v, _ := newVault(t)
	fillProfile(t, v, time.Time{})
	backup := export(t, v)
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"empty":             {nil, ErrNotBackup},
		"not a backup":      {[]byte(strings.Repeat("x", 500)), ErrNotBackup},
		"header truncated":  {backup[:backupHeaderSize-1], ErrCorrupt},
		"header only":       {backup[:backupHeaderSize], ErrCorrupt},
		"truncated body":    {backup[:len(backup)-1], ErrCorrupt},
		"truncated at half": {backup[:len(backup)/2], ErrCorrupt},
		"extended":          {append(bytes.Clone(backup), 0), ErrCorrupt},
	}
	for _, off := range []int{0, len(backupMagic) + 3, backupFieldsSize + 1, backupHeaderSize + 30, backupHeaderSize + 200, len(backup) / 2, len(backup) - 1} {
		b := bytes.Clone(backup)
		b[off] ^= 0x40
		want := ErrCorrupt
		if off == 0 {
			want = ErrNotBackup
		}
		cases["flipped byte at "+strconv.Itoa(off)] = struct {
			b    []byte
			want error
		}{b, want}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			err := Import(bytes.NewReader(c.b), backupPass, dir, testOpts())
			if !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
			assertEmpty(t, dir)
			// An absent target that Import created is removed again.
			sub := filepath.Join(dir, "new")
			Import(bytes.NewReader(c.b), backupPass, sub, testOpts())
			if _, err := os.Lstat(sub); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("created target left behind: %v", err)
			}
		})
	}
}

func TestImportNonEmpty(t *testing.T) {
	v, _ := newVault(t)
	backup := export(t, v)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Import(bytes.NewReader(backup), backupPass, dir, testOpts()); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("non-empty target: got %v, want ErrNotEmpty", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("target changed: %d entries", len(ents))
	}
}

// A backup with a weak KDF is refused unless the caller allows test
// parameters, and Export refuses to write one by accident.
func TestBackupKDFBounds(t *testing.T) {
	v, _ := newVault(t)
	if err := v.Export(io.Discard, backupPass, ExportOptions{KDF: testKDF}); !errors.Is(err, ErrWeakKDF) {
		t.Errorf("Export with a weak KDF: got %v, want ErrWeakKDF", err)
	}
	backup := export(t, v)
	if err := Import(bytes.NewReader(backup), backupPass, t.TempDir(), Options{}); !errors.Is(err, ErrWeakKDF) {
		t.Errorf("Import of a weak-KDF backup: got %v, want ErrWeakKDF", err)
	}
}

// craftBackup encrypts archive as a backup under backupPass, as a
// hostile or buggy exporter holding the backup passphrase could.
func craftBackup(t *testing.T, archive []byte) []byte {
	t.Helper()
	h := &backupHeader{KDF: testKDF}
	checkKey, bodyKey := backupKeys(backupPass, h)
	copy(h.Check[:], backupCheck(checkKey, h))
	var buf bytes.Buffer
	buf.Write(h.encode())
	w, err := stream.NewWriter(&buf, bodyKey)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(archive)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func entry(name string, data []byte) []byte {
	b := append([]byte{byte(len(name))}, name...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
	return append(b, data...)
}

func TestImportHostileArchive(t *testing.T) {
	hdr := entry(HeaderFile, []byte("h"))
	db := entry(DBFile, []byte("d"))
	keys := entry(KeysFile, []byte("k"))
	blob := BlobDir + "/" + strings.Repeat("ab", 16)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	end := []byte{0}
	huge := append([]byte{byte(len(DBFile))}, DBFile...)
	huge = binary.BigEndian.AppendUint64(huge, maxEntrySize+1)
	for name, archive := range map[string][]byte{
		"traversal":         cat(entry("../evil", []byte("x")), hdr, db, keys, end),
		"blob traversal":    cat(entry(BlobDir+"/../../evil", []byte("x")), hdr, db, keys, end),
		"absolute":          cat(entry("/tmp/evil", []byte("x")), hdr, db, keys, end),
		"unknown name":      cat(entry("vault.db2", []byte("x")), hdr, db, keys, end),
		"blob id uppercase": cat(entry(strings.ToUpper(blob), []byte("x")), hdr, db, keys, end),
		"duplicate":         cat(hdr, db, db, keys, end),
		"missing keys":      cat(hdr, db, end),
		"no end":            cat(hdr, db, keys),
		"data after end":    cat(hdr, db, keys, end, []byte{1}),
		"inside an entry":   cat(hdr, db, keys[:len(keys)-1]),
		"huge entry":        cat(hdr, huge),
		"huge header":       cat(entry(HeaderFile, make([]byte, maxHeaderEntry+1)), db, keys, end),
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "target")
			err := Import(bytes.NewReader(craftBackup(t, archive)), backupPass, dir, testOpts())
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("got %v, want ErrCorrupt", err)
			}
			ents, _ := os.ReadDir(filepath.Dir(dir))
			for _, e := range ents {
				t.Errorf("%s left next to the target", e.Name())
			}
		})
	}
	// The same archive with valid names imports (the control case).
	dir := t.TempDir()
	if err := Import(bytes.NewReader(craftBackup(t, cat(hdr, db, keys, entry(blob, []byte("b")), end))), backupPass, dir, testOpts()); err != nil {
		t.Fatalf("valid archive: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(blob))); err != nil || string(b) != "b" {
		t.Errorf("blob: got %q, %v", b, err)
	}
}

// FuzzBackupHeader: a header that decodes encodes back to the same
// bytes, and one that does not fails with a sentinel error, never a
// panic.
func FuzzBackupHeader(f *testing.F) {
	h := &backupHeader{KDF: DefaultKDF}
	h.Salt[0], h.Check[1] = 1, 2
	f.Add(h.encode())
	f.Add([]byte(backupMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeBackupHeader(b)
		if err != nil {
			if !errors.Is(err, ErrNotBackup) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewerVersion) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if got := h.encode(); !bytes.Equal(got, b) {
			t.Fatalf("encode(decode(b)) = %x, want %x", got, b)
		}
		_ = h.KDF.check(false) // must not panic
	})
}
