// Package relaytest runs a real Ephemera relay (package relay over an
// in-memory store) inside a test, reached through wire.Pipe instead of
// sockets, so core tests exercise the actual protocol without a network:
//
//	r := relaytest.New(t)
//	alice := relaytest.NewClient(t, r)
//	bob := relaytest.NewClient(t, r)
//
// Everything it starts is stopped by t.Cleanup. Disconnect cuts every
// connection, as a network failure would, and the clients reconnect.
package relaytest

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/store/memstore"
	"github.com/ephemera-im/ephemera/net/store/storetest"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Option configures New.
type Option func(*options)

type options struct {
	now    func() time.Time
	limits relay.Limits
	store  store.Store
	logger *slog.Logger
}

// WithClock gives the relay and its store a clock, e.g. (*Clock).Now, so
// tests of expiry need not sleep.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLimits sets the relay's limits; zero fields take relay.DefaultLimits.
func WithLimits(l relay.Limits) Option { return func(o *options) { o.limits = l } }

// WithStore serves st instead of a new memstore. The Relay does not close
// it.
func WithStore(st store.Store) Option { return func(o *options) { o.store = st } }

// WithLogger sends the relay's logs to l; by default they are discarded.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Relay is an in-process relay. It is safe for concurrent use.
type Relay struct {
	t      testing.TB
	srv    *relay.Server
	store  store.Store
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[wire.Conn]struct{} // client ends of live pipes
}

// New starts a relay over a memstore (or the store given WithStore) and
// stops it when the test ends.
func New(t testing.TB, opts ...Option) *Relay {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	st := o.store
	owned := st == nil
	if owned {
		st = memstore.New(memstore.Options{Now: o.now})
	}
	srv, err := relay.New(relay.Config{
		Store:  st,
		Limits: o.limits,
		Logger: o.logger,
		Now:    o.now,
	})
	if err != nil {
		t.Fatalf("relaytest: %v", err)
	}
	r := &Relay{t: t, srv: srv, store: st, conns: make(map[wire.Conn]struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() {
		r.close()
		if owned {
			st.Close()
		}
	})
	return r
}

// Dial connects to the relay through a wire.Pipe; it is a
// relayclient.Config.Dial.
func (r *Relay) Dial(ctx context.Context) (wire.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, wire.ErrClosed
	}
	cli, srv := wire.Pipe()
	r.conns[cli] = struct{}{}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.srv.ServeConn(r.ctx, srv, netip.Addr{})
		srv.Close("relay done")
		r.mu.Lock()
		delete(r.conns, cli)
		r.mu.Unlock()
	}()
	return cli, nil
}

// Server returns the relay server.
func (r *Relay) Server() *relay.Server { return r.srv }

// Store returns the relay's store.
func (r *Relay) Store() store.Store { return r.store }

// Disconnect cuts every connection now, as a network failure would. The
// relay keeps running and clients reconnect.
func (r *Relay) Disconnect() {
	r.mu.Lock()
	conns := make([]wire.Conn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		c.Close("relaytest: disconnect")
	}
}

// close shuts the server down and waits for its connections.
func (r *Relay) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.t.Errorf("relaytest: shutdown: %v", err)
	}
	r.cancel()
	r.Disconnect()
	r.wg.Wait()
}

// NewClient returns a started relayclient.Client connected to r through
// pipes, with fast reconnects, closed when the test ends. Options edit its
// Config before it is made.
func NewClient(t testing.TB, r *Relay, opts ...func(*relayclient.Config)) *relayclient.Client {
	t.Helper()
	cfg := relayclient.Config{
		Dial:       r.Dial,
		MinBackoff: time.Millisecond,
		MaxBackoff: 50 * time.Millisecond,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	c, err := relayclient.New(cfg)
	if err != nil {
		t.Fatalf("relaytest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.Start()
	return c
}

// Clock is a settable clock for WithClock, shared with the store contract
// suite; safe for concurrent use.
type Clock = storetest.Clock

// NewClock returns a Clock showing start.
func NewClock(start time.Time) *Clock { return storetest.NewClock(start) }
