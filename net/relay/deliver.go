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
// large backlog is streamed instead of loaded whole. The delivery budgets
// bound it further (see sub.fetch).
const fetchBatch = 64

// sub is one connection's subscription to one mailbox. It owns no
// goroutine while idle: kick starts a pump when there may be something to
// send and the window has room, and the pump exits once caught up. This is
// what keeps an idle connection down to its one reading goroutine.
type sub struct {
	c       *conn
	mailbox wire.MailboxID
	budgets budgets // the connection's, the mailbox's and the relay's

	mu       sync.Mutex
	cursor   uint64   // highest seq written to this connection
	inflight []uint64 // written and not acknowledged, ascending
	pending  bool     // the store may hold envelopes after cursor
	running  bool     // a pump goroutine is active
	started  bool     // OK for the Auth has been written: pumps may run
	acks     bool     // an Ack removed frames since the last fetch
	batch    int      // envelopes per fetch now (see fetch); 0 before the first
	closed   bool     // the connection ended; start no more pumps
}

// start lets pumps run, once the OK that authenticated the connection is
// written (no Deliver may come before it), and delivers the backlog.
func (s *sub) start() {
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	s.kick()
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
//
// The handed envelope is charged to the delivery budgets like a fetched
// one; when they have no room now, the envelope is left to a pump that
// waits for room and reads it back from the store.
func (s *sub) offer(env store.Envelope) {
	s.mu.Lock()
	if s.pending || s.running || s.closed || !s.started || env.Seq != s.cursor+1 || len(s.inflight) >= s.c.srv.limits.MaxInflight {
		s.mu.Unlock()
		s.kick()
		return
	}
	charge := s.cost(env)
	if !s.budgets.tryAcquire(charge, len(s.inflight) == 0) {
		s.mu.Unlock()
		s.kick()
		return
	}
	s.running = true
	s.c.pumps.Add(1) // under s.mu, as in startLocked
	s.mu.Unlock()
	go s.pumpFrom(&env, charge)
}

// cost is what delivering e takes from the budgets: its Deliver frame.
// An envelope stored before MaxEnvelope was lowered counts as the largest
// frame now allowed, so that it still fits the budgets.
func (s *sub) cost(e store.Envelope) int64 {
	return min(int64(len(e.Data))+deliverOverhead, s.c.srv.limits.maxDeliverFrame())
}

// startLocked decides whether to start a pump; the caller holds s.mu and
// must start one if it returns true.
func (s *sub) startLocked() bool {
	if s.running || s.closed || !s.started || !s.pending || len(s.inflight) >= s.c.srv.limits.MaxInflight {
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
			s.acks = true
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
func (s *sub) pump() { s.pumpFrom(nil, 0) }

// pumpFrom is pump, writing first, if not nil, an envelope that offer
// handed over with charge bytes of the budgets taken for it.
func (s *sub) pumpFrom(first *store.Envelope, charge int64) {
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
	// Budget bytes taken for envelopes not yet written: given back as
	// each is written, and all of them when the pump ends early. (Deferred
	// after the recover, so that it runs first and a fault in it is
	// recovered too.)
	held := charge
	defer func() { s.budgets.release(held) }()
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
		// A client with every frame acknowledged is reading: it asks for
		// delivery memory before those that hold unacknowledged frames.
		urgent := len(s.inflight) == 0
		// Slow start: one envelope per fetch at first, twice as many
		// after each fetch the client has acknowledged frames since (or
		// has nothing in flight). A connection that never acknowledges
		// holds one frame at a time, not a batch.
		if s.batch == 0 {
			s.batch = 1
		} else if s.acks || urgent {
			s.batch = min(2*s.batch, fetchBatch)
		}
		s.acks = false
		batch := s.batch
		s.mu.Unlock()

		var envs []store.Envelope
		var err error
		full := false
		if first != nil {
			envs, first = []store.Envelope{*first}, nil
		} else {
			var taken int64
			envs, full, taken, err = s.fetch(after, min(room, batch), urgent)
			held += taken
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
		for i := range envs {
			e := &envs[i]
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
			cost, size := s.cost(*e), len(e.Data)
			frame := wire.Encode(0, &wire.Deliver{Mailbox: s.mailbox, Seq: e.Seq, Received: uint64(e.Received.UnixMilli()), Envelope: e.Data})
			// The frame is the one copy held from here on (the budget
			// counts one per envelope).
			e.Data = nil
			err := c.writeFrame(frame)
			frame = nil
			s.budgets.release(cost)
			held -= cost
			if err != nil {
				s.mu.Lock()
				s.running = false
				s.mu.Unlock()
				return // write closed the connection
			}
			srv.metrics.delivered.Inc()
			srv.metrics.bytesDelivered.Add(float64(size))
		}
		if full {
			// A full batch: there may be more behind it.
			s.mu.Lock()
			s.pending = true
			s.mu.Unlock()
		}
	}
}

// fetch reads up to room envelopes (the window's room or the slow
// start's batch) after the cursor from the store, holding budget bytes
// for them: before reading, room for as many frames of the largest size
// as the smallest budget holds; after, what they really take. It returns the bytes still taken and whether the batch was
// as large as asked (there may be more). It waits for budget bytes until
// the connection ends; urgent asks before subscriptions with frames not
// yet acknowledged (see budget).
func (s *sub) fetch(after uint64, room int, urgent bool) (envs []store.Envelope, full bool, taken int64, err error) {
	c := s.c
	l := &c.srv.limits
	frame := l.maxDeliverFrame()
	n := int(min(int64(min(room, fetchBatch)), max(1, min(l.DeliverConnBytes, l.DeliverMailboxBytes, l.DeliverTotalBytes)/frame)))
	want := int64(n) * frame
	if !s.budgets.tryAcquire(want, urgent) {
		c.srv.metrics.deliveryWaits.Inc()
		if err := s.budgets.acquire(c.ctx, want, urgent); err != nil {
			return nil, false, 0, err
		}
	}
	envs, err = c.srv.store.Fetch(c.ctx, s.mailbox, after, n)
	if err != nil {
		s.budgets.release(want)
		return nil, false, 0, err
	}
	for _, e := range envs {
		taken += s.cost(e)
	}
	s.budgets.release(want - taken)
	return envs, len(envs) == n, taken, nil
}
