package session

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// entryVariant re-encodes a one-time entry keeping only some keys.
func entryVariant(t *testing.T, full []byte, keepX, keepKEM bool) []byte {
	t.Helper()
	e, err := ParseEntry(full)
	if err != nil {
		t.Fatal(err)
	}
	if !keepX {
		e.X25519, e.X25519ID = nil, 0
	}
	if !keepKEM {
		e.KEM = nil
	}
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandshakeCombinations(t *testing.T) {
	for _, tc := range []struct {
		name           string
		entry          func(w *world) []byte
		usedX, usedKEM bool
	}{
		{"one-time X25519 and KEM", func(w *world) []byte { return w.up.OneTime[0] }, true, true},
		{"one-time X25519, last-resort KEM", func(w *world) []byte { return entryVariant(t, w.up.OneTime[0], true, false) }, true, false},
		{"one-time KEM, no one-time X25519", func(w *world) []byte { return entryVariant(t, w.up.OneTime[0], false, true) }, false, true},
		{"last-resort marker", func(w *world) []byte { return w.up.LastResort }, false, false},
		{"no entry", func(w *world) []byte { return nil }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 1, 2)
			x0, k0 := w.store.OneTimeCount()
			a, b := w.pair(t, tc.entry(w))
			x1, k1 := w.store.OneTimeCount()
			if wantX := x0 - boolInt(tc.usedX); x1 != wantX {
				t.Errorf("one-time X25519 keys left: got %d, want %d", x1, wantX)
			}
			if wantK := k0 - boolInt(tc.usedKEM); k1 != wantK {
				t.Errorf("one-time KEM keys left: got %d, want %d", k1, wantK)
			}
			if !b.Peer().Equal(w.alice.Public()) || !a.Peer().Equal(w.bob.Public()) {
				t.Error("Peer() does not return the other identity")
			}
			// A few turns in both directions.
			for i := range 3 {
				recv(t, a, send(t, b, "from bob"), "from bob")
				recv(t, b, send(t, a, "from alice"), "from alice")
				_ = i
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestReusedOneTimePrekeyRefused(t *testing.T) {
	w := newWorld(t, 2, 1)
	a, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, w.up.OneTime[0], w.r)
	if err != nil {
		t.Fatal(err)
	}
	m := send(t, a, "hi")
	if _, _, err := Respond(w.bob, w.store, m, nil, w.r); err != nil {
		t.Fatal(err)
	}
	before, _ := w.store.MarshalBinary()
	if _, _, err := Respond(w.bob, w.store, m, nil, w.r); !errors.Is(err, ErrUnknownPrekey) {
		t.Fatalf("replayed prekey message: got %v, want ErrUnknownPrekey", err)
	}
	// A second initiator claiming the same (already used) entry.
	a2, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, w.up.OneTime[0], w.r)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Respond(w.bob, w.store, send(t, a2, "again"), nil, w.r); !errors.Is(err, ErrUnknownPrekey) {
		t.Fatalf("reused one-time prekey: got %v, want ErrUnknownPrekey", err)
	}
	after, _ := w.store.MarshalBinary()
	if !bytes.Equal(before, after) {
		t.Fatal("refused handshake changed the prekey store")
	}
}

func TestFailedRespondKeepsPrekeys(t *testing.T) {
	w := newWorld(t, 3, 1)
	a, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, w.up.OneTime[0], w.r)
	if err != nil {
		t.Fatal(err)
	}
	m := send(t, a, "hi")
	bad := bytes.Clone(m)
	bad[len(bad)-1] ^= 1
	if _, _, err := Respond(w.bob, w.store, bad, nil, w.r); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered prekey message: got %v, want ErrDecrypt", err)
	}
	if x, k := w.store.OneTimeCount(); x != 1 || k != 1 {
		t.Fatalf("failed handshake consumed prekeys: %d, %d left", x, k)
	}
	if _, _, err := Respond(w.bob, w.store, m, nil, w.r); err != nil {
		t.Fatal(err)
	}
}

func TestBadSignatureRefused(t *testing.T) {
	w := newWorld(t, 4, 1)
	// Signature bytes of the signed prekey and of the last-resort key.
	sigX := 2 + 64 + 4 + 8 + 32
	sigK := BundleSize - 64
	for name, off := range map[string]int{"signed prekey": sigX, "last-resort": sigK} {
		b := bytes.Clone(w.up.Bundle)
		b[off] ^= 0x40
		if _, err := Initiate(w.alice, w.bob.Public(), b, nil, w.r); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: got %v, want ErrBadSignature", name, err)
		}
	}
	// A key swapped under a valid signature.
	b := bytes.Clone(w.up.Bundle)
	b[2+64+4+8] ^= 1
	if _, err := Initiate(w.alice, w.bob.Public(), b, nil, w.r); !errors.Is(err, ErrBadSignature) {
		t.Errorf("swapped signed prekey: got %v, want ErrBadSignature", err)
	}
	e := bytes.Clone(w.up.OneTime[0])
	e[len(e)-1] ^= 1
	if _, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, e, w.r); !errors.Is(err, ErrBadSignature) {
		t.Errorf("one-time KEM key: got %v, want ErrBadSignature", err)
	}
	// A bundle signed by someone else for Bob's identity.
	if _, err := Initiate(w.alice, w.alice.Public(), w.up.Bundle, nil, w.r); !errors.Is(err, ErrIdentityMismatch) {
		t.Errorf("wrong identity: got %v, want ErrIdentityMismatch", err)
	}
}

