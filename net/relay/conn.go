package relay

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/ephemera-im/ephemera/net/wire"
)

// WebSocket close codes the relay sends.
const (
	closeNormal    = websocket.StatusNormalClosure   // 1000
	closeGoingAway = websocket.StatusGoingAway       // 1001: shutdown, idle
	closePolicy    = websocket.StatusPolicyViolation // 1008: a frame broke the protocol
	closeTooBig    = websocket.StatusMessageTooBig   // 1009
	closeInternal  = websocket.StatusInternalError   // 1011: a relay bug
	closeTryAgain  = websocket.StatusTryAgainLater   // 1013: rate limited, overloaded
)

// maxThrottle is the longest the relay delays reading one frame to hold a
// connection to its frame rate. Reading frames one at a time means the
// delay is normally 1/ConnRate; only a tiny ConnRate reaches this, and then
// the connection is closed with 1013 instead of parked.
const maxThrottle = 5 * time.Second

// conn is one client connection. Its reading goroutine (serve) handles
// requests one at a time, in order; delivery pumps write Deliver frames
// beside it while there is something to deliver.
type conn struct {
	srv    *Server
	wc     wire.Conn
	remote netip.Addr
	ctx    context.Context
	cancel context.CancelFunc

	challenge wire.Key32
	limiter   *rate.Limiter
	regLimit  *rate.Limiter  // made on the first mailbox creation
	subs      []*sub         // authenticated mailboxes; read goroutine only
	budget    budget         // delivery bytes for all its subscriptions
	pumps     sync.WaitGroup // delivery pumps running
	closeOnce sync.Once

	acks   chan struct{}  // bounds Acks in flight; made on the first Ack
	sends  chan struct{}  // bounds Sends in flight; made on the first Send
	ackers sync.WaitGroup // Acks and Sends in flight

	mu       sync.Mutex
	busy     int  // requests being handled
	stopping bool // Shutdown asked to close after the current requests
}

// maxAcksInFlight bounds the Acks one connection has being deleted at
// once; the reading goroutine waits for a slot beyond it.
const maxAcksInFlight = 8

// maxSendsInFlight bounds the Sends one connection has being stored at
// once. A client pipelines Sends (responses carry request ids), and each
// waits for a disk commit: handled one after another they would cap a
// connection at one Send per commit; handled together they share commits.
const maxSendsInFlight = 64

func newConn(ctx context.Context, s *Server, wc wire.Conn, remote netip.Addr) *conn {
	ctx, cancel := context.WithCancel(ctx)
	return &conn{
		srv:     s,
		wc:      wc,
		remote:  remote,
		ctx:     ctx,
		cancel:  cancel,
		limiter: rate.NewLimiter(rate.Limit(s.limits.ConnRate), s.limits.ConnBurst),
		budget:  budget{limit: s.limits.DeliverConnBytes},
	}
}

