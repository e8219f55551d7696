package loadtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// Mailbox is a load-test client's mailbox: its id, owner key and the send
// token others present to write to it.
type Mailbox struct {
	ID        wire.MailboxID
	Key       ed25519.PrivateKey
	Token     wire.Key32
	TokenHash wire.Key32
}

// NewMailbox makes a mailbox with fresh random id, key and send token.
func NewMailbox() Mailbox {
	var m Mailbox
	rand.Read(m.ID[:])
	rand.Read(m.Token[:])
	m.TokenHash = sha256.Sum256(m.Token[:])
	_, m.Key, _ = ed25519.GenerateKey(rand.Reader)
	return m
}

func (m *Mailbox) owner() (k wire.Key32) {
	copy(k[:], m.Key.Public().(ed25519.PublicKey))
	return k
}

// Client is a lean relay client speaking net/wire over net/wsconn: one
// reader goroutine, requests matched to responses by id, acks coalesced
// so at most one Ack is in flight. It does not reconnect or ping; a
// connection that drops stays dropped, and the run counts it. Safe for
// concurrent use.
//
// The load tool uses net/relayclient by default, to measure what the app
// gets. This client is the --lean alternative: one goroutine per
// connection instead of four, and about 10% less client CPU per message,
// which leaves more of a shared machine to the relay under test.
type Client struct {
	conn  *wsconn.Conn
	Hello wire.ServerHello

	nextID  atomic.Uint32
	mu      sync.Mutex
	pending map[uint32]chan wire.Message
	err     error // why the connection ended; set before done is closed
	done    chan struct{}

	onDeliver func(*Client, *wire.Deliver)

	ackMu      sync.Mutex
	ackMailbox wire.MailboxID
	ackQueue   []uint64
	ackBusy    bool
	onAcked    func(n int, err error)
}

// ClientOptions configures Dial.
type ClientOptions struct {
	// HTTPClient dials the WebSocket; nil means http.DefaultClient.
	HTTPClient *http.Client
	// OnDeliver is called on the reader goroutine for every Deliver push.
	// It must not block for long: it holds up every frame behind it.
	OnDeliver func(*Client, *wire.Deliver)
	// OnAcked is called after every Ack request with the number of
	// sequence numbers it carried.
	OnAcked func(n int, err error)
}

// ErrConnClosed is returned by requests on a client whose connection ended.
var ErrConnClosed = errors.New("loadtest: connection closed")

// Dial connects to a relay and reads its ServerHello.
func Dial(ctx context.Context, url string, o ClientOptions) (*Client, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: o.HTTPClient})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	c := &Client{
		conn:      wsconn.New(ws, wire.MaxFrameSize),
		pending:   make(map[uint32]chan wire.Message),
		done:      make(chan struct{}),
		onDeliver: o.OnDeliver,
		onAcked:   o.OnAcked,
	}
	f, err := c.conn.ReadFrame(ctx)
	if err != nil {
		c.conn.CloseWith(websocket.StatusGoingAway, "")
		return nil, fmt.Errorf("reading ServerHello: %w", err)
	}
	_, m, err := wire.Decode(f)
	if err != nil {
		c.conn.CloseWith(websocket.StatusProtocolError, "bad hello")
		return nil, fmt.Errorf("reading ServerHello: %w", err)
	}
	h, ok := m.(*wire.ServerHello)
	if !ok {
		c.conn.CloseWith(websocket.StatusProtocolError, "want hello")
		return nil, fmt.Errorf("first frame is %v, want ServerHello", m.Type())
	}
	c.Hello = *h
	go c.readLoop()
	return c, nil
}

func (c *Client) readLoop() {
	var err error
	for {
		var f []byte
		f, err = c.conn.ReadFrame(context.Background())
		if err != nil {
			break
		}
		var id uint32
		var m wire.Message
		id, m, err = wire.Decode(f)
		if err != nil {
			break
		}
		if id == 0 {
			if d, ok := m.(*wire.Deliver); ok && c.onDeliver != nil {
				c.onDeliver(c, d)
			}
			continue
		}
		c.mu.Lock()
		ch := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
	c.conn.CloseWith(websocket.StatusGoingAway, "")
	c.mu.Lock()
	c.err = err
	c.pending = nil
	c.mu.Unlock()
	close(c.done)
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, once Done is closed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection.
func (c *Client) Close() {
	c.conn.CloseWith(websocket.StatusNormalClosure, "bye")
}

// Request sends m and waits for its response. An Error response is
// returned as a *wire.Error.
func (c *Client) Request(ctx context.Context, m wire.Message) (wire.Message, error) {
	id := c.nextID.Add(1)
	if id == 0 {
		id = c.nextID.Add(1)
	}
	ch := make(chan wire.Message, 1)
	c.mu.Lock()
	if c.pending == nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %v", ErrConnClosed, err)
	}
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.mu.Unlock()
	}
	if err := c.conn.WriteFrame(ctx, wire.Encode(id, m)); err != nil {
		forget()
		return nil, fmt.Errorf("writing %v: %w", m.Type(), err)
	}
	select {
	case r := <-ch:
		if e, ok := r.(*wire.Error); ok {
			return nil, e
		}
		return r, nil
	case <-c.done:
		select {
		case r := <-ch: // answered just before the connection ended
			if e, ok := r.(*wire.Error); ok {
				return nil, e
			}
			return r, nil
		default:
		}
		return nil, fmt.Errorf("%w: %v", ErrConnClosed, c.Err())
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	}
}

