// Package e2etest checks that the end-to-end pieces fit together the way
// the messenger will use them: an identity and an invite on one side, a
// prekey claim through a relay, the handshake, message contents inside the
// ratchet, and sealed envelopes that are all the relay ever holds. The relay
// is net/relaytest's, reached through in-memory pipes.
package e2etest

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/envelope"
	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/invite"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/relaytest"
	"github.com/ephemera-im/ephemera/net/wire"
)

// party is one person: identity, session keys, a mailbox on the relay.
type party struct {
	id      *identity.Identity
	keys    session.Identity
	client  *relayclient.Client
	mailbox relayclient.Mailbox
	token   wire.Key32
}

func newParty(t *testing.T, r *relaytest.Relay, name string) *party {
	t.Helper()
	id, err := identity.Generate(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	p := &party{id: id, keys: session.Identity{Signing: id.SigningKey(), DH: id.DHKey()}, client: relaytest.NewClient(t, r)}
	_, mbKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rand.Read(p.mailbox.ID[:])
	rand.Read(p.token[:])
	p.mailbox.Key = mbKey
	p.mailbox.SendTokenHash = sha256.Sum256(p.token[:])
	if err := p.client.Register(t.Context(), p.mailbox); err != nil {
		t.Fatal(err)
	}
	return p
}

// send encrypts a text in s, seals it to the recipient's bundle and hands
// it to the relay; it returns the envelope the relay stored.
func send(t *testing.T, from *party, s *session.Session, to *identity.Bundle, mb wire.MailboxID, tok wire.Key32, text string, ad []byte) []byte {
	t.Helper()
	m, err := message.New(message.Text(text), message.Expiry{Timer: 3600}, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ct, err := s.Encrypt(pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := to.EnvelopePublicKey()
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(pk, ct)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := from.client.Send(t.Context(), mb, tok, time.Hour, env); err != nil {
		t.Fatal(err)
	}
	return env
}

// receive takes the next envelope from p's mailbox, acknowledges it and
// opens it: the ratchet message inside.
func receive(t *testing.T, p *party) []byte {
	t.Helper()
	var d relayclient.Delivery
	select {
	case d = <-p.client.Deliveries():
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	if err := p.client.Ack(t.Context(), d.Mailbox, d.Seq); err != nil {
		t.Fatal(err)
	}
	ct, err := envelope.Open(p.id.EnvelopeKey(), d.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func text(t *testing.T, pt []byte) string {
	t.Helper()
	m, err := message.Unmarshal(pt)
	if err != nil {
		t.Fatal(err)
	}
	txt, ok := m.Body.(message.Text)
	if !ok {
		t.Fatalf("body: got %T, want message.Text", m.Body)
	}
	if m.Expiry.Timer != 3600 {
		t.Errorf("expiry timer: got %d, want 3600", m.Expiry.Timer)
	}
	return string(txt)
}

func TestInviteHandshakeAndSealedMessages(t *testing.T) {
	ctx := context.Background()
	r := relaytest.New(t)
	alice := newParty(t, r, "Alice")
	bob := newParty(t, r, "Bob")

	// Alice publishes prekeys and gives Bob an invite.
	prekeys, up, err := session.NewPrekeys(alice.keys, nil, time.Now(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.client.PutPrekeys(ctx, alice.mailbox.ID, up.Bundle, up.LastResort, up.OneTime, true); err != nil {
		t.Fatal(err)
	}
	inv, err := invite.New(alice.id, invite.Params{
		RelayURL: "ws://127.0.0.1:7867", Mailbox: alice.mailbox.ID, SendToken: alice.token,
		Expires: time.Now().Add(24 * time.Hour), OneTime: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := invite.Parse(inv.String(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The identity bundle (with the envelope key) reaches Bob apart from
	// the invite, which pins it by digest.
	aliceBundle := alice.id.Bundle()
	if err := got.MatchBundle(aliceBundle); err != nil {
		t.Fatalf("MatchBundle: %v", err)
	}

	// Bob claims a prekey through the relay and starts the session.
	pk, err := bob.client.ClaimPrekey(ctx, got.Mailbox)
	if err != nil {
		t.Fatal(err)
	}
	if pk.LastResort {
		t.Fatal("claim gave the last-resort key with one-time keys left")
	}
	aliceDH, err := ecdh.X25519().NewPublicKey(got.DHKey)
	if err != nil {
		t.Fatal(err)
	}
	bobSess, err := session.Initiate(bob.keys, session.PublicIdentity{Signing: got.SigningKey, DH: aliceDH}, pk.Bundle, pk.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := send(t, bob, bobSess, aliceBundle, got.Mailbox, got.SendToken, "hello Alice", nil)

	// What the relay holds: a padded envelope, nothing of Bob.
	padded := false
	for _, b := range envelope.Buckets() {
		padded = padded || len(env) == b+envelope.Overhead
	}
	if !padded {
		t.Errorf("envelope of %d bytes is not a bucket size", len(env))
	}
	for what, b := range map[string][]byte{
		"Bob's pseudonym": []byte("Bob"), "Bob's signing key": bob.id.SigningPublicKey(),
		"Bob's DH key": bob.id.DHPublicKey().Bytes(), "the text": []byte("hello Alice"),
	} {
		if bytes.Contains(env, b) {
			t.Errorf("the envelope shows %s", what)
		}
	}

	// Alice answers the handshake.
	aliceSess, pt, err := session.Respond(alice.keys, prekeys, receive(t, alice), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := text(t, pt); s != "hello Alice" {
		t.Fatalf("Alice read %q, want %q", s, "hello Alice")
	}

	// A conversation: turns in both directions, over the relay.
	bobBundle := bob.id.Bundle()
	for i, line := range []string{"hi Bob", "how are you?", "fine", "bye"} {
		var pt []byte
		if i%2 == 0 {
			send(t, alice, aliceSess, bobBundle, bob.mailbox.ID, bob.token, line, nil)
			pt, err = bobSess.Decrypt(receive(t, bob), nil)
		} else {
			send(t, bob, bobSess, aliceBundle, alice.mailbox.ID, alice.token, line, nil)
			pt, err = aliceSess.Decrypt(receive(t, alice), nil)
		}
		if err != nil {
			t.Fatalf("turn %d: %v", i, err)
		}
		if s := text(t, pt); s != line {
			t.Fatalf("turn %d: read %q, want %q", i, s, line)
		}
	}

	// Both sides see the same safety number.
	sa, err := alice.id.SafetyNumber(bobBundle)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := bob.id.SafetyNumber(aliceBundle)
	if err != nil {
		t.Fatal(err)
	}
	if sa.String() != sb.String() {
		t.Errorf("safety numbers differ: %s / %s", sa, sb)
	}
}
