package relayclient

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ephemera-im/ephemera/net/wire"
)

// disconnectedError is the error of a request that lost its connection.
type disconnectedError struct{ cause error }

func (e *disconnectedError) Error() string {
	if e.cause == nil {
		return "disconnected"
	}
	return "disconnected: " + e.cause.Error()
}

func (e *disconnectedError) Unwrap() []error { return []error{ErrDisconnected, e.cause} }

// session is one connection: it exists from the ServerHello until the
// connection drops. A single reader goroutine dispatches responses to the
// waiting requests by id and queues Deliver pushes; a pump goroutine hands
// those to Deliveries; a pinger keeps the connection alive.
type session struct {
	c     *Client
	conn  wire.Conn
	hello wire.ServerHello

	ctx    context.Context // cancelled when the session ends
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the session ended; set before done is closed
	once   sync.Once
	wg     sync.WaitGroup

	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]chan wire.Message
	wake    chan struct{} // a request was added: the reader must read on

	q queue
}

func newSession(c *Client, conn wire.Conn, hello wire.ServerHello) *session {
	s := &session{
		c:       c,
		conn:    conn,
		hello:   hello,
		done:    make(chan struct{}),
		pending: make(map[uint32]chan wire.Message),
		wake:    make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	s.q.init(c.cfg.DeliveryBuffer)
	return s
}

func (s *session) start() {
	s.wg.Add(3)
	go s.readLoop()
	go s.pump()
	go s.pingLoop()
}

// close ends the session once, telling the relay why.
// Requests waiting on it fail at once; only the first caller waits for
// the connection's closing handshake.
func (s *session) close(err error, reason string) {
	first := false
	s.once.Do(func() {
		if s.c.ctx.Err() != nil {
			err = ErrClosed
		}
		s.err = err
		close(s.done)
		first = true
	})
	if first {
		s.conn.Close(reason)
		s.cancel()
	}
}

// wait waits for the session's goroutines to end.
func (s *session) wait() { s.wg.Wait() }

func (s *session) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// call is a request in flight.
type call struct {
	id uint32
	ch chan wire.Message
}

// notSentError is a disconnectedError for a request that never reached
// the relay: the connection had ended, or writing the frame failed (the
// relay never reads a partial frame). Retrying it on the next connection
// cannot run it twice.
type notSentError struct{ disconnectedError }

// send registers a request and writes it.
func (s *session) send(ctx context.Context, req wire.Message) (call, error) {
	ch := make(chan wire.Message, 1)
	s.mu.Lock()
	if s.isDone() {
		s.mu.Unlock()
		return call{}, &notSentError{disconnectedError{s.err}}
	}
	s.nextID++
	if s.nextID == 0 { // id 0 is for pushes
		s.nextID = 1
	}
	id := s.nextID
	s.pending[id] = ch
	s.mu.Unlock()
	signal(s.wake)

	if err := s.conn.WriteFrame(ctx, wire.Encode(id, req)); err != nil {
		s.forget(id)
		if ctx.Err() != nil {
			return call{}, ctx.Err()
		}
		// A connection that cannot take a frame is broken.
		s.close(fmt.Errorf("write: %w", err), "write failed")
		return call{}, &notSentError{disconnectedError{s.err}}
	}
	return call{id: id, ch: ch}, nil
}

// await waits for the response to cl. A relay Error is returned as a
// *wire.Error.
func (s *session) await(ctx context.Context, cl call) (wire.Message, error) {
	select {
	case m := <-cl.ch:
		if e, ok := m.(*wire.Error); ok {
			return nil, e
		}
		return m, nil
	case <-s.done:
		// The reader may have dispatched the answer just before the end.
		select {
		case m := <-cl.ch:
			if e, ok := m.(*wire.Error); ok {
				return nil, e
			}
			return m, nil
		default:
		}
		return nil, &disconnectedError{s.err}
	case <-ctx.Done():
		s.forget(cl.id)
		return nil, ctx.Err()
	}
}

func (s *session) roundTrip(ctx context.Context, req wire.Message) (wire.Message, error) {
	cl, err := s.send(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.await(ctx, cl)
}

func (s *session) forget(id uint32) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

func (s *session) pendingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// readLoop is the connection's only reader.
func (s *session) readLoop() {
	defer s.wg.Done()
	for {
		if !s.waitForRoom() {
			return
		}
		b, err := s.conn.ReadFrame(s.ctx)
		if err != nil {
			s.close(fmt.Errorf("read: %w", err), "read failed")
			return
		}
		id, m, err := wire.Decode(b)
		if err != nil {
			s.close(fmt.Errorf("%w: %w", ErrProtocol, err), "malformed frame")
			return
		}
		if id == 0 {
			d, ok := m.(*wire.Deliver)
			if !ok {
				s.close(fmt.Errorf("%w: unexpected %v push", ErrProtocol, m.Type()), "unexpected push")
				return
			}
			s.q.push(Delivery{
				Mailbox:  d.Mailbox,
				Seq:      d.Seq,
				Received: time.UnixMilli(int64(d.Received)),
				Envelope: d.Envelope,
			})
			continue
		}
		s.mu.Lock()
		ch := s.pending[id]
		delete(s.pending, id)
		s.mu.Unlock()
		if ch == nil {
			// The caller gave up waiting (its context ended).
			s.c.log.Debug("relay answer to a forgotten request", "id", id, "type", m.Type())
			continue
		}
		ch <- m // buffered: never blocks
	}
}

// waitForRoom applies backpressure: while the delivery queue is full and no
// request waits for an answer, the reader stops reading. It reads on (up
// to hardQueueBytes) while a request waits, so a consumer that calls Ack
// before taking the next delivery does not deadlock against its own
// backlog; the relay's own in-flight window bounds what it pushes ahead.
func (s *session) waitForRoom() bool {
	for {
		if s.q.room(s.pendingCount() > 0) {
			return true
		}
		select {
		case <-s.q.space:
		case <-s.wake:
		case <-s.done:
			return false
		}
	}
}

// pump hands queued deliveries to the Deliveries channel. Deliveries still
// queued when the session ends are dropped: they were not acknowledged, so
// the relay pushes them again on the next connection.
func (s *session) pump() {
	defer s.wg.Done()
	for {
		d, ok := s.q.peek(s.done)
		if !ok {
			return
		}
		select {
		case s.c.deliveries <- d:
			s.q.pop()
		case <-s.done:
			return
		}
	}
}

// pingLoop sends a Ping after every PingInterval and drops the connection
// when one stays unanswered for as long again.
func (s *session) pingLoop() {
	defer s.wg.Done()
	iv := s.c.cfg.PingInterval
	for {
		select {
		case <-s.c.after(iv):
		case <-s.done:
			return
		}
		cl, err := s.send(s.ctx, &wire.Ping{})
		if err != nil {
			s.close(err, "ping failed")
			return
		}
		select {
		case m := <-cl.ch:
			if _, ok := m.(*wire.Pong); !ok {
				s.close(fmt.Errorf("%w: Ping answered with %v", ErrProtocol, m.Type()), "ping answered wrongly")
				return
			}
		case <-s.c.after(iv):
			s.close(fmt.Errorf("no answer to ping within %v", iv), "ping timeout")
			return
		case <-s.done:
			return
		}
	}
}

// authRequest is the Auth frame for mb on this connection.
func (s *session) authRequest(mb Mailbox) *wire.Auth {
	owner := ownerKey(mb.Key)
	msg := wire.AuthMessage(wire.OpAuth, s.hello.Relay, s.hello.Challenge, mb.ID, owner, wire.Key32{})
	req := &wire.Auth{Mailbox: mb.ID}
	copy(req.Signature[:], ed25519.Sign(mb.Key, msg))
	return req
}

// registerRequest is the Register frame for mb on this connection.
func (s *session) registerRequest(mb Mailbox) *wire.Register {
	owner := ownerKey(mb.Key)
	msg := wire.AuthMessage(wire.OpRegister, s.hello.Relay, s.hello.Challenge, mb.ID, owner, mb.SendTokenHash)
	req := &wire.Register{Mailbox: mb.ID, OwnerKey: owner, SendTokenHash: mb.SendTokenHash}
	copy(req.Signature[:], ed25519.Sign(mb.Key, msg))
	return req
}

func ownerKey(k ed25519.PrivateKey) wire.Key32 {
	var o wire.Key32
	copy(o[:], k.Public().(ed25519.PublicKey))
	return o
}

// connect dials, reads the ServerHello and authenticates every registered
// mailbox. It returns a session in state Connected, or an error with
// everything it started stopped.
func (c *Client) connect() (*session, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	defer cancel()
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	b, err := conn.ReadFrame(ctx)
	if err != nil {
		conn.Close("no hello")
		return nil, fmt.Errorf("waiting for ServerHello: %w", err)
	}
	id, m, err := wire.Decode(b)
	hello, ok := m.(*wire.ServerHello)
	if err != nil || !ok || id != 0 {
		conn.Close("expected ServerHello")
		if err == nil {
			err = fmt.Errorf("%w: first frame is %v, want ServerHello", ErrProtocol, m.Type())
		}
		return nil, err
	}
	s := newSession(c, conn, *hello)
	s.start()
	c.setState(Connecting, nil, s, nil)
	c.log.Debug("relay hello", "relay", fmt.Sprintf("%x", hello.Relay[:4]))

	if err := c.authenticate(ctx, s); err != nil {
		s.close(err, "authentication failed")
		s.wait()
		return nil, err
	}
	return s, nil
}

// authenticate sends Auth for every registered mailbox, pipelined, and
// makes s the Connected session in the same critical section as its last
// look at the registrations, so a Register that completes meanwhile (on the
// previous connection) is never missed. A mailbox the relay no longer knows
// (a relay that lost its store) is registered again. It returns a nil
// error with the session Connected, or an error that must end the
// session. Mailboxes the relay refused are reported through OnState.
func (c *Client) authenticate(ctx context.Context, s *session) error {
	authed := make(map[wire.MailboxID]uint64)
	var refused []error
	for {
		var todo []Mailbox
		c.mu.Lock()
		for id, r := range c.mailboxes {
			if g, ok := authed[id]; !ok || g < r.gen {
				todo = append(todo, r.mb)
				authed[id] = r.gen
			}
		}
		if len(todo) == 0 {
			var err error
			if len(refused) > 0 {
				err = errors.Join(refused...)
			}
			report := c.setStateLocked(Connected, err, s, s)
			c.mu.Unlock()
			if report {
				c.report(Connected, err)
			}
			return nil
		}
		c.mu.Unlock()

		calls := make([]call, len(todo))
		for i, mb := range todo {
			cl, err := s.send(ctx, s.authRequest(mb))
			if err != nil {
				return fmt.Errorf("auth: %w", err)
			}
			calls[i] = cl
		}
		for i, mb := range todo {
			m, err := s.await(ctx, calls[i])
			var werr *wire.Error
			if errors.As(err, &werr) && werr.Code == wire.CodeNotFound {
				m, err = s.roundTrip(ctx, s.registerRequest(mb))
			}
			switch {
			case errors.As(err, &werr) && !werr.Code.Temporary():
				c.log.Info("relay refused mailbox", "mailbox", mb.ID, "err", err)
				refused = append(refused, fmt.Errorf("mailbox %v: %w", mb.ID, err))
			case err != nil:
				return fmt.Errorf("auth: %w", err)
			default:
				if _, ok := m.(*wire.OK); !ok {
					return fmt.Errorf("%w: Auth answered with %v", ErrProtocol, m.Type())
				}
			}
		}
	}
}

// signal makes a non-blocking send on a 1-buffered channel.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
