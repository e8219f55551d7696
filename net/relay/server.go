package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// Config configures a Server. Store is required; every other field has a
// default.
type Config struct {
	// Store holds the relay's state. The Server never closes it.
	Store store.Store
	// Limits are the relay's limits; zero fields take DefaultLimits.
	Limits Limits
	// Logger receives the relay's logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the relay's clock for TTLs, expiry sweeps and rate limits on
	// mailboxes and addresses; nil means time.Now. (Per-connection frame
	// throttling sleeps, so it always uses the real clock.)
	Now func() time.Time
	// Registry receives the relay's metrics and is served at /metrics;
	// nil means a new registry that also has the Go and process collectors.
	Registry *prometheus.Registry
	// SweepInterval is how often expired envelopes and blobs are deleted;
	// zero means one minute.
	SweepInterval time.Duration
	// Rand is the source of challenges and blob ids; nil means crypto/rand.
	Rand io.Reader
	// Notifier, when set, is told of every durable Append in addition to
	// the relay's own subscribers (see Notifier).
	Notifier Notifier
	// Access says which Host and Origin headers /v1/ws and /metrics
	// answer; the zero value accepts any host (see Access).
	Access Access
}

// Server is an Ephemera relay. It is safe for concurrent use. Create one
// with New, serve it with Handler or ServeConn, and stop it with Shutdown.
type Server struct {
	store   *meteredStore
	limits  Limits
	log     *slog.Logger
	now     func() time.Time
	reg     *prometheus.Registry
	metrics *metrics
	relayID wire.Key32
	hub     *hub
	// deliverBudget bounds delivery memory over all connections
	// (Limits.DeliverTotalBytes).
	deliverBudget *budget
	notifier      Notifier
	access        Access
	admit         admission
	claims        claimLimiters

	throttleClock throttleClock // per-connection frame rate; tests replace it

	randMu sync.Mutex // io.Readers in general are not safe for concurrent use
	rand   io.Reader

	mu      sync.Mutex
	closing bool
	conns   map[*conn]struct{}
	connsWG sync.WaitGroup

	sweepInterval time.Duration
	sweepStop     chan struct{}
	sweepDone     chan struct{}
	shutdownOnce  sync.Once
}

// New returns a Server over cfg.Store and starts its sweeper.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("relay: Config.Store is nil")
	}
	limits := cfg.Limits.withDefaults()
	if err := limits.validate(); err != nil {
		return nil, err
	}
	if err := cfg.Access.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		access:        cfg.Access,
		limits:        limits,
		log:           cfg.Logger,
		now:           cfg.Now,
		reg:           cfg.Registry,
		rand:          cfg.Rand,
		notifier:      cfg.Notifier,
		hub:           newHub(limits),
		deliverBudget: newBudget(limits.DeliverTotalBytes),
		throttleClock: realThrottleClock,
		conns:         make(map[*conn]struct{}),
		sweepInterval: cfg.SweepInterval,
		sweepStop:     make(chan struct{}),
		sweepDone:     make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.reg == nil {
		s.reg = newRegistry()
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.sweepInterval <= 0 {
		s.sweepInterval = time.Minute
	}
	m, err := newMetrics(s.reg, s.deliverBudget)
	if err != nil {
		return nil, fmt.Errorf("relay: registering metrics: %w", err)
	}
	s.metrics = m
	s.store = newMeteredStore(cfg.Store, m.storeLatency)
	s.admit = admission{srv: s, ips: make(map[ipKey]*ipState)}
	s.claims.m = make(map[wire.MailboxID]*rate.Limiter)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.relayID, err = cfg.Store.RelayID(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: reading relay id: %w", err)
	}
	go s.sweeper()
	return s, nil
}

// Handler serves GET /healthz, GET /metrics and the WebSocket endpoint
// /v1/ws; the last two only to requests Config.Access accepts.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.Handle("GET /metrics", s.guard(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})))
	mux.Handle("GET "+wsconn.Path, s.guard(http.HandlerFunc(s.serveWS)))
	return mux
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.store.Check(ctx); err != nil {
		s.log.Warn("health check failed", "cause", rootCause(err))
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "unavailable")
		return
	}
	io.WriteString(w, "ok")
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	// Per-address limits see the peer of the TCP connection. Behind a
	// reverse proxy that is the proxy: X-Forwarded-For is not trusted,
	// because any client can send it.
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	remote := ap.Addr()
	if err != nil {
		remote = netip.Addr{}
	}
	if reason := s.tryAdmit(remote); reason != "" {
		status := http.StatusServiceUnavailable
		if reason == reasonIPConns || reason == reasonIPRate {
			status = http.StatusTooManyRequests
		}
		w.Header().Set("Retry-After", "5")
		http.Error(w, "relay: too many connections ("+reason+")", status)
		return
	}
	// guard has checked Host and Origin; an Origin it accepted by name
	// must not then fail the library's same-host check.
	_, _, _, explicitOrigin := s.access.check(r)
	ws, err := websocket.Accept(leanHijacker{w}, r, &websocket.AcceptOptions{
		CompressionMode:    websocket.CompressionDisabled,
		InsecureSkipVerify: explicitOrigin,
	})
	if err != nil {
		// Accept has answered the request with an HTTP error.
		s.admit.release(remote)
		s.log.Debug("websocket upgrade failed", "err", errText(err))
		return
	}
	// Serve on a goroutine of our own and let the handler return: the
	// connection is hijacked, and net/http's goroutine would otherwise
	// keep its request, response and deep stack alive for as long as the
	// connection lasts.
	go s.serve(context.Background(), wsconn.New(ws, s.limits.readLimit()), remote)
}

