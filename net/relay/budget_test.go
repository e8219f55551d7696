package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// waiters returns how many wait in each class.
func (b *budget) waiting() [2]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return [2]int{len(b.waiters[0]), len(b.waiters[1])}
}

func TestBudget(t *testing.T) {
	b := newBudget(10)
	if !b.tryAcquire(6, false) || b.tryAcquire(5, false) {
		t.Fatal("tryAcquire: want 6 of 10 taken, then 5 refused")
	}
	got := make(chan string, 3)
	go func() { b.acquire(context.Background(), 8, false); got <- "normal 8" }()
	eventually(t, "a waiter", func() bool { return b.waiting() == [2]int{0, 1} })
	// A small request does not overtake the waiting large one.
	if b.tryAcquire(1, false) {
		t.Fatal("tryAcquire overtook a waiter")
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.acquire(ctx, 1, false) }()
	eventually(t, "a second waiter", func() bool { return b.waiting() == [2]int{0, 2} })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: got %v, want context.Canceled", err)
	}
	// An urgent request goes before the normal one.
	go func() { b.acquire(context.Background(), 5, true); got <- "urgent 5" }()
	eventually(t, "an urgent waiter", func() bool { return b.waiting() == [2]int{1, 1} })
	b.release(6)
	if g := <-got; g != "urgent 5" || b.held() != 5 {
		t.Fatalf("after release: %s granted, %d held; want urgent 5 first and 5 held", g, b.held())
	}
	b.release(5)
	if g := <-got; g != "normal 8" || b.held() != 8 {
		t.Fatalf("after release: %s granted, %d held; want normal 8 and 8 held", g, b.held())
	}
	// An urgent tryAcquire passes normal waiters, not urgent ones.
	go func() { b.acquire(context.Background(), 5, false); got <- "normal 5" }()
	eventually(t, "a normal waiter", func() bool { return b.waiting() == [2]int{0, 1} })
	if !b.tryAcquire(2, true) {
		t.Fatal("urgent tryAcquire refused with room and only normal waiters")
	}
	b.release(10)
	if g := <-got; g != "normal 5" || b.held() != 5 {
		t.Fatalf("after release: %s granted, %d held; want normal 5 and 5 held", g, b.held())
	}
	b.release(5)
	if b.held() != 0 || b.waiting() != [2]int{} {
		t.Fatalf("held %d, waiting %v after all released, want none", b.held(), b.waiting())
	}
	// All or none over several budgets.
	bs := budgets{newBudget(10), newBudget(5), newBudget(10)}
	if bs.tryAcquire(6, true) {
		t.Fatal("budgets.tryAcquire took 6 where one budget has 5")
	}
	for i, b := range bs {
		if b.held() != 0 {
			t.Errorf("budget %d holds %d after a refused tryAcquire", i, b.held())
		}
	}
}

func TestLimitsDeliverBudgets(t *testing.T) {
	l := Limits{MaxEnvelope: 4 << 20}.withDefaults()
	if l.DeliverConnBytes < l.maxDeliverFrame() || l.DeliverMailboxBytes < l.DeliverConnBytes || l.DeliverTotalBytes < l.DeliverMailboxBytes {
		t.Errorf("defaults for a 4 MiB MaxEnvelope: %d, %d, %d; want each to hold a frame", l.DeliverConnBytes, l.DeliverMailboxBytes, l.DeliverTotalBytes)
	}
	l = Limits{DeliverMailboxBytes: 1000}.withDefaults()
	if err := l.validate(); err == nil || !strings.Contains(err.Error(), "DeliverMailboxBytes") {
		t.Errorf("a mailbox budget below one frame: got %v, want an error naming it", err)
	}
}

