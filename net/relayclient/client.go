// Package relayclient is the client side of the Ephemera relay protocol
// (package wire): one connection to one relay, shared by every mailbox the
// app reads from that relay and by every request sent to it.
//
// A Client connects in the background and keeps reconnecting, with
// exponential backoff and full jitter, until it is closed. After each
// (re)connection it authenticates every mailbox registered through it, with a
// signature over the new connection's challenge (registering it again if
// the relay has lost it), and the relay then pushes the envelopes stored in
// them; Deliveries carries them to the caller. A Ping every PingInterval
// keeps an idle connection open and detects a dead one.
//
// What is and isn't promised:
//
//   - Requests are matched to responses by request id; any number may be in
//     flight at once from any number of goroutines.
//   - A request waits for a connection (state Connected) up to its context.
//     One that could not be written to a connection that just dropped never
//     reached the relay, and goes out on the next connection.
//   - A request whose connection drops before its response fails promptly
//     with an error wrapping ErrDisconnected. The request may or may not
//     have taken effect at the relay: callers retry (Send may then store the
//     same envelope twice, which the recipient drops by message id).
//   - Relay refusals are returned as errors wrapping *wire.Error, so
//     errors.Is(err, &wire.Error{Code: wire.CodeQuota}) works.
//   - Delivery is at least once: an envelope that was not acknowledged, or
//     whose Ack was lost with its connection, is delivered again after a
//     reconnect, possibly after later ones. Callers deduplicate (by message
//     id, or by mailbox and Seq) and Ack only once an envelope is safely
//     stored.
//   - Deliveries are never dropped for a slow consumer: when the buffer is
//     full the client stops reading from the relay (while no request is
//     waiting for its response, so calling Ack from the receiving goroutine
//     cannot deadlock) and TCP pushes back on the relay.
package relayclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// Defaults for zero Config fields.
const (
	DefaultMinBackoff     = 250 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultPingInterval   = 30 * time.Second
	DefaultDeliveryBuffer = 64
	DefaultDialTimeout    = 30 * time.Second
)

// Errors returned by Client methods; test with errors.Is.
var (
	// ErrDisconnected is wrapped by the error of every request that could
	// not be sent or whose connection dropped before its response, and of
	// requests that gave up waiting for a connection. Retrying may succeed.
	ErrDisconnected = errors.New("relayclient: disconnected")
	// ErrClosed is returned by requests on a closed Client.
	ErrClosed = errors.New("relayclient: client closed")
	// ErrProtocol is wrapped when the relay breaks the protocol (an answer
	// of the wrong type, a blob chunk at the wrong offset).
	ErrProtocol = errors.New("relayclient: relay protocol violation")
)

// Mailbox is a mailbox the client reads: its id, its owner's signing key and
// the hash of the token senders must present (zero: anyone may send).
type Mailbox struct {
	ID            wire.MailboxID
	Key           ed25519.PrivateKey
	SendTokenHash wire.Key32
}

// State is the state of a Client's connection.
type State int

// States, in the order a connection goes through them.
const (
	// Disconnected: no connection; waiting before the next attempt (or
	// not started).
	Disconnected State = iota
	// Connecting: dialling, waiting for ServerHello, authenticating.
	Connecting
	// Connected: ServerHello received and every registered mailbox
	// authenticated (or refused; see Config.OnState).
	Connected
	// Closed: Close was called. Final.
	Closed
)

