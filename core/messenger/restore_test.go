package messenger

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Restoring a backup renews every session before anything is sent: no
// message encrypted after the restore shares a keystream with one sent
// after the backup was made (issue 16 item 7), and the conversation goes
// on both ways, what the contact sent in the old session included.
func TestRestoreRenewsSessions(t *testing.T) {
	type sealed struct{ pt, ct []byte }
	var mu sync.Mutex
	var aliceSent []sealed
	testHookEncrypted = func(m *Messenger, contact string, pt, ct []byte) {
		if m.Pseudonym() != "Alice" {
			return
		}
		mu.Lock()
		aliceSent = append(aliceSent, sealed{bytes.Clone(pt), bytes.Clone(ct)})
		mu.Unlock()
	}
	t.Cleanup(func() { testHookEncrypted = nil })

	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, bobDir := create(t, "Bob", relay)
	meet(t, alice, bob)
	// Bob is away while Alice makes the backup and writes on: her
	// sending chain goes on from the state the backup holds, and his
	// answers come in a chain the backup's state can still read.
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(t.Context(), "Bob", "before the backup", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice)
	backup := filepath.Join(t.TempDir(), "alice.backup")
	if err := alice.ExportBackup(backup, []byte("backup pass")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := alice.SendText(t.Context(), "Bob", fmt.Sprintf("after the backup %d", i), SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	syncAll(t, alice)
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	// Bob comes back, reads, and writes while Alice is away, in the
	// session the backup holds an older state of.
	bob, err := Open(testConfig(bobDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob.Close() })
	have4 := func() bool { return contains(texts(t, bob, "Alice"), "after the backup 2") }
	if !syncFor(t, time.Minute, have4, bob) {
		t.Fatalf("Bob's conversation before the restore: %q", texts(t, bob, "Alice"))
	}
	if _, err := bob.SendText(t.Context(), "Alice", "while Alice was away", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)

	newDir := filepath.Join(t.TempDir(), "restored")
	if err := ImportBackup(backup, []byte("backup pass"), newDir, true); err != nil {
		t.Fatal(err)
	}
	alice2, err := Open(testConfig(newDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice2.Close() })

	// Alice sends as soon as the renewed session lets her.
	n := 0
	sentAll := func() bool {
		for n < 3 {
			_, err := alice2.SendText(t.Context(), "Bob", fmt.Sprintf("after the restore %d", n), SendOptions{})
			if errors.Is(err, ErrResetPending) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return true
	}
	if !syncFor(t, 2*time.Minute, sentAll, alice2, bob) {
		t.Fatal("the restored profile never renewed its session with Bob")
	}
	// No two of Alice's ratchet messages share a keystream: the body's
	// ciphertext XOR its plaintext differs in the first 32 bytes.
	mu.Lock()
	all := append([]sealed(nil), aliceSent...)
	mu.Unlock()
	if len(all) < 8 {
		t.Fatalf("saw %d of Alice's ratchet messages, want at least 8", len(all))
	}
	keystream := func(s sealed) []byte {
		body := s.ct[len(s.ct)-len(s.pt)-16 : len(s.ct)-16]
		ks := make([]byte, 32)
		for i := range ks {
			ks[i] = body[i] ^ s.pt[i]
		}
		return ks
	}
	seen := map[string]int{}
	for i, s := range all {
		ks := string(keystream(s))
		if j, ok := seen[ks]; ok {
			t.Errorf("Alice's ratchet messages %d and %d share a keystream", j, i)
		}
		seen[ks] = i
	}

	received := func() bool {
		// Sends run concurrently: the three may arrive in any order.
		got := texts(t, bob, "Alice")
		return contains(got, "after the restore 0") && contains(got, "after the restore 1") && contains(got, "after the restore 2")
	}
	if !syncFor(t, 2*time.Minute, received, alice2, bob) {
		t.Fatalf("Bob's conversation after the restore: %q", texts(t, bob, "Alice"))
	}
	got := texts(t, bob, "Alice")
	for i := range 3 {
		if !contains(got, fmt.Sprintf("after the restore %d", i)) {
			t.Errorf("Bob lacks text %d sent after the restore: %q", i, got)
		}
	}
	if !contains(got, "The secure session was reset") {
		t.Errorf("Bob was not told of the session reset: %q", got)
	}
	away := func() bool { return contains(texts(t, alice2, "Bob"), "while Alice was away") }
	if !syncFor(t, time.Minute, away, alice2) {
		t.Errorf("the restored Alice lacks what Bob sent in the old session: %q", texts(t, alice2, "Bob"))
	}
	// And Bob's next text arrives in the new session.
	if _, err := bob.SendText(t.Context(), "Alice", "in the new session", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	inNew := func() bool { return contains(texts(t, alice2, "Bob"), "in the new session") }
	if !syncFor(t, time.Minute, inNew, bob, alice2) {
		t.Errorf("the restored Alice lacks Bob's text in the new session: %q", texts(t, alice2, "Bob"))
	}

}
