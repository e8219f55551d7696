package vault

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestRoundTrips(t *testing.T) {
	v, dir := newVault(t)
	check := func(name string, got []byte, err error, want string) {
		t.Helper()
		if err != nil || string(got) != want {
			t.Errorf("%s: got %q, %v, want %q", name, got, err, want)
		}
	}
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
	must(v.PutContact(Contact{ID: "bob", Data: []byte("Bob")}))
	must(v.PutContact(Contact{ID: "alice", Data: []byte("Alice renamed")}))

	// In the future: a message past its expiry reads as gone.
	t0 := time.Date(2099, 1, 2, 3, 4, 5, 6, time.UTC)
	m1, err := v.AddMessage(Message{Conversation: "alice", ID: "id1", Time: t0, Body: []byte("hello")})
	must(err)
	m2, err := v.AddMessage(Message{Conversation: "alice", ID: "id2", Time: t0.Add(time.Second), Expires: t0.Add(time.Hour), Body: []byte("bye")})
	must(err)
	if m1.Seq != 1 || m2.Seq != 2 {
		t.Fatalf("seqs: got %d, %d, want 1, 2", m1.Seq, m2.Seq)
	}
	s1, err := v.PutOutbox(OutboxEntry{Contact: "alice", Data: []byte("env1")})
	must(err)
	s2, err := v.PutOutbox(OutboxEntry{Contact: "bob", Data: []byte("env2")})
	must(err)

	// Everything survives a close and reopen.
	v.Close()
	v, err = Open(dir, testPass, testOpts())
	must(err)
	defer v.Close()

	p, err := v.Profile()
	check("profile", p, err, "profile-1")
	s, err := v.Setting("theme")
	check("setting", s, err, "dark")
	id, err := v.Identity("main")
	check("identity", id, err, "ed25519-secret")
	se, err := v.Session("alice")
	check("session", se, err, "ratchet-a")
	c, err := v.Contact("alice")
	check("contact", c.Data, err, "Alice renamed")
	cs, err := v.Contacts()
	must(err)
	if len(cs) != 2 || cs[0].ID != "alice" || cs[1].ID != "bob" {
		t.Errorf("contacts: got %+v", cs)
	}
	got, err := v.Message("alice", 2)
	must(err)
	if got.ID != "id2" || !got.Time.Equal(t0.Add(time.Second)) || !got.Expires.Equal(t0.Add(time.Hour)) || string(got.Body) != "bye" {
		t.Errorf("message: got %+v", got)
	}
	ob, err := v.Outbox()
	must(err)
	if len(ob) != 2 || ob[0].Seq != s1 || ob[1].Seq != s2 || string(ob[1].Data) != "env2" || ob[0].Contact != "alice" {
		t.Errorf("outbox: got %+v", ob)
	}
	after, err := v.OutboxAfter(s1, 0)
	must(err)
	if len(after) != 1 || after[0].Seq != s2 {
		t.Errorf("outbox after %d: got %+v, want entry %d only", s1, after, s2)
	}
	if first, _ := v.OutboxAfter(0, 1); len(first) != 1 || first[0].Seq != s1 {
		t.Errorf("first outbox entry: got %+v, want %d", first, s1)
	}

	// Replace and delete.
	if _, err := v.PutOutbox(OutboxEntry{Seq: s1, Contact: "alice", Data: []byte("env1 retried")}); err != nil {
		t.Fatal(err)
	}
	must(v.DeleteOutbox(s2))
	ob, _ = v.Outbox()
	if len(ob) != 1 || string(ob[0].Data) != "env1 retried" {
		t.Errorf("outbox after replace/delete: got %+v", ob)
	}
	must(v.DeleteContact("bob"))
	must(v.DeleteSetting("theme"))
	must(v.DeleteIdentity("main"))
	must(v.DeleteSession("alice"))
	must(v.DeleteMessage("alice", 1))
	for name, err := range map[string]error{
		"contact":  second(v.Contact("bob")),
		"setting":  second(v.Setting("theme")),
		"identity": second(v.Identity("main")),
		"session":  second(v.Session("alice")),
		"message":  second(v.Message("alice", 1)),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s after delete: got %v, want ErrNotFound", name, err)
		}
	}
	if cs, _ := v.Contacts(); len(cs) != 1 {
		t.Errorf("contacts after delete: got %d, want 1", len(cs))
	}
	// A write in a read-only transaction fails.
	if err := v.View(func(t *Tx) error { return t.PutProfile(nil) }); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write in View: got %v, want ErrReadOnly", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestOneTransaction: an Update that fails leaves nothing behind.