// serve runs the connection until it ends, then releases everything it
// held.
func (c *conn) serve() {
	s := c.srv
	defer func() {
		if v := recover(); v != nil {
			s.recovered(v)
			c.closeWith(closeInternal, "internal error")
		}
		for _, sb := range c.subs {
			s.hub.leave(sb)
			sb.close()
		}
		// Acks in flight finish their deletes first (under Shutdown the
		// last of them closes with 1001).
		c.ackers.Wait()
		c.closeWith(closeNormal, "")
		c.cancel()
		c.pumps.Wait()
		// Only now has every pump given its budget bytes back: until
		// then the subscriptions count against their mailboxes.
		for _, sb := range c.subs {
			s.hub.release(sb)
		}
	}()

	if err := s.random(c.challenge[:]); err != nil {
		s.log.Error("reading randomness for a challenge", "err", err)
		c.closeWith(closeInternal, "internal error")
		return
	}
	l := &s.limits
	hello := &wire.ServerHello{
		Relay:       s.relayID,
		Challenge:   c.challenge,
		MaxEnvelope: uint32(l.MaxEnvelope),
		DefaultTTL:  uint32(l.DefaultTTL / time.Second),
		MaxTTL:      uint32(l.MaxTTL / time.Second),
		MaxBlob:     uint64(l.MaxBlob),
		MaxChunk:    uint32(l.MaxChunk),
	}
	if c.write(0, hello) != nil {
		return
	}

	// One timer, reset on every frame: a deadline on each read would cost
	// a context and a timer per frame.
	idle := time.AfterFunc(l.IdleTimeout, func() {
		c.srv.log.Debug("closing idle connection")
		c.closeWith(closeGoingAway, "idle timeout")
	})
	defer idle.Stop()

	readLimit := l.readLimit()
	for {
		// No deadline or cancellation on the read: with one, the
		// WebSocket library arms a timer per read, a cost on every idle
		// connection. Closing the connection is what ends a read.
		frame, err := c.wc.ReadFrame(context.Background())
		if err != nil {
			c.readFailed(err)
			return
		}
		idle.Reset(l.IdleTimeout)
		if int64(len(frame)) > readLimit {
			// wsconn enforces this while reading; other Conns may not.
			c.reject(reasonTooBig, closeTooBig, fmt.Sprintf("frame is %d bytes, limit %d", len(frame), readLimit))
			return
		}
		if !c.throttle() {
			return
		}
		id, m, err := wire.Decode(frame)
		if err != nil {
			c.reject(reasonMalformed, closePolicy, err.Error())
			return
		}
		if !m.Type().IsRequest() {
			c.reject(reasonUnexpected, closePolicy, fmt.Sprintf("%v frame from a client", m.Type()))
			return
		}
		if id == 0 {
			c.reject(reasonRequestID, closePolicy, "request id 0 is reserved for relay pushes")
			return
		}
		if !c.begin() {
			return
		}
		if a, ok := m.(*wire.Ack); ok {
			if sb := c.sub(a.Mailbox); sb != nil {
				c.ackAsync(id, a, sb)
				continue
			}
		}
		if sm, ok := m.(*wire.Send); ok {
			c.sendAsync(id, sm)
			continue
		}
		var resp wire.Message
		var after func()
		switch m.(type) {
		case *wire.Register, *wire.Auth:
			resp, after = c.handleAside(m)
		default:
			resp, after = c.handle(m)
		}
		err = c.write(id, resp)
		if err == nil && after != nil {
			after()
		}
		if !c.end() || err != nil {
			return
		}
	}
}

// readFailed sorts out why ReadFrame failed: a rule broken by the client
// closes with a code, anything else (the client left) just ends.
func (c *conn) readFailed(err error) {
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		// The WebSocket library has already sent 1009.
		c.reject(reasonTooBig, closeTooBig, fmt.Sprintf("frame above %d bytes", c.srv.limits.readLimit()))
	case errors.Is(err, wire.ErrMalformed):
		// wsconn's only malformed read: a text message.
		c.reject(reasonText, closePolicy, "text message; frames are binary messages")
	default:
		c.srv.log.Debug("connection ended", "err", errText(err))
	}
}

// reject counts a frame that breaks the protocol and closes the connection
// with code and reason.
func (c *conn) reject(metricReason string, code websocket.StatusCode, reason string) {
	c.srv.metrics.rejectedFrames.WithLabelValues(metricReason).Inc()
	c.srv.log.Debug("closing connection after a bad frame", "reason", metricReason, "detail", reason)
	c.closeWith(code, reason)
}

// throttle holds the connection to its frame rate by reading late: a
// client that bursts is slowed down (TCP pushes back on it), not dropped,
// so a client flushing its outbox after a reconnect keeps its order.
func (c *conn) throttle() bool {
	clk := c.srv.throttleClock
	now := clk.now()
	r := c.limiter.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d == 0 {
		return true
	}
	if !r.OK() || d > maxThrottle {
		r.CancelAt(now)
		c.reject(reasonRateLimited, closeTryAgain, "frame rate above the relay's limit")
		return false
	}
	c.srv.metrics.requestsThrottled.Inc()
	return clk.sleep(c.ctx, d)
}

// throttleClock is the clock of frame throttling: the real one, or in
// tests one whose sleep advances it at once, so that which frames are
// throttled does not depend on how fast the machine runs the test.
type throttleClock struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) bool // false if ctx ended first
}

var realThrottleClock = throttleClock{now: time.Now, sleep: func(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}}

// begin marks a request in progress, unless Shutdown has asked the
// connection to stop: then the request is dropped unanswered and undone.
func (c *conn) begin() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	c.busy++
	return true
}

// end marks the request finished and closes the connection if Shutdown
// came meanwhile.
func (c *conn) end() bool {
	c.mu.Lock()
	c.busy--
	stopping := c.stopping
	idle := c.busy == 0
	c.mu.Unlock()
	if stopping {
		if !idle {
			return false // the last request to finish closes
		}
		c.closeWith(closeGoingAway, "relay shutting down")
		return false
	}
	return true
}

