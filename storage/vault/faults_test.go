package vault

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// profile is a closed vault with every kind of record a profile holds:
// plain and expiring messages, a burn-on-read one, and an attachment
// (the blob and its key slot).
type profile struct {
	dir   string
	opts  Options
	msgs  map[uint64]string // seq in conversation "c" -> body
	att   AttachmentID
	files []string // every file, relative to dir
}

func makeProfile(t *testing.T, clock *testClock) *profile {
	t.Helper()
	p := &profile{dir: t.TempDir(), opts: testOptsAt(clock), msgs: map[uint64]string{}}
	v, err := Create(p.dir, testPass, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if p.att, err = v.PutAttachment(strings.NewReader("attached bytes")); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		m := Message{Conversation: "c", Time: clock.Now(), Body: fmt.Appendf(nil, "message %d", i)}
		switch i % 4 {
		case 1:
			m.Expires = clock.Now().Add(time.Duration(i+1) * time.Hour)
		case 2:
			m.BurnOnRead = true
		}
		if i == 5 {
			m.Attachments = []AttachmentID{p.att}
		}
		got, err := v.AddMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		p.msgs[got.Seq] = string(m.Body)
	}
	v.Close()
	p.files = listFiles(t, p.dir)
	return p
}

// listFiles lists every regular file under dir.
func listFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hashTree is hashDir with subfolders (blobs/).
func hashTree(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	m := map[string][32]byte{}
	for _, rel := range listFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		m[rel] = sha256.Sum256(b)
	}
	return m
}

// checkAll opens the profile and reads every message and the
// attachment back.
func (p *profile) checkAll(t *testing.T) {
	t.Helper()
	v, err := Open(p.dir, testPass, p.opts)
	if err != nil {
		t.Fatalf("Open after restoring: %v", err)
	}
	defer v.Close()
	for seq, body := range p.msgs {
		m, err := v.Message("c", seq)
		if err != nil || string(m.Body) != body {
			t.Errorf("message %d: got %q, %v, want %q", seq, m.Body, err, body)
		}
	}
	a, err := v.OpenAttachment(p.att)
	if err != nil {
		t.Fatalf("attachment: %v", err)
	}
	defer a.Close()
	if b, err := io.ReadAll(a); err != nil || string(b) != "attached bytes" {
		t.Errorf("attachment: got %q, %v", b, err)
	}
}

