package messenger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/core/envelope"
	"github.com/ephemera-im/ephemera/core/message"
	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/relay/embedded"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/storage/vault"
)

// queueTexts encrypts and queues texts for contact in one transaction, as
// a group commit of that many SendText calls does.
func queueTexts(m *Messenger, contact string, texts []string) error {
	c, err := m.findContact(contact)
	if err != nil {
		return err
	}
	var reqErr error
	err = m.submit(&job{run: func(t *vault.Tx) error {
		for _, text := range texts {
			r := &sendReq{contact: c.ID, body: message.Text(text), hist: &msgRec{Kind: KindText, Text: text}}
			var err error
			if reqErr, err = m.queueRequest(t, r); err != nil || reqErr != nil {
				return err
			}
		}
		return nil
	}})
	if err == nil {
		err = reqErr
	}
	m.wakeOutbox()
	return err
}

// syncFor syncs ms in turn until cond holds or the deadline passes.
func syncFor(t *testing.T, d time.Duration, cond func() bool, ms ...*Messenger) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		for _, m := range ms {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			if err := m.Sync(ctx, 200*time.Millisecond); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				cancel()
				t.Fatalf("%s: sync: %v", m.Pseudonym(), err)
			}
			cancel()
		}
	}
	return true
}

// countStates counts a conversation's messages by state, and says whether
// every text in want is among them.
func countStates(t *testing.T, m *Messenger, contact string, limit int) map[State]int {
	t.Helper()
	h, err := m.History(contact, 0, limit)
	if err != nil {
		t.Fatal(err)
	}
	n := map[State]int{}
	for _, msg := range h {
		n[msg.State]++
	}
	return n
}

// A burst of texts in one transaction larger than one envelope goes out in
// several envelopes that fit the relay's announced max_envelope, and every
// text is delivered (issue 16 item 6: the whole transaction used to fail).
func TestBurstLargerThanAnEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name    string
		maxEnv  int // the relay's max_envelope; 0 for the default
		n, size int
	}{
		{"five 60 kB texts, default relay", 0, 5, 60 << 10},
		{"three 60 kB texts, relay taking 128 KiB envelopes", 128<<10 + envelope.Overhead, 3, 60 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limits := relay.DefaultLimits()
			if tc.maxEnv > 0 {
				limits.MaxEnvelope = tc.maxEnv
			}
			r, err := embedded.Start(t.Context(), embedded.Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Limits: &limits})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			alice, _ := create(t, "Alice", r.URL())
			bob, _ := create(t, "Bob", r.URL())
			meet(t, alice, bob)
			texts := make([]string, tc.n)
			for i := range texts {
				texts[i] = fmt.Sprintf("%d:", i) + strings.Repeat(string(rune('a'+i)), tc.size)
			}
			if err := queueTexts(alice, "Bob", texts); err != nil {
				t.Fatalf("queueing %d texts of %d bytes in one transaction: %v", tc.n, tc.size, err)
			}
			delivered := func() bool {
				n := countStates(t, alice, "Bob", 100)
				return n[StateDelivered] == tc.n || n[StateFailed] > 0
			}
			if !syncFor(t, 2*time.Minute, delivered, alice, bob) {
				t.Fatalf("Alice's texts: got states %v, want %d delivered", countStates(t, alice, "Bob", 100), tc.n)
			}
			h, err := bob.History("Alice", 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, msg := range h {
				got[msg.Text] = true
			}
			for i, text := range texts {
				if !got[text] {
					t.Errorf("Bob lacks text %d", i)
				}
			}
		})
	}
}

