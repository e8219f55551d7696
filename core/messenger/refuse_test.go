package messenger

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Issue 16, item 17: a used or expired invite is refused where it is
// accepted, not answered by a contact that waits forever.

func TestOneTimeInviteUsedTwiceIsRefused(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	carol, _ := create(t, "Carol", relay)
	inv, err := alice.CreateInvite(t.Context(), InviteOptions{OneTime: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AcceptInvite(t.Context(), inv.Code); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.AcceptInvite(t.Context(), inv.Code); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("second use of a one-time invite: got %v, want ErrInviteUsed", err)
	}
	if cs, _ := carol.Contacts(); len(cs) != 0 {
		t.Fatalf("Carol has %d contacts after a refused invite", len(cs))
	}
	syncAll(t, bob, alice, bob)
	if c, err := bob.FindContact("Alice"); err != nil || c.Pending {
		t.Fatalf("Bob's contact Alice: %+v, %v; want answered", c, err)
	}
}

func TestExpiredInviteIsRefusedToTheAcceptingSide(t *testing.T) {
	relay := startRelay(t)
	clock := &fakeClock{t: time.Now()}
	alice, _ := createWith(t, "Alice", relay, clock)
	bob, _ := create(t, "Bob", relay)
	inv, err := alice.CreateInvite(t.Context(), InviteOptions{Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// By Alice's clock the invite has expired when Bob's hello arrives;
	// by Bob's it is still valid.
	clock.Advance(2 * time.Hour)
	sub := bob.Subscribe(256)
	defer sub.Close()
	bA, err := bob.AcceptInvite(t.Context(), inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	hi, err := bob.SendText(t.Context(), bA.ID, "hi Alice", SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(2 * time.Minute)
	var refused InviteRefused
wait:
	for {
		select {
		case e := <-sub.Events():
			if r, ok := e.(InviteRefused); ok {
				refused = r
				break wait
			}
		case <-deadline:
			t.Fatal("Bob never learnt that the invite was refused")
		}
	}
	if refused.Reason != RefusedExpired || refused.Contact.ID != bA.ID || refused.Contact.Refused != RefusedExpired {
		t.Fatalf("refusal: %+v, want expired for %s", refused, bA.ID)
	}
	syncAll(t, alice, bob)
	if got := stateOfMessage(t, bob, hi.ID); got != StateFailed {
		t.Fatalf("Bob's message to the refused invite: %s, want failed", got)
	}
	if _, err := bob.SendText(t.Context(), bA.ID, "again?", SendOptions{}); !errors.Is(err, ErrInviteRefused) {
		t.Fatalf("sending after the refusal: got %v, want ErrInviteRefused", err)
	}
	if cs, _ := alice.Contacts(); len(cs) != 0 {
		t.Fatalf("Alice added %d contacts through an expired invite", len(cs))
	}
}

// Refusals are bounded per invite: hellos beyond maxRefusals are dropped
// without an answer.
func TestRefusalsPerInviteAreBounded(t *testing.T) {
	relayURL, st := startRecordingRelay(t)
	clock := &fakeClock{t: time.Now()}
	alice, _ := createWith(t, "Alice", relayURL, clock)
	inv, err := alice.CreateInvite(t.Context(), InviteOptions{Expires: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := alice.inviteRecs()
	if err != nil || len(recs) != 1 {
		t.Fatalf("invites: %d, %v", len(recs), err)
	}
	clock.Advance(2 * time.Hour)
	var others []*Messenger
	for i := range maxRefusals + 2 {
		m, _ := create(t, fmt.Sprintf("Bob%d", i), relayURL)
		if _, err := m.AcceptInvite(t.Context(), inv.Code); err != nil {
			t.Fatal(err)
		}
		others = append(others, m)
	}
	syncAll(t, others...)
	st.waitDrained(t, recs[0].Mailbox.ID)
	// Alice's outbox is empty: every refusal is at the relay; each is
	// read once its mailbox is drained.
	syncAll(t, alice)
	for _, m := range others {
		cs, err := m.Contacts()
		if err != nil || len(cs) != 1 {
			t.Fatalf("%s: %d contacts, %v", m.Pseudonym(), len(cs), err)
		}
		c, err := m.findContact(cs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		st.waitDrained(t, c.Mine.ID)
	}
	recs, err = alice.inviteRecs()
	if err != nil || recs[0].Refused != maxRefusals {
		t.Fatalf("refusals sent: %d (%v), want %d", recs[0].Refused, err, maxRefusals)
	}
	refused := 0
	for _, m := range others {
		cs, err := m.Contacts()
		if err != nil || len(cs) != 1 {
			t.Fatalf("%s: %d contacts, %v", m.Pseudonym(), len(cs), err)
		}
		if cs[0].Refused == RefusedExpired {
			refused++
		}
	}
	if refused != maxRefusals {
		t.Fatalf("%d of %d were told of the refusal, want %d", refused, len(others), maxRefusals)
	}
}
