package messenger

import (
	"errors"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/storage/vault"
)

// markRestored marks m's contact name ResetPending, as a restore does
// (retireRestoredSessions), without the renewal resumeResets would start.
func markRestored(t *testing.T, m *Messenger, name string) {
	t.Helper()
	c, err := m.findContact(name)
	if err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	err = m.update(func(tx *vault.Tx) error {
		cur, err := contactIn(tx, c.ID)
		if err != nil {
			return err
		}
		cur.ResetPending = resetNeeded
		return putContact(tx, cur)
	})
	m.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.SendText(t.Context(), name, "refused", SendOptions{}); !errors.Is(err, ErrResetPending) {
		t.Fatalf("send while the reset is pending: got %v, want ErrResetPending", err)
	}
}

// A session the contact starts while ours waits to be renewed (a reset
// from the same identity) replaces the restored one: sends go on.
func TestResetFromContactEndsResetPending(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	_, bA := meet(t, alice, bob)
	markRestored(t, alice, "Bob")
	if err := bob.ResetSession(t.Context(), bA.ID); err != nil {
		t.Fatal(err)
	}
	told := func() bool { return contains(texts(t, alice, "Bob"), "The secure session was reset") }
	if !syncFor(t, time.Minute, told, bob, alice) {
		t.Fatalf("Alice never got Bob's reset: %q", texts(t, alice, "Bob"))
	}
	if _, err := alice.SendText(t.Context(), "Bob", "after Bob's reset", SendOptions{}); err != nil {
		t.Fatalf("send after the contact's reset: %v", err)
	}
	got := func() bool { return contains(texts(t, bob, bA.ID), "after Bob's reset") }
	if !syncFor(t, time.Minute, got, alice, bob) {
		t.Fatalf("Bob lacks Alice's text: %q", texts(t, bob, bA.ID))
	}
}

// Accepting another identity's request while the reset is pending puts
// the request's session in place of the restored one: sends go on.
func TestAcceptKeyChangeEndsResetPending(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	_, bA := meet(t, alice, bob)
	markRestored(t, alice, "Bob")
	if err := bob.ResetIdentity(t.Context()); err != nil {
		t.Fatal(err)
	}
	asked := func() bool {
		c, err := alice.FindContact("Bob")
		return err == nil && c.KeyChanged
	}
	if !syncFor(t, time.Minute, asked, bob, alice) {
		t.Fatal("Alice never got Bob's new identity's request")
	}
	if _, err := alice.AcceptKeyChange("Bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(t.Context(), "Bob", "to the new identity", SendOptions{}); err != nil {
		t.Fatalf("send after accepting the request: %v", err)
	}
	got := func() bool { return contains(texts(t, bob, bA.ID), "to the new identity") }
	if !syncFor(t, time.Minute, got, alice, bob) {
		t.Fatalf("Bob lacks Alice's text: %q", texts(t, bob, bA.ID))
	}
}
