package vault

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// archiveOf returns the archive (the plaintext of a backup's body) of a
// small real vault: what Export writes inside the stream.
func archiveOf(tb testing.TB) []byte {
	tb.Helper()
	dir := tb.TempDir()
	v, err := Create(dir, testPass, testOpts())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := v.AddMessage(Message{Conversation: "c", Body: []byte("hello")}); err != nil {
		tb.Fatal(err)
	}
	id, err := v.PutAttachment(strings.NewReader("blob"))
	if err != nil {
		tb.Fatal(err)
	}
	v.Close()
	var a []byte
	for _, name := range []string{HeaderFile, DBFile, KeysFile, BlobDir + "/" + string(id)} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			tb.Fatal(err)
		}
		a = append(a, entry(name, b)...)
	}
	return append(a, 0)
}

// FuzzBackupArchive feeds Import authentic backups (sealed under the
// backup passphrase, as a hostile exporter holding it could make) whose
// archive is arbitrary. Import never panics; it keeps its memory
// bounded whatever sizes the archive announces; it either fails with
// ErrCorrupt and leaves nothing behind, or writes no more than the
// archive held, and then Open either opens the result or fails with one
// of the package's sentinel errors.
func FuzzBackupArchive(f *testing.F) {
	f.Add(archiveOf(f))
	hdr, db, keys := entry(HeaderFile, []byte("h")), entry(DBFile, []byte("d")), entry(KeysFile, []byte("k"))
	f.Add(bytes.Join([][]byte{hdr, db, keys, {0}}, nil))
	f.Add(bytes.Join([][]byte{hdr, db, keys}, nil))
	f.Add(bytes.Join([][]byte{hdr, db, db, keys, {0}}, nil))
	f.Add(append(append([]byte{byte(len(DBFile))}, DBFile...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	f.Add(entry("../evil", []byte("x")))
	f.Add([]byte{})
	f.Add([]byte{0})
	sentinels := []error{ErrNotVault, ErrCorrupt, ErrNewerVersion, ErrOldVersion, ErrWeakKDF, ErrWrongPassphrase}
	f.Fuzz(func(t *testing.T, archive []byte) {
		backup := craftBackup(t, archive)
		dir := filepath.Join(t.TempDir(), "target")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := Import(bytes.NewReader(backup), backupPass, dir, testOpts())
		runtime.ReadMemStats(&after)
		// Argon2id's 64 KiB, the stream's chunk buffers and staging:
		// far below what a hostile size field would make a careless
		// reader allocate.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20+4*uint64(len(archive)) {
			t.Fatalf("Import allocated %d bytes for a %d-byte archive", grew, len(archive))
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Import: got %v, want an error wrapping ErrCorrupt", err)
			}
			if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("failed Import left its target: %v", err)
			}
			return
		}
		var written int64
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					written += fi.Size()
				}
			}
			return nil
		})
		if written > int64(len(archive)) {
			t.Fatalf("Import wrote %d bytes from a %d-byte archive", written, len(archive))
		}
		v, err := Open(dir, testPass, testOpts())
		if err == nil {
			v.Close()
			return
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("Open of the imported folder: %v, want success or a sentinel error", err)
	})
}

// benchProfile makes a vault with 2,000 messages and a 4 MiB attachment.
func benchProfile(b *testing.B) *Vault {
	v, _ := newVault(b)
	fillConversation(b, v, "c", 2000)
	if _, err := v.PutAttachment(bytes.NewReader(bytes.Repeat([]byte("attachment data "), 4<<20/16))); err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkExport writes a backup of benchProfile (test Argon2id
// parameters, so the figure is the archive's I/O and encryption, not
// the deliberate cost of the passphrase; with DefaultKDF add one unlock).
func BenchmarkExport(b *testing.B) {
	v := benchProfile(b)
	var cw countWriter
	cw.w = io.Discard
	if err := v.Export(&cw, backupPass, testExportOpts()); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(cw.n)
	for b.Loop() {
		if err := v.Export(io.Discard, backupPass, testExportOpts()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImport restores that backup into a fresh folder (fsync on).
func BenchmarkImport(b *testing.B) {
	v := benchProfile(b)
	var buf bytes.Buffer
	if err := v.Export(&buf, backupPass, testExportOpts()); err != nil {
		b.Fatal(err)
	}
	backup := buf.Bytes()
	root := b.TempDir()
	b.SetBytes(int64(len(backup)))
	i := 0
	for b.Loop() {
		i++
		dir := filepath.Join(root, time.Duration(i).String())
		if err := Import(bytes.NewReader(backup), backupPass, dir, testOpts()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}
