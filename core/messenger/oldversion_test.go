package messenger

import (
	"testing"

	"github.com/ephemera-im/ephemera/core/envelope"
	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// A message made under protocol version 1's associated data is never
// read, and the user is told once that the contact must update.
func TestOldVersionMessageIsIgnoredVisibly(t *testing.T) {
	relayURL, st := startRecordingRelay(t)
	alice, aliceDir := create(t, "Alice", relayURL)
	carol, _ := create(t, "Carol", relayURL)
	aC, cA := meet(t, alice, carol)
	syncAll(t, carol, alice, carol)
	want := stateOf(t, alice, aC.ID)
	ac, err := alice.findContact(aC.ID)
	if err != nil {
		t.Fatal(err)
	}

	// Carol's side encrypts as version 1 did.
	var env []byte
	carol.mu.Lock()
	err = carol.update(func(tx *vault.Tx) error {
		c, err := contactIn(tx, cA.ID)
		if err != nil {
			return err
		}
		sess, err := carol.sessionIn(tx, c.ID)
		if err != nil {
			return err
		}
		msg, err := message.New(message.Text("from version 1"), message.Expiry{}, carol.now(), nil)
		if err != nil {
			return err
		}
		pt, err := msg.Marshal()
		if err != nil {
			return err
		}
		ct, err := sess.Encrypt(pt, adLabelV1)
		if err != nil {
			return err
		}
		carol.dirty[c.ID] = sess
		b, err := identity.ParseBundle(c.Bundle)
		if err != nil {
			return err
		}
		pk, err := b.EnvelopePublicKey()
		if err != nil {
			return err
		}
		env, err = envelope.Seal(pk, ct)
		return err
	})
	carol.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	st.inject(t, ac.Mine.ID, env)
	alice, err = Open(testConfig(aliceDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	st.waitDrained(t, ac.Mine.ID)

	c, err := alice.FindContact(aC.ID)
	if err != nil || !c.OldVersion {
		t.Fatalf("after a version 1 message: OldVersion=%v (%v), want true", c.OldVersion, err)
	}
	got := texts(t, alice, aC.ID)
	if contains(got, "from version 1") || !contains(got, "They use an older version of Ephemera: their messages cannot be read until they update") {
		t.Fatalf("Alice's conversation: %q", got)
	}
	sameState(t, "Carol after her version 1 message", stateOf(t, alice, aC.ID), want)

	// A readable message clears the flag.
	if _, err := carol.SendText(t.Context(), cA.ID, "updated", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitText(t, alice, aC.ID, "updated")
	if c, _ := alice.FindContact(aC.ID); c.OldVersion {
		t.Fatal("OldVersion still set after a readable message")
	}
}
