package loadtest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ephemera-im/ephemera/net/relayclient"
)

// IdleConfig describes an idle-connection run: how much relay memory an
// authenticated connection that does nothing costs.
type IdleConfig struct {
	URL        string
	MetricsURL string
	Conns      int
	Settle     time.Duration // wait after the last connection before measuring; 0 means 3s
	Hold       time.Duration // keep the connections open this long after measuring (to profile the relay)
	Timeout    time.Duration // bound on the whole run; 0 means 10 minutes
	Dialers    int           // connections dialled at once; 0 means 64
	Label      string        // copied to the result
	Lean       bool          // the lean Client instead of net/relayclient
	Logf       func(format string, args ...any)
}

// IdleResult is the JSON line an idle run prints.
type IdleResult struct {
	Mode            string  `json:"mode"`
	Label           string  `json:"label,omitempty"`
	IdleConns       int     `json:"idle_connections"`
	ConnectS        float64 `json:"connect_s"`
	RSSBefore       int64   `json:"relay_rss_before_bytes,omitempty"`
	RSS             int64   `json:"relay_rss_bytes,omitempty"`
	RSSPerConn      float64 `json:"relay_rss_per_conn_bytes,omitempty"`
	HeapPerConn     float64 `json:"relay_heap_per_conn_bytes,omitempty"`
	StackPerConn    float64 `json:"relay_stack_per_conn_bytes,omitempty"`
	GoroutinesPer   float64 `json:"relay_goroutines_per_conn,omitempty"`
	ConnGaugeBefore float64 `json:"relay_connections_before"`
	ConnGauge       float64 `json:"relay_connections"`
	HaveConnGauge   bool    `json:"relay_connections_gauge"`
	Errors          int64   `json:"errors"`
}

// Failed reports whether any connection failed.
func (r *IdleResult) Failed() bool { return r.Errors > 0 }

// Idle opens cfg.Conns connections, each registering and so
// authenticating its own mailbox, waits until all are up and the relay
// has settled, and reads the relay's memory before and after. The
// difference includes the relay's record of each mailbox, so it is an upper
// bound on the cost of the connection alone.
func Idle(ctx context.Context, cfg IdleConfig) (IdleResult, error) {
	res := IdleResult{Mode: "idle", Label: cfg.Label, IdleConns: cfg.Conns}
	if cfg.Conns < 1 {
		return res, errors.New("loadtest: need at least one connection")
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 3 * time.Second
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
	before := mon.scrape(ctx)
	if cfg.MetricsURL != "" && before == nil {
		cfg.Logf("cannot scrape %s: no memory figures", cfg.MetricsURL)
	}

	clients := make([]idleConn, cfg.Conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				go c.Close()
			}
		}
	}()
	start := time.Now()
	err := forEach(ctx, cfg.Dialers, cfg.Conns, func(i int) error {
		mb := NewMailbox()
		if cfg.Lean {
			c, err := Dial(ctx, cfg.URL, ClientOptions{HTTPClient: hc})
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			clients[i] = c
			if err := c.Register(ctx, &mb); err != nil {
				return fmt.Errorf("connection %d: register: %w", i, err)
			}
		} else {
			c, rctx, stop, err := startRelayClient(ctx, cfg.URL, hc, nil)
			if err != nil {
				return err
			}
			defer stop()
			clients[i] = rcIdle{c}
			if err := c.Register(rctx, relayclient.Mailbox{ID: mb.ID, Key: mb.Key, SendTokenHash: mb.TokenHash}); err != nil {
				if cause := context.Cause(rctx); cause != nil && rctx.Err() != nil {
					err = cause
				}
				return fmt.Errorf("connection %d: register: %w", i, err)
			}
		}
		if (i+1)%1000 == 0 {
			cfg.Logf("%d connections up", i+1)
		}
		return nil
	})
	res.ConnectS = round3(time.Since(start).Seconds())
	if err != nil {
		res.Errors++
		return res, err
	}
	cfg.Logf("%d connections up in %.2fs; settling %v", cfg.Conns, res.ConnectS, cfg.Settle)

	// Wait for the relay to count them all, then for it to settle.
	var after Metrics
	if before != nil {
		want := float64(cfg.Conns)
		if v, ok := before.Connections(); ok {
			want += v
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
			after = mon.scrape(ctx)
			if v, ok := after.Connections(); !ok || v >= want {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	select {
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	after = mon.scrape(ctx)
	for _, c := range clients {
		if !c.up() {
			res.Errors++
		}
	}
	if res.Errors > 0 {
		return res, fmt.Errorf("%d connections ended while idle", res.Errors)
	}
	if before == nil || after == nil {
		return res, nil
	}
	n := float64(cfg.Conns)
	if b, ok := before.Find(MetricRSS); ok {
		a, _ := after.Find(MetricRSS)
		res.RSSBefore, res.RSS = int64(b), int64(a)
		res.RSSPerConn = round1((a - b) / n)
	}
	if b, ok := before.Find(MetricHeapInuse); ok {
		a, _ := after.Find(MetricHeapInuse)
		res.HeapPerConn = round1((a - b) / n)
	}
	if b, ok := before.Find(MetricStackInuse); ok {
		a, _ := after.Find(MetricStackInuse)
		res.StackPerConn = round1((a - b) / n)
	}
	if b, ok := before.Find(MetricGoroutines); ok {
		a, _ := after.Find(MetricGoroutines)
		res.GoroutinesPer = round3((a - b) / n)
	}
	res.ConnGaugeBefore, _ = before.Connections()
	res.ConnGauge, res.HaveConnGauge = after.Connections()
	if cfg.Hold > 0 {
		cfg.Logf("holding %d connections for %v", cfg.Conns, cfg.Hold)
		select {
		case <-time.After(cfg.Hold):
		case <-ctx.Done():
		}
	}
	return res, nil
}

// idleConn is an idle connection of either kind of client.
type idleConn interface {
	up() bool
	Close()
}

func (c *Client) up() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

type rcIdle struct{ c *relayclient.Client }

func (r rcIdle) up() bool { return r.c.State() == relayclient.Connected }
func (r rcIdle) Close()   { r.c.Close() }