// tryAdmit reserves a connection slot, or says why there is none.
func (s *Server) tryAdmit(remote netip.Addr) string {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	reason := reasonShutdown
	if !closing {
		reason = s.admit.admit(remote)
	}
	if reason != "" {
		s.metrics.rejectedConns.WithLabelValues(reason).Inc()
	}
	return reason
}

// ServeConn serves one connection from remote until it ends: the client
// closes it, it breaks a rule, it idles, ctx is done, or the server shuts
// down. It returns once the connection is closed and its goroutines have
// stopped. remote is used for per-address limits; the zero Addr is exempt.
func (s *Server) ServeConn(ctx context.Context, c wire.Conn, remote netip.Addr) {
	if reason := s.tryAdmit(remote); reason != "" {
		code, msg := closeTryAgain, "relay overloaded: "+reason
		if reason == reasonShutdown {
			code, msg = closeGoingAway, "relay shutting down"
		}
		closeConn(c, code, msg)
		return
	}
	s.serve(ctx, c, remote)
}

// serve runs an admitted connection.
func (s *Server) serve(ctx context.Context, wc wire.Conn, remote netip.Addr) {
	defer s.admit.release(remote)
	c := newConn(ctx, s, wc, remote)
	if !s.track(c) {
		c.closeWith(closeGoingAway, "relay shutting down")
		return
	}
	defer s.untrack(c)
	s.metrics.connections.Inc()
	s.metrics.connectionsTotal.Inc()
	defer s.metrics.connections.Dec()
	c.serve()
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.connsWG.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connsWG.Done()
}

// Wake tells the relay's subscribers of mailbox that it has new envelopes.
// Send calls it itself; a Notifier calls it for wake-ups from other nodes.
func (s *Server) Wake(mailbox wire.MailboxID) { s.hub.wake(mailbox) }

// Shutdown stops accepting connections, lets each connection finish the
// request it is handling (a Send is either answered Sent once durable, or
// not answered and not stored), closes connections with status 1001, and
// stops the sweeper. If ctx ends first, the remaining connections are cut
// and ctx's error returned. It does not close the store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.shutdownOnce.Do(func() { close(s.sweepStop) })

	for _, c := range conns {
		c.shutdown()
	}
	done := make(chan struct{})
	go func() {
		s.connsWG.Wait()
		<-s.sweepDone
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.cancel()
			go c.closeWith(closeGoingAway, "relay shutting down")
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// sweeper deletes expired envelopes and blobs every sweepInterval, and
// forgets rate-limit state nobody needs.
func (s *Server) sweeper() {
	defer close(s.sweepDone)
	t := time.NewTicker(s.sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

func (s *Server) sweep() {
	now := s.now()
	ctx, cancel := context.WithTimeout(context.Background(), s.sweepInterval)
	defer cancel()
	n, err := s.store.Sweep(ctx, now)
	if err != nil {
		s.logStoreError("sweep", err)
	} else {
		s.metrics.expired.Add(float64(n))
		if n > 0 {
			s.log.Debug("swept expired envelopes", "count", n)
		}
	}
	s.admit.prune(now)
	s.claims.prune(now)
}

// logStoreError logs a store failure the client only sees as "internal".
// A store's error text may name a mailbox or quote what it was storing, so
// at every level only the innermost cause (an errno, a sentinel) is logged.
func (s *Server) logStoreError(op string, err error) {
	s.log.Error("store operation failed", "op", op, "cause", rootCause(err))
}

func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// recovered logs a panic caught while serving a connection. It is a bug,
// but one that must cost only that connection.
func (s *Server) recovered(v any) {
	s.metrics.panics.Inc()
	s.log.Error("panic serving connection", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
}

// random fills p from the configured randomness.
func (s *Server) random(p []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	_, err := io.ReadFull(s.rand, p)
	return err
}
