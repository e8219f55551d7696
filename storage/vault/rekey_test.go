package vault

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/storage/keyslots"
	bolt "go.etcd.io/bbolt"
)

var newPass = []byte("a new passphrase, long enough")

// oldSecrets are what whoever kept the old vault.hdr learns with the old
// passphrase: the master key and what derives from it.
func oldSecrets(t *testing.T, hdr []byte, pass []byte) *keys {
	t.Helper()
	h, err := decodeHeader(hdr)
	if err != nil {
		t.Fatal(err)
	}
	master, err := unwrapKey(h, pass)
	if err != nil {
		t.Fatal(err)
	}
	k, err := newKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// assertOldKeysOpenNothing checks the current files of dir against the
// old secrets: the old vault.hdr and passphrase do not open the vault, no
// record of vault.db opens under the old sealing key or sits at a key the
// old record keys name, and vault.keys refuses the old key.
func assertOldKeysOpenNothing(t *testing.T, dir string, oldHdr []byte, old *keys, oldDBKeys map[string]bool, opts Options) {
	t.Helper()
	cur, err := os.ReadFile(filepath.Join(dir, HeaderFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, HeaderFile), oldHdr, 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := Open(dir, testPass, opts); err == nil {
		v.Close()
		t.Error("the old vault.hdr and passphrase opened the re-keyed vault")
	} else if !errors.Is(err, ErrDamaged) {
		t.Errorf("old header: got %v, want ErrDamaged", err)
	}
	if err := os.WriteFile(filepath.Join(dir, HeaderFile), cur, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if len(k) != recordKeySize {
					return nil
				}
				n++
				if _, err := openRecord(old.seal, name, k, v); err == nil {
					t.Errorf("a record in %q opens under the old sealing key", name)
				}
				if oldDBKeys[string(k)] {
					t.Errorf("a record in %q is at a key it had before the re-key", name)
				}
				return nil
			})
		})
	})
	if n < 10 {
		t.Fatalf("only %d records checked", n)
	}
	km, _ := keySlotsMaster(old.master)
	if kf, err := keyslots.Open(filepath.Join(dir, KeysFile), km); !errors.Is(err, keyslots.ErrWrongMaster) {
		if kf != nil {
			kf.Close()
		}
		t.Errorf("vault.keys under the old key: got %v, want ErrWrongMaster", err)
	}
}

func dbKeys(t *testing.T, dir string) map[string]bool {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := map[string]bool{}
	db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, _ []byte) error { m[string(k)] = true; return nil })
		})
	})
	return m
}