func TestZeroDHRefused(t *testing.T) {
	w := newWorld(t, 5, 0)
	// A correctly signed bundle whose signed prekey has small order.
	bundle, err := w.store.Bundle(w.bob)
	if err != nil {
		t.Fatal(err)
	}
	bundle.SignedX.Key = lowOrder
	sign(sigSignedX25519, w.bob.Signing, &bundle.SignedX)
	enc, err := bundle.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Initiate(w.alice, w.bob.Public(), enc, nil, w.r); !errors.Is(err, ErrZeroDH) {
		t.Fatalf("initiator: got %v, want ErrZeroDH", err)
	}
	// An initial message with a small-order ephemeral key.
	a, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, nil, w.r)
	if err != nil {
		t.Fatal(err)
	}
	m := send(t, a, "hi")
	copy(m[2+1+64:], lowOrder)
	if _, _, err := Respond(w.bob, w.store, m, nil, w.r); !errors.Is(err, ErrZeroDH) {
		t.Fatalf("responder: got %v, want ErrZeroDH", err)
	}
}

func TestRotationGracePeriod(t *testing.T) {
	w := newWorld(t, 6, 0)
	old := w.up.Bundle
	a, err := Initiate(w.alice, w.bob.Public(), old, nil, w.r)
	if err != nil {
		t.Fatal(err)
	}
	inFlight := send(t, a, "sent before rotation")
	up, err := w.store.Rotate(w.bob, w.r, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(up.Bundle, old) {
		t.Fatal("rotation did not change the bundle")
	}
	if _, pt, err := Respond(w.bob, w.store, inFlight, nil, w.r); err != nil || string(pt) != "sent before rotation" {
		t.Fatalf("in-flight handshake after rotation: %q, %v", pt, err)
	}
	w.up = up
	w.pair(t, up.LastResort)
	w.store.Prune(t0.Add(24*time.Hour + DefaultGracePeriod + time.Second))
	if _, _, err := Respond(w.bob, w.store, inFlight, nil, w.r); !errors.Is(err, ErrUnknownPrekey) {
		t.Fatalf("after the grace period: got %v, want ErrUnknownPrekey", err)
	}
	w.pair(t, up.LastResort) // the current keys still work
}

func TestPrekeyStoreRoundTrip(t *testing.T) {
	w := newWorld(t, 7, 3)
	if _, err := w.store.Rotate(w.bob, w.r, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	enc, err := w.store.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var s2 PrekeyStore
	if err := s2.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	enc2, _ := s2.MarshalBinary()
	if !bytes.Equal(enc, enc2) {
		t.Fatal("store round trip changed the encoding")
	}
	w.store = &s2
	w.pair(t, w.up.OneTime[1]) // a one-time entry made before the round trip
	for _, n := range []int{0, 1, len(enc) - 1} {
		if err := new(PrekeyStore).UnmarshalBinary(enc[:n]); !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated to %d: got %v, want ErrMalformed", n, err)
		}
	}
}

func TestUploadFitsRelay(t *testing.T) {
	w := newWorld(t, 8, 1)
	const relayMax = 16 << 10 // net/wire.MaxPrekeySize
	for name, b := range map[string][]byte{"bundle": w.up.Bundle, "last resort": w.up.LastResort, "one-time": w.up.OneTime[0]} {
		if len(b) > relayMax {
			t.Errorf("%s is %d bytes, relay limit %d", name, len(b), relayMax)
		}
	}
	if len(w.up.Bundle) != BundleSize || len(w.up.OneTime[0]) != MaxEntrySize || len(w.up.LastResort) != LastResortSize {
		t.Errorf("sizes: bundle %d, entry %d, last resort %d", len(w.up.Bundle), len(w.up.OneTime[0]), len(w.up.LastResort))
	}
}

// TestDeleteOneTime: deleted one-time keys are gone from the store and its
// encoding; other keys and unknown ids are untouched.
func TestDeleteOneTime(t *testing.T) {
	r := seeded(91)
	id := newIdentity(t, r)
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s, up, err := NewPrekeys(id, r, now, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.OneTimeIDs(); len(got) != 6 {
		t.Fatalf("got %d one-time ids, want 6", len(got))
	}
	e, err := ParseEntry(up.OneTime[0])
	if err != nil {
		t.Fatal(err)
	}
	if n := s.DeleteOneTime(e.X25519ID, e.KEM.ID, 9999); n != 2 {
		t.Fatalf("deleted %d keys, want 2", n)
	}
	if x, k := s.OneTimeCount(); x != 2 || k != 2 {
		t.Fatalf("got %d and %d one-time keys left, want 2 and 2", x, k)
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back PrekeyStore
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for _, got := range back.OneTimeIDs() {
		if got == e.X25519ID || got == e.KEM.ID {
			t.Fatalf("deleted key %d still in the encoded store", got)
		}
	}
	if sx, sk := s.SignedCount(); sx != 1 || sk != 1 || !s.Rotated().Equal(now) {
		t.Fatalf("got %d/%d signed keys rotated %v, want 1/1 at %v", sx, sk, s.Rotated(), now)
	}
	if _, err := s.Rotate(id, r, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if sx, _ := s.SignedCount(); sx != 2 || !s.Rotated().Equal(now.Add(time.Hour)) {
		t.Fatalf("after a rotation: %d signed keys rotated %v, want 2 at %v", sx, s.Rotated(), now.Add(time.Hour))
	}
}