func (s State) String() string {
	switch s {
	case Disconnected:
		return "disconnected"
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Delivery is one envelope pushed by the relay.
type Delivery struct {
	Mailbox  wire.MailboxID
	Seq      uint64    // acknowledge with Ack(ctx, Mailbox, Seq)
	Received time.Time // when the relay stored it, by the relay's clock
	Envelope []byte
}

// Config configures a Client. Only URL (or Dial) is required.
type Config struct {
	// URL is the relay's URL, normalised with wsconn.NormalizeURL: wss://,
	// or plain ws:// to a loopback address only.
	URL string
	// Dial, when set, replaces the WebSocket dial, e.g. with one end of a
	// wire.Pipe (see package relaytest). URL is then optional.
	Dial func(ctx context.Context) (wire.Conn, error)
	// HTTPClient carries the WebSocket handshake, e.g. with a SOCKS5
	// transport. Nil means a client that ignores proxy environment
	// variables and verifies TLS with the system roots. Redirects are never
	// followed, so a relay cannot send the client elsewhere.
	HTTPClient *http.Client

	// OnState, when set, is called on every state change with the error
	// that caused it, if any. Calls come from one client goroutine, never
	// concurrently, in order; the callback must return quickly and must
	// not call Close. A Connected state with a non-nil error means some
	// mailboxes were refused by the relay (the error says which); they are
	// tried again on the next connection.
	OnState func(State, error)

	// MinBackoff and MaxBackoff bound the wait between connection
	// attempts: after the n-th consecutive failure the client waits a
	// random time in [0, min(MaxBackoff, MinBackoff·2ⁿ⁻¹)] ("full jitter").
	// Defaults: DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is the time between keepalive pings; a ping unanswered
	// for as long again drops the connection. Default DefaultPingInterval.
	PingInterval time.Duration
	// DialTimeout bounds dialling and waiting for ServerHello. Default
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// DeliveryBuffer is the capacity of the Deliveries channel, and about
	// how many more envelopes are read ahead before the client stops
	// reading. Default DefaultDeliveryBuffer.
	DeliveryBuffer int

	// Rand is the source of the backoff jitter. Default crypto/rand.Reader.
	Rand io.Reader
	// Logger receives connection events at Debug and Info, never
	// envelope contents or full mailbox ids. Default: discard.
	Logger *slog.Logger
}

// Client is a connection to one relay. It is safe for concurrent use. Its
// zero value is not usable: make one with New, then call Start.
type Client struct {
	cfg  Config
	url  string
	dial func(ctx context.Context) (wire.Conn, error)
	log  *slog.Logger

	// Test hooks: the clock behind pings, backoff and connection age.
	after        func(time.Duration) <-chan time.Time
	afterBackoff func(time.Duration) <-chan time.Time
	now          func() time.Time

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	deliveries chan Delivery

	startOnce sync.Once
	closeOnce sync.Once

	mu        sync.Mutex
	started   bool
	state     State
	changed   chan struct{} // closed and replaced on every state change
	live      *session      // connection with a ServerHello, maybe still authenticating
	sess      *session      // the Connected session, nil otherwise
	mailboxes map[wire.MailboxID]*registration
	gen       uint64 // registration generation counter
}

type registration struct {
	mb  Mailbox
	gen uint64 // c.gen when added or last changed
}

// New checks cfg and returns a Client that does nothing until Start.
func New(cfg Config) (*Client, error) {
	c := &Client{
		cfg:          cfg,
		after:        time.After,
		afterBackoff: time.After,
		now:          time.Now,
		changed:      make(chan struct{}),
		mailboxes:    make(map[wire.MailboxID]*registration),
	}
	if cfg.URL != "" {
		u, err := wsconn.NormalizeURL(cfg.URL)
		if err != nil {
			return nil, err
		}
		c.url = u
	}
	switch {
	case cfg.Dial != nil:
		c.dial = cfg.Dial
	case c.url != "":
		c.dial = c.dialWebSocket
	default:
		return nil, errors.New("relayclient: Config needs a URL or a Dial function")
	}
	if c.cfg.MinBackoff <= 0 {
		c.cfg.MinBackoff = DefaultMinBackoff
	}
	if c.cfg.MaxBackoff <= 0 {
		c.cfg.MaxBackoff = DefaultMaxBackoff
	}
	if c.cfg.MaxBackoff < c.cfg.MinBackoff {
		c.cfg.MaxBackoff = c.cfg.MinBackoff
	}
	if c.cfg.PingInterval <= 0 {
		c.cfg.PingInterval = DefaultPingInterval
	}
	if c.cfg.DialTimeout <= 0 {
		c.cfg.DialTimeout = DefaultDialTimeout
	}
	if c.cfg.DeliveryBuffer <= 0 {
		c.cfg.DeliveryBuffer = DefaultDeliveryBuffer
	}
	if c.cfg.Rand == nil {
		c.cfg.Rand = rand.Reader
	}
	c.log = cfg.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.url != "" {
		c.log = c.log.With("relay", c.url)
	}
	c.deliveries = make(chan Delivery, c.cfg.DeliveryBuffer)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Start connects in the background and keeps reconnecting until Close.
// Calls after the first, or after Close, do nothing.
func (c *Client) Start() {
	c.startOnce.Do(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.state == Closed {
			return
		}
		c.started = true
		c.wg.Add(1)
		go c.run()
	})
}

// Close drops the connection, fails every request in flight with ErrClosed
// (or ErrDisconnected) and waits for the client's goroutines to end. It then
// closes the Deliveries channel. Close is idempotent and always returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		started := c.started
		if !started {
			// Start is now a no-op; the state is ours to finish.
			c.state = Closed
			close(c.changed)
			c.changed = make(chan struct{})
		}
		c.mu.Unlock()
		c.cancel()
		c.wg.Wait()
		if !started && c.cfg.OnState != nil {
			c.cfg.OnState(Closed, nil)
		}
		close(c.deliveries)
	})
	return nil
}