// TestRekey: after Rekey, the old vault.hdr with the old passphrase
// opens nothing of the vault (with ChangePassphrase it opens all of it:
// the subtest "quick change" shows the difference), and every message,
// the attachment and expiry still work under the new passphrase, also
// after a second re-key.
func TestRekey(t *testing.T) {
	t.Run("quick change keeps the master key", func(t *testing.T) {
		p := makeProfile(t, newClock())
		oldHdr, _ := os.ReadFile(filepath.Join(p.dir, HeaderFile))
		v, err := Open(p.dir, testPass, p.opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.ChangePassphrase(testPass, newPass); err != nil {
			t.Fatal(err)
		}
		v.Close()
		os.WriteFile(filepath.Join(p.dir, HeaderFile), oldHdr, 0o600)
		// What Rekey exists to prevent: the old header still opens it.
		p.checkAll(t)
	})

	clock := newClock()
	p := makeProfile(t, clock)
	oldHdr, _ := os.ReadFile(filepath.Join(p.dir, HeaderFile))
	old := oldSecrets(t, oldHdr, testPass)
	oldDBKeys := dbKeys(t, p.dir)
	v, err := Open(p.dir, testPass, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Rekey([]byte("wrong"), newPass); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong old passphrase: got %v", err)
	}
	if err := v.Rekey(testPass, newPass); err != nil {
		t.Fatal(err)
	}
	// Still unlocked, under the new key.
	if m, err := v.Message("c", 1); err != nil || string(m.Body) != p.msgs[1] {
		t.Errorf("after Rekey, open vault: got %q, %v", m.Body, err)
	}
	added, err := v.AddMessage(Message{Conversation: "c", Time: clock.Now(), Expires: clock.Now().Add(time.Minute), Body: []byte("after the re-key")})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	if _, err := os.Lstat(filepath.Join(p.dir, rekeyDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", rekeyDir, err)
	}
	assertOldKeysOpenNothing(t, p.dir, oldHdr, old, oldDBKeys, p.opts)
	if _, err := Open(p.dir, testPass, p.opts); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("old passphrase: got %v, want ErrWrongPassphrase", err)
	}

	p2 := *p
	p2.msgs = map[uint64]string{added.Seq: "after the re-key"}
	for k, b := range p.msgs {
		p2.msgs[k] = b
	}
	testPassSaved := testPass
	testPass = newPass
	defer func() { testPass = testPassSaved }()
	p2.checkAll(t)

	// A second re-key moves keys from one permutation to the next.
	hdr2, _ := os.ReadFile(filepath.Join(p.dir, HeaderFile))
	old2 := oldSecrets(t, hdr2, newPass)
	keys2 := dbKeys(t, p.dir)
	v, err = Open(p.dir, newPass, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Rekey(newPass, newPass); err != nil {
		t.Fatal(err)
	}
	v.Close()
	p2.checkAll(t)
	assertOldKeysOpenNothing(t, p.dir, hdr2, old2, keys2, p.opts)

	// Expiry still destroys keys and records.
	clock.Advance(2 * time.Minute)
	v, err = Open(p.dir, newPass, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Message("c", added.Seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired after the re-key: got %v, want ErrNotFound", err)
	}
	a, err := v.OpenAttachment(p.att)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(a)
	a.Close()
	if string(b) != "attached bytes" {
		t.Errorf("attachment: got %q", b)
	}
}

// TestRekeyCrash stops Rekey at each point where a crash could stop it:
// before the new set is complete the old passphrase opens the old vault,
// after it the new one opens the new vault; nothing is lost either way.
func TestRekeyCrash(t *testing.T) {
	crash := errors.New("crash")
	for _, point := range []string{"staged", "complete", "moved vault.keys", "moved vault.db", "moved vault.hdr"} {
		t.Run(point, func(t *testing.T) {
			p := makeProfile(t, newClock())
			v, err := Open(p.dir, testPass, p.opts)
			if err != nil {
				t.Fatal(err)
			}
			rekeyHook = func(at string) error {
				if at == point {
					return crash
				}
				return nil
			}
			err = v.Rekey(testPass, newPass)
			rekeyHook = nil
			v.Close()
			if !errors.Is(err, crash) {
				t.Fatalf("Rekey: got %v, want the crash", err)
			}
			pass, wrong := newPass, testPass
			if point == "staged" {
				pass, wrong = testPass, newPass
			}
			if v, err := Open(p.dir, wrong, p.opts); !errors.Is(err, ErrWrongPassphrase) {
				if err == nil {
					v.Close()
				}
				t.Errorf("Open with the other passphrase: got %v, want ErrWrongPassphrase", err)
			}
			saved := testPass
			testPass = pass
			defer func() { testPass = saved }()
			p.checkAll(t)
			if _, err := os.Lstat(filepath.Join(p.dir, rekeyDir)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left behind: %v", rekeyDir, err)
			}
		})
	}
}

// TestRekeyConcurrent re-keys while other goroutines store expiring
// messages and attachments: nothing stored before or after is lost.
func TestRekeyConcurrent(t *testing.T) {
	clock := newClock()
	p := makeProfile(t, clock)
	v, err := Open(p.dir, testPass, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	type stored struct {
		seq  uint64
		body string
		att  AttachmentID
	}
	results := make(chan []stored, 2)
	errs := make(chan error, 2)
	for g := range 2 {
		go func() {
			var out []stored
			for i := range 30 {
				body := fmt.Sprintf("g%d m%d", g, i)
				id, err := v.PutAttachment(strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				m, err := v.AddMessage(Message{Conversation: "c", Time: clock.Now(), Expires: clock.Now().Add(time.Hour), Body: []byte(body), Attachments: []AttachmentID{id}})
				if err != nil {
					errs <- err
					return
				}
				out = append(out, stored{m.Seq, body, id})
			}
			results <- out
		}()
	}
	if err := v.Rekey(testPass, newPass); err != nil {
		t.Fatal(err)
	}
	var all []stored
	for range 2 {
		select {
		case err := <-errs:
			t.Fatal(err)
		case r := <-results:
			all = append(all, r...)
		}
	}
	v.Close()
	v, err = Open(p.dir, newPass, p.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, s := range all {
		m, err := v.Message("c", s.seq)
		if err != nil || string(m.Body) != s.body {
			t.Errorf("message %d: got %q, %v, want %q", s.seq, m.Body, err, s.body)
		}
		a, err := v.OpenAttachment(s.att)
		if err != nil {
			t.Errorf("attachment of %q: %v", s.body, err)
			continue
		}
		b, _ := io.ReadAll(a)
		a.Close()
		if string(b) != s.body {
			t.Errorf("attachment: got %q, want %q", b, s.body)
		}
	}
}