// shutdown closes the connection now if it is between requests, or after
// the current request's response otherwise.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.stopping = true
	busy := c.busy > 0
	c.mu.Unlock()
	if !busy {
		// A WebSocket close waits for the peer's reply: do not make
		// Shutdown wait for each connection in turn.
		go c.closeWith(closeGoingAway, "relay shutting down")
	}
}

// handleAside handles m on a short-lived goroutine and waits for it.
// Signature checks need deep stacks; a goroutine's stack does not shrink
// until a GC finds it mostly unused, so verifying on the reading goroutine
// would leave every idle connection holding an 8 KiB stack for the one
// Register or Auth it made. Only requests that idle connections make and
// that verify signatures come here.
func (c *conn) handleAside(m wire.Message) (resp wire.Message, after func()) {
	var panicked any
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		resp, after = c.handle(m)
	}()
	<-done
	if panicked != nil {
		panic(panicked) // the reading goroutine's recover handles it
	}
	return resp, after
}

// ackAsync deletes acknowledged envelopes off the reading goroutine. A
// delete is a disk commit, and nothing the client sends next depends on
// it: responses may come in any order, and an Ack lost in a crash only
// means a redelivery. So a client's next Send is not held up behind it.
// The caller has called begin; the goroutine calls end.
func (c *conn) ackAsync(id uint32, m *wire.Ack, sb *sub) {
	if c.acks == nil {
		c.acks = make(chan struct{}, maxAcksInFlight)
	}
	c.acks <- struct{}{}
	c.ackers.Add(1)
	go func() {
		defer c.ackers.Done()
		defer func() {
			if v := recover(); v != nil {
				c.srv.recovered(v)
				c.closeWith(closeInternal, "internal error")
			}
		}()
		c.write(id, c.ackSub(m, sb)) // a failed write closes the connection
		<-c.acks
		c.end()
	}()
}

// sendAsync stores a Send off the reading goroutine, like ackAsync: the
// client's next request is not held up behind this one's disk commit.
// Sends on one connection may thus be stored in another order than they
// were read; nothing depends on their order (the protocol promises order
// only within a mailbox's deliveries, by sequence number). The caller has
// called begin; the goroutine calls end.
func (c *conn) sendAsync(id uint32, m *wire.Send) {
	if c.sends == nil {
		c.sends = make(chan struct{}, maxSendsInFlight)
	}
	c.sends <- struct{}{}
	c.ackers.Add(1)
	go func() {
		defer c.ackers.Done()
		defer func() {
			if v := recover(); v != nil {
				c.srv.recovered(v)
				c.closeWith(closeInternal, "internal error")
			}
		}()
		resp, after := c.handle(m)
		if err := c.write(id, resp); err == nil && after != nil {
			after()
		}
		<-c.sends
		c.end()
	}()
}

// write sends one frame. A failed write closes the connection: the client
// would otherwise miss a response or a Deliver and never know.
func (c *conn) write(id uint32, m wire.Message) error {
	return c.writeFrame(wire.Encode(id, m))
}

// writeFrame is write for an encoded frame. A client that does not take
// the frame within WriteTimeout is cut off with 1013 "not reading"
// rather than left holding the frame, and the relay's memory, any longer.
func (c *conn) writeFrame(frame []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.limits.WriteTimeout)
	defer cancel()
	err := c.wc.WriteFrame(ctx, frame)
	if err != nil {
		// Only this write's own deadline: the connection's end (which a
		// timed-out write also causes, through the reading goroutine)
		// cancels it instead.
		if ctx.Err() == context.DeadlineExceeded {
			c.srv.metrics.slowReaders.Inc()
			c.srv.log.Debug("closing a connection that does not read", "write_timeout", c.srv.limits.WriteTimeout)
			c.closeWith(closeTryAgain, reasonNotReading)
			return err
		}
		c.srv.log.Debug("write failed", "err", errText(err))
		c.closeWith(closeGoingAway, "write failed")
	}
	return err
}

// reasonNotReading is the close reason for a client cut off by the write
// timeout.
const reasonNotReading = "not reading"

// closeWith closes the connection once, with a WebSocket status code when
// the Conn can carry one.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() { closeConn(c.wc, code, reason) })
}

// closeConn closes wc with code and reason. A Conn without status codes
// (wire.Pipe) gets the reason prefixed with the code, in the form wsconn
// reports a peer's close, so tests see the same thing on both.
func closeConn(wc wire.Conn, code websocket.StatusCode, reason string) {
	if cw, ok := wc.(interface {
		CloseWith(websocket.StatusCode, string) error
	}); ok {
		cw.CloseWith(code, reason)
		return
	}
	wc.Close(fmt.Sprintf("%d %s", int(code), reason))
}
