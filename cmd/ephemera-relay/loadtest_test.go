package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/internal/loadtest"
	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/store/boltstore"
)

// startTestRelay serves a relay over a fsyncing bbolt store in a temporary
// directory and returns its WebSocket URL and /metrics URL.
func startTestRelay(t *testing.T) (wsURL, metricsURL string) {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(relay.Config{
		Store:  st,
		Limits: relay.DefaultLimits(),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
		st.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/ws", hs.URL + "/metrics"
}

func runLoadtestForTest(t *testing.T, args ...string) (code int, out []byte, stderr string) {
	t.Helper()
	var so, se bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = loadtestMain(ctx, args, &so, &se)
	if strings.Count(so.String(), "\n") != 1 {
		t.Fatalf("want one JSON line on stdout, got %q (stderr %s)", so.String(), se.String())
	}
	return code, so.Bytes(), se.String()
}

// TestLoadtestAgainstRelay runs the load tool against a relay on a
// fsyncing bbolt store and checks its figures against the relay's own
// counters, with each kind of client.
func TestLoadtestAgainstRelay(t *testing.T) {
	t.Run("relayclient", func(t *testing.T) { testLoadtestAgainstRelay(t) })
	t.Run("lean", func(t *testing.T) { testLoadtestAgainstRelay(t, "--lean") })
}

func testLoadtestAgainstRelay(t *testing.T, extra ...string) {
	const clients, messages, size = 20, 50, 1024
	wsURL, metricsURL := startTestRelay(t)
	code, out, stderr := runLoadtestForTest(t, append([]string{"--url", wsURL, "--clients", strconv.Itoa(clients),
		"--messages", strconv.Itoa(messages), "--size", strconv.Itoa(size), "--timeout", "90s", "-v"}, extra...)...)
	t.Logf("%s", out)
	if code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	var r loadtest.Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	const total = clients * messages
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"sent", r.Sent, total}, {"delivered", r.Delivered, total}, {"acked", r.Acked, total},
		{"lost", r.Lost, 0}, {"duplicates", r.Duplicates, 0}, {"corrupt", r.Corrupt, 0},
		{"misrouted", r.Misrouted, 0}, {"stale", r.Stale, 0}, {"errors", r.Errors, 0},
		{"clients", int64(r.Clients), clients}, {"size", int64(r.Size), size},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if r.MessagesPerS <= 0 || r.P50ms <= 0 || r.P99ms < r.P50ms || r.Maxms < r.P99ms {
		t.Errorf("implausible figures: %+v", r)
	}
	if r.RelayRSS <= 0 {
		t.Errorf("relay_rss_bytes %d: the relay's /metrics was not read", r.RelayRSS)
	}

	// The relay's own counters must agree with what the clients counted.
	m, err := loadtest.Scrape(context.Background(), nil, metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		metric string
		want   int64
	}{
		{loadtest.MetricStored, r.Sent},
		{loadtest.MetricAcknowledged, r.Delivered},
	} {
		if got := int64(m[c.metric]); got != c.want {
			t.Errorf("%s: got %d, want %d", c.metric, got, c.want)
		}
	}
	if got := int64(m[loadtest.MetricDelivered]); got < r.Delivered {
		t.Errorf("%s: got %d, want at least %d", loadtest.MetricDelivered, got, r.Delivered)
	}
}

func TestLoadtestIdle(t *testing.T) {
	t.Run("relayclient", func(t *testing.T) { testLoadtestIdle(t) })
	t.Run("lean", func(t *testing.T) { testLoadtestIdle(t, "--lean") })
}

func testLoadtestIdle(t *testing.T, extra ...string) {
	const n = 40
	wsURL, _ := startTestRelay(t)
	code, out, stderr := runLoadtestForTest(t, append([]string{"--url", wsURL, "--idle", strconv.Itoa(n), "--settle", "100ms"}, extra...)...)
	t.Logf("%s", out)
	if code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	var r loadtest.IdleResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.IdleConns != n || r.Errors != 0 {
		t.Errorf("idle_connections %d errors %d, want %d and 0", r.IdleConns, r.Errors, n)
	}
	if !r.HaveConnGauge || r.ConnGauge-r.ConnGaugeBefore != n {
		t.Errorf("relay connections gauge went from %v to %v (found: %v), want +%d",
			r.ConnGaugeBefore, r.ConnGauge, r.HaveConnGauge, n)
	}
	if r.RSS <= 0 || r.RSSBefore <= 0 {
		t.Errorf("relay RSS not read: %+v", r)
	}
	var m map[string]any
	json.Unmarshal(out, &m)
	for _, k := range []string{"idle_connections", "relay_rss_bytes", "relay_rss_per_conn_bytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no %q", k)
		}
	}
}

func TestLoadtestFlags(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"no url", nil, 2},
		{"non-loopback ws", []string{"--url", "ws://relay.example.org/v1/ws"}, 2},
		{"zero clients", []string{"--url", "ws://127.0.0.1:1/v1/ws", "--clients", "0"}, 2},
		{"stray argument", []string{"--url", "ws://127.0.0.1:1/v1/ws", "extra"}, 2},
		{"help", []string{"-h"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := loadtestMain(context.Background(), c.args, io.Discard, io.Discard); got != c.code {
				t.Errorf("exit code %d, want %d", got, c.code)
			}
		})
	}
}

// A relay that cannot be reached is an error, with a JSON line all the same.
func TestLoadtestUnreachable(t *testing.T) {
	port := freePort(t)
	code, out, _ := runLoadtestForTest(t, "--url", "ws://127.0.0.1:"+strconv.Itoa(port)+"/v1/ws",
		"--clients", "2", "--messages", "1", "--timeout", "10s")
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	var r loadtest.Result
	if err := json.Unmarshal(out, &r); err != nil || r.Errors == 0 {
		t.Errorf("got %s (%v), want a result with errors", out, err)
	}
}

// TestLoadtestHoard runs `loadtest --hoard` small: 12 non-reading
// connections on one mailbox, of which the relay admits its 8.
func TestLoadtestHoard(t *testing.T) {
	wsURL, _ := startTestRelay(t)
	code, out, stderr := runLoadtestForTest(t, "--url", wsURL, "--hoard", "12", "--mailboxes", "1",
		"--envelopes", "4", "--size", "65536", "--canary", "3", "--relay-pid", strconv.Itoa(os.Getpid()))
	t.Logf("%s", out)
	if code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, stderr)
	}
	var r loadtest.HoardResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	// The connection that filled the mailbox may not have ended yet when
	// the first hoarders come: it can take one of the 8 places.
	if r.Subscribed < 7 || r.Subscribed > 8 || r.Subscribed+r.Refused != 12 || r.CanaryGot != 3 || r.StoredBytes != 4*65536 || r.Errors != 0 {
		t.Errorf("got %+v, want 8 (or 7) subscribed, the rest refused, 3 canary messages, 256 KiB stored, no errors", r)
	}
	if r.RSSPeak <= 0 || r.HWM <= 0 {
		t.Errorf("memory not read from /proc: peak %d, VmHWM %d", r.RSSPeak, r.HWM)
	}
}
