package vault

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/storage/keyslots"
)

// testClock is an injectable clock safe for the expiry goroutine.
type testClock struct{ n atomic.Int64 }

func newClock() *testClock {
	c := &testClock{}
	c.n.Store(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.n.Load()).UTC() }
func (c *testClock) Advance(d time.Duration) { c.n.Add(int64(d)) }

// shredded is what a test captures about an expiring message before it
// expires: its key slot, the key in it, and the sealed record in bbolt
// of the page holding it (the message sealed under that key, inside the
// page's own seal).
type shredded struct {
	slot   uint32
	key    []byte
	sealed []byte
}

func capture(t *testing.T, v *Vault, conv string, seq uint64) shredded {
	t.Helper()
	var s shredded
	err := v.View(func(tx *Tx) error {
		_, slot, err := tx.message(conv, seq)
		if err != nil {
			return err
		}
		if slot < 0 {
			t.Fatalf("%s/%d: not in a key slot", conv, seq)
		}
		s.slot = uint32(slot)
		no, _ := pageOf(seq)
		s.sealed = bytes.Clone(tx.tx.Bucket(bucketRecords).Get(tx.pageKey(conv, no)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.key, err = v.ks.Get(s.slot); err != nil {
		t.Fatal(err)
	}
	return s
}

// rawSlot reads a slot with package keyslots directly, as someone who
// knows the passphrase (hence the master key) could, with the vault
// closed.
func rawSlot(t *testing.T, dir string, master []byte, slot uint32) ([]byte, error) {
	t.Helper()
	km, err := keySlotsMaster(master)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := keyslots.Open(filepath.Join(dir, KeysFile), km)
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	return kf.Get(slot)
}

// profileFiles returns the raw bytes of every file of the profile,
// blobs included.
func profileFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("profile files: got %d, want vault.hdr, vault.db and vault.keys at least", len(files))
	}
	return files
}

func assertNowhere(t *testing.T, dir, what string, secret []byte) {
	t.Helper()
	for path, b := range profileFiles(t, dir) {
		if bytes.Contains(b, secret) {
			t.Errorf("%s: %s still in %s", dir, what, filepath.Base(path))
		}
	}
}

// assertGone checks every route to an expired message, with the
// passphrase known: Open, Message, Messages, the expiry index, and the
// key slot read with package keyslots.
func assertGone(t *testing.T, dir string, opts Options, conv string, seq uint64, s shredded) {
	t.Helper()
	assertNowhere(t, dir, "message key", s.key)
	v, err := Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	master := bytes.Clone(v.keys.master)
	if _, err := v.Message(conv, seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("Message(%s, %d) after expiry: got %v, want ErrNotFound", conv, seq, err)
	}
	page, err := v.Messages(conv, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page {
		if m.Seq == seq {
			t.Errorf("Messages(%s) after expiry lists seq %d", conv, seq)
		}
	}
	v.View(func(tx *Tx) error {
		if _, _, err := tx.message(conv, seq); !errors.Is(err, ErrNotFound) {
			t.Errorf("raw record of %s/%d after expiry: got %v, want ErrNotFound", conv, seq, err)
		}
		if _, pt, _ := tx.get(bucketExpiry, tExpiry, conv, seq); pt != nil {
			t.Errorf("expiry entry of %s/%d left", conv, seq)
		}
		return nil
	})
	for _, a := range v.ks.Allocated() {
		if a == s.slot {
			t.Errorf("slot %d still allocated", s.slot)
		}
	}
	v.Close()
	if k, err := rawSlot(t, dir, master, s.slot); !errors.Is(err, keyslots.ErrNoKey) {
		t.Errorf("raw slot %d after expiry: got %x, %v, want ErrNoKey", s.slot, k, err)
	}
}

func TestShredAtRunTime(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOpts()
	opts.Now = clock.Now
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	short, err := v.AddMessage(Message{Conversation: "c", Time: now, Expires: now.Add(time.Minute), Body: []byte("self-destructing body")})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := v.AddMessage(Message{Conversation: "c", Time: now, Expires: now.Add(time.Hour), Body: []byte("later")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddMessage(Message{Conversation: "c", Time: now, Body: []byte("forever")}); err != nil {
		t.Fatal(err)
	}
	s := capture(t, v, "c", short.Seq)
	master := bytes.Clone(v.keys.master)
	if got, err := v.Message("c", short.Seq); err != nil || string(got.Body) != "self-destructing body" {
		t.Fatalf("before expiry: got %q, %v", got.Body, err)
	}

	// Due but not yet expired: already unreadable through the API.
	clock.Advance(time.Minute)
	if _, err := v.Message("c", short.Seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("past expiry, before ExpireDue: got %v, want ErrNotFound", err)
	}
	got, err := v.ExpireDue(clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Seq != short.Seq || string(got[0].Body) != "self-destructing body" {
		t.Fatalf("ExpireDue: got %+v, want message %d", got, short.Seq)
	}
	if k, err := v.ks.Get(s.slot); !errors.Is(err, keyslots.ErrNoKey) {
		t.Errorf("slot after ExpireDue: got %x, %v, want ErrNoKey", k, err)
	}
	// The message that is not due is untouched.
	if m, err := v.Message("c", keep.Seq); err != nil || string(m.Body) != "later" {
		t.Errorf("message not due: got %q, %v", m.Body, err)
	}
	// Before Close and before any compaction, the key is in no file.
	assertNowhere(t, dir, "message key", s.key)
	v.Close()
	assertGone(t, dir, opts, "c", short.Seq, s)
	// The other slot still opens with the master key.
	if _, err := rawSlot(t, dir, master, capture2(t, dir, opts, "c", keep.Seq).slot); err != nil {
		t.Errorf("slot of the message not due: %v", err)
	}
}

// capture2 opens the vault and captures a message.
func capture2(t *testing.T, dir string, opts Options, conv string, seq uint64) shredded {
	t.Helper()
	v, err := Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	return capture(t, v, conv, seq)
}

func TestShredOnOpen(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOpts()
	opts.Now = clock.Now
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(time.Hour), Body: []byte("gone by next week")})
	if err != nil {
		t.Fatal(err)
	}
	s := capture(t, v, "c", m.Seq)
	v.Close()

	clock.Advance(7 * 24 * time.Hour) // a week offline
	// Open alone expires it, before anything is read.
	v, err = Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	assertGone(t, dir, opts, "c", m.Seq, s)
}

func TestBurn(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOpts()
	opts.Now = clock.Now
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.AddMessage(Message{Conversation: "c", BurnOnRead: true, Body: []byte("read once")})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := v.AddMessage(Message{Conversation: "c", Body: []byte("plain")})
	s := capture(t, v, "c", m.Seq)
	clock.Advance(365 * 24 * time.Hour)
	if got, _ := v.ExpireDue(clock.Now()); len(got) != 0 {
		t.Fatalf("burn-on-read expired by time: %+v", got)
	}
	got, err := v.Message("c", m.Seq)
	if err != nil || !got.BurnOnRead || string(got.Body) != "read once" {
		t.Fatalf("before Burn: got %+v, %v", got, err)
	}
	burnt, err := v.Burn("c", m.Seq)
	if err != nil || len(burnt) != 1 || burnt[0].Seq != m.Seq {
		t.Fatalf("Burn: got %+v, %v", burnt, err)
	}
	if _, err := v.Burn("c", m.Seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Burn: got %v, want ErrNotFound", err)
	}
	if _, err := v.Burn("c", plain.Seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("Burn of a message that cannot expire: got %v, want ErrNotFound", err)
	}
	v.Close()
	assertGone(t, dir, opts, "c", m.Seq, s)
}

func TestExpiryTimer(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOpts()
	opts.Now = clock.Now
	opts.ExpiryInterval = time.Minute
	tick := make(chan time.Time)
	stopped := make(chan struct{})
	opts.Ticker = func(d time.Duration) (<-chan time.Time, func()) {
		if d != time.Minute {
			t.Errorf("ticker interval: got %v, want 1m", d)
		}
		return tick, func() { close(stopped) }
	}
	expired := make(chan []Message, 1)
	opts.OnExpire = func(ms []Message, err error) {
		if err != nil {
			t.Errorf("timed expiry: %v", err)
		}
		expired <- ms
	}
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(30 * time.Second), Body: []byte("tick tock")})
	if err != nil {
		t.Fatal(err)
	}
	s := capture(t, v, "c", m.Seq)
	clock.Advance(time.Minute)
	tick <- clock.Now()
	select {
	case ms := <-expired:
		if len(ms) != 1 || ms[0].Seq != m.Seq {
			t.Errorf("timer expired %+v, want message %d", ms, m.Seq)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("timer did not expire the message")
	}
	assertNowhere(t, dir, "message key", s.key)
	v.Lock()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Lock did not stop the expiry timer")
	}
	assertGone(t, dir, testOptsAt(clock), "c", m.Seq, s)
}

func testOptsAt(c *testClock) Options {
	o := testOpts()
	o.Now = c.Now
	return o
}

// A crash after Alloc but before the commit leaves a key no record
// names; a crash after the slots were destroyed but before the records'
// deletion committed leaves records naming no key. Open cleans up both.
func TestOpenReconciles(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOptsAt(clock)
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, orphanKey, err := v.ks.Alloc() // as if the commit never happened
	if err != nil {
		t.Fatal(err)
	}
	// Due by the time of the next Open: ExpireDue destroys only the
	// slots of due messages (a slot gone under a message not yet due is a
	// damaged vault.keys: TestKeysFileFaults).
	m, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(time.Minute), Body: []byte("dangling")})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(time.Hour), Body: []byte("kept")})
	if err != nil {
		t.Fatal(err)
	}
	s := capture(t, v, "c", m.Seq)
	if err := v.ks.Destroy(s.slot); err != nil { // as if the commit failed
		t.Fatal(err)
	}
	if _, err := v.Message("c", m.Seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("record whose slot is gone: got %v, want ErrNotFound", err)
	}
	v.Close()
	clock.Advance(2 * time.Minute)

	v, err = Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.ks.Allocated(); len(got) != 1 {
		t.Errorf("allocated after Open: got %v, want only the kept message's slot", got)
	}
	if m, err := v.Message("c", kept.Seq); err != nil || string(m.Body) != "kept" {
		t.Errorf("kept message: got %q, %v", m.Body, err)
	}
	v.Close()
	assertNowhere(t, dir, "orphan key", orphanKey)
	assertGone(t, dir, opts, "c", m.Seq, s)
}

