package session

import (
	"bytes"
	"errors"
	"testing"
)

// A session that replaced another (a reset, after a restore from a
// backup) still opens what the peer sent in the old one, keeps it across
// MarshalBinary, and never encrypts with it.
func TestKeepPrevious(t *testing.T) {
	w := newWorld(t, 31, 2)
	a, b := w.pair(t, w.up.OneTime[0])
	recv(t, a, send(t, b, "reply"), "reply")
	late := send(t, b, "sent before Bob learned of the reset")
	late2 := send(t, b, "and another")

	// Alice replaces the session.
	a2, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, w.up.OneTime[1], w.r)
	if err != nil {
		t.Fatal(err)
	}
	a2.KeepPrevious(a)
	first := send(t, a2, "new session")

	enc := mustMarshal(t, a2)
	a3 := &Session{}
	if err := a3.UnmarshalBinary(enc); err != nil {
		t.Fatalf("state with a previous session: %v", err)
	}
	if !bytes.Equal(mustMarshal(t, a3), enc) {
		t.Fatal("round trip changed the state encoding")
	}
	if err := new(Session).UnmarshalBinary(append(bytes.Clone(enc), 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: got %v, want ErrMalformed", err)
	}
	for _, n := range []int{len(enc) - 1, len(enc) - 100} {
		if err := new(Session).UnmarshalBinary(enc[:n]); !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated to %d: got %v, want ErrMalformed", n, err)
		}
	}
	a3.SetRand(w.r)
	recv(t, a3, late2, "and another")
	recv(t, a3, late, "sent before Bob learned of the reset")
	mustReject(t, a3, late, nil, "a replay in the previous session")

	// Bob takes the new session; the conversation goes on in it.
	b2, pt, err := Respond(w.bob, w.store, first, nil, w.r)
	if err != nil || string(pt) != "new session" {
		t.Fatalf("Bob: got %q, %v", pt, err)
	}
	recv(t, a3, send(t, b2, "in the new session"), "in the new session")
	recv(t, b2, send(t, a3, "answer"), "answer")

	// A previous session holding its own previous one is refused.
	nested := &Session{}
	if err := nested.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	outer := clone(t, b2)
	outer.prev = nested
	if err := new(Session).UnmarshalBinary(mustMarshal(t, outer)); !errors.Is(err, ErrMalformed) {
		t.Errorf("nested previous session: got %v, want ErrMalformed", err)
	}
}

// The first message that opens in the new session drops the previous
// one: what the old state encrypts afterwards (a stolen copy of it) no
// longer opens, and the drop survives MarshalBinary.
func TestPreviousDroppedByNewSessionMessage(t *testing.T) {
	w := newWorld(t, 32, 2)
	a, b := w.pair(t, w.up.OneTime[0])
	recv(t, a, send(t, b, "reply"), "reply")
	a2, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, w.up.OneTime[1], w.r)
	if err != nil {
		t.Fatal(err)
	}
	a2.KeepPrevious(a)
	first := send(t, a2, "new session")
	recv(t, a2, send(t, b, "old, in flight"), "old, in flight")
	if !a2.HasPrevious() {
		t.Fatal("an old-session message dropped the previous session")
	}
	b2, _, err := Respond(w.bob, w.store, first, nil, w.r)
	if err != nil {
		t.Fatal(err)
	}
	recv(t, a2, send(t, b2, "in the new session"), "in the new session")
	if a2.HasPrevious() {
		t.Fatal("the previous session outlived a new-session message")
	}
	a3 := clone(t, a2)
	a3.SetRand(w.r)
	mustReject(t, a3, send(t, b, "forged in the old session"), nil, "an old-session message after the new session spoke")
}
