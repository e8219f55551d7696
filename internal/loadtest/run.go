// Package loadtest drives an Ephemera relay the way many clients would and
// measures it end to end: send, durable store, delivery, acknowledgement.
// It backs `ephemera-relay loadtest` and the relay's crash test.
//
// Every envelope carries its sender, sequence number, send time and a
// checksum (see AppendPayload), so the figures are counted rather than
// assumed: a message is lost when the relay acknowledged it and it never
// arrived, a duplicate when it arrived twice, corrupt when its checksum
// fails.
package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ephemera-im/ephemera/internal/procstat"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Config describes a load run.
type Config struct {
	URL string // the relay's WebSocket URL
	// URLs, when set, are the WebSocket URLs of several relay nodes
	// sharing one store: client i connects to URLs[i%len(URLs)], so each
	// client sends to clients on every node. URL is then ignored.
	URLs       []string
	MetricsURL string // the relay's /metrics; "" for none
	Clients    int    // concurrent clients, one mailbox and connection each
	Messages   int    // messages each client sends
	Size       int    // envelope bytes (at least MinPayloadSize)
	Window     int    // sends in flight per client; 0 means 1
	Rate       int    // messages per second over all clients; 0: as fast as the relay answers
	TTL        uint32 // envelope TTL in seconds; 0: the relay's default
	Duration   time.Duration
	Timeout    time.Duration // bound on the whole run; 0 means 10 minutes
	Dialers    int           // connections dialled at once; 0 means 64
	// Lean makes each load client the lean Client instead of
	// net/relayclient's, the library the app uses.
	Lean       bool
	HTTPClient *http.Client // dials WebSockets and scrapes metrics; nil: a fresh one
	Label      string       // copied to the result
	Logf       func(format string, args ...any)
}

