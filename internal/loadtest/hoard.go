package loadtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// HoardConfig describes a hoarding run: the attack of subscribers that
// never read. Mailboxes are filled with Envelopes envelopes of Size bytes
// each; then Conns connections authenticate for them (round robin) and
// never read another frame, so every Deliver the relay writes to them
// blocks. Meanwhile a canary client on a mailbox of its own receives
// Canary messages, one at a time, and their latency is measured.
type HoardConfig struct {
	URL        string
	MetricsURL string
	Conns      int
	Mailboxes  int
	Envelopes  int
	Size       int
	Canary     int           // canary messages; 0 means 20
	Hold       time.Duration // keep the hoarders this long after the canary, sampling memory
	Timeout    time.Duration // bound on the whole run; 0 means 10 minutes
	Dialers    int           // connections dialled at once; 0 means 64
	Label      string
	// RSS, when set, reads the relay's resident size (for example RssAnon
	// from /proc/PID/status, which leaves out the pages of the
	// memory-mapped store); otherwise process_resident_memory_bytes from
	// MetricsURL. It is sampled about every 100 ms for the peak.
	RSS  func() (int64, error)
	Logf func(format string, args ...any)
}

// HoardResult is the JSON line a hoarding run prints.
type HoardResult struct {
	Mode          string  `json:"mode"`
	Label         string  `json:"label,omitempty"`
	Conns         int     `json:"hoarding_connections"`
	Mailboxes     int     `json:"mailboxes"`
	StoredBytes   int64   `json:"stored_bytes"`
	Subscribed    int     `json:"subscribed"`
	Refused       int     `json:"refused_rate_limited"`
	RSSBefore     int64   `json:"relay_rss_before_bytes,omitempty"`
	RSSPeak       int64   `json:"relay_rss_peak_bytes,omitempty"`
	HWM           int64   `json:"relay_vmhwm_bytes,omitempty"`
	BufferedPeak  float64 `json:"relay_delivery_buffered_peak_bytes"`
	SlowReaders   float64 `json:"relay_slow_readers_closed"`
	CanarySent    int     `json:"canary_sent"`
	CanaryGot     int     `json:"canary_delivered"`
	CanaryP50Ms   float64 `json:"canary_latency_p50_ms"`
	CanaryMaxMs   float64 `json:"canary_latency_max_ms"`
	HoardSeconds  float64 `json:"hoard_s"`
	Errors        int64   `json:"errors"`
	FirstErrorMsg string  `json:"first_error,omitempty"`
}

// Failed reports whether the run went wrong: an operation failed or a
// canary message did not arrive.
func (r *HoardResult) Failed() bool { return r.Errors > 0 || r.CanaryGot < r.CanarySent }

