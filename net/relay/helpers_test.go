package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemera-im/ephemera/net/store/memstore"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// clock is a settable clock shared by the relay and its store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	srv   *Server
	store *memstore.Store
	clock *clock
	reg   *prometheus.Registry
}

type option func(*Config)

func withLimits(f func(*Limits)) option { return func(c *Config) { f(&c.Limits) } }

// newEnv starts a relay over a memstore with a fake clock. The relay is
// shut down, and the store closed, when the test ends.
func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	clk := newClock()
	ms := memstore.New(memstore.Options{Now: clk.Now})
	reg := prometheus.NewRegistry()
	cfg := Config{
		Store:    ms,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:      clk.Now,
		Registry: reg,
	}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		ms.Close()
	})
	return &env{t: t, srv: srv, store: ms, clock: clk, reg: reg}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// pipe connects a client to the relay through wire.Pipe.
func (e *env) pipe() *client {
	e.t.Helper()
	a, b := wire.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.srv.ServeConn(context.Background(), b, netip.MustParseAddr("192.0.2.1"))
	}()
	e.t.Cleanup(func() { a.Close("test over"); <-done })
	return newClient(e.t, a)
}

// httpServer serves the relay's handler on a loopback socket.
func (e *env) httpServer() *httptest.Server {
	hs := httptest.NewServer(e.srv.Handler())
	e.t.Cleanup(hs.Close)
	return hs
}

func wsURL(hs *httptest.Server) string {
	return "ws" + strings.TrimPrefix(hs.URL, "http") + wsconn.Path
}

// dialWS connects a raw WebSocket to the relay.
func dialWS(t *testing.T, hs *httptest.Server) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(hs), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(wire.MaxFrameSize)
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

// ws connects a client to the relay over a real loopback WebSocket.
func (e *env) ws(hs *httptest.Server) *client {
	e.t.Helper()
	ws := dialWS(e.t, hs)
	return newClient(e.t, wsconn.New(ws, wire.MaxFrameSize))
}

// client speaks the protocol for tests: it routes Deliver pushes to a
// channel and responses to call.
type client struct {
	t      *testing.T
	conn   wire.Conn
	hello  *wire.ServerHello
	nextID uint32

	resps    chan frame
	delivers chan *wire.Deliver
	done     chan struct{}
	err      error // why reading stopped; read after done
}

type frame struct {
	id uint32
	m  wire.Message
}

func newClient(t *testing.T, c wire.Conn) *client {
	t.Helper()
	cl := &client{t: t, conn: c, resps: make(chan frame, 16), delivers: make(chan *wire.Deliver, 4096), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := c.ReadFrame(ctx)
	if err != nil {
		t.Fatalf("reading ServerHello: %v", err)
	}
	id, m, err := wire.Decode(b)
	if err != nil {
		t.Fatalf("decoding ServerHello: %v", err)
	}
	h, ok := m.(*wire.ServerHello)
	if !ok || id != 0 {
		t.Fatalf("first frame: got %v id %d, want ServerHello id 0", m.Type(), id)
	}
	cl.hello = h
	go cl.read()
	return cl
}

func (c *client) read() {
	defer close(c.done)
	for {
		b, err := c.conn.ReadFrame(context.Background())
		if err != nil {
			c.err = err
			return
		}
		id, m, err := wire.Decode(b)
		if err != nil {
			c.err = err
			return
		}
		if d, ok := m.(*wire.Deliver); ok {
			if id != 0 {
				c.err = errors.New("Deliver with a request id")
				return
			}
			c.delivers <- d
			continue
		}
		c.resps <- frame{id, m}
	}
}

// call sends req and returns its response.
func (c *client) call(req wire.Message) wire.Message {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.WriteFrame(ctx, wire.Encode(id, req)); err != nil {
		c.t.Fatalf("writing %v: %v", req.Type(), err)
	}
	select {
	case f := <-c.resps:
		if f.id != id {
			c.t.Fatalf("%v: response id %d, want %d", req.Type(), f.id, id)
		}
		return f.m
	case <-c.done:
		c.t.Fatalf("%v: connection ended: %v", req.Type(), c.err)
	case <-ctx.Done():
		c.t.Fatalf("%v: no response", req.Type())
	}
	return nil
}

// mustOK calls req and fails unless the response has type want.
func mustType[T wire.Message](c *client, req wire.Message) T {
	c.t.Helper()
	resp := c.call(req)
	r, ok := resp.(T)
	if !ok {
		c.t.Fatalf("%v: got %v, want %T", req.Type(), describe(resp), r)
	}
	return r
}

func describe(m wire.Message) string {
	if e, ok := m.(*wire.Error); ok {
		return e.Error()
	}
	return m.Type().String()
}

// wantError calls req and fails unless it is refused with code.
func (c *client) wantError(req wire.Message, code wire.ErrorCode) *wire.Error {
	c.t.Helper()
	resp := c.call(req)
	e, ok := resp.(*wire.Error)
	if !ok || e.Code != code {
		c.t.Fatalf("%v: got %v, want error %v", req.Type(), describe(resp), code)
	}
	return e
}

// closed waits for the relay to close the connection and returns the
// reason, "CODE text".
func (c *client) closed() string {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Fatal("connection not closed")
	}
	var ce *wire.CloseError
	if !errors.As(c.err, &ce) {
		c.t.Fatalf("connection ended with %v, want a close from the relay", c.err)
	}
	return ce.Reason
}

