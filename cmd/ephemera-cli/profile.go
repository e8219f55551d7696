package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ephemera-im/ephemera/core/messenger"
)

// Commands that use a profile share these flags.
type profileFlags struct {
	dir      string
	passFile string
	timeout  time.Duration
	verbose  bool
	socks5   string
	isolate  bool
}

func (p *profileFlags) set(fs *flag.FlagSet) {
	fs.StringVar(&p.dir, "profile", os.Getenv("EPHEMERA_PROFILE"), "profile `folder` (env EPHEMERA_PROFILE; default: the system's data folder)")
	fs.StringVar(&p.passFile, "passphrase-file", "", "read the passphrase from `file` (else env EPHEMERA_PASSPHRASE, else a prompt)")
	fs.DurationVar(&p.timeout, "timeout", 30*time.Second, "how long to wait for relays")
	fs.BoolVar(&p.verbose, "v", false, "log diagnostics to standard error")
	fs.StringVar(&p.socks5, "socks5", os.Getenv("EPHEMERA_SOCKS5"), "connect to relays through this SOCKS5 proxy, e.g. Tor's 127.0.0.1:9050 (env EPHEMERA_SOCKS5)")
	fs.BoolVar(&p.isolate, "isolate", os.Getenv("EPHEMERA_ISOLATE") == "1", "one relay connection per mailbox and per destination, so a relay cannot link contacts by connection; always on with --socks5 (env EPHEMERA_ISOLATE=1)")
}

// allowInsecureKDF is set only by the tests' TestMain: the real binary
// never makes or opens a vault with cheap passphrase stretching.
var allowInsecureKDF bool

// pf holds the profile flags of the running command (one per process).
var pf profileFlags

func (p *profileFlags) folder() (string, error) {
	if p.dir != "" {
		return p.dir, nil
	}
	return messenger.DefaultDir()
}

// passphrase reads the passphrase: from --passphrase-file, from
// EPHEMERA_PASSPHRASE, or from a prompt on the terminal.
func (p *profileFlags) passphrase(stderr interface{ Write([]byte) (int, error) }, prompt string) ([]byte, error) {
	if p.passFile != "" {
		b, err := os.ReadFile(p.passFile)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if s, ok := os.LookupEnv("EPHEMERA_PASSPHRASE"); ok {
		return []byte(s), nil
	}
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprint(stderr, prompt)
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return nil, errors.New("no passphrase: set EPHEMERA_PASSPHRASE, use --passphrase-file, or type it")
	}
	return []byte(strings.TrimRight(line, "\r\n")), nil
}

func (p *profileFlags) config(inv *invocation) (messenger.Config, error) {
	dir, err := p.folder()
	if err != nil {
		return messenger.Config{}, err
	}
	pass, err := p.passphrase(inv.stderr, "Passphrase: ")
	if err != nil {
		return messenger.Config{}, err
	}
	cfg := messenger.Config{Dir: dir, Passphrase: pass}
	if p.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg.SOCKS5, cfg.IsolateMailboxes = p.socks5, p.isolate
	// For tests of expiry after time offline: a clock running ahead.
	if s := os.Getenv("EPHEMERA_CLOCK_OFFSET"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return cfg, fmt.Errorf("EPHEMERA_CLOCK_OFFSET: %v", err)
		}
		cfg.Now = func() time.Time { return time.Now().Add(d) }
	}
	cfg.InsecureTestKDF = allowInsecureKDF && os.Getenv("EPHEMERA_INSECURE_TEST_KDF") == "1"
	return cfg, nil
}

// open unlocks the profile and processes what is pending at its relays.
func (p *profileFlags) open(ctx context.Context, inv *invocation) (*messenger.Messenger, error) {
	cfg, err := p.config(inv)
	if err != nil {
		return nil, err
	}
	m, err := messenger.Open(cfg)
	if errors.Is(err, messenger.ErrWrongPassphrase) {
		return nil, errors.New("wrong passphrase")
	}
	if err != nil {
		return nil, err
	}
	if err := p.sync(ctx, m); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// sync waits until pending work with the relays is done.
func (p *profileFlags) sync(ctx context.Context, m *messenger.Messenger) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := m.Sync(ctx, 300*time.Millisecond); err != nil {
		return fmt.Errorf("relay unreachable or not answering (%v)", err)
	}
	return nil
}

// finish sends what the command queued, then locks the profile.
func (p *profileFlags) finish(ctx context.Context, m *messenger.Messenger, err error) error {
	if err == nil {
		err = p.sync(ctx, m)
	}
	return errors.Join(err, m.Close())
}

func init() {
	var name, relay string
	register(&command{
		name: "init", args: "--name NAME [--relay URL]",
		summary: "create a profile: a pseudonym, keys made here, mailboxes on a relay",
		setFlags: func(fs *flag.FlagSet) {
			pf.set(fs)
			fs.StringVar(&name, "name", "", "your pseudonym, as contacts see it")
			fs.StringVar(&relay, "relay", "", "relay URL (wss://...); empty runs a relay inside the client, for trying out")
		},
		run: func(ctx context.Context, inv *invocation) error {
			if len(inv.args) != 0 {
				return usageError("unexpected argument %q", inv.args[0])
			}
			if name == "" {
				return usageError("--name is required")
			}
			cfg, err := pf.config(inv)
			if err != nil {
				return err
			}
			cfg.Pseudonym, cfg.RelayURL = name, relay
			if len(cfg.Passphrase) == 0 {
				return errors.New("the passphrase must not be empty")
			}
			m, err := messenger.Create(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(inv.stdout, "created profile %q in %s (relay %s)\n", m.Pseudonym(), cfg.Dir, m.RelayURL())
			return m.Close()
		},
	})
}
