package messenger

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/store/boltstore"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// recStore is a relay's store that keeps a copy of every envelope
// appended, per mailbox: what a hostile relay can keep to replay.
type recStore struct {
	store.Store
	mu  sync.Mutex
	log map[wire.MailboxID][][]byte
}

func (s *recStore) Append(ctx context.Context, id wire.MailboxID, env store.Envelope, q store.Quota) (uint64, error) {
	seq, err := s.Store.Append(ctx, id, env, q)
	if err == nil {
		s.mu.Lock()
		s.log[id] = append(s.log[id], bytes.Clone(env.Data))
		s.mu.Unlock()
	}
	return seq, err
}

func (s *recStore) appended(id wire.MailboxID) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log[id])
}

// startRecordingRelay runs a real relay (bbolt store, WebSocket on a
// loopback port) whose store the test can read and write directly, as
// the relay's operator can.
func startRecordingRelay(t *testing.T) (string, *recStore) {
	t.Helper()
	bs, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &recStore{Store: bs, log: map[wire.MailboxID][][]byte{}}
	srv, err := relay.New(relay.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		srv.Shutdown(context.Background())
		bs.Close()
	})
	return "ws://" + ln.Addr().String() + wsconn.Path, st
}

// inject stores env in mailbox mb, as a relay that moves or replays
// envelopes does; it is delivered when the owner next authenticates.
func (s *recStore) inject(t *testing.T, mb wire.MailboxID, env []byte) {
	t.Helper()
	if _, err := s.Store.Append(t.Context(), mb, store.Envelope{Data: env}, store.Quota{MaxMessages: 1 << 20, MaxBytes: 1 << 40}); err != nil {
		t.Fatalf("inject: %v", err)
	}
}