// deliver waits for the next Deliver.
func (c *client) deliver() *wire.Deliver {
	c.t.Helper()
	select {
	case d := <-c.delivers:
		return d
	case <-c.done:
		c.t.Fatalf("connection ended waiting for Deliver: %v", c.err)
	case <-time.After(10 * time.Second):
		c.t.Fatal("no Deliver")
	}
	return nil
}

// noDeliver checks that nothing is delivered for a moment.
func (c *client) noDeliver() {
	c.t.Helper()
	select {
	case d := <-c.delivers:
		c.t.Fatalf("unexpected Deliver of seq %d", d.Seq)
	case <-time.After(100 * time.Millisecond):
	}
}

// owner is a mailbox and the key that owns it.
type owner struct {
	id   wire.MailboxID
	pub  wire.Key32
	priv ed25519.PrivateKey
}

func newOwner(t *testing.T) owner {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var o owner
	rand.Read(o.id[:])
	copy(o.pub[:], pub)
	o.priv = priv
	return o
}

func tokenHash(tok wire.Key32) wire.Key32 { return sha256.Sum256(tok[:]) }

func (o owner) registerMsg(c *client, tokHash wire.Key32) *wire.Register {
	m := &wire.Register{Mailbox: o.id, OwnerKey: o.pub, SendTokenHash: tokHash}
	sig := ed25519.Sign(o.priv, wire.AuthMessage(wire.OpRegister, c.hello.Relay, c.hello.Challenge, o.id, o.pub, tokHash))
	copy(m.Signature[:], sig)
	return m
}

func (o owner) authMsg(c *client) *wire.Auth {
	m := &wire.Auth{Mailbox: o.id}
	sig := ed25519.Sign(o.priv, wire.AuthMessage(wire.OpAuth, c.hello.Relay, c.hello.Challenge, o.id, o.pub, wire.Key32{}))
	copy(m.Signature[:], sig)
	return m
}

func (o owner) register(c *client, tokHash wire.Key32) {
	c.t.Helper()
	mustType[*wire.OK](c, o.registerMsg(c, tokHash))
}

func (o owner) auth(c *client) {
	c.t.Helper()
	mustType[*wire.OK](c, o.authMsg(c))
}

func (c *client) send(to wire.MailboxID, tok wire.Key32, data string) uint64 {
	c.t.Helper()
	return mustType[*wire.Sent](c, &wire.Send{Mailbox: to, SendToken: tok, Envelope: []byte(data)}).Seq
}

// metric returns the value of a counter or gauge, summed over the series
// whose labels include the given name=value pairs.
func (e *env) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