// A transaction that allocated a slot and then failed destroys it again.
func TestRollbackFreesSlot(t *testing.T) {
	v, _ := newVault(t)
	boom := errors.New("boom")
	err := v.Update(func(tx *Tx) error {
		if _, err := tx.AddMessage(Message{Conversation: "c", BurnOnRead: true, Body: []byte("x")}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: got %v, want boom", err)
	}
	if got := v.ks.Allocated(); len(got) != 0 {
		t.Errorf("allocated after rollback: got %v, want none", got)
	}
}

func rawDB(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCompactRemovesCiphertext(t *testing.T) {
	for _, auto := range []bool{false, true} {
		name := map[bool]string{false: "on request", true: "CompactEvery"}[auto]
		t.Run(name, func(t *testing.T) {
			clock := newClock()
			dir := t.TempDir()
			opts := testOptsAt(clock)
			if auto {
				opts.CompactEvery = 2
			}
			v, err := Create(dir, testPass, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			var seqs []uint64
			for i := range 2 {
				m, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(time.Duration(i+1) * time.Minute), Body: bytes.Repeat([]byte("x"), 500)})
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, m.Seq)
			}
			// Both messages are in one page, rewritten as the second was
			// added: capture it then.
			var caps []shredded
			for _, seq := range seqs {
				caps = append(caps, capture(t, v, "c", seq))
			}
			for i := range 200 {
				if _, err := v.AddMessage(Message{Conversation: "d", Body: []byte{byte(i)}}); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range caps {
				if !bytes.Contains(rawDB(t, dir), c.sealed) {
					t.Fatal("sealed record not found in vault.db before expiry: the scan would prove nothing")
				}
			}
			clock.Advance(time.Minute)
			if _, err := v.ExpireDue(clock.Now()); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			if _, err := v.ExpireDue(clock.Now()); err != nil {
				t.Fatal(err)
			}
			if !auto {
				if err := v.Compact(); err != nil {
					t.Fatal(err)
				}
			}
			raw := rawDB(t, dir)
			for i, c := range caps {
				if bytes.Contains(raw, c.sealed) {
					t.Errorf("message %d: sealed ciphertext still in vault.db after Compact", i)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, DBFile+compactSuffix)); err == nil {
				t.Error("temporary compaction file left")
			}
			// The vault works on after compaction, and reopens.
			if page, err := v.Messages("d", 0, 300); err != nil || len(page) != 200 {
				t.Errorf("after Compact: %d messages, %v", len(page), err)
			}
			if _, err := v.AddMessage(Message{Conversation: "d", Body: []byte("after")}); err != nil {
				t.Fatal(err)
			}
			v.Close()
			v, err = Open(dir, testPass, opts)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := v.LastSeq("d"); n != 201 {
				t.Errorf("after reopen: last seq %d, want 201", n)
			}
		})
	}
}

func TestAttachments(t *testing.T) {
	v, dir := newVault(t)
	content := bytes.Repeat([]byte("the plans for the harbour, page 1. "), 10000) // ~350 KiB, several chunks
	id, err := v.PutAttachment(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	empty, err := v.PutAttachment(bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	a, err := v.OpenAttachment(id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(a)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("read back: %d bytes, %v, want %d bytes", len(got), err, len(content))
	}
	buf := make([]byte, 100)
	if _, err := a.ReadAt(buf, 70000); err != nil || !bytes.Equal(buf, content[70000:70100]) {
		t.Errorf("ReadAt across a chunk: %q, %v", buf, err)
	}
	if _, err := a.Seek(-10, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if tail, _ := io.ReadAll(a); !bytes.Equal(tail, content[len(content)-10:]) {
		t.Errorf("after Seek: got %q", tail)
	}
	a.Close()
	if e, err := v.OpenAttachment(empty); err != nil || e.Size() != 0 {
		t.Errorf("empty attachment: %v", err)
	} else {
		e.Close()
	}

	// Nothing of the content is on disk in the clear.
	v.Close()
	for _, s := range [][]byte{[]byte("the plans for the harbour"), []byte("harbour"), content[:64]} {
		assertNowhere(t, dir, "attachment content", s)
	}
	v, err = Open(dir, testPass, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.DeleteAttachment(id); err != nil {
		t.Fatal(err)
	}
	if _, err := v.OpenAttachment(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted attachment: got %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(dir, BlobDir, string(id))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("blob of deleted attachment: %v", err)
	}
	for _, bad := range []AttachmentID{"", "../vault.hdr", "0123456789ABCDEF0123456789abcdef", AttachmentID(bytes.Repeat([]byte("g"), 32))} {
		if _, err := v.OpenAttachment(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenAttachment(%q): got %v, want ErrNotFound", bad, err)
		}
	}
}

// An expiring message shares its page with messages that do not expire.
// Every copy of that page in vault.db, freed pages included, opened with
// the passphrase's keys, holds the message only sealed under its own
// key, never in the clear; after expiry the live page no longer has it.
func TestShredSharedPage(t *testing.T) {
	clock := newClock()
	dir := t.TempDir()
	opts := testOptsAt(clock)
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	master := bytes.Clone(v.keys.master)
	secret := []byte("the meeting moved to the north gate")
	if _, err := v.AddMessage(Message{Conversation: "c", Body: []byte("stays one")}); err != nil {
		t.Fatal(err)
	}
	m, err := v.AddMessage(Message{Conversation: "c", Expires: clock.Now().Add(time.Minute), Body: secret})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.AddMessage(Message{Conversation: "c", Body: []byte("stays two")}); err != nil {
		t.Fatal(err)
	}
	s := capture(t, v, "c", m.Seq)
	var pk []byte
	v.View(func(tx *Tx) error { pk = bytes.Clone(tx.pageKey("c", 0)); return nil })
	n := len(s.sealed) - recordOverhead
	copies := func() [][]byte { return sealedCopies(rawDB(t, dir), master, pk, n) }
	if len(copies()) == 0 {
		t.Fatal("page not found in vault.db: the scan would prove nothing")
	}
	clock.Advance(time.Minute)
	if _, err := v.ExpireDue(clock.Now()); err != nil {
		t.Fatal(err)
	}
	for i, pt := range copies() {
		ents, err := decodePage(nil, pt)
		if err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		_, idx := pageOf(m.Seq)
		if e := ents[idx]; e.keySlot() != int64(s.slot) {
			t.Errorf("copy %d: entry of the expiring message is %d, want sealed under slot %d", i, e.Slot, s.slot)
		}
		if bytes.Contains(pt, secret) {
			t.Errorf("copy %d: message in the clear inside the page", i)
		}
	}
	page, err := v.Messages("c", 0, 10)
	if err != nil || len(page) != 2 || string(page[0].Body) != "stays two" || string(page[1].Body) != "stays one" {
		t.Errorf("after expiry: %+v, %v", page, err)
	}
	v.View(func(tx *Tx) error {
		if e, err := tx.entry("c", m.Seq); err != nil || e.present() {
			t.Errorf("live page still has the expired message: %v", err)
		}
		return nil
	})
	assertNowhere(t, dir, "message key", s.key)
	assertNowhere(t, dir, "message", secret)
}
