package messenger

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A backup taken while the inviter has not answered our acceptance yet
// (we still write to its invite mailbox): after the restore and the
// answer, the conversation goes on both ways in the renewed session.
func TestRestoreBeforeInviteAnswered(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	inv, err := alice.CreateInvite(t.Context(), InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bA, err := bob.AcceptInvite(t.Context(), inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	backup := filepath.Join(t.TempDir(), "bob.backup")
	if err := bob.ExportBackup(backup, []byte("backup pass")); err != nil {
		t.Fatal(err)
	}
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	newDir := filepath.Join(t.TempDir(), "restored")
	if err := ImportBackup(backup, []byte("backup pass"), newDir, true); err != nil {
		t.Fatal(err)
	}
	bob2, err := Open(testConfig(newDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob2.Close() })

	// Bob sends as soon as the renewed session lets him.
	sent := false
	send := func() bool {
		if !sent {
			_, err := bob2.SendText(t.Context(), bA.ID, "from Bob", SendOptions{})
			if errors.Is(err, ErrResetPending) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			sent = true
		}
		return contains(texts(t, alice, "Bob"), "from Bob")
	}
	if !syncFor(t, 2*time.Minute, send, alice, bob2) {
		t.Fatalf("Alice lacks Bob's text (sent %v): %q", sent, texts(t, alice, "Bob"))
	}
	if _, err := alice.SendText(t.Context(), "Bob", "from Alice", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got := func() bool { return contains(texts(t, bob2, bA.ID), "from Alice") }
	if !syncFor(t, 2*time.Minute, got, alice, bob2) {
		t.Fatalf("Bob lacks Alice's text: %q", texts(t, bob2, bA.ID))
	}
}
