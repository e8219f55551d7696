// Command ephemera-relay runs an Ephemera relay: it stores sealed envelopes,
// prekeys and attachment blobs for mailboxes, and hands them to their
// owners over WebSocket (/v1/ws). It also serves /healthz and Prometheus
// /metrics on the same address.
//
// Every flag may also be given as an environment variable, EPHEMERA_RELAY_
// followed by the flag's name in upper case with dashes as underscores
// (--max-ttl is EPHEMERA_RELAY_MAX_TTL); a flag on the command line wins.
// Run `ephemera-relay -h` for the list.
//
// Plain ws:// is served only on loopback addresses unless --insecure-listen
// says a TLS-terminating proxy sits in front; otherwise use --tls-cert and
// --tls-key. On start the relay logs `listening url=ws://HOST:PORT/v1/ws`
// with the actual port (so --listen 127.0.0.1:0 works for tests).
//
// `ephemera-relay loadtest ...` runs the load generator instead.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ephemera-im/ephemera/internal/version"
	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

const (
	envPrefix     = "EPHEMERA_RELAY_"
	defaultListen = "127.0.0.1:7867"
	// shutdownTimeout bounds a graceful stop; in-flight requests finish
	// well within it unless the disk hangs.
	shutdownTimeout = 30 * time.Second
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "loadtest" {
		return runLoadtest(args[1:])
	}
	cfg, err := parseConfig(args, lookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ephemera-relay: %v\n", err)
		return 2
	}
	if cfg.version {
		fmt.Fprintln(stdout, version.Line("ephemera-relay"))
		return 0
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, stderr); err != nil {
		fmt.Fprintf(stderr, "ephemera-relay: %v\n", err)
		return 1
	}
	return 0
}

// config is what the command line and environment ask for.
type config struct {
	listen         string
	dataDir        string
	tlsCert        string
	tlsKey         string
	insecureListen bool
	pprof          string
	store          storeConfig
	limits         relay.Limits
	access         relay.Access
	logLevel       slog.Level
	version        bool
}

// parseConfig reads flags, then fills the flags not given from
// EPHEMERA_RELAY_* variables.
func parseConfig(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*config, error) {
	cfg := &config{limits: relay.DefaultLimits()}
	l := &cfg.limits
	fs := flag.NewFlagSet("ephemera-relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", defaultListen, "`address` to serve on (host:port; port 0 picks a free one)")
	fs.StringVar(&cfg.dataDir, "data", defaultDataDir(), "`directory` holding the relay's database and blobs")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate `file`: serve wss:// (needs --tls-key)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.BoolVar(&cfg.insecureListen, "insecure-listen", false, "allow plain ws:// on a non-loopback address (behind a TLS proxy)")
	fs.Var((*byteSize)(&l.MaxEnvelope), "max-envelope", "largest envelope, in `bytes` (suffixes KiB, MiB, GiB)")
	fs.DurationVar(&l.DefaultTTL, "default-ttl", l.DefaultTTL, "how long envelopes and blobs are kept when the sender gives no TTL")
	fs.DurationVar(&l.MaxTTL, "max-ttl", l.MaxTTL, "longest TTL; longer ones are cut to it")
	fs.Var((*byteSize64)(&l.MaxBlob), "max-blob", "largest attachment blob, in `bytes`")
	fs.IntVar(&l.MaxConns, "max-conns", l.MaxConns, "most concurrent connections")
	fs.IntVar(&l.MailboxMaxMessages, "mailbox-max-messages", l.MailboxMaxMessages, "most envelopes one mailbox holds")
	fs.Var((*byteSize64)(&l.MailboxMaxBytes), "mailbox-max-bytes", "most `bytes` (envelopes and blobs) one mailbox holds")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", l.IdleTimeout, "close connections silent for this long")
	fs.DurationVar(&l.WriteTimeout, "write-timeout", l.WriteTimeout, "close connections that do not take a frame within this long (clients that stop reading)")
	fs.IntVar(&l.MaxConnsPerMailbox, "max-conns-per-mailbox", l.MaxConnsPerMailbox, "most connections authenticated for one mailbox at once")
	fs.Var((*byteSize64)(&l.DeliverConnBytes), "deliver-conn-bytes", "most `bytes` of envelopes held in memory for delivery to one connection")
	fs.Var((*byteSize64)(&l.DeliverMailboxBytes), "deliver-mailbox-bytes", "most `bytes` of envelopes held in memory for delivery from one mailbox, over its connections")
	fs.Var((*byteSize64)(&l.DeliverTotalBytes), "deliver-total-bytes", "most `bytes` of envelopes held in memory for delivery in all")
	fs.BoolVar(&l.LimitLoopback, "limit-loopback", false, "apply per-address connection limits to loopback clients too")
	fs.Var((*listFlag)(&cfg.access.Hosts), "allow-host", "comma-separated host `names` that /v1/ws and /metrics answer (Host header, port ignored); empty: any")
	fs.Var((*listFlag)(&cfg.access.Origins), "allow-origin", "comma-separated browser `origins` (scheme://host[:port]) accepted on /v1/ws and /metrics; empty: only an Origin naming the Host, on /v1/ws")
	fs.BoolVar(&cfg.access.RefuseOrigin, "refuse-origin", false, "refuse every request carrying an Origin header (no browser clients)")
	fs.Var((*levelFlag)(&cfg.logLevel), "log-level", "log `level`: debug, info, warn or error")
	fs.StringVar(&cfg.pprof, "pprof", "", "serve Go's profiling endpoints (/debug/pprof/) on this loopback `address`; off when empty")
	cfg.store.addFlags(fs)
	fs.BoolVar(&cfg.version, "version", false, "print the version and exit")
	fs.Usage = func() { usage(fs) }

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || f.Name == "version" || envErr != nil {
			return
		}
		name := envName(f.Name)
		// An empty variable counts as unset, so a wrapper script can
		// blank one out.
		if v, ok := lookupEnv(name); ok && v != "" {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %v", name, v, err)
			}
			given[f.Name] = true
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	// Delivery budgets not given follow --max-envelope: the relay raises
	// its defaults to hold one frame of the largest envelope.
	for name, v := range map[string]*int64{"deliver-conn-bytes": &l.DeliverConnBytes,
		"deliver-mailbox-bytes": &l.DeliverMailboxBytes, "deliver-total-bytes": &l.DeliverTotalBytes} {
		if !given[name] && given["max-envelope"] {
			*v = 0
		}
	}
	if cfg.version {
		return cfg, nil
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if err := checkListen(cfg.listen, cfg.tlsCert != "", cfg.insecureListen); err != nil {
		return nil, err
	}
	if cfg.dataDir == "" && cfg.store.kind == storeBolt {
		return nil, errors.New("--data: no directory given")
	}
	if err := cfg.store.check(lookupEnv); err != nil {
		return nil, err
	}
	if cfg.pprof != "" {
		host, _, err := net.SplitHostPort(cfg.pprof)
		if err != nil {
			return nil, fmt.Errorf("--pprof %q: %v", cfg.pprof, err)
		}
		// Profiles show memory contents and timing: never beyond this machine.
		if !wsconn.IsLoopbackHost(host) {
			return nil, fmt.Errorf("--pprof %q: only a loopback address is allowed", cfg.pprof)
		}
	}
	return cfg, nil
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, `Usage:
  ephemera-relay [flags]           run a relay
  ephemera-relay loadtest [flags]  run the load generator against a relay

Each flag may instead be set by the environment variable shown after it;
the flag wins when both are given.

Flags:
`)
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s", f.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n    \t%s", help)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		if f.Name != "version" {
			fmt.Fprintf(w, "\n    \t[$%s]", envName(f.Name))
		}
		fmt.Fprintln(w)
	})
}