func TestOneTransaction(t *testing.T) {
	v, _ := newVault(t)
	boom := errors.New("boom")
	err := v.Update(func(t *Tx) error {
		if err := t.PutSession("a", []byte("s")); err != nil {
			return err
		}
		if _, err := t.PutOutbox(OutboxEntry{Contact: "a"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := v.Session("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("session: got %v, want ErrNotFound", err)
	}
	if ob, _ := v.Outbox(); len(ob) != 0 {
		t.Errorf("outbox: got %d entries", len(ob))
	}
}

// fillConversation stores n messages, 10,000 per transaction.
func fillConversation(tb testing.TB, v *Vault, conv string, n int) {
	tb.Helper()
	for i := 0; i < n; {
		err := v.Update(func(t *Tx) error {
			for j := 0; j < 10000 && i < n; j, i = j+1, i+1 {
				if _, err := t.AddMessage(Message{Conversation: conv, Time: time.Unix(int64(i), 0), Body: fmt.Appendf(nil, "message %d", i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func TestPaging(t *testing.T) {
	n := 100000
	if testing.Short() {
		n = 10000
	}
	v, _ := newVault(t)
	fillConversation(t, v, "c", n)
	v.AddMessage(Message{Conversation: "other", Body: []byte("x")})
	page, err := v.Messages("c", 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 50 || page[0].Seq != uint64(n) || page[49].Seq != uint64(n-49) {
		t.Fatalf("newest page: got %d messages from %d", len(page), page[0].Seq)
	}
	if want := fmt.Sprintf("message %d", n-1); string(page[0].Body) != want {
		t.Errorf("newest body: got %q, want %q", page[0].Body, want)
	}
	// Walk back a few pages, and the last page is short.
	next, err := v.Messages("c", page[49].Seq, 50)
	if err != nil || len(next) != 50 || next[0].Seq != uint64(n-50) {
		t.Fatalf("second page: %d messages, %v", len(next), err)
	}
	last, err := v.Messages("c", 11, 50)
	if err != nil || len(last) != 10 || last[9].Seq != 1 {
		t.Fatalf("last page: %d messages, %v", len(last), err)
	}
	// Deleted messages are skipped.
	v.DeleteMessage("c", uint64(n-1))
	page, _ = v.Messages("c", 0, 3)
	if seqs := []uint64{page[0].Seq, page[1].Seq, page[2].Seq}; !slices.Equal(seqs, []uint64{uint64(n), uint64(n - 2), uint64(n - 3)}) {
		t.Errorf("page over a hole: got %v", seqs)
	}
}

func TestExpireDue(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	opts := testOpts()
	opts.Now = clock
	v, err := Create(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	add := func(conv string, exp time.Duration, body string) Message {
		m := Message{Conversation: conv, Time: now, Body: []byte(body)}
		if exp != 0 {
			m.Expires = now.Add(exp)
		}
		m, err := v.AddMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	add("a", time.Minute, "a1")
	add("a", 0, "a2 forever")
	add("b", time.Hour, "b1")
	add("a", 2*time.Minute, "a3")

	got, err := v.ExpireDue(now)
	if err != nil || len(got) != 0 {
		t.Fatalf("nothing due: got %d, %v", len(got), err)
	}
	got, err = v.ExpireDue(now.Add(2 * time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Body) != "a1" || string(got[1].Body) != "a3" {
		t.Fatalf("due at +2m: got %+v", got)
	}
	if _, err := v.Message("a", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired message still readable: %v", err)
	}
	page, _ := v.Messages("a", 0, 10)
	if len(page) != 1 || string(page[0].Body) != "a2 forever" {
		t.Errorf("conversation a after expiry: %+v", page)
	}
	// Added after the cache knew the earliest expiry: still found.
	add("c", 30*time.Second, "c1")
	got, _ = v.ExpireDue(now.Add(time.Minute))
	if len(got) != 1 || string(got[0].Body) != "c1" {
		t.Errorf("due at +1m: got %+v", got)
	}
	// Due while the vault was closed: found on the first call after Open.
	v.Close()
	v, err = Open(dir, testPass, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	got, _ = v.ExpireDue(now.Add(24 * time.Hour))
	if len(got) != 1 || string(got[0].Body) != "b1" {
		t.Errorf("due after reopen: got %+v", got)
	}
	if got, _ := v.ExpireDue(now.Add(48 * time.Hour)); len(got) != 0 {
		t.Errorf("expired twice: %+v", got)
	}
}

// TestNoPlaintextOnDisk scans the raw files for what was stored.
func TestNoPlaintextOnDisk(t *testing.T) {
	v, dir := newVault(t)
	secrets := []string{"Xylophone-Pseudonym", "alice-contact-id", "conversation-with-alice", "the meeting is at the docks", "identity-secret-bytes", "outbox-envelope-bytes", "session-ratchet-state", "setting-name-theme", "setting-value-dark"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(v.PutContact(Contact{ID: secrets[1], Data: []byte(secrets[0])}))
	for range 3 {
		_, err := v.AddMessage(Message{Conversation: secrets[2], ID: "msgid-xyz", Body: []byte(secrets[3]), Expires: time.Now().Add(time.Hour)})
		must(err)
	}
	must(v.PutIdentity("main", []byte(secrets[4])))
	_, err := v.PutOutbox(OutboxEntry{Contact: secrets[1], Data: []byte(secrets[5])})
	must(err)
	must(v.PutSession(secrets[1], []byte(secrets[6])))
	must(v.PutSetting(secrets[7], []byte(secrets[8])))
	must(v.PutProfile([]byte(secrets[0])))
	// Scan while open and after closing (bbolt's pages and freelist).
	scan := func() {
		t.Helper()
		for _, f := range []string{HeaderFile, DBFile} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range append(secrets, string(testPass), "msgid-xyz") {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s contains %q", f, s)
				}
			}
		}
	}
	scan()
	v.Close()
	scan()
}

// Pages around their boundaries: a conversation of pageSize-1, pageSize,
// pageSize+1 and 2*pageSize+1 messages pages back whole; deleting every
// message of the first page deletes its record and moves Low past it;
// deleting one in the middle of a page leaves the others.
func TestPageBoundaries(t *testing.T) {
	for _, n := range []int{1, pageSize - 1, pageSize, pageSize + 1, 2*pageSize + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			v, _ := newVault(t)
			fillConversation(t, v, "c", n)
			check := func(want []uint64) {
				t.Helper()
				page, err := v.Messages("c", 0, n+5)
				if err != nil {
					t.Fatal(err)
				}
				var got []uint64
				for _, m := range page {
					if string(m.Body) != fmt.Sprintf("message %d", m.Seq-1) {
						t.Errorf("message %d: body %q", m.Seq, m.Body)
					}
					got = append(got, m.Seq)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("seqs: got %v, want %v", got, want)
				}
			}
			var all []uint64
			for seq := uint64(n); seq >= 1; seq-- {
				all = append(all, seq)
			}
			check(all)
			if n > 2 {
				mid := uint64(n / 2)
				if err := v.DeleteMessage("c", mid); err != nil {
					t.Fatal(err)
				}
				all = slices.DeleteFunc(all, func(s uint64) bool { return s == mid })
				check(all)
			}
			for seq := uint64(1); seq <= min(uint64(n), pageSize); seq++ {
				if err := v.DeleteMessage("c", seq); err != nil {
					t.Fatal(err)
				}
			}
			all = slices.DeleteFunc(all, func(s uint64) bool { return s <= pageSize })
			check(all)
			v.View(func(tx *Tx) error {
				if tx.tx.Bucket(bucketRecords).Get(tx.pageKey("c", 0)) != nil {
					t.Error("first page's record left with no message in it")
				}
				s, err := tx.getSpan(tConversation, "c")
				if err != nil {
					t.Fatal(err)
				}
				wantLow := uint64(n) + 1
				if len(all) > 0 {
					wantLow = all[len(all)-1]
				}
				if s.Low != wantLow || s.Next != uint64(n)+1 {
					t.Errorf("range: got [%d, %d), want [%d, %d)", s.Low, s.Next, wantLow, n+1)
				}
				return nil
			})
			if last, err := v.LastSeq("c"); err != nil || last != uint64(n) {
				t.Errorf("LastSeq: %d, %v, want %d", last, err, n)
			}
		})
	}
}