func (c *Config) defaults() {
	c.Window = max(c.Window, 1)
	c.Size = max(c.Size, MinPayloadSize)
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Dialers <= 0 {
		c.Dialers = 64
	}
	if c.HTTPClient == nil {
		c.HTTPClient = newHTTPClient()
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// urlFor is the URL client i connects to.
func (c *Config) urlFor(i int) string {
	if len(c.URLs) > 0 {
		return c.URLs[i%len(c.URLs)]
	}
	return c.URL
}

// Dest is the client that client i sends its message k to: each client
// spreads its messages over all the others in turn.
func Dest(i, k, n int) int {
	if n <= 1 {
		return i
	}
	return (i + 1 + k%(n-1)) % n
}

type loadClient struct {
	idx int
	mb  Mailbox
	c   endpoint
	lat []time.Duration // owned by c's receiving goroutine until it ends
}

// endpoint is one load client's connection: net/relayclient's, or the
// lean Client (Config.Lean).
type endpoint interface {
	Send(ctx context.Context, to wire.MailboxID, token wire.Key32, ttl uint32, env []byte) (uint64, error)
	Close()
	// Done is closed once no more deliveries will be handled.
	Done() <-chan struct{}
}

// clientHooks tell Run what a load client's connection did: queued when
// a delivery is queued for an Ack, acked when the relay has answered an
// Ack of n deliveries, dropped when a connection ended during the run.
type clientHooks struct {
	queued  func(n int)
	acked   func(lc *loadClient, n int, err error)
	dropped func(lc *loadClient, err error)
}

func dialLean(ctx context.Context, cfg Config, lc *loadClient,
	deliver func(*loadClient, wire.MailboxID, []byte), h clientHooks) (endpoint, error) {
	c, err := Dial(ctx, cfg.urlFor(lc.idx), ClientOptions{
		HTTPClient: cfg.HTTPClient,
		OnDeliver: func(c *Client, d *wire.Deliver) {
			// Counted before it is recorded, so the run cannot end
			// between the delivery and its Ack.
			h.queued(1)
			deliver(lc, d.Mailbox, d.Envelope)
			c.QueueAck(d.Seq)
		},
		OnAcked: func(n int, err error) { h.acked(lc, n, err) },
	})
	if err != nil {
		return nil, err
	}
	if err := c.Register(ctx, &lc.mb); err != nil {
		c.Close()
		return nil, fmt.Errorf("register: %w", err)
	}
	return c, nil
}

// Run performs a load run. It returns the figures even when it also
// returns an error (the relay could not be reached, a client could not
// connect), so a caller can print what was measured.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.defaults()
	res := Result{Mode: "load", Label: cfg.Label, Clients: cfg.Clients, Messages: cfg.Messages, Size: cfg.Size}
	if cfg.Clients < 1 || cfg.Messages < 1 {
		return res, errors.New("loadtest: need at least one client and one message")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	var runID uint64
	{
		var b [8]byte
		rand.Read(b[:])
		runID = binary.BigEndian.Uint64(b[:])
	}
	base := time.Now()
	tr := NewTracker(cfg.Clients, cfg.Messages)
	var pendingAcks, acked atomic.Int64

	mon := startMonitor(cfg.HTTPClient, cfg.MetricsURL)
	defer mon.stop()

	clients := make([]*loadClient, cfg.Clients)
	for i := range clients {
		clients[i] = &loadClient{idx: i, mb: NewMailbox()}
	}
	// deliver checks and records one delivery to lc; it runs on the one
	// goroutine that receives lc's deliveries, which owns lc.lat.
	deliver := func(lc *loadClient, mailbox wire.MailboxID, env []byte) {
		now := time.Since(base)
		switch p, err := ParsePayload(env); {
		case err != nil:
			tr.Corrupt()
		case p.Run != runID:
			tr.Stale()
		case mailbox != lc.mb.ID:
			tr.Misrouted()
		default:
			if tr.Delivered(uint32(lc.idx), p, now) {
				lc.lat = append(lc.lat, now-time.Duration(p.SentAt))
			}
		}
	}
	var closing atomic.Bool
	hooks := clientHooks{
		queued: func(n int) { pendingAcks.Add(int64(n)) },
		dropped: func(lc *loadClient, err error) {
			if !closing.Load() {
				tr.Error()
				cfg.Logf("client %d: connection dropped: %v", lc.idx, err)
			}
		},
		acked: func(lc *loadClient, n int, err error) {
			pendingAcks.Add(-int64(n))
			if err != nil {
				if closing.Load() {
					return // cut off by the end of the run
				}
				tr.Error()
				cfg.Logf("client %d: ack: %v", lc.idx, err)
				return
			}
			acked.Add(int64(n))
		},
	}
	connectStart := time.Now()
	err := forEach(ctx, cfg.Dialers, len(clients), func(i int) error {
		lc := clients[i]
		var err error
		if cfg.Lean {
			lc.c, err = dialLean(ctx, cfg, lc, deliver, hooks)
		} else {
			lc.c, err = dialRelayClient(ctx, cfg, lc, deliver, hooks)
		}
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		return nil
	})
	res.ConnectS = round3(time.Since(connectStart).Seconds())
	defer func() {
		for _, lc := range clients {
			if lc.c != nil {
				lc.c.Close()
			}
		}
	}()
	if err != nil {
		tr.Error()
		tr.Fill(&res)
		return res, err
	}
	cfg.Logf("connected %d clients in %.2fs", cfg.Clients, res.ConnectS)

	before := mon.scrape(ctx)
	sendStart := time.Now()
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Clients) / float64(cfg.Rate))
	}
	var wg sync.WaitGroup
	for _, lc := range clients {
		var next atomic.Int64
		var phase time.Duration
		if interval > 0 {
			var b [8]byte
			rand.Read(b[:])
			phase = time.Duration(binary.BigEndian.Uint64(b[:]) % uint64(interval))
		}
		var slMu sync.Mutex
		var sl []time.Duration
		var workers sync.WaitGroup
		for range cfg.Window {
			workers.Add(1)
			go func() {
				defer workers.Done()
				var buf []byte
				var local []time.Duration
				defer func() {
					slMu.Lock()
					sl = append(sl, local...)
					slMu.Unlock()
				}()
				for {
					k := int(next.Add(1) - 1)
					if k >= cfg.Messages || ctx.Err() != nil {
						return
					}
					if interval > 0 {
						at := sendStart.Add(phase + time.Duration(k)*interval)
						if d := time.Until(at); d > 0 {
							select {
							case <-time.After(d):
							case <-ctx.Done():
								return
							}
						}
					}
					if cfg.Duration > 0 && time.Since(sendStart) >= cfg.Duration {
						return
					}
					to := clients[Dest(lc.idx, k, cfg.Clients)]
					t0 := time.Since(base)
					tr.SendStarted(t0)
					buf = AppendPayload(buf[:0], Payload{
						Run: runID, Sender: uint32(lc.idx), Receiver: uint32(to.idx),
						Seq: uint32(k), SentAt: int64(t0),
					}, cfg.Size)
					sctx, scancel := context.WithTimeout(ctx, time.Minute)
					_, err := lc.c.Send(sctx, to.mb.ID, to.mb.Token, cfg.TTL, buf)
					scancel()
					if err != nil {
						tr.Error()
						cfg.Logf("client %d: send %d: %v", lc.idx, k, err)
						continue
					}
					local = append(local, time.Since(base)-t0)
					tr.Sent(uint32(lc.idx), uint32(k))
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers.Wait()
			tr.AddSendLatencies(sl)
		}()
	}
	sendersDone := make(chan struct{})
	go func() { wg.Wait(); close(sendersDone) }()

	// Wait until every acknowledged message is delivered and every delivery
	// acknowledged, or the time is up.
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	senders := sendersDone
wait:
	for {
		select {
		case <-senders:
			senders = nil
		case <-poll.C:
			if senders == nil && tr.Outstanding() == 0 && pendingAcks.Load() == 0 {
				break wait
			}
		case <-progress.C:
			cfg.Logf("%.0fs: sent %d delivered %d acked %d outstanding %d errors %d",
				time.Since(sendStart).Seconds(), tr.SentCount(), tr.UniqueCount(), acked.Load(),
				tr.Outstanding(), tr.errs.Load())
		case <-ctx.Done():
			res.TimedOut = true
			cfg.Logf("timed out after %v: outstanding %d, acks pending %d", cfg.Timeout, tr.Outstanding(), pendingAcks.Load())
			break wait
		}
	}
	after := mon.scrape(context.Background())

	closing.Store(true)
	for _, lc := range clients {
		lc.c.Close()
	}
	for _, lc := range clients {
		select {
		case <-lc.c.Done():
			tr.AddLatencies(lc.lat)
		case <-time.After(5 * time.Second):
			tr.Error()
		}
	}
	if res.TimedOut {
		// Let the senders see the cancelled context before reading their counts.
		cancel()
		select {
		case <-sendersDone:
		case <-time.After(5 * time.Second):
		}
	}
	tr.Fill(&res)
	res.Acked = acked.Load()
	if v, ok := after.Find(MetricRSS); ok {
		res.RelayRSS = int64(v)
	}
	res.RelayPeakRSS = mon.peak()
	if a, ok := after.Find(MetricCPU); ok {
		if b, ok := before.Find(MetricCPU); ok {
			res.RelayCPUS = round3(a - b)
			if res.Delivered > 0 {
				res.RelayCPUus = round1((a - b) / float64(res.Delivered) * 1e6)
			}
		}
	}
	res.ClientCPUS = round3(procstat.CPUTime().Seconds())
	return res, nil
}

// newHTTPClient returns a client of its own, so a run's connections do not
// mix with http.DefaultClient's.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil, // traffic goes to the relay, never a proxy
		MaxIdleConnsPerHost: 4,
	}}
}

