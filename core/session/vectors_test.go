package session

import (
	"bytes"
	"encoding/hex"
	"flag"
	"github.com/ephemera-im/ephemera/internal/testvec"
	"path/filepath"
	"testing"
	"testing/cryptotest"
)

var update = flag.Bool("update", false, "rewrite testdata/e2e/session-*.json")

const vectorDir = "../../testdata/e2e"

// sessionVector is one file testdata/e2e/session-NAME.json: a handshake
// and the first messages of a session, made from fixed randomness. Keys
// come from a ChaCha8 reader seeded with (Seed, 0, 0, …); ML-KEM
// encapsulation randomness comes from testing/cryptotest.SetGlobalRandom
// with RandSeed (Go's ML-KEM API takes no caller randomness), so the
// ciphertexts reproduce only on a Go version with the same DRBG.
type sessionVector struct {
	Name     string `json:"name"`
	Comment  string `json:"comment"`
	Seed     byte   `json:"seed"`
	RandSeed uint64 `json:"rand_seed"`
	Entry    string `json:"entry_kind"` // one-time, one-time-x25519, one-time-kem, last-resort

	AliceSigningSeed string `json:"alice_ed25519_seed"`
	AliceDHPrivate   string `json:"alice_x25519_private"`
	BobSigningSeed   string `json:"bob_ed25519_seed"`
	BobDHPrivate     string `json:"bob_x25519_private"`
	BobPrekeyStore   string `json:"bob_prekey_store"`
	Bundle           string `json:"bundle"`
	ClaimedEntry     string `json:"claimed_entry"`

	Messages []vectorMessage `json:"messages"`
	// Final states (MarshalBinary) of both sides.
	AliceState string `json:"alice_state"`
	BobState   string `json:"bob_state"`
}

type vectorMessage struct {
	From      string `json:"from"`
	AD        string `json:"ad"`
	Plaintext string `json:"plaintext"`
	Message   string `json:"message"`
}

var vectorCases = []struct {
	name, entry, comment string
	seed                 byte
}{
	{"session-one-time", "one-time", "one-time X25519 and ML-KEM prekeys (DH1..DH4 + one-time KEM)", 41},
	{"session-one-time-x25519", "one-time-x25519", "one-time X25519 prekey, last-resort ML-KEM key", 42},
	{"session-last-resort", "last-resort", "no one-time keys: signed prekey and last-resort ML-KEM key", 43},
}