// checkListen refuses plain ws:// on an address other machines can reach:
// tokens and traffic patterns would cross the network in the clear.
func checkListen(addr string, tls, insecure bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %v", addr, err)
	}
	if tls || insecure || wsconn.IsLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("refusing to serve plain ws:// on non-loopback address %q: "+
		"give --tls-cert and --tls-key, or --insecure-listen if a TLS proxy sits in front", addr)
}

// defaultDataDir follows each platform's place for per-user application
// data: $XDG_DATA_HOME (or ~/.local/share) on Unix, Application Support on
// macOS, %LocalAppData% on Windows. A service account without a home gets
// ./ephemera-relay-data.
func defaultDataDir() string {
	const name = "ephemera-relay"
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && runtime.GOOS != "windows" && runtime.GOOS != "darwin" {
		return filepath.Join(d, name)
	}
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LocalAppData"); d != "" {
			return filepath.Join(d, name)
		}
	case "darwin":
		if d, err := os.UserConfigDir(); err == nil {
			return filepath.Join(d, name)
		}
	default:
		if h, err := os.UserHomeDir(); err == nil && h != "" && h != "/" {
			return filepath.Join(h, ".local", "share", name)
		}
	}
	return name + "-data"
}

// serve runs the relay until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, cfg *config, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("closing store", "err", err)
		}
	}()
	srv, err := relay.New(relay.Config{Store: st, Limits: cfg.limits, Logger: log, Notifier: st.notifier(), Access: cfg.access})
	if err != nil {
		return err
	}
	if err := st.attach(srv); err != nil {
		srv.Shutdown(context.Background())
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		srv.Shutdown(context.Background())
		return err
	}
	scheme := "ws"
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			ln.Close()
			srv.Shutdown(context.Background())
			return fmt.Errorf("loading TLS key pair: %w", err)
		}
		// HTTP/1.1 only: WebSocket upgrades do not happen over HTTP/2.
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		})
		scheme = "wss"
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          stdlog.New(scrubbedLog{log}, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if cfg.pprof != "" {
		stop, err := servePprof(cfg.pprof, log)
		if err != nil {
			hs.Close()
			srv.Shutdown(context.Background())
			return err
		}
		defer stop()
	}

	url := scheme + "://" + dialableAddr(ln.Addr()) + wsconn.Path
	if log.Enabled(ctx, slog.LevelInfo) {
		log.Info("listening", "url", url, "store", st.describe(), "version", version.Get().String())
	} else {
		// Scripts and the load tool wait for this line, whatever the level.
		fmt.Fprintf(stderr, "listening url=%s\n", url)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		srv.Shutdown(context.Background())
		return fmt.Errorf("serving: %w", err)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// Stop the listener first so no upgrade starts while connections close.
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("relay shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

// scrubbedLog passes net/http's server errors ("TLS handshake error from
// IP:PORT") to the log at debug level without client addresses: the relay
// logs none (see relay.ScrubAddrs).
type scrubbedLog struct{ log *slog.Logger }

func (l scrubbedLog) Write(p []byte) (int, error) {
	l.log.Debug(relay.ScrubAddrs(strings.TrimSpace(string(p))))
	return len(p), nil
}

// dialableAddr is the listener's address as a client on this machine dials
// it: a wildcard address becomes loopback.
func dialableAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP.String()
	if ta.IP.IsUnspecified() {
		ip = "127.0.0.1"
	}
	return net.JoinHostPort(ip, strconv.Itoa(ta.Port))
}
