package relay

import (
	"context"
	"sync"
)

// budget is a semaphore of bytes: delivery takes bytes from it before it
// holds envelopes in memory and gives them back once they are written.
//
// Waiters are served first come, first served within two classes, and
// every urgent waiter before any other. Delivery asks urgently for a
// subscription whose earlier frames are all acknowledged: a client that
// reads and acknowledges then waits only for the next release, not
// behind every connection that stopped reading (those hold unacknowledged
// frames, so they ask in the other class). Within a class, a large
// request is not starved by a stream of small ones.
//
// It is safe for concurrent use; the zero value has no room (make one
// with newBudget).
type budget struct {
	mu      sync.Mutex
	limit   int64
	used    int64
	waiters [2][]*budgetWaiter // [urgent, normal]
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once n bytes are granted
}

func newBudget(limit int64) *budget { return &budget{limit: limit} }

// class is the queue a request joins: 0 urgent, 1 normal.
func class(urgent bool) int {
	if urgent {
		return 0
	}
	return 1
}

// freeLocked reports whether n bytes can be taken now by a request of
// class k: they fit, and nobody of the same or a more urgent class waits.
func (b *budget) freeLocked(n int64, k int) bool {
	if b.used+n > b.limit {
		return false
	}
	for i := 0; i <= k; i++ {
		if len(b.waiters[i]) > 0 {
			return false
		}
	}
	return true
}

// tryAcquire takes n bytes if they are free now and nobody waits before.
func (b *budget) tryAcquire(n int64, urgent bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.freeLocked(n, class(urgent)) {
		b.used += n
		return true
	}
	return false
}

// acquire takes n bytes, waiting until they are free or ctx ends. n must
// not exceed the limit (Limits.validate sees to it).
func (b *budget) acquire(ctx context.Context, n int64, urgent bool) error {
	k := class(urgent)
	b.mu.Lock()
	if b.freeLocked(n, k) {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters[k] = append(b.waiters[k], w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	select {
	case <-w.ready:
		// Granted while ctx ended: give it back.
		b.used -= n
	default:
		q := b.waiters[k]
		for i, x := range q {
			if x == w {
				b.waiters[k] = append(q[:i], q[i+1:]...)
				break
			}
		}
	}
	// Either way someone behind may fit now.
	b.grantLocked()
	b.mu.Unlock()
	return ctx.Err()
}

// release gives back n bytes.
func (b *budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		b.mu.Unlock()
		panic("relay: delivery budget released more than it took")
	}
	b.grantLocked()
	b.mu.Unlock()
}

// grantLocked wakes waiters that fit, urgent ones first; a normal waiter
// is not granted while an urgent one waits.
func (b *budget) grantLocked() {
	for k := range b.waiters {
		q := b.waiters[k]
		for len(q) > 0 && b.used+q[0].n <= b.limit {
			b.used += q[0].n
			close(q[0].ready)
			q[0] = nil
			q = q[1:]
		}
		if len(q) == 0 {
			q = nil
		}
		b.waiters[k] = q
		if len(q) > 0 {
			return
		}
	}
}

// held returns the bytes taken now.
func (b *budget) held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// budgets are the three budgets one subscription draws on, always taken
// in this order (connection, mailbox, relay) and all or none, so two
// deliveries never wait on each other in a cycle: whoever holds the
// relay's bytes holds all it needs and is writing.
type budgets [3]*budget

// acquire takes n bytes from each budget, or none.
func (bs budgets) acquire(ctx context.Context, n int64, urgent bool) error {
	for i, b := range bs {
		if err := b.acquire(ctx, n, urgent); err != nil {
			for _, got := range bs[:i] {
				got.release(n)
			}
			return err
		}
	}
	return nil
}

// tryAcquire is acquire without waiting.
func (bs budgets) tryAcquire(n int64, urgent bool) bool {
	for i, b := range bs {
		if !b.tryAcquire(n, urgent) {
			for _, got := range bs[:i] {
				got.release(n)
			}
			return false
		}
	}
	return true
}

func (bs budgets) release(n int64) {
	for _, b := range bs {
		b.release(n)
	}
}
