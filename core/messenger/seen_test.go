package messenger

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// testClock is a clock tests move by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func createWithClock(t *testing.T, name, relay string, clock *testClock) (*Messenger, string) {
	t.Helper()
	dir := t.TempDir() + "/" + name
	cfg := testConfig(dir, name, relay)
	cfg.Now = clock.now
	m, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, dir
}

// setting reads one of m's settings (nil if absent).
func setting(t *testing.T, m *Messenger, name string) []byte {
	t.Helper()
	b, err := m.v.Setting(name)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A contact cannot grow the vault with preview claims for messages that
// never come, and what was received is remembered only for a stated time
// (issue 16 item 14).
func TestHeldClaimsAndSeenRecordsAreBounded(t *testing.T) {
	clock := newTestClock()
	relay := startRelay(t)
	alice, _ := createWithClock(t, "Alice", relay, clock)
	bob, bobDir := createWithClock(t, "Bob", relay, clock)
	meet(t, alice, bob)
	aliceAtBob, err := bob.FindContact("Alice")
	if err != nil {
		t.Fatal(err)
	}
	bobAtAlice, err := alice.findContact("Bob")
	if err != nil {
		t.Fatal(err)
	}

	// 100 claims for messages that never come.
	const claims = 100
	mids := make([]string, claims)
	err = alice.submit(&job{run: func(tx *vault.Tx) error {
		for i := range mids {
			var id [16]byte
			rand.Read(id[:])
			mids[i] = hex.EncodeToString(id[:])
			data := mustJSON(previewClaim{Message: mids[i], Preview: Preview{URL: "https://example.org/", Title: "x"}})
			if _, err := alice.queueWith(tx, bobAtAlice, nil, &message.Control{Type: ctlPreview, Data: data}, message.Expiry{}, nil); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	alice.wakeOutbox()
	syncAll(t, alice, bob)
	kept := 0
	for i, mid := range mids {
		if setting(t, bob, setHeldClaims+aliceAtBob.ID+"/"+mid) != nil {
			kept++
			if i < claims-maxHeldMessages {
				t.Errorf("claim %d of %d still held", i, claims)
			}
		}
	}
	if kept != maxHeldMessages {
		t.Errorf("held claims: got %d, want %d (the newest)", kept, maxHeldMessages)
	}

	// Texts leave seen records for their envelopes and ids.
	for range 3 {
		if _, err := alice.SendText(t.Context(), "Bob", "hello", SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	syncAll(t, alice, bob)
	es, err := decodeSeen(setting(t, bob, setSeenMsg+aliceAtBob.ID))
	if err != nil || len(es) < 3 {
		t.Fatalf("Bob's seen message ids from Alice: %d, %v; want at least 3", len(es), err)
	}
	if setting(t, bob, setSeenEnv+aliceAtBob.ID) == nil {
		t.Fatal("Bob remembers no envelope from Alice")
	}

	// A day later the claims are gone, at run time.
	clock.advance(heldClaimTTL + time.Minute)
	if err := bob.ExpireNow(); err != nil {
		t.Fatal(err)
	}
	for i, mid := range mids {
		if setting(t, bob, setHeldClaims+aliceAtBob.ID+"/"+mid) != nil {
			t.Errorf("claim %d held after %v", i, heldClaimTTL)
		}
	}
	if setting(t, bob, setHeldIndex+aliceAtBob.ID) != nil {
		t.Error("held-claims index kept after every claim expired")
	}
	if setting(t, bob, setSeenMsg+aliceAtBob.ID) == nil {
		t.Error("seen ids dropped before their time")
	}

	// A month later, the seen records go at start-up.
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	clock.advance(seenTTL)
	cfg := testConfig(bobDir, "", "")
	cfg.Now = clock.now
	bob2, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob2.Close() })
	for _, name := range []string{setSeenMsg + aliceAtBob.ID, setSeenEnv + aliceAtBob.ID} {
		if b := setting(t, bob2, name); b != nil {
			t.Errorf("%s: %d bytes kept after %v", name[:7], len(b), seenTTL)
		}
	}
	// And the conversation goes on.
	if _, err := alice.SendText(t.Context(), "Bob", "a month later", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob2)
	if got := lastText(t, bob2, "Alice"); got.Text != "a month later" {
		t.Errorf("Bob got %q, want %q", got.Text, "a month later")
	}
}

// A seen set keeps the newest maxSeen entries, none older than seenTTL.
func TestSeenSetBounds(t *testing.T) {
	now := time.Now()
	var es []seenEntry
	for i := range maxSeen + 100 {
		var e seenEntry
		e.key[0], e.key[1] = byte(i>>8), byte(i)
		e.unix = now.Add(time.Duration(i-maxSeen-100) * time.Second).Unix()
		es = append(es, e)
	}
	b := encodeSeen(es[len(es)-maxSeen:])
	if got, err := decodeSeen(b); err != nil || len(got) != maxSeen {
		t.Fatalf("decode: %d, %v", len(got), err)
	}
	if _, err := decodeSeen(encodeSeen(es)); err == nil {
		t.Error("a set over maxSeen decodes")
	}
	if _, err := decodeSeen(b[:len(b)-1]); err == nil {
		t.Error("a truncated set decodes")
	}
	expired := []seenEntry{{unix: now.Add(-seenTTL - time.Second).Unix()}, {key: [16]byte{1}, unix: now.Unix()}}
	dir := t.TempDir()
	v, err := vault.Create(dir, testPass, vault.Options{InsecureTestKDF: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	err = v.Update(func(tx *vault.Tx) error {
		if err := writeSeen(tx, "s1", es, now); err != nil {
			return err
		}
		return writeSeen(tx, "s2", expired, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"s1": maxSeen, "s2": 1} {
		b, err := v.Setting(name)
		got, derr := decodeSeen(b)
		if err != nil || derr != nil || len(got) != want {
			t.Errorf("%s: %d entries (%v, %v), want %d", name, len(got), err, derr, want)
		}
		if name == "s1" && got[0].key != es[100].key {
			t.Errorf("s1 kept %x first, want the newest %d", got[0].key[:2], maxSeen)
		}
	}
}