// generateVector runs the scripted session. It must run with the global
// randomness pinned (cryptotest.SetGlobalRandom).
func generateVector(t *testing.T, name, entryKind, comment string, seed byte) *sessionVector {
	w := newWorld(t, seed, 1)
	v := &sessionVector{Name: name, Comment: comment, Seed: seed, RandSeed: uint64(seed), Entry: entryKind}
	v.AliceSigningSeed = hex.EncodeToString(w.alice.Signing.Seed())
	v.AliceDHPrivate = hex.EncodeToString(w.alice.DH.Bytes())
	v.BobSigningSeed = hex.EncodeToString(w.bob.Signing.Seed())
	v.BobDHPrivate = hex.EncodeToString(w.bob.DH.Bytes())
	st, err := w.store.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	v.BobPrekeyStore = hex.EncodeToString(st)
	v.Bundle = hex.EncodeToString(w.up.Bundle)
	var entry []byte
	switch entryKind {
	case "one-time":
		entry = w.up.OneTime[0]
	case "one-time-x25519":
		entry = entryVariant(t, w.up.OneTime[0], true, false)
	default:
		entry = w.up.LastResort
	}
	v.ClaimedEntry = hex.EncodeToString(entry)
	a, err := Initiate(w.alice, w.bob.Public(), w.up.Bundle, entry, w.r)
	if err != nil {
		t.Fatal(err)
	}
	script := []struct{ from, text, ad string }{
		{"alice", "Hello Bob", "msg-1"},
		{"alice", "are you there?", ""},
		{"bob", "Hi Alice", "msg-2"},
		{"alice", "great", ""},
		{"bob", "", "empty"},
	}
	var b *Session
	for _, s := range script {
		snd, rcv := a, b
		if s.from == "bob" {
			snd, rcv = b, a
		}
		m, err := snd.Encrypt([]byte(s.text), []byte(s.ad))
		if err != nil {
			t.Fatal(err)
		}
		var pt []byte
		if rcv == nil {
			b, pt, err = Respond(w.bob, w.store, m, []byte(s.ad), w.r)
		} else {
			pt, err = rcv.Decrypt(m, []byte(s.ad))
		}
		if err != nil || string(pt) != s.text {
			t.Fatalf("%s: %q, %v", s.text, pt, err)
		}
		v.Messages = append(v.Messages, vectorMessage{From: s.from, AD: hex.EncodeToString([]byte(s.ad)),
			Plaintext: hex.EncodeToString([]byte(s.text)), Message: hex.EncodeToString(m)})
	}
	v.AliceState = hex.EncodeToString(mustMarshal(t, a))
	v.BobState = hex.EncodeToString(mustMarshal(t, b))
	return v
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVectors(t *testing.T) {
	if *update {
		for _, c := range vectorCases {
			t.Run("generate/"+c.name, func(t *testing.T) {
				cryptotest.SetGlobalRandom(t, uint64(c.seed))
				v := generateVector(t, c.name, c.entry, c.comment, c.seed)
				testvec.Write(t, filepath.Join(vectorDir, c.name+".json"), v)
			})
		}
	}
	for _, f := range testvec.Load[sessionVector](t, filepath.Join(vectorDir, "session-*.json")) {
		name, v := filepath.Base(f.Path), f.V
		t.Run(name, func(t *testing.T) {
			if len(v.Messages) == 0 {
				t.Fatal("vector has no messages")
			}
			checkVectorReceiver(t, &v)
			// Regenerate from the seeds: every byte must match.
			cryptotest.SetGlobalRandom(t, v.RandSeed)
			got := generateVector(t, v.Name, v.Entry, v.Comment, v.Seed)
			if !bytes.Equal(testvec.Encode(t, got), f.Raw) {
				t.Fatalf("regenerated vector differs from %s (run with -update after a deliberate format change)", name)
			}
		})
	}
}

// checkVectorReceiver replays the messages against Bob's stored prekeys,
// independently of the generator: Bob must decrypt Alice's messages up to
// his first reply (after it, Alice's chain depends on Bob's ratchet keys,
// which come from the generator's reader; regeneration checks those).
func checkVectorReceiver(t *testing.T, v *sessionVector) {
	r := seeded(v.Seed)
	alice, bob := newIdentity(t, r), newIdentity(t, r)
	if hex.EncodeToString(alice.Signing.Seed()) != v.AliceSigningSeed || hex.EncodeToString(bob.DH.Bytes()) != v.BobDHPrivate {
		t.Fatal("identities do not match the seed")
	}
	var store PrekeyStore
	if err := store.UnmarshalBinary(unhex(t, v.BobPrekeyStore)); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseBundle(unhex(t, v.Bundle)); err != nil {
		t.Fatal(err)
	}
	var b *Session
	for i, m := range v.Messages {
		if m.From != "alice" {
			break
		}
		var pt []byte
		var err error
		if b == nil {
			b, pt, err = Respond(bob, &store, unhex(t, m.Message), unhex(t, m.AD), seeded(200))
		} else {
			pt, err = b.Decrypt(unhex(t, m.Message), unhex(t, m.AD))
		}
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(pt, unhex(t, m.Plaintext)) {
			t.Fatalf("message %d: got %x, want %s", i, pt, m.Plaintext)
		}
	}
	if b == nil {
		t.Fatal("no message from alice")
	}
	if !b.Peer().Equal(alice.Public()) {
		t.Fatal("responder sees the wrong initiator")
	}
}
