package relay

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// slowDeletes holds every Delete until release is closed.
type slowDeletes struct {
	store.Store
	started chan struct{}
	release chan struct{}
}

func (s *slowDeletes) Delete(ctx context.Context, id wire.MailboxID, seqs []uint64) (int, error) {
	s.started <- struct{}{}
	<-s.release
	return s.Store.Delete(ctx, id, seqs)
}

// An Ack's disk commit must not hold up the Send the client pipelines
// behind it: the Sent comes back first, the OK when the delete is done.
func TestAckDoesNotHoldUpSend(t *testing.T) {
	slow := &slowDeletes{started: make(chan struct{}, 1), release: make(chan struct{})}
	e := newEnv(t, func(c *Config) { slow.Store = c.Store; c.Store = slow })
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	seq := r.send(o.id, wire.Key32{}, "first")
	if d := r.deliver(); d.Seq != seq {
		t.Fatalf("deliver: got seq %d, want %d", d.Seq, seq)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.conn.WriteFrame(ctx, wire.Encode(100, &wire.Ack{Mailbox: o.id, Seqs: []uint64{seq}})); err != nil {
		t.Fatal(err)
	}
	<-slow.started
	if err := r.conn.WriteFrame(ctx, wire.Encode(101, &wire.Send{Mailbox: o.id, Envelope: []byte("second")})); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-r.resps:
		if _, ok := f.m.(*wire.Sent); !ok || f.id != 101 {
			t.Fatalf("with the delete pending: got %v id %d, want Sent id 101", describe(f.m), f.id)
		}
	case <-ctx.Done():
		t.Fatal("Send held up behind a pending Ack")
	}
	close(slow.release)
	select {
	case f := <-r.resps:
		if _, ok := f.m.(*wire.OK); !ok || f.id != 100 {
			t.Fatalf("after the delete: got %v id %d, want OK id 100", describe(f.m), f.id)
		}
	case <-ctx.Done():
		t.Fatal("no answer to the Ack")
	}
	u, err := e.store.Usage(ctx, o.id)
	if err != nil || u.Messages != 1 {
		t.Errorf("usage: got %+v, %v; want 1 message (the second)", u, err)
	}
}

// countFetches counts Fetch calls.
type countFetches struct {
	store.Store
	n atomic.Int64
}

func (s *countFetches) Fetch(ctx context.Context, id wire.MailboxID, after uint64, limit int) ([]store.Envelope, error) {
	s.n.Add(1)
	return s.Store.Fetch(ctx, id, after, limit)
}

// A subscriber that is caught up gets new envelopes handed over, not read
// back from the store; one that is behind still gets everything in order.
func TestLiveDeliveryHandsOver(t *testing.T) {
	cf := &countFetches{}
	e := newEnv(t, func(c *Config) { cf.Store = c.Store; c.Store = cf })
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	s := e.pipe()
	eventually(t, "the backlog fetch after Register", func() bool { return cf.n.Load() >= 1 })
	before := cf.n.Load()
	const n = 50
	for i := range n {
		seq := s.send(o.id, wire.Key32{}, fmt.Sprint(i))
		d := r.deliver()
		if d.Seq != seq || string(d.Envelope) != fmt.Sprint(i) {
			t.Fatalf("deliver %d: got seq %d %q, want %d %q", i, d.Seq, d.Envelope, seq, fmt.Sprint(i))
		}
		mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: []uint64{d.Seq}})
	}
	// A few may still be read back: an offer that finds the previous
	// pump not yet exited falls back to a kick. Without handing over, every
	// one would be.
	if got := cf.n.Load() - before; got > n/2 {
		t.Errorf("store fetches for %d live envelopes to a caught-up subscriber: got %d, want at most %d", n, got, n/2)
	}

	// An offer that skips a seq (an envelope stored but not yet offered)
	// must fall back to reading the store from the cursor.
	subs := e.srv.hub.list(o.id)
	if len(subs) != 1 {
		t.Fatalf("subscriptions: got %d, want 1", len(subs))
	}
	next := s.send(o.id, wire.Key32{}, "a") // offered and delivered
	r.deliver()
	if _, err := e.store.Append(context.Background(), o.id, store.Envelope{Data: []byte("b")}, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	subs[0].offer(store.Envelope{Seq: next + 2, Data: []byte("ahead")})
	d := r.deliver()
	if d.Seq != next+1 || string(d.Envelope) != "b" {
		t.Errorf("after a gap: got seq %d %q, want %d %q read from the store", d.Seq, d.Envelope, next+1, "b")
	}
}

// Many senders to one mailbox, its owner acknowledging as envelopes
// arrive: offers, kicks and acks interleave in every way, and every
// envelope must still arrive exactly once per connection.
func TestConcurrentSendersNothingStalls(t *testing.T) {
	e := newEnv(t)
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	const senders, each = 4, 100
	var wg sync.WaitGroup
	for i := range senders {
		s := e.pipe()
		wg.Go(func() {
			for k := range each {
				s.send(o.id, wire.Key32{}, fmt.Sprintf("%d/%d", i, k))
			}
		})
	}
	go func() { // the OKs to the Acks below
		for {
			select {
			case <-r.resps:
			case <-r.done:
				return
			}
		}
	}()
	seen := make(map[string]bool)
	var last uint64
	for range senders * each {
		d := r.deliver()
		if d.Seq <= last {
			t.Fatalf("seq %d after %d: out of order", d.Seq, last)
		}
		last = d.Seq
		if seen[string(d.Envelope)] {
			t.Fatalf("%q delivered twice", d.Envelope)
		}
		seen[string(d.Envelope)] = true
		// Ack without waiting for the answer, as a busy client would.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := r.conn.WriteFrame(ctx, wire.Encode(uint32(1000+d.Seq), &wire.Ack{Mailbox: o.id, Seqs: []uint64{d.Seq}}))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// A kick that lands between an offer and the start of the pump it
// started must not be lost: the pump writes the offered envelope, then
// reads the store for the kicked one.
func TestKickDuringOfferIsKept(t *testing.T) {
	e := newEnv(t)
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	s := e.pipe()
	eventually(t, "the backlog pump to finish", func() bool {
		subs := e.srv.hub.list(o.id)
		if len(subs) != 1 {
			return false
		}
		subs[0].mu.Lock()
		defer subs[0].mu.Unlock()
		// Started: a subscription is in the hub from its Auth on, and
		// its first pump starts once OK is written.
		return subs[0].started && !subs[0].running
	})
	var once sync.Once
	testHookOffered = func(sb *sub) {
		once.Do(func() {
			// Another sender's envelope, stored and kicked meanwhile.
			if _, err := e.store.Append(context.Background(), o.id, store.Envelope{Data: []byte("kicked")}, store.Quota{}); err != nil {
				t.Error(err)
			}
			sb.kick()
		})
	}
	t.Cleanup(func() { testHookOffered = nil })
	s.send(o.id, wire.Key32{}, "offered")
	for _, want := range []string{"offered", "kicked"} {
		if d := r.deliver(); string(d.Envelope) != want {
			t.Fatalf("got %q, want %q", d.Envelope, want)
		}
	}
}