// TestProfileFileFaults deletes, truncates and swaps (with another
// vault's file, or an older copy of its own) each file of a profile in
// turn. For vault.hdr, vault.db and vault.keys, Open fails with an error
// that names the file, and changes no file; restoring the file restores
// every message. A blob's fault is the one attachment's: Open succeeds,
// the attachment fails to open, and restoring the blob restores it.
//
// Before keyslots.Open stopped creating a missing file, a missing
// vault.keys was recreated empty and Open deleted every expiring message
// and the attachment for good.
func TestProfileFileFaults(t *testing.T) {
	clock := newClock()
	p := makeProfile(t, clock)
	other := makeProfile(t, newClock())
	// An older copy of vault.keys: taken before the newest expiring
	// messages' keys were allocated (a stale backup of the one file).
	oldKeys, err := os.ReadFile(filepath.Join(p.dir, KeysFile))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Open(p.dir, testPass, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 { // past the first growth of the key file
		m := Message{Conversation: "c", Time: clock.Now(), Expires: clock.Now().Add(time.Hour), Body: fmt.Appendf(nil, "later %d", i)}
		got, err := v.AddMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		p.msgs[got.Seq] = string(m.Body)
	}
	v.Close()
	if newer, _ := os.ReadFile(filepath.Join(p.dir, KeysFile)); len(newer) <= len(oldKeys) {
		t.Fatalf("key file grew from %d to %d bytes: the older copy would prove nothing", len(oldKeys), len(newer))
	}

	type fault struct {
		name string
		edit func(b []byte, other []byte) ([]byte, bool) // false: delete
	}
	faults := []fault{
		{"deleted", func([]byte, []byte) ([]byte, bool) { return nil, false }},
		{"empty", func([]byte, []byte) ([]byte, bool) { return []byte{}, true }},
		{"truncated to 10 bytes", func(b, _ []byte) ([]byte, bool) { return b[:10], true }},
		{"truncated to 100 bytes", func(b, _ []byte) ([]byte, bool) { return b[:min(100, len(b)-1)], true }},
		{"another vault's", func(_, o []byte) ([]byte, bool) { return o, true }},
	}
	// vault.db may end in room bbolt allocated ahead: cutting that off
	// loses nothing (TestDamagedDB cuts into its data).
	byOneByte := fault{"truncated by one byte", func(b, _ []byte) ([]byte, bool) { return b[:len(b)-1], true }}
	blobPath := filepath.Join(BlobDir, string(p.att))
	for _, rel := range p.files {
		kind := rel
		if rel == blobPath {
			kind = "blob"
		}
		fs := faults
		if rel != DBFile {
			fs = append(fs, byOneByte)
		}
		if rel == KeysFile {
			fs = append(fs,
				fault{"an older copy", func([]byte, []byte) ([]byte, bool) { return oldKeys, true }},
				fault{"truncated to its header", func(b, _ []byte) ([]byte, bool) { return b[:64], true }},
				fault{"truncated by one slot", func(b, _ []byte) ([]byte, bool) { return b[:len(b)-64], true }},
			)
		}
		for _, f := range fs {
			t.Run(kind+"/"+f.name, func(t *testing.T) {
				path := filepath.Join(p.dir, rel)
				orig, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				otherRel := rel
				if rel == blobPath {
					otherRel = filepath.Join(BlobDir, string(other.att))
				}
				ob, err := os.ReadFile(filepath.Join(other.dir, otherRel))
				if err != nil {
					t.Fatal(err)
				}
				b, keep := f.edit(orig, ob)
				if keep {
					err = os.WriteFile(path, b, 0o600)
				} else {
					err = os.Remove(path)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := os.WriteFile(path, orig, 0o600); err != nil {
						t.Fatal(err)
					}
					p.checkAll(t)
				}()
				before := hashTree(t, p.dir)
				v, err := Open(p.dir, testPass, p.opts)
				if rel == blobPath {
					// The blob is the attachment's alone: the vault
					// opens, the attachment says it is damaged, and
					// nothing deletes its record.
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					if a, err := v.OpenAttachment(p.att); err == nil {
						_, err = io.ReadAll(a)
						a.Close()
						if err == nil {
							t.Error("a damaged blob read back without an error")
						}
					} else if errors.Is(err, ErrNotFound) {
						t.Errorf("attachment: got %v, want an error other than ErrNotFound", err)
					}
					v.Close()
					return
				}
				if err == nil {
					v.Close()
					t.Fatal("Open succeeded")
				}
				want := filepath.Base(rel)
				if rel == HeaderFile && f.name == "another vault's" {
					want = DBFile // the header opens: vault.db is not its vault's
				}
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
				switch rel {
				case DBFile, KeysFile:
					if !errors.Is(err, ErrDamaged) {
						t.Errorf("got %v, want ErrDamaged", err)
					}
				case HeaderFile:
					if !errors.Is(err, ErrNotVault) && !errors.Is(err, ErrCorrupt) {
						t.Errorf("got %v, want ErrNotVault or ErrCorrupt", err)
					}
				}
				after := hashTree(t, p.dir)
				if len(after) != len(before) {
					t.Errorf("files after Open: got %d, want %d", len(after), len(before))
				}
				for name, h := range before {
					if after[name] != h {
						t.Errorf("Open changed %s", name)
					}
				}
			})
		}
	}
}

// TestDiscardLostKeys: the explicit repair of a vault whose vault.keys
// was lost deletes only what the lost keys opened, and the vault then
// opens normally.
func TestDiscardLostKeys(t *testing.T) {
	clock := newClock()
	p := makeProfile(t, clock)
	if err := os.Remove(filepath.Join(p.dir, KeysFile)); err != nil {
		t.Fatal(err)
	}
	v, deleted, err := DiscardLostKeys(p.dir, testPass, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	// Messages 1, 5, 9, ... expire and 2, 6, ... burn on read: 20 of 40
	// had keys, plus the attachment.
	if deleted != 21 {
		t.Errorf("deleted: got %d, want 21", deleted)
	}
	v, err = Open(p.dir, testPass, p.opts)
	if err != nil {
		t.Fatalf("Open after the repair: %v", err)
	}
	defer v.Close()
	for seq, body := range p.msgs {
		m, err := v.Message("c", seq)
		plain := (seq-1)%4 == 0 || (seq-1)%4 == 3
		switch {
		case plain && (err != nil || string(m.Body) != body):
			t.Errorf("message %d: got %q, %v, want %q", seq, m.Body, err, body)
		case !plain && !errors.Is(err, ErrNotFound):
			t.Errorf("message %d: got %v, want ErrNotFound", seq, err)
		}
	}
	if _, err := v.OpenAttachment(p.att); !errors.Is(err, ErrNotFound) {
		t.Errorf("attachment: got %v, want ErrNotFound", err)
	}
}