// State returns the connection's state now.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Hello returns the ServerHello of the current connection, and false when
// there is none.
func (c *Client) Hello() (wire.ServerHello, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.live == nil {
		return wire.ServerHello{}, false
	}
	return c.live.hello, true
}

// Deliveries returns the channel on which envelopes pushed for every
// authenticated mailbox arrive, in order per mailbox within a connection.
// After a reconnect, envelopes not yet acknowledged arrive again. The
// channel is closed by Close.
func (c *Client) Deliveries() <-chan Delivery { return c.deliveries }

// setState records a state change and reports it. Only the run goroutine
// calls it, which keeps OnState calls ordered and never concurrent.
func (c *Client) setState(st State, err error, live, sess *session) {
	c.mu.Lock()
	changed := c.setStateLocked(st, err, live, sess)
	c.mu.Unlock()
	if changed {
		c.report(st, err)
	}
}

// setStateLocked records a state change; the caller holds c.mu and calls
// report after unlocking if it returns true.
func (c *Client) setStateLocked(st State, err error, live, sess *session) bool {
	c.live, c.sess = live, sess
	if c.state == st && err == nil {
		return false
	}
	c.state = st
	close(c.changed)
	c.changed = make(chan struct{})
	return true
}

func (c *Client) report(st State, err error) {
	if err != nil {
		c.log.Info("relay connection", "state", st, "err", err)
	} else {
		c.log.Debug("relay connection", "state", st)
	}
	if c.cfg.OnState != nil {
		c.cfg.OnState(st, err)
	}
}

// run is the connection loop.
func (c *Client) run() {
	defer c.wg.Done()
	failures := 0
	for {
		c.setState(Connecting, nil, nil, nil)
		s, err := c.connect()
		if err == nil {
			connectedAt := c.now()
			select {
			case <-s.done:
				err = s.err
			case <-c.ctx.Done():
			}
			s.close(ErrClosed, "client closed")
			s.wait()
			// A connection that stayed up resets the backoff; one that
			// drops at once (a relay that accepts and then fails) must
			// not make the client hammer it.
			if c.now().Sub(connectedAt) >= c.cfg.MaxBackoff {
				failures = 0
			}
		}
		if c.ctx.Err() != nil {
			c.setState(Closed, nil, nil, nil)
			return
		}
		failures++
		c.setState(Disconnected, err, nil, nil)
		d := backoff(c.cfg.Rand, c.cfg.MinBackoff, c.cfg.MaxBackoff, failures)
		c.log.Debug("relay reconnect", "in", d, "attempt", failures)
		select {
		case <-c.afterBackoff(d):
		case <-c.ctx.Done():
			c.setState(Closed, nil, nil, nil)
			return
		}
	}
}

// dialWebSocket is the default dial: a WebSocket to c.url.
func (c *Client) dialWebSocket(ctx context.Context) (wire.Conn, error) {
	hc := c.cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			// Nothing but the relay: no proxy from the environment.
			Proxy:               nil,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:   false,
			TLSHandshakeTimeout: c.cfg.DialTimeout,
		}}
	} else {
		cp := *hc
		hc = &cp
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error {
		return errors.New("relay redirects are not followed")
	}
	ws, resp, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{
		HTTPClient:      hc,
		CompressionMode: websocket.CompressionDisabled, // ciphertext does not compress
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return wsconn.New(ws, wire.MaxFrameSize), nil
}
