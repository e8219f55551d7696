package relay

import (
	"slices"
	"sync"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// testHookOffered, when set by a test, runs as a pump starts with an
// offered envelope, before it takes the subscription's lock.
var testHookOffered func(*sub)

// fetchBatch bounds the envelopes read from the store in one go, so a
// large backlog is streamed instead of loaded whole.
const fetchBatch = 64

// sub is one connection's subscription to one mailbox. It owns no
// goroutine while idle: kick starts a pump when there may be something to
// send and the window has room, and the pump exits once caught up. This is
// what keeps an idle connection down to its one reading goroutine.
type sub struct {
	c       *conn
	mailbox wire.MailboxID

	mu       sync.Mutex
	cursor   uint64   // highest seq written to this connection
	inflight []uint64 // written and not acknowledged, ascending
	pending  bool     // the store may hold envelopes after cursor
	running  bool     // a pump goroutine is active
	closed   bool     // the connection ended; start no more pumps
}

// kick records that the mailbox may have new envelopes and starts a pump if
// none is running and the in-flight window has room.
func (s *sub) kick() {
	s.mu.Lock()
	s.pending = true
	start := s.startLocked()
	s.mu.Unlock()
	if start {
		go s.pump()
	}
}

// offer is kick for an envelope the relay has just stored: when the
// subscription is caught up — no pump running, nothing pending, room in
// the window — and env directly follows the last envelope written, a pump
// starts with env in hand instead of reading it back from the store. Any
// other case is an ordinary kick, so nothing is skipped or reordered.
func (s *sub) offer(env store.Envelope) {
	s.mu.Lock()
	if s.pending || s.running || s.closed || env.Seq != s.cursor+1 || len(s.inflight) >= s.c.srv.limits.MaxInflight {
		s.mu.Unlock()
		s.kick()
		return
	}
	s.running = true
	s.c.pumps.Add(1) // under s.mu, as in startLocked
	s.mu.Unlock()
	go s.pumpFrom(&env)
}

// startLocked decides whether to start a pump; the caller holds s.mu and
// must start one if it returns true.
func (s *sub) startLocked() bool {
	if s.running || s.closed || !s.pending || len(s.inflight) >= s.c.srv.limits.MaxInflight {
		return false
	}
	s.running = true
	// Registered under s.mu, which close also takes before waiting, so
	// no pump starts after the connection has begun waiting for them.
	s.c.pumps.Add(1)
	return true
}

// acked removes acknowledged seqs from the window and resumes delivery if
// the window had held it back.
func (s *sub) acked(seqs []uint64) {
	s.mu.Lock()
	for _, seq := range seqs {
		if i, ok := slices.BinarySearch(s.inflight, seq); ok {
			s.inflight = slices.Delete(s.inflight, i, i+1)
		}
	}
	if len(s.inflight) == 0 {
		s.inflight = nil // let an idle connection give the array back
	}
	start := s.startLocked()
	s.mu.Unlock()
	if start {
		go s.pump()
	}
}

// close stops new pumps; the connection waits for running ones.
func (s *sub) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// pump writes stored envelopes after the cursor until the store has none
// left, the window is full, or the connection ends.
func (s *sub) pump() { s.pumpFrom(nil) }

// pumpFrom is pump, writing first, if not nil, an envelope that offer
// handed over.
func (s *sub) pumpFrom(first *store.Envelope) {
	c := s.c
	srv := c.srv
	defer c.pumps.Done()
	defer func() {
		if v := recover(); v != nil {
			srv.recovered(v)
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
			c.closeWith(closeInternal, "internal error")
		}
	}()
	if first != nil && testHookOffered != nil {
		testHookOffered(s)
	}
	for {
		s.mu.Lock()
		room := srv.limits.MaxInflight - len(s.inflight)
		if s.closed || (!s.pending && first == nil) || room <= 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		if first == nil {
			// A kick that came while an offered envelope was being
			// written stays pending for the next turn of the loop.
			s.pending = false
		}
		after := s.cursor
		s.mu.Unlock()

		n := min(room, fetchBatch)
		var envs []store.Envelope
		var err error
		if first != nil {
			envs, n, first = []store.Envelope{*first}, 0, nil
		} else {
			envs, err = srv.store.Fetch(c.ctx, s.mailbox, after, n)
		}
		if err != nil {
			// Leave pending set: the next kick (a new envelope or an Ack)
			// tries again. A store that fails here fails Sends too.
			s.mu.Lock()
			s.pending = true
			s.running = false
			s.mu.Unlock()
			if c.ctx.Err() == nil {
				srv.logStoreError("fetch", err)
			}
			return
		}
		for _, e := range envs {
			s.mu.Lock()
			if s.closed {
				s.running = false
				s.mu.Unlock()
				return
			}
			// In the window before the write: the client may ack before
			// WriteFrame returns.
			s.inflight = append(s.inflight, e.Seq)
			s.cursor = e.Seq
			s.mu.Unlock()
			d := &wire.Deliver{Mailbox: s.mailbox, Seq: e.Seq, Received: uint64(e.Received.UnixMilli()), Envelope: e.Data}
			if err := c.write(0, d); err != nil {
				s.mu.Lock()
				s.running = false
				s.mu.Unlock()
				return // write closed the connection
			}
			srv.metrics.delivered.Inc()
			srv.metrics.bytesDelivered.Add(float64(len(e.Data)))
		}
		if len(envs) == n {
			// A full batch: there may be more behind it.
			s.mu.Lock()
			s.pending = true
			s.mu.Unlock()
		}
	}
}
