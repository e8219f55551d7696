package messenger

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// storedSession returns a copy of m's stored session with contact id.
func storedSession(t *testing.T, m *Messenger, id string) []byte {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var b []byte
	err := m.v.View(func(tx *vault.Tx) error {
		s, err := tx.Session(id)
		b = bytes.Clone(s)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sealIn encrypts pt for m's mailbox for its contact in the session
// state st (a copy the contact's side once held), as the contact would.
func sealIn(t *testing.T, st []byte, m *Messenger, name string, pt string) []byte {
	t.Helper()
	c, err := m.findContact(name)
	if err != nil {
		t.Fatal(err)
	}
	s := new(session.Session)
	if err := s.UnmarshalBinary(st); err != nil {
		t.Fatal(err)
	}
	ct, err := s.Encrypt([]byte(pt), messageAD(roleContact, c.Mine.ID))
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// opensAt reports whether m would read ct from its contact now, without
// keeping any change to the session.
func opensAt(t *testing.T, m *Messenger, name string, ct []byte) error {
	t.Helper()
	c, err := m.findContact(name)
	if err != nil {
		t.Fatal(err)
	}
	s := new(session.Session)
	if err := s.UnmarshalBinary(storedSession(t, m, c.ID)); err != nil {
		t.Fatal(err)
	}
	_, err = m.decryptFrom(c, s, ct, messageAD(roleContact, c.Mine.ID))
	return err
}

// A reset the user asks for shuts out the old session at once: whoever
// holds its state (a device compromised before the reset, a stolen
// backup) can no longer write as the contact.
func TestResetSessionRefusesOldSession(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	_, bA := meet(t, alice, bob)
	old := storedSession(t, bob, bA.ID)
	if err := opensAt(t, alice, "Bob", sealIn(t, old, alice, "Bob", "forged")); err != nil {
		t.Fatalf("before the reset, the old session does not open: %v", err)
	}
	if err := alice.ResetSession(t.Context(), "Bob"); err != nil {
		t.Fatal(err)
	}
	if err := opensAt(t, alice, "Bob", sealIn(t, old, alice, "Bob", "forged")); err == nil {
		t.Fatal("after ResetSession, a message in the old session still opens")
	}
}

// After a restore, the renewed session still reads the old one for what
// the contact sent before learning of it, but only until the first
// message of the new session, and at most keepPreviousFor.
func TestRestoreKeepsPreviousSessionBounded(t *testing.T) {
	relay := startRelay(t)
	clock := &fakeClock{t: time.Now()}
	alice, _ := createWith(t, "Alice", relay, clock)
	bob, _ := createWith(t, "Bob", relay, clock)
	_, bA := meet(t, alice, bob)
	backup := filepath.Join(t.TempDir(), "alice.backup")
	if err := alice.ExportBackup(backup, []byte("backup pass")); err != nil {
		t.Fatal(err)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	old := storedSession(t, bob, bA.ID)
	newDir := filepath.Join(t.TempDir(), "restored")
	if err := ImportBackup(backup, []byte("backup pass"), newDir, true); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(newDir, "", "")
	cfg.Now = clock.Now
	cfg.ExpiryInterval = time.Hour
	alice2, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice2.Close() })
	renewed := func() bool {
		c, err := alice2.findContact("Bob")
		return err == nil && c.ResetPending == 0
	}
	if !syncFor(t, 2*time.Minute, renewed, alice2) {
		t.Fatal("the restored profile never renewed its session with Bob")
	}
	if err := opensAt(t, alice2, "Bob", sealIn(t, old, alice2, "Bob", "in flight")); err != nil {
		t.Fatalf("after the renewal, an old-session message does not open: %v", err)
	}
	clock.Advance(keepPreviousFor)
	if err := opensAt(t, alice2, "Bob", sealIn(t, old, alice2, "Bob", "a week late")); err == nil {
		t.Fatal("an old-session message opens after keepPreviousFor")
	}
	clock.Advance(-keepPreviousFor)

	// Bob takes the new session and writes in it: the old one is over.
	told := func() bool { return contains(texts(t, bob, bA.ID), "The secure session was reset") }
	if !syncFor(t, 2*time.Minute, told, bob) {
		t.Fatalf("Bob never got the renewed session: %q", texts(t, bob, bA.ID))
	}
	if _, err := bob.SendText(t.Context(), bA.ID, "in the new session", SendOptions{}); err != nil && !errors.Is(err, ErrResetPending) {
		t.Fatal(err)
	}
	got := func() bool { return contains(texts(t, alice2, "Bob"), "in the new session") }
	if !syncFor(t, 2*time.Minute, got, alice2, bob) {
		t.Fatalf("Alice lacks Bob's text: %q", texts(t, alice2, "Bob"))
	}
	if err := opensAt(t, alice2, "Bob", sealIn(t, old, alice2, "Bob", "forged")); err == nil {
		t.Fatal("an old-session message opens after one in the new session")
	}
}
