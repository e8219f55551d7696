package messenger

import (
	"testing"

	"github.com/ephemera-im/ephemera/storage/vault"
)

type vaultTx = vault.Tx

func TestSubscriptionOverflowReportsDrops(t *testing.T) {
	var h hub
	s := h.subscribe(2)
	for i := range 5 {
		h.post(ContactRemoved{ID: string(rune('a' + i))})
	}
	// The first two fit; three were dropped.
	for _, want := range []string{"a", "b"} {
		e := <-s.Events()
		if cr, ok := e.(ContactRemoved); !ok || cr.ID != want {
			t.Fatalf("got %#v, want ContactRemoved{%s}", e, want)
		}
	}
	h.post(ContactRemoved{ID: "f"})
	if e := <-s.Events(); e != (EventsDropped{N: 3}) {
		t.Fatalf("got %#v, want EventsDropped{3}", e)
	}
	if e := <-s.Events(); e != (ContactRemoved{ID: "f"}) {
		t.Fatalf("got %#v, want the event after the drop notice", e)
	}
	s.Close()
	h.post(ContactRemoved{ID: "g"}) // no panic after Close
	if _, ok := <-s.Events(); ok {
		t.Fatal("events after Close")
	}
}

func TestRenameBlockDelete(t *testing.T) {
	relay := startRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	meet(t, alice, bob)
	if _, err := alice.RenameContact("Bob", "Robert"); err != nil {
		t.Fatal(err)
	}
	c, err := alice.FindContact("Robert")
	if err != nil || c.Name != "Robert" || c.Pseudonym != "Bob" {
		t.Fatalf("after rename: %+v, %v", c, err)
	}
	// Blocked: nothing goes out, and what they send is dropped.
	if _, err := alice.BlockContact("Robert", true); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(t.Context(), "Robert", "x", SendOptions{}); err == nil {
		t.Fatal("sending to a blocked contact worked")
	}
	if _, err := bob.SendText(t.Context(), "Alice", "while blocked", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, alice)
	if got := texts(t, alice, "Robert"); contains(got, "while blocked") {
		t.Fatal("a blocked contact's message was stored")
	}
	if _, err := alice.BlockContact("Robert", false); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(t.Context(), "Robert", "unblocked", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob)
	// Deleting removes the contact, its session and its history.
	if err := alice.DeleteContact("Robert"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.FindContact("Robert"); err == nil {
		t.Fatal("the contact is still there")
	}
	cs, err := alice.Contacts()
	if err != nil || len(cs) != 0 {
		t.Fatalf("contacts after delete: %v, %v", cs, err)
	}
	err = alice.v.View(func(tx *vaultTx) error {
		if _, err := tx.Session(c.ID); err == nil {
			t.Error("the session survived the delete")
		}
		if last, _ := tx.LastSeq(c.ID); last != 0 {
			if _, err := tx.Message(c.ID, last); err == nil {
				t.Error("history survived the delete")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
