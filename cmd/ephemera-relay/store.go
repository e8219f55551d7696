package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/store/boltstore"
	"github.com/ephemera-im/ephemera/net/store/natsstore"
	"github.com/ephemera-im/ephemera/net/wire"
)

const (
	storeBolt = "bbolt"
	storeNATS = "nats"

	// Secrets are read from the environment only, never from flags, so
	// they do not show in the process list or in shell history.
	envNATSPassword = envPrefix + "NATS_PASSWORD"
	envNATSToken    = envPrefix + "NATS_TOKEN"
)

// storeConfig selects and configures the relay's store.
type storeConfig struct {
	kind     string
	natsURLs string
	replicas int
	creds    string
	user     string
	password string
	token    string
	timeout  time.Duration
	maxBytes int64 // bbolt: Options.MaxBytes
	reserve  int64 // bbolt: Options.Reserve
	compact  time.Duration
}

func (c *storeConfig) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.kind, "store", storeBolt, "`kind` of store: bbolt (one machine, in --data) or nats (NATS JetStream, shared by several relay nodes)")
	fs.StringVar(&c.natsURLs, "nats-url", "", "with --store nats: NATS server `URLs`, comma-separated (nats://host:4222,tls://host:4222)")
	fs.IntVar(&c.replicas, "nats-replicas", 1, "with --store nats: replicas of each stream the relay creates (3 on a three-server cluster); existing streams keep theirs")
	fs.StringVar(&c.creds, "nats-creds", "", "with --store nats: NATS credentials `file` (user JWT and seed); or set $"+envNATSPassword+" with --nats-user, or $"+envNATSToken)
	fs.StringVar(&c.user, "nats-user", "", "with --store nats: NATS user `name`; the password is read from $"+envNATSPassword)
	fs.DurationVar(&c.timeout, "nats-timeout", 10*time.Second, "with --store nats: bound on each JetStream request")
	fs.DurationVar(&c.compact, "compact-interval", time.Hour, "with --store bbolt: how often relay.db is rewritten without its freed pages, so deleted envelopes do not stay readable in it (0: never)")
	fs.Var((*byteSize64)(&c.maxBytes), "max-store-bytes", "with --store bbolt: most `bytes` relay.db and blobs/ may take; new envelopes, prekeys, blobs and mailboxes are refused before it, deletions never (0: no bound but the disk)")
	fs.Var((*byteSize64)(&c.reserve), "store-reserve", "with --store bbolt: `bytes` kept free for deletions, under --max-store-bytes and on the disk (0: 32MiB, or an eighth of --max-store-bytes if less)")
}

// check validates the store flags and reads the secrets from the
// environment.
func (c *storeConfig) check(lookupEnv func(string) (string, bool)) error {
	switch c.kind {
	case storeBolt:
		if c.natsURLs != "" {
			return errors.New("--nats-url needs --store nats")
		}
		if c.maxBytes > 0 && c.reserve >= c.maxBytes {
			return errors.New("--store-reserve must be below --max-store-bytes")
		}
		return nil
	case storeNATS:
	default:
		return fmt.Errorf("--store %q: want bbolt or nats", c.kind)
	}
	if strings.TrimSpace(c.natsURLs) == "" {
		return errors.New("--store nats needs --nats-url")
	}
	if c.replicas < 1 || c.replicas > 5 {
		return fmt.Errorf("--nats-replicas %d: want 1 to 5", c.replicas)
	}
	if c.timeout <= 0 {
		return fmt.Errorf("--nats-timeout %v: want a positive duration", c.timeout)
	}
	c.password, _ = lookupEnv(envNATSPassword)
	c.token, _ = lookupEnv(envNATSToken)
	if c.password != "" && c.user == "" {
		return fmt.Errorf("$%s needs --nats-user", envNATSPassword)
	}
	if c.user != "" && c.password == "" {
		return fmt.Errorf("--nats-user needs $%s", envNATSPassword)
	}
	if n := btoi(c.creds != "") + btoi(c.user != "") + btoi(c.token != ""); n > 1 {
		return fmt.Errorf("give one of --nats-creds, --nats-user with $%s, or $%s", envNATSPassword, envNATSToken)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// openedStore is the relay's store with what a multi-node store adds.
type openedStore struct {
	store.Store
	kind string
	nats *natsstore.Store // nil for bbolt
}

// openStore opens the store cfg asks for. With NATS it connects (waiting
// for the servers if they are not up yet) and creates the streams.
func openStore(ctx context.Context, cfg *config, log *slog.Logger) (*openedStore, error) {
	sc := &cfg.store
	if sc.kind != storeNATS {
		st, err := boltstore.Open(cfg.dataDir, boltstore.Options{MaxBytes: sc.maxBytes, Reserve: sc.reserve,
			CompactEvery:   sc.compact,
			OnCompactError: func(err error) { log.Error("compacting relay.db", "err", err) }})
		if err != nil {
			return nil, err
		}
		return &openedStore{Store: st, kind: "bbolt " + cfg.dataDir}, nil
	}
	opts := []nats.Option{
		nats.Name("ephemera-relay"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		// Connection events name the server, never the credentials:
		// ConnectedUrlRedacted drops any user:password@ in the URL.
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			log.Warn("nats disconnected", "cause", errText(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			log.Warn("nats error", "cause", errText(err))
		}),
	}
	switch {
	case sc.creds != "":
		opts = append(opts, nats.UserCredentials(sc.creds))
	case sc.user != "":
		opts = append(opts, nats.UserInfo(sc.user, sc.password))
	case sc.token != "":
		opts = append(opts, nats.Token(sc.token))
	}
	nc, err := nats.Connect(sc.natsURLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	// RetryOnFailedConnect returns at once: wait for the first connection
	// so that a wrong URL or password fails the start, not the first Send.
	deadline := time.Now().Add(30 * time.Second)
	for !nc.IsConnected() {
		if err := nc.LastError(); errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			nc.Close()
			return nil, fmt.Errorf("connecting to NATS: %w", err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			lastErr := nc.LastError()
			nc.Close()
			return nil, fmt.Errorf("connecting to NATS: no server answered within 30s (%s)", errText(lastErr))
		}
		time.Sleep(50 * time.Millisecond)
	}
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := natsstore.Open(octx, nc, natsstore.Options{Replicas: sc.replicas, Timeout: sc.timeout, CloseConn: true})
	if err != nil {
		nc.Close()
		return nil, err
	}
	if cfg.limits.MaxEnvelope > st.MaxEnvelope() {
		st.Close()
		return nil, fmt.Errorf("--max-envelope %d is above what the NATS servers take (%d; raise their max_payload)", cfg.limits.MaxEnvelope, st.MaxEnvelope())
	}
	log.Info("nats connected", "server", nc.ConnectedUrlRedacted(), "replicas", sc.replicas)
	return &openedStore{Store: st, kind: "nats", nats: st}, nil
}

// errText is an error's text, or "none".
func errText(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

// notifier is what the relay tells of each durable Append: the NATS store
// passes it on to the other nodes; bbolt has no other nodes.
func (s *openedStore) notifier() relay.Notifier {
	if s.nats == nil {
		return nil
	}
	return s.nats
}

// attach makes wake-ups from other nodes reach srv's subscribers.
func (s *openedStore) attach(srv *relay.Server) error {
	if s.nats == nil {
		return nil
	}
	return s.nats.SubscribeWake(func(id wire.MailboxID) { srv.Wake(id) })
}

func (s *openedStore) describe() string { return s.kind }
