package messenger

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/hex"
	"flag"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/internal/testvec"
	"github.com/ephemera-im/ephemera/net/wire"
)

var updateVectors = flag.Bool("update", false, "rewrite testdata/e2e/binding-*.json")

const vectorDir = "../../testdata/e2e"

// bindingVector is one file testdata/e2e/binding-NAME.json: a prekey
// message (the first message of a handshake) sent to a mailbox in a role,
// with the associated data of docs/PROTOCOL.md section 26. Keys come from
// a ChaCha8 reader seeded with (Seed, 0, 0, …); ML-KEM encapsulation
// randomness from testing/cryptotest.SetGlobalRandom(RandSeed).
type bindingVector struct {
	Name     string `json:"name"`
	Comment  string `json:"comment"`
	Seed     byte   `json:"seed"`
	RandSeed uint64 `json:"rand_seed"`

	Role    byte   `json:"role"`    // 1 invite, 2 contact
	Mailbox string `json:"mailbox"` // the destination mailbox id
	AD      string `json:"ad"`      // the associated data both sides use

	AliceSigningSeed string `json:"alice_ed25519_seed"`
	AliceDHPrivate   string `json:"alice_x25519_private"`
	BobSigningSeed   string `json:"bob_ed25519_seed"`
	BobDHPrivate     string `json:"bob_x25519_private"`
	BobPrekeyStore   string `json:"bob_prekey_store"` // before the message is read
	Bundle           string `json:"bundle"`
	ClaimedEntry     string `json:"claimed_entry"`
	Plaintext        string `json:"plaintext"`
	Message          string `json:"message"` // Alice's prekey message
}

var bindingCases = []struct {
	name, comment string
	seed          byte
	role          mailboxRole
}{
	{"binding-invite", "Alice's hello to Bob's invite mailbox", 51, roleInvite},
	{"binding-contact", "Alice's reset hello to Bob's mailbox for her", 52, roleContact},
}

func vectorIdentity(t *testing.T, r io.Reader) session.Identity {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	x := make([]byte, 32)
	if _, err := io.ReadFull(r, seed); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, x); err != nil {
		t.Fatal(err)
	}
	dh, err := ecdh.X25519().NewPrivateKey(x)
	if err != nil {
		t.Fatal(err)
	}
	return session.Identity{Signing: ed25519.NewKeyFromSeed(seed), DH: dh}
}

// generateBinding makes a vector; it runs with the global randomness
// pinned (cryptotest.SetGlobalRandom).
func generateBinding(t *testing.T, name, comment string, seed byte, role mailboxRole) *bindingVector {
	var s [32]byte
	s[0] = seed
	r := rand.NewChaCha8(s)
	alice, bob := vectorIdentity(t, r), vectorIdentity(t, r)
	var mb wire.MailboxID
	if _, err := io.ReadFull(r, mb[:]); err != nil {
		t.Fatal(err)
	}
	store, up, err := session.NewPrekeys(bob, r, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	a, err := session.Initiate(alice, bob.Public(), up.Bundle, up.OneTime[0], r)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("hello, bound to one mailbox")
	ad := messageAD(role, mb)
	msg, err := a.Encrypt(pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	return &bindingVector{Name: name, Comment: comment, Seed: seed, RandSeed: uint64(seed),
		Role: byte(role), Mailbox: hex.EncodeToString(mb[:]), AD: hex.EncodeToString(ad),
		AliceSigningSeed: hex.EncodeToString(alice.Signing.Seed()), AliceDHPrivate: hex.EncodeToString(alice.DH.Bytes()),
		BobSigningSeed: hex.EncodeToString(bob.Signing.Seed()), BobDHPrivate: hex.EncodeToString(bob.DH.Bytes()),
		BobPrekeyStore: hex.EncodeToString(st), Bundle: hex.EncodeToString(up.Bundle),
		ClaimedEntry: hex.EncodeToString(up.OneTime[0]), Plaintext: hex.EncodeToString(pt), Message: hex.EncodeToString(msg)}
}

func unhexT(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBindingVectors checks the associated data's bytes, that Bob's side
// reads each vector's message under it and under no other role, mailbox
// or version, and that the generator reproduces every byte.
func TestBindingVectors(t *testing.T) {
	if *updateVectors {
		for _, c := range bindingCases {
			t.Run("generate/"+c.name, func(t *testing.T) {
				cryptotest.SetGlobalRandom(t, uint64(c.seed))
				testvec.Write(t, filepath.Join(vectorDir, c.name+".json"), generateBinding(t, c.name, c.comment, c.seed, c.role))
			})
		}
	}
	for _, f := range testvec.Load[bindingVector](t, filepath.Join(vectorDir, "binding-*.json")) {
		v := f.V
		t.Run(filepath.Base(f.Path), func(t *testing.T) {
			var mb wire.MailboxID
			copy(mb[:], unhexT(t, v.Mailbox))
			ad := unhexT(t, v.AD)
			// The layout, spelled out independently of messageAD.
			want := append(append([]byte("ephemera message v2\x00"), v.Role), mb[:]...)
			if !bytes.Equal(ad, want) || !bytes.Equal(messageAD(mailboxRole(v.Role), mb), want) {
				t.Fatalf("ad: got %x, want %x", ad, want)
			}
			dh, err := ecdh.X25519().NewPrivateKey(unhexT(t, v.BobDHPrivate))
			if err != nil {
				t.Fatal(err)
			}
			bob := session.Identity{Signing: ed25519.NewKeyFromSeed(unhexT(t, v.BobSigningSeed)), DH: dh}
			msg := unhexT(t, v.Message)
			other := roleInvite
			if mailboxRole(v.Role) == roleInvite {
				other = roleContact
			}
			moved := mb
			moved[0] ^= 1
			for name, wrong := range map[string][]byte{
				"other role":    messageAD(other, mb),
				"other mailbox": messageAD(mailboxRole(v.Role), moved),
				"version 1":     adLabelV1,
			} {
				var store session.PrekeyStore
				if err := store.UnmarshalBinary(unhexT(t, v.BobPrekeyStore)); err != nil {
					t.Fatal(err)
				}
				if _, _, err := session.Respond(bob, &store, msg, wrong, nil); err == nil {
					t.Errorf("%s: the message was read", name)
				}
			}
			var store session.PrekeyStore
			if err := store.UnmarshalBinary(unhexT(t, v.BobPrekeyStore)); err != nil {
				t.Fatal(err)
			}
			_, pt, err := session.Respond(bob, &store, msg, ad, nil)
			if err != nil || !bytes.Equal(pt, unhexT(t, v.Plaintext)) {
				t.Fatalf("Respond: %q, %v", pt, err)
			}
			cryptotest.SetGlobalRandom(t, v.RandSeed)
			got := generateBinding(t, v.Name, v.Comment, v.Seed, mailboxRole(v.Role))
			if !bytes.Equal(testvec.Encode(t, got), f.Raw) {
				t.Fatal("regenerated vector differs (run with -update after a deliberate format change)")
			}
		})
	}
}
