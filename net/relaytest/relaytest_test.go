package relaytest_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/relaytest"
	"github.com/ephemera-im/ephemera/net/wire"
)

func newMailbox(t *testing.T) relayclient.Mailbox {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var id wire.MailboxID
	rand.Read(id[:])
	return relayclient.Mailbox{ID: id, Key: priv}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recv(t *testing.T, c *relayclient.Client) relayclient.Delivery {
	t.Helper()
	select {
	case d := <-c.Deliveries():
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery within 5s")
	}
	panic("unreachable")
}

func TestExchange(t *testing.T) {
	r := relaytest.New(t)
	ctx := testContext(t)
	alice, bob := relaytest.NewClient(t, r), relaytest.NewClient(t, r)
	token := wire.Key32{7}
	mb := newMailbox(t)
	mb.SendTokenHash = sha256.Sum256(token[:])
	if err := bob.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := alice.Send(ctx, mb.ID, token, 0, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		d := recv(t, bob)
		if want := fmt.Sprintf("m%d", i); string(d.Envelope) != want || d.Mailbox != mb.ID {
			t.Fatalf("delivery %d: got %q, want %q", i, d.Envelope, want)
		}
		if err := bob.Ack(ctx, mb.ID, d.Seq); err != nil {
			t.Fatal(err)
		}
	}
	envs, err := r.Store().Fetch(ctx, mb.ID, 0, 100)
	if err != nil || len(envs) != 0 {
		t.Errorf("store after acks: %d envelopes, %v; want none", len(envs), err)
	}
	if _, err := alice.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("no token")); !errors.Is(err, &wire.Error{Code: wire.CodeUnauthorized}) {
		t.Errorf("send without token: got %v, want unauthorized", err)
	}
	if h, ok := alice.Hello(); !ok || h.MaxChunk == 0 {
		t.Errorf("Hello: got %+v, %v", h, ok)
	}
}

func TestDisconnectRedelivers(t *testing.T) {
	r := relaytest.New(t)
	ctx := testContext(t)
	c := relaytest.NewClient(t, r)
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("once")); err != nil {
		t.Fatal(err)
	}
	first := recv(t, c)
	r.Disconnect()
	again := recv(t, c)
	if again.Seq != first.Seq || string(again.Envelope) != "once" {
		t.Errorf("redelivery: got seq %d %q, want %d %q", again.Seq, again.Envelope, first.Seq, "once")
	}
	if err := c.Ack(ctx, mb.ID, again.Seq); err != nil {
		t.Fatal(err)
	}
}

// The injected clock drives the relay's expiry.
func TestClockExpiry(t *testing.T) {
	clock := relaytest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	r := relaytest.New(t, relaytest.WithClock(clock.Now))
	ctx := testContext(t)
	alice := relaytest.NewClient(t, r)
	mb := newMailbox(t)
	if err := alice.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	alice.Forget(mb.ID)
	r.Disconnect() // alice no longer reads mb
	if _, err := alice.Send(ctx, mb.ID, wire.Key32{}, time.Minute, []byte("short-lived")); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, mb.ID, wire.Key32{}, time.Hour, []byte("long-lived")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)

	bob := relaytest.NewClient(t, r)
	if err := bob.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	d := recv(t, bob)
	if string(d.Envelope) != "long-lived" {
		t.Errorf("first delivery after expiry: got %q, want %q", d.Envelope, "long-lived")
	}
	if !d.Received.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Received: got %v, want the injected clock's time", d.Received)
	}
}

func TestPrekeysAndBlobs(t *testing.T) {
	r := relaytest.New(t)
	ctx := testContext(t)
	c := relaytest.NewClient(t, r)
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutPrekeys(ctx, mb.ID, []byte("bundle"), []byte("last"), [][]byte{[]byte("k1")}, true); err != nil {
		t.Fatal(err)
	}
	other := relaytest.NewClient(t, r)
	p, err := other.ClaimPrekey(ctx, mb.ID)
	if err != nil || string(p.Key) != "k1" || p.LastResort {
		t.Fatalf("claim: got %+v, %v", p, err)
	}
	p, err = other.ClaimPrekey(ctx, mb.ID)
	if err != nil || string(p.Key) != "last" || !p.LastResort {
		t.Fatalf("second claim: got %+v, %v", p, err)
	}
	if p, err := other.ClaimPrekey(ctx, wire.MailboxID{1}); err == nil {
		t.Errorf("claim for an unknown mailbox: got %+v", p)
	}
}

func TestClockAdvance(t *testing.T) {
	start := time.Unix(1000, 0)
	c := relaytest.NewClock(start)
	c.Advance(time.Second)
	if got := c.Now(); !got.Equal(start.Add(time.Second)) {
		t.Errorf("Now after Advance: got %v, want %v", got, start.Add(time.Second))
	}
}