// TestMailboxConnLimit: connections beyond MaxConnsPerMailbox are refused
// rate-limited, and a place frees once a connection has ended.
func TestMailboxConnLimit(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxConnsPerMailbox = 2 }))
	o := newOwner(t)
	a, b, c := e.pipe(), e.pipe(), e.pipe()
	o.register(a, tokenHash(wire.Key32{1}))
	o.auth(b)
	werr := c.wantError(o.authMsg(c), wire.CodeRateLimited)
	if !strings.Contains(werr.Message, "mailbox has 2 connections") {
		t.Errorf("refusal: got %q, want it to say the mailbox has 2 connections", werr.Message)
	}
	if got := e.metric("ephemera_relay_mailbox_conn_limit_total"); got != 1 {
		t.Errorf("mailbox_conn_limit_total: got %v, want 1", got)
	}
	// Not subscribed: a Send to the mailbox reaches a and b only.
	seq := a.send(o.id, wire.Key32{1}, "hello")
	if d := a.deliver(); d.Seq != seq {
		t.Errorf("a: got seq %d, want %d", d.Seq, seq)
	}
	if d := b.deliver(); d.Seq != seq {
		t.Errorf("b: got seq %d, want %d", d.Seq, seq)
	}
	c.noDeliver()
	b.conn.Close("bye")
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp := c.call(o.authMsg(c))
		if _, ok := resp.(*wire.OK); ok {
			break
		}
		if e, ok := resp.(*wire.Error); !ok || e.Code != wire.CodeRateLimited || time.Now().After(deadline) {
			t.Fatalf("Auth after a connection left: got %v, want OK", describe(resp))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := c.deliver(); d.Seq != seq {
		t.Errorf("c: got seq %d, want the backlog's %d", d.Seq, seq)
	}
}

// fetchLog records the limit of every Fetch.
type fetchLog struct {
	store.Store
	mu     sync.Mutex
	limits []int
}

func (f *fetchLog) Fetch(ctx context.Context, id wire.MailboxID, after uint64, limit int) ([]store.Envelope, error) {
	f.mu.Lock()
	f.limits = append(f.limits, limit)
	f.mu.Unlock()
	return f.Store.Fetch(ctx, id, after, limit)
}

func (f *fetchLog) take() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.limits
	f.limits = nil
	return l
}

// TestSlowStart: a subscription fetches one envelope at first and more
// only as its client acknowledges, so a client that never acknowledges
// holds one frame of delivery memory at a time. (The window of 4 makes
// the pump wait for acks; with the default 256 it runs ahead of them on
// a backlog this small, one envelope per fetch.)
func TestSlowStart(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxInflight = 4 }))
	log := &fetchLog{Store: e.store}
	e.srv.store.s = log
	o := newOwner(t)
	sender := e.pipe()
	o.register(sender, tokenHash(wire.Key32{5}))
	for i := range 20 {
		sender.send(o.id, wire.Key32{5}, fmt.Sprint("m", i))
	}
	sender.conn.Close("bye")
	eventually(t, "the sender to leave", func() bool { return e.metric("ephemera_relay_connections") == 0 })
	log.take()

	// Never acknowledges: one at a time, up to the window.
	c := e.pipe()
	o.auth(c)
	for range 4 {
		c.deliver()
	}
	c.noDeliver()
	for i, n := range log.take() {
		if n != 1 {
			t.Fatalf("fetch %d without acks asked for %d envelopes, want 1", i, n)
		}
	}
	c.conn.Close("bye")
	eventually(t, "the first reader to leave", func() bool { return e.metric("ephemera_relay_connections") == 0 })

	// Acknowledges each window: the batch grows.
	c = e.pipe()
	o.auth(c)
	for range 5 {
		var seqs []uint64
		for range 4 {
			seqs = append(seqs, c.deliver().Seq)
		}
		mustType[*wire.OK](c, &wire.Ack{Mailbox: o.id, Seqs: seqs})
	}
	if limits := log.take(); slices.Max(limits) < 4 {
		t.Errorf("fetches of an acknowledging client asked for %v envelopes, want the batch to grow", limits)
	}
}
