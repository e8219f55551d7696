package messenger

import (
	"encoding/hex"
	"testing"

	"github.com/ephemera-im/ephemera/core/envelope"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// Issue 16, item 15: what one contact sends acts on that contact's
// conversation only, a blocked contact changes nothing, and a replayed
// handshake is recognised by its message id in any envelope.

// stateOfMessage returns the delivery state of one of m's messages.
func stateOfMessage(t *testing.T, m *Messenger, id string) State {
	t.Helper()
	var st State
	if err := m.v.View(func(tx *vault.Tx) error {
		_, rec, err := messageByID(tx, id)
		if err == nil {
			st = rec.State
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestReceiptsActOnTheirOwnConversationOnly(t *testing.T) {
	relayURL, st := startRecordingRelay(t)
	alice, _ := create(t, "Alice", relayURL)
	bob, _ := create(t, "Bob", relayURL)
	carol, _ := create(t, "Carol", relayURL)
	aB, bA := meet(t, alice, bob)
	aC, _ := meet(t, alice, carol)

	// Carol is away: Alice's message to her stays "sent".
	if err := carol.Close(); err != nil {
		t.Fatal(err)
	}
	toCarol, err := alice.SendText(t.Context(), aC.ID, "for Carol only", SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice)
	if got := stateOfMessage(t, alice, toCarol.ID); got != StateSent {
		t.Fatalf("before: state %s, want sent", got)
	}

	// Bob sends a read receipt naming the message to Carol.
	var id message.ID
	b, _ := hex.DecodeString(toCarol.ID)
	copy(id[:], b)
	bob.mu.Lock()
	err = bob.update(func(tx *vault.Tx) error {
		c, err := contactIn(tx, bA.ID)
		if err != nil {
			return err
		}
		_, err = bob.queueWith(tx, c, nil, message.Receipt(message.ControlRead, id), message.Expiry{}, nil)
		return err
	})
	bob.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	bob.wakeOutbox()
	syncAll(t, bob)
	ab, err := alice.findContact(aB.ID)
	if err != nil {
		t.Fatal(err)
	}
	st.waitDrained(t, ab.Mine.ID)
	if got := stateOfMessage(t, alice, toCarol.ID); got != StateSent {
		t.Fatalf("after Bob's receipt: Alice's message to Carol is %s, want sent", got)
	}
}

func TestBlockedContactCannotResetTheSession(t *testing.T) {
	relayURL, st := startRecordingRelay(t)
	alice, _ := create(t, "Alice", relayURL)
	carol, _ := create(t, "Carol", relayURL)
	aC, cA := meet(t, alice, carol)
	if _, err := alice.BlockContact(aC.ID, true); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, carol)
	want := stateOf(t, alice, aC.ID)
	if err := carol.ResetSession(t.Context(), cA.ID); err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol)
	ac, err := alice.findContact(aC.ID)
	if err != nil {
		t.Fatal(err)
	}
	st.waitDrained(t, ac.Mine.ID)
	sameState(t, "blocked Carol after her reset", stateOf(t, alice, aC.ID), want)
	if h, err := alice.History(aC.ID, 0, 10); err != nil || len(h) != 0 {
		t.Errorf("Alice's conversation with blocked Carol: %+v, %v; want nothing", h, err)
	}
}

// A handshake made with the last-resort key (the invite's one-time keys
// are used up) can be opened again by the prekeys; re-sealed in a new
// envelope, its digest is new too. Its message id still gives it away.
func TestReplayedHandshakeInANewEnvelopeIsDropped(t *testing.T) {
	relayURL, st := startRecordingRelay(t)
	alice, aliceDir := create(t, "Alice", relayURL)
	bob, _ := create(t, "Bob", relayURL)
	inv, err := alice.CreateInvite(t.Context(), InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := alice.inviteRecs()
	if err != nil || len(recs) != 1 {
		t.Fatalf("invites: %d, %v", len(recs), err)
	}
	invMB := recs[0].Mailbox.ID
	for {
		pk, err := st.ClaimPrekey(t.Context(), invMB)
		if err != nil {
			t.Fatal(err)
		}
		if pk.LastResort {
			break
		}
	}
	if _, err := bob.AcceptInvite(t.Context(), inv.Code); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, alice, bob)
	if cs, err := alice.Contacts(); err != nil || len(cs) != 1 {
		t.Fatalf("Alice's contacts: %+v, %v", cs, err)
	}
	hello := st.appended(invMB)
	if len(hello) != 1 {
		t.Fatalf("Bob's hello: %d envelopes", len(hello))
	}
	payload, err := envelope.Open(alice.id.EnvelopeKey(), hello[0])
	if err != nil {
		t.Fatal(err)
	}
	pk, err := alice.id.Bundle().EnvelopePublicKey()
	if err != nil {
		t.Fatal(err)
	}
	resealed, err := envelope.Seal(pk, payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	st.inject(t, invMB, resealed)
	alice, err = Open(testConfig(aliceDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	st.waitDrained(t, invMB)
	syncAll(t, alice)
	if cs, err := alice.Contacts(); err != nil || len(cs) != 1 {
		t.Fatalf("Alice's contacts after the replay: %d (%v), want Bob once", len(cs), err)
	}
}