// 128 envelopes of 100 texts each, handled in one receive transaction,
// make delivery receipts that fill more than one envelope: they are split,
// every text is stored and acknowledged, and every receipt arrives (issue
// 16 item 6: the receiver used to store nothing, for ever).
func TestReceiptsOfAFullReceiveBatch(t *testing.T) {
	const envelopes, perEnvelope = 128, 100
	// Bob's relay client reads the whole backlog ahead, and his first
	// receive transaction once armed waits for it: one batch of 128
	// envelopes.
	var armed atomic.Bool
	var batched atomic.Int32
	testDeliveryBuffer = 2 * envelopes
	testHookReceiveBatch = func(m *Messenger, pending <-chan relayclient.Delivery) {
		if !armed.Load() || m.Pseudonym() != "Bob" || batched.Load() != 0 {
			return
		}
		deadline := time.Now().Add(time.Minute)
		for len(pending) < envelopes-1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		batched.Store(int32(len(pending) + 1))
	}
	t.Cleanup(func() { testHookReceiveBatch, testDeliveryBuffer = nil, 0 })

	relayURL := startRelay(t)
	alice, _ := create(t, "Alice", relayURL)
	bob, bobDir := create(t, "Bob", relayURL)
	meet(t, alice, bob)
	if err := bob.Close(); err != nil {
		t.Fatal(err)
	}
	for e := range envelopes {
		texts := make([]string, perEnvelope)
		for i := range texts {
			texts[i] = fmt.Sprintf("text %d.%d", e, i)
		}
		if err := queueTexts(alice, "Bob", texts); err != nil {
			t.Fatal(err)
		}
	}
	syncAll(t, alice)

	armed.Store(true)
	bob2, err := Open(testConfig(bobDir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob2.Close() })

	const total = envelopes * perEnvelope
	delivered := func() bool { return countStates(t, alice, "Bob", 2*total)[StateDelivered] == total }
	if !syncFor(t, 5*time.Minute, delivered, bob2, alice) {
		t.Fatalf("after a receive batch of %d envelopes: Alice's states %v, Bob's %v; want %d delivered",
			batched.Load(), countStates(t, alice, "Bob", 2*total), countStates(t, bob2, "Alice", 2*total), total)
	}
	if n := batched.Load(); n != envelopes {
		t.Errorf("the first receive batch held %d envelopes, want %d", n, envelopes)
	}
	if n := countStates(t, bob2, "Alice", 2*total)[StateReceived]; n != total {
		t.Errorf("Bob holds %d texts, want %d", n, total)
	}
}

// A receive transaction whose receipts cannot be sealed still stores and
// acknowledges what it received; the conversation goes on (issue 16 item
// 6: a sealing failure aborted the transaction, so the envelope came back
// for ever).
func TestSealFailureDoesNotAbortReceive(t *testing.T) {
	var failing atomic.Bool
	errSeal := errors.New("test: sealing refused")
	testHookSeal = func(m *Messenger, c *contactRec) error {
		if failing.Load() && m.Pseudonym() == "Bob" {
			return errSeal
		}
		return nil
	}
	t.Cleanup(func() { testHookSeal = nil })
	relayURL := startRelay(t)
	alice, _ := create(t, "Alice", relayURL)
	bob, _ := create(t, "Bob", relayURL)
	meet(t, alice, bob)

	failing.Store(true)
	if _, err := alice.SendText(t.Context(), "Bob", "while Bob cannot seal", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	received := func() bool {
		h, err := bob.History("Alice", 0, 10)
		return err == nil && len(h) > 0 && h[0].Text == "while Bob cannot seal"
	}
	if !syncFor(t, time.Minute, received, alice, bob) {
		t.Fatalf("Bob did not store the text whose receipt could not be sealed")
	}
	// The receipt was never sent: Alice's text stays sent.
	if got := lastText(t, alice, "Bob"); got.State != StateSent {
		t.Errorf("Alice's text: got state %s, want sent", got.State)
	}
	// A text of Bob's that cannot be sealed is marked failed.
	m, err := bob.SendText(t.Context(), "Alice", "lost", SendOptions{})
	if err != nil {
		t.Fatalf("sending while sealing fails: got %v, want the message queued and then failed", err)
	}
	failed := func() bool {
		h, err := bob.History("Alice", 0, 10)
		return err == nil && len(h) > 0 && h[0].ID == m.ID && h[0].State == StateFailed
	}
	if !syncFor(t, time.Minute, failed, bob) {
		t.Fatalf("Bob's unsealable text: got %+v, want failed", lastText(t, bob, "Alice"))
	}

	failing.Store(false)
	if _, err := bob.SendText(t.Context(), "Alice", "after the failure", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got := func() bool { return lastText(t, alice, "Bob").Text == "after the failure" }
	if !syncFor(t, time.Minute, got, bob, alice, bob) {
		t.Fatalf("Alice got %q, want Bob's text after the failure", lastText(t, alice, "Bob").Text)
	}
	if got := lastText(t, bob, "Alice"); got.State != StateDelivered {
		t.Errorf("Bob's text after the failure: got state %s, want delivered", got.State)
	}
}
