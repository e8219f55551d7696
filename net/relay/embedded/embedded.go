// Package embedded runs an Ephemera relay inside the desktop app, on a
// loopback address, for when the user has configured no relay of their
// own. It is the same relay as cmd/ephemera-relay (net/relay over the bbolt
// store), without TLS: it only ever listens on loopback, and answers only
// requests whose Host is a loopback name and that carry no Origin
// (relay.LoopbackAccess), so web pages cannot reach it by DNS rebinding.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/store/boltstore"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// DefaultAddr is where an embedded relay listens unless told otherwise:
// the same port as the ephemera-relay daemon's default.
const DefaultAddr = "127.0.0.1:7867"

// CompactEvery is how often the embedded relay rewrites relay.db without
// the pages of deleted envelopes (boltstore.Options.CompactEvery).
const CompactEvery = 10 * time.Minute

// Options configure Start.
type Options struct {
	// DataDir holds the relay's database and blobs; required. Keep it
	// the same across runs: it holds the relay's identity and queued
	// envelopes.
	DataDir string
	// Addr is a loopback host:port; empty means DefaultAddr. When the
	// port is taken (another app instance, a local daemon), the relay
	// listens on a free port of the same host instead: read URL.
	Addr string
	// Logger receives the relay's logs; nil means slog.Default().
	Logger *slog.Logger
	// Limits, if not nil, replace relay.DefaultLimits() (tests use small
	// ones).
	Limits *relay.Limits
}

// Relay is a running embedded relay. Its methods are safe for concurrent
// use.
type Relay struct {
	store *boltstore.Store
	srv   *relay.Server
	hs    *http.Server
	url   string
	done  chan struct{} // closed when the HTTP server stops serving

	closeOnce sync.Once
	closeErr  error
}

// Start opens the store in opts.DataDir and starts serving. ctx bounds
// start-up only; stop the relay with Close.
func Start(ctx context.Context, opts Options) (*Relay, error) {
	if opts.DataDir == "" {
		return nil, errors.New("embedded relay: no DataDir")
	}
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded relay: address %q: %v", addr, err)
	}
	if !wsconn.IsLoopbackHost(host) {
		// Plain ws:// beyond this machine would expose tokens and
		// traffic: that is what the ephemera-relay daemon with TLS is for.
		return nil, fmt.Errorf("embedded relay: address %q is not loopback", addr)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	// Compacted often: the app's relay is small, and acknowledged
	// envelopes must not linger in relay.db on the user's disk.
	st, err := boltstore.Open(opts.DataDir, boltstore.Options{CompactEvery: CompactEvery,
		OnCompactError: func(err error) { log.Error("compacting the relay's store", "err", err) }})
	if err != nil {
		return nil, fmt.Errorf("embedded relay: %w", err)
	}
	limits := relay.DefaultLimits()
	if opts.Limits != nil {
		limits = *opts.Limits
	}
	// Only this machine's native clients: a web page that rebinds its
	// name to 127.0.0.1 sends its own Host and an Origin (relay.Access).
	access := relay.LoopbackAccess()
	access.Hosts = append(access.Hosts, host) // another 127.0.0.0/8 address, if so configured
	srv, err := relay.New(relay.Config{Store: st, Limits: limits, Logger: opts.Logger, Access: access})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("embedded relay: %w", err)
	}
	ln, err := listen(ctx, host, addr)
	if err != nil {
		srv.Shutdown(context.Background())
		st.Close()
		return nil, fmt.Errorf("embedded relay: %w", err)
	}
	r := &Relay{
		store: st,
		srv:   srv,
		hs:    &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second},
		url:   "ws://" + ln.Addr().String() + wsconn.Path,
		done:  make(chan struct{}),
	}
	go func() {
		defer close(r.done)
		r.hs.Serve(ln)
	}()
	return r, nil
}

// listen listens on addr, or on a free port of host when that fails (the
// port is taken, most likely).
func listen(ctx context.Context, host, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err == nil {
		return ln, nil
	}
	ln, err2 := lc.Listen(ctx, "tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return ln, nil
}

// URL is the relay's WebSocket URL, ws://127.0.0.1:PORT/v1/ws.
func (r *Relay) URL() string { return r.url }

// Close stops the relay: no new connections, in-flight requests finish,
// connections are closed with 1001, and the store is closed. Calling it
// again returns the first call's result.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errHTTP := r.hs.Shutdown(ctx)
		<-r.done
		errRelay := r.srv.Shutdown(ctx)
		errStore := r.store.Close()
		r.closeErr = errors.Join(errHTTP, errRelay, errStore)
	})
	return r.closeErr
}
