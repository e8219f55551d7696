package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ephemera-im/ephemera/internal/loadtest"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

const loadtestUsage = `usage: ephemera-relay loadtest --url URL [flags]

Drives a relay with many clients, each with its own mailbox, and prints one
JSON line of figures: messages_per_s end to end (send, durable store,
delivery, acknowledgement), delivery latency percentiles, and counts of
messages sent, delivered, lost, duplicated and corrupted. With --idle N it
instead opens N idle authenticated connections and reports the relay's
memory per connection. With --hoard N it instead runs the attack of
subscribers that never read: mailboxes filled with --envelopes envelopes of
--size bytes, N connections authenticated for them that read nothing, and a
canary client on its own mailbox; it reports the relay's peak memory and the
canary's latency. Exits 1 when a message is lost or corrupted or an
operation fails.

Flags:
`

// runLoadtest is `ephemera-relay loadtest ARGS`.
func runLoadtest(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return loadtestMain(ctx, args, os.Stdout, os.Stderr)
}

func loadtestMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		io.WriteString(stderr, loadtestUsage)
		fs.PrintDefaults()
	}
	var (
		url        = fs.String("url", "", "relay WebSocket `URL`, e.g. ws://127.0.0.1:8080/v1/ws")
		metricsURL = fs.String("metrics-url", "", "relay /metrics `URL`; default: derived from --url when the relay is on this machine")
		clients    = fs.Int("clients", 100, "concurrent clients, each with its own connection and mailbox")
		messages   = fs.Int("messages", 100, "messages each client sends")
		size       = fs.Int("size", 1024, fmt.Sprintf("envelope `bytes` (at least %d)", loadtest.MinPayloadSize))
		window     = fs.Int("window", 1, "sends in flight per client")
		rate       = fs.Int("rate", 0, "messages per second over all clients (0: as fast as the relay answers)")
		ttl        = fs.Duration("ttl", 0, "envelope TTL (0: the relay's default)")
		duration   = fs.Duration("duration", 0, "stop sending after this long even if --messages are not all sent (0: no limit)")
		timeout    = fs.Duration("timeout", 10*time.Minute, "bound on the whole run; messages not delivered by then count as lost")
		idle       = fs.Int("idle", 0, "open `N` idle authenticated connections and report the relay's memory per connection")
		settle     = fs.Duration("settle", 3*time.Second, "with --idle: wait this long after the last connection before measuring")
		hold       = fs.Duration("hold", 0, "with --idle or --hoard: keep the connections open this long after measuring")
		hoardN     = fs.Int("hoard", 0, "run the hoarding attack with `N` connections that never read")
		mailboxes  = fs.Int("mailboxes", 1, "with --hoard: mailboxes the hoarders authenticate for, round robin")
		envelopes  = fs.Int("envelopes", 64, "with --hoard: envelopes stored in each mailbox first")
		canaryN    = fs.Int("canary", 20, "with --hoard: messages the canary client receives meanwhile")
		relayPID   = fs.Int("relay-pid", 0, "with --hoard: read the relay's memory from /proc/`PID`/status (RssAnon sampled, VmHWM at the end) instead of its metrics")
		lean       = fs.Bool("lean", false, "use the lean built-in client instead of net/relayclient (the app's client): less client CPU")
		label      = fs.String("label", "", "a name for the run, copied into the JSON line")
		dialers    = fs.Int("dialers", 64, "connections dialled at once")
		verbose    = fs.Bool("v", false, "log progress to stderr")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadtest: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *url == "" {
		fmt.Fprintln(stderr, "loadtest: --url is required")
		return 2
	}
	u, err := wsconn.NormalizeURL(*url)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	mu := *metricsURL
	if mu == "" {
		mu = loadtest.MetricsURLFor(u)
	}
	logf := func(string, ...any) {}
	if *verbose {
		logf = func(format string, args ...any) {
			fmt.Fprintf(stderr, "loadtest: "+format+"\n", args...)
		}
	}
	enc := json.NewEncoder(stdout)

	if *hoardN > 0 {
		sz := *size
		sizeGiven := false
		fs.Visit(func(f *flag.Flag) { sizeGiven = sizeGiven || f.Name == "size" })
		if !sizeGiven {
			sz = 256 << 10
		}
		var rss func() (int64, error)
		if *relayPID > 0 {
			// Anonymous memory only: the store's mapped file pages are
			// the page cache's, shared and reclaimable.
			rss = func() (int64, error) { return loadtest.ProcRSS(*relayPID, "RssAnon") }
		}
		res, err := loadtest.Hoard(ctx, loadtest.HoardConfig{
			URL: u, MetricsURL: mu, Conns: *hoardN, Mailboxes: *mailboxes, Envelopes: *envelopes, Size: sz,
			Canary: *canaryN, Hold: *hold, Timeout: *timeout, Dialers: *dialers, Label: *label, RSS: rss, Logf: logf,
		})
		if *relayPID > 0 {
			// The kernel's own peak of all resident pages, mapped file
			// included: nothing between samples is missed.
			res.HWM, _ = loadtest.ProcRSS(*relayPID, "VmHWM")
		}
		enc.Encode(res)
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", err)
			return 1
		}
		if res.Failed() {
			return 1
		}
		return 0
	}

	if *idle > 0 {
		res, err := loadtest.Idle(ctx, loadtest.IdleConfig{
			URL: u, MetricsURL: mu, Conns: *idle, Settle: *settle, Hold: *hold, Timeout: *timeout,
			Dialers: *dialers, Label: *label, Lean: *lean, Logf: logf,
		})
		enc.Encode(res)
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", err)
			return 1
		}
		if res.Failed() {
			return 1
		}
		return 0
	}

	if *clients < 1 || *messages < 1 || *window < 1 || *rate < 0 {
		fmt.Fprintln(stderr, "loadtest: --clients, --messages and --window must be at least 1, --rate not negative")
		return 2
	}
	if *ttl < 0 || *ttl/time.Second > 1<<32-1 {
		fmt.Fprintln(stderr, "loadtest: --ttl out of range")
		return 2
	}
	res, err := loadtest.Run(ctx, loadtest.Config{
		URL: u, MetricsURL: mu, Clients: *clients, Messages: *messages, Size: *size,
		Window: *window, Rate: *rate, TTL: uint32(*ttl / time.Second), Duration: *duration,
		Timeout: *timeout, Dialers: *dialers, Lean: *lean, Label: *label, Logf: logf,
	})
	enc.Encode(res)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	if res.Failed() {
		fmt.Fprintf(stderr, "loadtest: FAILED: lost %d, corrupt %d, misrouted %d, errors %d, timed out %v\n",
			res.Lost, res.Corrupt, res.Misrouted, res.Errors, res.TimedOut)
		return 1
	}
	return 0
}
