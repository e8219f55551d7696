package vault

import (
	"errors"
	"testing"
	"time"
)

func TestUpdateMessage(t *testing.T) {
	v, _ := newVault(t)
	now := time.Now()
	plain, err := v.AddMessage(Message{Conversation: "c", ID: "a", Time: now, Body: []byte("queued")})
	if err != nil {
		t.Fatal(err)
	}
	// A state change keeps the sequence number.
	plain.Body = []byte("delivered")
	if err := v.UpdateMessage(plain); err != nil {
		t.Fatal(err)
	}
	got, err := v.Message("c", plain.Seq)
	if err != nil || string(got.Body) != "delivered" {
		t.Fatalf("after update: got %q, %v; want %q", got.Body, err, "delivered")
	}

	// A burn-on-read message gets its countdown when shown: it moves
	// into the expiry index and expires with it.
	burn, err := v.AddMessage(Message{Conversation: "c", ID: "b", Time: now, BurnOnRead: true, Body: []byte("secret")})
	if err != nil {
		t.Fatal(err)
	}
	burn.Expires = now.Add(time.Minute)
	if err := v.UpdateMessage(burn); err != nil {
		t.Fatal(err)
	}
	// A plain message can become an expiring one.
	plain.Expires = now.Add(2 * time.Minute)
	if err := v.UpdateMessage(plain); err != nil {
		t.Fatal(err)
	}
	// But never the other way round.
	burn.Expires, burn.BurnOnRead = time.Time{}, false
	if err := v.UpdateMessage(burn); !errors.Is(err, ErrExpiryRemoved) {
		t.Fatalf("removing expiry: got %v, want ErrExpiryRemoved", err)
	}
	expired, err := v.ExpireDue(now.Add(90 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(expired) != 1 || expired[0].ID != "b" {
		t.Fatalf("expired after 90 s: got %v, want message b", expired)
	}
	expired, err = v.ExpireDue(now.Add(3 * time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(expired) != 1 || expired[0].ID != "a" {
		t.Fatalf("expired after 3 min: got %v, want message a", expired)
	}
	if err := v.UpdateMessage(plain); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of an expired message: got %v, want ErrNotFound", err)
	}
}
