package session

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// seeded returns a deterministic reader (ChaCha8).
func seeded(seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func newIdentity(t testing.TB, r io.Reader) Identity {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(r, seed); err != nil {
		t.Fatal(err)
	}
	x, err := newX25519(r)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{Signing: ed25519.NewKeyFromSeed(seed), DH: x}
}

// world is two identities, Bob's prekeys and his upload.
type world struct {
	alice, bob Identity
	store      *PrekeyStore
	up         Upload
	r          io.Reader
}

func newWorld(t testing.TB, seed byte, nOneTime int) *world {
	t.Helper()
	r := seeded(seed)
	w := &world{r: r, alice: newIdentity(t, r), bob: newIdentity(t, r)}
	var err error
	w.store, w.up, err = NewPrekeys(w.bob, r, t0, nOneTime)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// pair runs a handshake with the given entry and returns both sessions
// after Bob has decrypted Alice's first message.
func (w *world) pair(t testing.TB, entry []byte) (a, b *Session) {
	t.Helper()
	a, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, entry, w.r)
	if err != nil {
		t.Fatal(err)
	}
	m, err := a.Encrypt([]byte("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, pt, err := Respond(w.bob, w.store, m, nil, w.r)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "hello" {
		t.Fatalf("got %q, want hello", pt)
	}
	return a, b
}

func mustMarshal(t testing.TB, s *Session) []byte {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func clone(t testing.TB, s *Session) *Session {
	t.Helper()
	c := &Session{}
	if err := c.UnmarshalBinary(mustMarshal(t, s)); err != nil {
		t.Fatal(err)
	}
	c.SetRand(s.rand)
	return c
}

// mustReject checks that Decrypt fails and leaves s byte-for-byte unchanged.
func mustReject(t testing.TB, s *Session, msg, ad []byte, what string) {
	t.Helper()
	before := mustMarshal(t, s)
	if pt, err := s.Decrypt(msg, ad); err == nil {
		t.Fatalf("%s: decrypted to %q, want an error", what, pt)
	}
	if after := mustMarshal(t, s); !bytes.Equal(before, after) {
		t.Fatalf("%s: rejected message changed the state", what)
	}
}

func send(t testing.TB, s *Session, text string) []byte {
	t.Helper()
	m, err := s.Encrypt([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func recv(t testing.TB, s *Session, m []byte, want string) {
	t.Helper()
	pt, err := s.Decrypt(m, nil)
	if err != nil {
		t.Fatalf("decrypt %q: %v", want, err)
	}
	if string(pt) != want {
		t.Fatalf("got %q, want %q", pt, want)
	}
}

// lowOrder is an X25519 public key of small order (the all-zero point).
var lowOrder = make([]byte, 32)

func init() {
	// ecdh accepts any 32 bytes as an X25519 public key; make sure.
	if _, err := ecdh.X25519().NewPublicKey(lowOrder); err != nil {
		panic(err)
	}
}