// waitDrained waits until mailbox mb holds nothing: its owner has read
// and acknowledged everything in it.
func (s *recStore) waitDrained(t *testing.T, mb wire.MailboxID) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		envs, err := s.Store.Fetch(t.Context(), mb, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(envs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailbox still holds %d envelopes", len(envs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitText waits until m's conversation with contact holds text.
func waitText(t *testing.T, m *Messenger, contact, text string) {
	t.Helper()
	// On a busy machine the contact itself may not be stored yet (its
	// hello is still on its way): that is "not yet", not a failure.
	got := func() []string {
		h, err := m.History(contact, 0, 100)
		if errors.Is(err, ErrUnknownContact) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range h {
			out = append(out, x.Text)
		}
		return out
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !contains(got(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never got %q from %s; has %q", m.Pseudonym(), text, contact, got())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// contactState is everything that decides who a contact is and where
// our messages to them go.
type contactState struct {
	Pseudonym  string
	Bundle     []byte
	Theirs     peerMailbox
	Session    []byte
	Safety     string
	KeyChanged bool
	Verified   bool
}

func stateOf(t *testing.T, m *Messenger, id string) contactState {
	t.Helper()
	c, err := m.findContact(id)
	if err != nil {
		t.Fatal(err)
	}
	var sess []byte
	if err := m.v.View(func(tx *vault.Tx) error {
		sess, err = tx.Session(id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sn, err := m.SafetyNumber(id)
	if err != nil {
		t.Fatal(err)
	}
	return contactState{Pseudonym: c.Pseudonym, Bundle: c.Bundle, Theirs: c.Theirs, Session: sess,
		Safety: sn.String(), KeyChanged: len(c.KeyChanged) > 0, Verified: c.Verified}
}

func sameState(t *testing.T, what string, got, want contactState) {
	t.Helper()
	switch {
	case got.Pseudonym != want.Pseudonym:
		t.Errorf("%s: pseudonym %q, want %q", what, got.Pseudonym, want.Pseudonym)
	case !bytes.Equal(got.Bundle, want.Bundle):
		t.Errorf("%s: identity bundle changed", what)
	case got.Theirs != want.Theirs:
		t.Errorf("%s: send-to mailbox changed", what)
	case !bytes.Equal(got.Session, want.Session):
		t.Errorf("%s: session changed", what)
	case got.Safety != want.Safety:
		t.Errorf("%s: safety number changed", what)
	case got.KeyChanged != want.KeyChanged || got.Verified != want.Verified:
		t.Errorf("%s: KeyChanged=%v Verified=%v, want %v, %v", what, got.KeyChanged, got.Verified, want.KeyChanged, want.Verified)
	}
}

// TestRelayCannotRebindAContact is the attack of issue 16, item 1: the
// relay moves Bob's acceptance of Alice's invite from the invite's
// mailbox into Alice's mailbox for Carol, and replays old handshakes on
// an invite mailbox and on a contact mailbox. Carol must stay Carol in
// every respect, and every genuine message after must arrive.
func TestRelayCannotRebindAContact(t *testing.T) {
	relayURL, st := startRecordingRelay(t)
	alice, aliceDir := create(t, "Alice", relayURL)
	bob, _ := create(t, "Bob", relayURL)
	carol, _ := create(t, "Carol", relayURL)

	// Carol comes through a reusable invite, whose mailbox stays read.
	inv0, err := alice.CreateInvite(t.Context(), InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cA, err := carol.AcceptInvite(t.Context(), inv0.Code)
	if err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol, alice, carol)
	aC, err := alice.FindContact("Carol")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := alice.inviteRecs()
	if err != nil || len(recs) != 1 {
		t.Fatalf("Alice's invites: %d, %v", len(recs), err)
	}
	inv0MB := recs[0].Mailbox.ID
	carolHello := st.appended(inv0MB)
	if len(carolHello) != 1 {
		t.Fatalf("Carol's acceptance: %d envelopes on the invite's mailbox, want 1", len(carolHello))
	}
	ac, err := alice.findContact(aC.ID)
	if err != nil {
		t.Fatal(err)
	}
	carolMB := ac.Mine.ID

	// Carol resets the session once: a handshake on a contact mailbox.
	before := len(st.appended(carolMB))
	if err := carol.ResetSession(t.Context(), cA.ID); err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol)
	resetHello := st.appended(carolMB)[before:]
	if len(resetHello) != 1 {
		t.Fatalf("Carol's reset: %d envelopes, want 1", len(resetHello))
	}
	if _, err := carol.SendText(t.Context(), cA.ID, "after my reset", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitText(t, alice, aC.ID, "after my reset")
	syncAll(t, alice, carol, alice)
	want := stateOf(t, alice, aC.ID)

	// Alice is away while Bob accepts a new invite of hers.
	inv, err := alice.CreateInvite(t.Context(), InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs, err = alice.inviteRecs()
	if err != nil || len(recs) != 2 {
		t.Fatalf("Alice's invites: %d, %v", len(recs), err)
	}
	invMB := recs[1].Mailbox.ID
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AcceptInvite(t.Context(), inv.Code); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)

	// The relay moves Bob's acceptance into Alice's mailbox for Carol,
	// and replays Carol's first hello and her reset.
	envs, err := st.Fetch(t.Context(), invMB, 0, 0)
	if err != nil || len(envs) != 1 {
		t.Fatalf("Bob's acceptance: %d envelopes, %v", len(envs), err)
	}
	st.inject(t, carolMB, envs[0].Data)
	if _, err := st.Delete(t.Context(), invMB, []uint64{envs[0].Seq}); err != nil {
		t.Fatal(err)
	}
	st.inject(t, carolMB, resetHello[0])
	st.inject(t, inv0MB, carolHello[0])

	alice, err = Open(testConfig(aliceDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	st.waitDrained(t, carolMB)
	st.waitDrained(t, inv0MB)
	syncAll(t, alice)

	sameState(t, "Carol after the relay's move and replays", stateOf(t, alice, aC.ID), want)
	if cs, err := alice.Contacts(); err != nil || len(cs) != 1 {
		t.Errorf("Alice's contacts after the move: %+v, %v; want Carol alone", cs, err)
	}

	// Nothing to accept, and the conversation goes on with Carol.
	if _, err := alice.AcceptKeyChange(aC.ID); err != nil {
		t.Fatal(err)
	}
	sameState(t, "Carol after AcceptKeyChange", stateOf(t, alice, aC.ID), want)
	if _, err := carol.SendText(t.Context(), cA.ID, "still me", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitText(t, alice, aC.ID, "still me")
	if _, err := alice.SendText(t.Context(), aC.ID, "hello Carol", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitText(t, carol, cA.ID, "hello Carol")
	if err := alice.ResetSession(t.Context(), aC.ID); err != nil {
		t.Fatal(err)
	}
	// The reset's hello is at the relay before the next message (the
	// outbox sends entries concurrently; a message that overtakes the
	// hello of its session is not readable yet).
	syncAll(t, alice)
	if _, err := alice.SendText(t.Context(), aC.ID, "after Alice's reset", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitText(t, carol, cA.ID, "after Alice's reset")
	if _, err := carol.SendText(t.Context(), cA.ID, "and back", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitText(t, alice, aC.ID, "and back")
	sa, _ := alice.SafetyNumber(aC.ID)
	sc, _ := carol.SafetyNumber(cA.ID)
	if sa.String() != sc.String() {
		t.Error("Alice and Carol see different safety numbers")
	}
}
