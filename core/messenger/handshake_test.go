package messenger

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/envelope"
	"github.com/ephemera-im/ephemera/core/identity"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/core/session"
	"github.com/ephemera-im/ephemera/net/wire"
)

// forgeHandshake makes what anyone holding an identity (a relay
// included) can send to c's mailbox at m: a hello from id, started from
// a prekey claimed on that mailbox, sealed to m's envelope key. It
// returns the envelope and the id of the hello.
func forgeHandshake(t *testing.T, st *recStore, m *Messenger, c *contactRec, id *identity.Identity, relayURL string) ([]byte, message.ID) {
	t.Helper()
	pk, err := st.ClaimPrekey(t.Context(), c.Mine.ID)
	if err != nil {
		t.Fatal(err)
	}
	aead := prekeyAEAD(c.Mine.Token, c.Mine.ID)
	bundle, err := openPrekey(aead, pk.Bundle)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := openPrekey(aead, pk.Key)
	if err != nil {
		t.Fatal(err)
	}
	peer, prekey, err := unpackBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	dh, err := ecdh.X25519().NewPublicKey(peer.DHKey)
	if err != nil {
		t.Fatal(err)
	}
	keys := session.Identity{Signing: id.SigningKey(), DH: id.DHKey()}
	sess, err := session.Initiate(keys, session.PublicIdentity{Signing: peer.SigningKey, DH: dh}, prekey, entry, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := hello{Bundle: id.Bundle().Marshal(), Relay: relayURL}
	rand.Read(h.Mailbox[:])
	rand.Read(h.Token[:])
	msg, err := message.New(&message.Control{Type: ctlHello, Data: mustJSON(h)}, message.Expiry{}, time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := msg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ct, err := sess.Encrypt(pt, messageAD(roleContact, c.Mine.ID))
	if err != nil {
		t.Fatal(err)
	}
	return seal(t, m, ct), msg.ID
}

// seal seals payload to m's envelope key.
func seal(t *testing.T, m *Messenger, payload []byte) []byte {
	t.Helper()
	epk, err := m.id.Bundle().EnvelopePublicKey()
	if err != nil {
		t.Fatal(err)
	}
	env, err := envelope.Seal(epk, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// claimAll claims mb's one-time prekeys, leaving the last-resort key.
func claimAll(t *testing.T, st *recStore, mb wire.MailboxID) {
	t.Helper()
	for {
		pk, err := st.ClaimPrekey(t.Context(), mb)
		if err != nil {
			t.Fatal(err)
		}
		if pk.LastResort {
			return
		}
	}
}

// notices counts the notices of type typ in m's conversation with cid.
func notices(t *testing.T, m *Messenger, cid, typ string) int {
	t.Helper()
	ms, err := m.v.Messages(cid, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, vm := range ms {
		var rec msgRec
		if err := json.Unmarshal(vm.Body, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Notice != nil && rec.Notice.Type == typ {
			n++
		}
	}
	return n
}

// Handshakes on a contact's mailbox are remembered in the bounded,
// expiring seen sets, not one record each for ever (the review of issue
// 16 items 14 and 15), and a replayed one is still dropped.
func TestHandshakeRecordsAreBoundedAndExpire(t *testing.T) {
	clock := newTestClock()
	relayURL, st := startRecordingRelay(t)
	alice, aliceDir := createWithClock(t, "Alice", relayURL, clock)
	bob, _ := createWithClock(t, "Bob", relayURL, clock)
	aB, bA := meet(t, alice, bob)
	ab, err := alice.findContact(aB.ID)
	if err != nil {
		t.Fatal(err)
	}

	// 20 handshakes by other identities, and Bob's own reset made with
	// the last-resort key, which a replay can open again.
	reopen := func() *Messenger {
		t.Helper()
		cfg := testConfig(aliceDir, "", "")
		cfg.Now = clock.now
		m, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var ids []message.ID
	for range n {
		id, err := identity.Generate(rand.Reader, "Mallory")
		if err != nil {
			t.Fatal(err)
		}
		env, mid := forgeHandshake(t, st, alice, ab, id, relayURL)
		st.inject(t, ab.Mine.ID, env)
		ids = append(ids, mid)
	}
	claimAll(t, st, ab.Mine.ID)
	if err := bob.ResetSession(t.Context(), bA.ID); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	reset := st.appended(ab.Mine.ID)
	if len(reset) != 1 {
		t.Fatalf("Bob's reset: %d envelopes", len(reset))
	}
	alice = reopen()
	st.waitDrained(t, ab.Mine.ID)
	syncAll(t, alice)
	if got := notices(t, alice, ab.ID, "reset"); got != 1 {
		t.Fatalf("reset notices: %d, want 1", got)
	}
	for i, id := range ids {
		if setting(t, alice, setSeenHS+hex.EncodeToString(id[:])) != nil {
			t.Fatalf("handshake %d left a record of its own", i)
		}
	}
	if es, err := decodeSeen(setting(t, alice, setSeenHS+"req:"+ab.ID)); err != nil || len(es) != n {
		t.Fatalf("other identities' handshakes remembered: %d (%v), want %d", len(es), err, n)
	}
	if es, err := decodeSeen(setting(t, alice, setSeenHS+ab.ID)); err != nil || len(es) != 1 {
		t.Fatalf("Bob's handshakes remembered: %d (%v), want 1", len(es), err)
	}

	// Bob's reset again, in a new envelope: dropped.
	payload, err := envelope.Open(alice.id.EnvelopeKey(), reset[0])
	if err != nil {
		t.Fatal(err)
	}
	replay := seal(t, alice, payload)
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	st.inject(t, ab.Mine.ID, replay)
	alice = reopen()
	st.waitDrained(t, ab.Mine.ID)
	syncAll(t, alice)
	if got := notices(t, alice, ab.ID, "reset"); got != 1 {
		t.Fatalf("reset notices after the replay: %d, want 1", got)
	}

	// A month later the handshakes are forgotten, at start-up.
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	clock.advance(seenTTL + time.Minute)
	alice = reopen()
	for _, name := range []string{setSeenHS + ab.ID, setSeenHS + "req:" + ab.ID} {
		if b := setting(t, alice, name); b != nil {
			t.Errorf("%s: %d bytes kept after %v", name, len(b), seenTTL)
		}
	}
}

// Identity requests on a contact's mailbox, which anyone (the relay
// too) can make without end, add a notice only for a new requester and
// at most one an hour per contact (review of issue 16 item 1).
func TestRepeatedIdentityRequestsAreBounded(t *testing.T) {
	clock := newTestClock()
	relayURL, st := startRecordingRelay(t)
	alice, aliceDir := createWithClock(t, "Alice", relayURL, clock)
	bob, _ := createWithClock(t, "Bob", relayURL, clock)
	aB, _ := meet(t, alice, bob)
	ab, err := alice.findContact(aB.ID)
	if err != nil {
		t.Fatal(err)
	}
	// deliver has Alice read the handshakes of ids, in order.
	deliver := func(ids ...*identity.Identity) {
		t.Helper()
		if err := alice.Close(); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			env, _ := forgeHandshake(t, st, alice, ab, id, relayURL)
			st.inject(t, ab.Mine.ID, env)
		}
		cfg := testConfig(aliceDir, "", "")
		cfg.Now = clock.now
		alice, err = Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { alice.Close() })
		st.waitDrained(t, ab.Mine.ID)
		syncAll(t, alice)
	}
	newID := func() *identity.Identity {
		id, err := identity.Generate(rand.Reader, "Mallory")
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	pending := func() []byte {
		c, err := alice.findContact(aB.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.KeyChanged
	}

	mallory := newID()
	same := make([]*identity.Identity, 50)
	for i := range same {
		same[i] = mallory
	}
	deliver(same...)
	if got := notices(t, alice, ab.ID, "key-request"); got != 1 {
		t.Fatalf("50 requests by one identity: %d notices, want 1", got)
	}

	others := make([]*identity.Identity, 50)
	for i := range others {
		others[i] = newID()
	}
	clock.advance(time.Minute)
	deliver(others...)
	if got := notices(t, alice, ab.ID, "key-request"); got != 1 {
		t.Fatalf("50 requests by other identities within the hour: %d notices, want still 1", got)
	}
	if !bytes.Equal(pending(), others[len(others)-1].Bundle().Marshal()) {
		t.Error("the pending request is not the latest one")
	}

	// An hour after the notice, a new requester is shown again.
	clock.advance(requestNoticeEvery)
	deliver(newID())
	if got := notices(t, alice, ab.ID, "key-request"); got != 2 {
		t.Fatalf("a new request an hour later: %d notices, want 2", got)
	}
}