// forEach runs f(0..n-1) with at most par running at once and returns the
// first error; after an error it starts no more.
func forEach(ctx context.Context, par, n int, f func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				cancel(err) // the first cause sticks
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// monitor samples the relay's RSS once a second to find its peak.
type monitor struct {
	hc       *http.Client
	url      string
	peakRSS  atomic.Int64
	quit     chan struct{}
	finished chan struct{}
}

func startMonitor(hc *http.Client, url string) *monitor {
	m := &monitor{hc: hc, url: url, quit: make(chan struct{}), finished: make(chan struct{})}
	if url == "" {
		close(m.finished)
		return m
	}
	go func() {
		defer close(m.finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			m.scrape(context.Background())
			select {
			case <-t.C:
			case <-m.quit:
				return
			}
		}
	}()
	return m
}

func (m *monitor) scrape(ctx context.Context) Metrics {
	if m.url == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := Scrape(ctx, m.hc, m.url)
	if err != nil {
		return nil
	}
	if rss, ok := v.Find(MetricRSS); ok {
		for {
			p := m.peakRSS.Load()
			if int64(rss) <= p || m.peakRSS.CompareAndSwap(p, int64(rss)) {
				break
			}
		}
	}
	return v
}

func (m *monitor) peak() int64 { return m.peakRSS.Load() }

func (m *monitor) stop() {
	select {
	case <-m.quit:
	default:
		close(m.quit)
	}
	<-m.finished
}