func expect[T wire.Message](m wire.Message, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := m.(T)
	if !ok {
		return zero, fmt.Errorf("unexpected %v response", m.Type())
	}
	return t, nil
}

// Register creates mb on the relay (or confirms it) and authenticates this
// connection for it.
func (c *Client) Register(ctx context.Context, mb *Mailbox) error {
	owner := mb.owner()
	msg := wire.AuthMessage(wire.OpRegister, c.Hello.Relay, c.Hello.Challenge, mb.ID, owner, mb.TokenHash)
	r := &wire.Register{Mailbox: mb.ID, OwnerKey: owner, SendTokenHash: mb.TokenHash}
	copy(r.Signature[:], ed25519.Sign(mb.Key, msg))
	_, err := expect[*wire.OK](c.Request(ctx, r))
	if err == nil {
		c.setAckMailbox(mb.ID)
	}
	return err
}

// Auth authenticates this connection for an existing mailbox.
func (c *Client) Auth(ctx context.Context, mb *Mailbox) error {
	_, err := expect[*wire.OK](c.Request(ctx, c.authFrame(mb)))
	if err == nil {
		c.setAckMailbox(mb.ID)
	}
	return err
}

// authFrame is the Auth request for mb on this connection.
func (c *Client) authFrame(mb *Mailbox) *wire.Auth {
	msg := wire.AuthMessage(wire.OpAuth, c.Hello.Relay, c.Hello.Challenge, mb.ID, mb.owner(), wire.Key32{})
	a := &wire.Auth{Mailbox: mb.ID}
	copy(a.Signature[:], ed25519.Sign(mb.Key, msg))
	return a
}

func (c *Client) setAckMailbox(id wire.MailboxID) {
	c.ackMu.Lock()
	c.ackMailbox = id
	c.ackMu.Unlock()
}

// Send stores env in mailbox to and returns its sequence number once the
// relay has said it is durable.
func (c *Client) Send(ctx context.Context, to wire.MailboxID, token wire.Key32, ttl uint32, env []byte) (uint64, error) {
	s, err := expect[*wire.Sent](c.Request(ctx, &wire.Send{Mailbox: to, SendToken: token, TTL: ttl, Envelope: env}))
	if err != nil {
		return 0, err
	}
	return s.Seq, nil
}

// QueueAck acknowledges seq of the authenticated mailbox soon: sequence
// numbers queued while an Ack is in flight go out together in the next one.
func (c *Client) QueueAck(seq uint64) {
	c.ackMu.Lock()
	c.ackQueue = append(c.ackQueue, seq)
	start := !c.ackBusy
	c.ackBusy = true
	c.ackMu.Unlock()
	if start {
		go c.ackLoop()
	}
}

func (c *Client) ackLoop() {
	for {
		c.ackMu.Lock()
		n := min(len(c.ackQueue), wire.MaxAckCount)
		if n == 0 {
			c.ackBusy = false
			c.ackMu.Unlock()
			return
		}
		seqs := append([]uint64(nil), c.ackQueue[:n]...)
		c.ackQueue = append(c.ackQueue[:0], c.ackQueue[n:]...)
		mb := c.ackMailbox
		c.ackMu.Unlock()
		_, err := expect[*wire.OK](c.Request(context.Background(), &wire.Ack{Mailbox: mb, Seqs: seqs}))
		if c.onAcked != nil {
			c.onAcked(len(seqs), err)
		}
		if err != nil {
			// The connection is gone: drop the rest, the relay redelivers.
			c.ackMu.Lock()
			dropped := len(c.ackQueue)
			c.ackQueue = nil
			c.ackBusy = false
			c.ackMu.Unlock()
			if c.onAcked != nil && dropped > 0 {
				c.onAcked(dropped, err)
			}
			return
		}
	}
}