// Hoard runs the hoarding attack and reports the relay's memory and the
// canary's latency.
func Hoard(ctx context.Context, cfg HoardConfig) (res HoardResult, err error) {
	res = HoardResult{Mode: "hoard", Label: cfg.Label, Conns: cfg.Conns, Mailboxes: cfg.Mailboxes}
	if cfg.Conns < 1 || cfg.Mailboxes < 1 || cfg.Envelopes < 1 || cfg.Size < MinPayloadSize {
		return res, fmt.Errorf("loadtest: hoard needs connections, mailboxes, envelopes and a size of at least %d", MinPayloadSize)
	}
	if cfg.Canary <= 0 {
		cfg.Canary = 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Dialers <= 0 {
		cfg.Dialers = 64
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	hc := newHTTPClient()
	mon := &monitor{hc: hc, url: cfg.MetricsURL}
	rss := cfg.RSS
	if rss == nil {
		rss = func() (int64, error) {
			m := mon.scrape(ctx)
			v, ok := m.Find(MetricRSS)
			if !ok {
				return 0, errors.New("no RSS in the relay's metrics")
			}
			return int64(v), nil
		}
	}
	var errs atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if errs.Add(1) == 1 {
			firstErr.Store(err.Error())
			cfg.Logf("%v", err)
		}
	}
	defer func() {
		res.Errors = errs.Load()
		if s, ok := firstErr.Load().(string); ok {
			res.FirstErrorMsg = s
		}
	}()
	res.RSSBefore, _ = rss()

	// Fill the mailboxes, each from a connection of its own that then
	// leaves (it reads, so it holds nothing).
	boxes := make([]Mailbox, cfg.Mailboxes)
	payload := make([]byte, cfg.Size)
	rand.Read(payload)
	err = forEach(ctx, min(cfg.Dialers, 16), cfg.Mailboxes, func(i int) error {
		boxes[i] = NewMailbox()
		c, err := Dial(ctx, cfg.URL, ClientOptions{HTTPClient: hc})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Register(ctx, &boxes[i]); err != nil {
			return fmt.Errorf("register: %w", err)
		}
		for range cfg.Envelopes {
			if _, err := c.Send(ctx, boxes[i].ID, boxes[i].Token, 0, payload); err != nil {
				return fmt.Errorf("filling mailbox %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		fail(err)
		return res, err
	}
	res.StoredBytes = int64(cfg.Mailboxes) * int64(cfg.Envelopes) * int64(cfg.Size)
	cfg.Logf("filled %d mailboxes with %d x %d bytes", cfg.Mailboxes, cfg.Envelopes, cfg.Size)

	// Sample the relay's memory from here to the end.
	var peak atomic.Int64
	var bufferedPeak atomic.Uint64 // float64 bits
	sampleDone := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampleDone)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		n := 0
		for {
			if v, err := rss(); err == nil && v > peak.Load() {
				peak.Store(v)
			}
			if n%10 == 0 && cfg.MetricsURL != "" {
				if m := mon.scrape(ctx); m != nil {
					if v, ok := m.Find("ephemera_relay_delivery_buffered_bytes"); ok && v > fromBits(bufferedPeak.Load()) {
						bufferedPeak.Store(toBits(v))
					}
				}
			}
			n++
			select {
			case <-t.C:
			case <-stopSampling:
				return
			}
		}
	}()
	defer func() {
		close(stopSampling)
		<-sampleDone
		res.RSSPeak = peak.Load()
		res.BufferedPeak = fromBits(bufferedPeak.Load())
	}()

	// The hoarders. Their sockets take little, so the relay's writes to
	// them block soon instead of filling kernel buffers.
	hoardHC := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: smallReceiveDialer().DialContext}}
	var mu sync.Mutex
	var hoarders []*wsconn.Conn
	defer func() {
		for _, h := range hoarders {
			h.CloseWith(websocket.StatusNormalClosure, "")
		}
	}()
	start := time.Now()
	err = forEach(ctx, cfg.Dialers, cfg.Conns, func(i int) error {
		mb := &boxes[i%len(boxes)]
		h, refused, err := hoard(ctx, cfg.URL, hoardHC, mb)
		if err != nil {
			fail(err)
			return nil // count it, go on
		}
		mu.Lock()
		hoarders = append(hoarders, h)
		if refused {
			res.Refused++
		} else {
			res.Subscribed++
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return res, err
	}
	cfg.Logf("%d hoarders subscribed, %d refused", res.Subscribed, res.Refused)

	// The canary: its own mailbox, one message at a time.
	lat, sent, got, err := canary(ctx, cfg.URL, hc, cfg.Canary)
	res.CanarySent, res.CanaryGot = sent, got
	if err != nil {
		fail(err)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		res.CanaryP50Ms = ms(lat[len(lat)/2])
		res.CanaryMaxMs = ms(lat[len(lat)-1])
	}
	if cfg.Hold > 0 {
		select {
		case <-time.After(cfg.Hold):
		case <-ctx.Done():
		}
	}
	res.HoardSeconds = round3(time.Since(start).Seconds())
	if m := mon.scrape(ctx); m != nil {
		res.SlowReaders, _ = m.Find("ephemera_relay_slow_readers_closed_total")
	}
	return res, nil
}

// hoard opens a connection, authenticates it for mb and reads nothing
// after the answer. refused reports a rate-limited answer (the relay's
// limit of connections per mailbox).
func hoard(ctx context.Context, url string, hc *http.Client, mb *Mailbox) (c *wsconn.Conn, refused bool, err error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, false, fmt.Errorf("dial: %w", err)
	}
	c = wsconn.New(ws, wire.MaxFrameSize)
	fail := func(err error) (*wsconn.Conn, bool, error) {
		c.CloseWith(websocket.StatusGoingAway, "")
		return nil, false, err
	}
	f, err := c.ReadFrame(ctx)
	if err != nil {
		return fail(fmt.Errorf("reading ServerHello: %w", err))
	}
	_, m, err := wire.Decode(f)
	h, ok := m.(*wire.ServerHello)
	if err != nil || !ok {
		return fail(fmt.Errorf("want ServerHello: %v", err))
	}
	cl := &Client{Hello: *h}
	a := cl.authFrame(mb)
	if err := c.WriteFrame(ctx, wire.Encode(1, a)); err != nil {
		return fail(fmt.Errorf("writing Auth: %w", err))
	}
	f, err = c.ReadFrame(ctx)
	if err != nil {
		return fail(fmt.Errorf("reading Auth's answer: %w", err))
	}
	_, m, err = wire.Decode(f)
	if err != nil {
		return fail(err)
	}
	switch m := m.(type) {
	case *wire.OK:
		return c, false, nil
	case *wire.Error:
		if m.Code == wire.CodeRateLimited {
			return c, true, nil
		}
		return fail(fmt.Errorf("auth: %w", m))
	}
	return fail(fmt.Errorf("auth answered with %v", m.Type()))
}

// canary sends n messages to a mailbox of its own, each after the last
// arrived, and returns their latencies from Send to Deliver.
func canary(ctx context.Context, url string, hc *http.Client, n int) (lat []time.Duration, sent, got int, err error) {
	mb := NewMailbox()
	delivered := make(chan struct{}, 1)
	rc, err := Dial(ctx, url, ClientOptions{HTTPClient: hc, OnDeliver: func(c *Client, d *wire.Deliver) {
		c.QueueAck(d.Seq)
		select {
		case delivered <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("canary: %w", err)
	}
	defer rc.Close()
	if err := rc.Register(ctx, &mb); err != nil {
		return nil, 0, 0, fmt.Errorf("canary register: %w", err)
	}
	sc, err := Dial(ctx, url, ClientOptions{HTTPClient: hc})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("canary sender: %w", err)
	}
	defer sc.Close()
	msg := make([]byte, 1024)
	for range n {
		t0 := time.Now()
		if _, err := sc.Send(ctx, mb.ID, mb.Token, 0, msg); err != nil {
			return lat, sent, got, fmt.Errorf("canary send: %w", err)
		}
		sent++
		select {
		case <-delivered:
			got++
			lat = append(lat, time.Since(t0))
		case <-ctx.Done():
			return lat, sent, got, fmt.Errorf("canary: message %d not delivered: %w", sent, ctx.Err())
		}
	}
	return lat, sent, got, nil
}

// smallReceiveDialer dials TCP with a small receive buffer, so a peer's
// writes block once a few KiB are unread.
func smallReceiveDialer() *net.Dialer {
	return &net.Dialer{Control: setSmallReceiveBuffer}
}

func toBits(f float64) uint64   { return math.Float64bits(f) }
func fromBits(b uint64) float64 { return math.Float64frombits(b) }

// ProcRSS reads a size field (VmRSS, VmHWM) of /proc/PID/status, in bytes.
func ProcRSS(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, field, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}
