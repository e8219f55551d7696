package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ephemera-relay": func() {
			os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs the command as a user would: testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			// The scripts must not see the developer's relay settings.
			for _, kv := range os.Environ() {
				if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix) {
					e.Setenv(k, "")
				}
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// freeport VAR: set VAR to a loopback port nobody listens on.
			"freeport": func(ts *testscript.TestScript, neg bool, args []string) {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				ts.Check(err)
				ts.Setenv(args[0], strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
				l.Close()
			},
			// waithealthy URL: poll URL until it answers 200.
			"waithealthy": func(ts *testscript.TestScript, neg bool, args []string) {
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) {
					resp, err := http.Get(args[0])
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == 200 {
							return
						}
					}
					time.Sleep(20 * time.Millisecond)
				}
				ts.Fatalf("%s not healthy", args[0])
			},
		},
	})
}

func TestParseConfig(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	d := relay.DefaultLimits()
	for _, tc := range []struct {
		name    string
		args    []string
		env     func(string) (string, bool)
		check   func(*config) string
		wantErr string
	}{
		{name: "defaults", env: env(), check: func(c *config) string {
			if c.listen != defaultListen || c.limits != d || c.dataDir == "" || c.tlsCert != "" {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{name: "flags", args: []string{"--listen", "127.0.0.1:0", "--data", "/tmp/x", "--max-envelope", "64KiB",
			"--default-ttl", "1h", "--max-ttl", "2h", "--max-blob", "1GiB", "--max-conns", "7",
			"--mailbox-max-messages", "9", "--mailbox-max-bytes", "1M", "--idle-timeout", "30s", "--limit-loopback",
			"--log-level", "debug", "--write-timeout", "10s", "--max-conns-per-mailbox", "3",
			"--deliver-conn-bytes", "1MiB", "--deliver-mailbox-bytes", "3MiB", "--deliver-total-bytes", "64MiB"}, env: env(),
			check: func(c *config) string {
				l := c.limits
				if c.listen != "127.0.0.1:0" || c.dataDir != "/tmp/x" || l.MaxEnvelope != 64<<10 || l.DefaultTTL != time.Hour ||
					l.MaxTTL != 2*time.Hour || l.MaxBlob != 1<<30 || l.MaxConns != 7 || l.MailboxMaxMessages != 9 ||
					l.MailboxMaxBytes != 1<<20 || l.IdleTimeout != 30*time.Second || !l.LimitLoopback || c.logLevel.String() != "DEBUG" ||
					l.WriteTimeout != 10*time.Second || l.MaxConnsPerMailbox != 3 || l.DeliverConnBytes != 1<<20 ||
					l.DeliverMailboxBytes != 3<<20 || l.DeliverTotalBytes != 64<<20 {
					return fmt.Sprintf("%+v", c)
				}
				return ""
			}},
		{name: "env", env: env("EPHEMERA_RELAY_MAX_TTL", "3h", "EPHEMERA_RELAY_LIMIT_LOOPBACK", "true",
			"EPHEMERA_RELAY_DATA", "/srv/relay", "EPHEMERA_RELAY_MAX_ENVELOPE", "1000"),
			check: func(c *config) string {
				if c.limits.MaxTTL != 3*time.Hour || !c.limits.LimitLoopback || c.dataDir != "/srv/relay" || c.limits.MaxEnvelope != 1000 {
					return fmt.Sprintf("%+v", c)
				}
				return ""
			}},
		{name: "budgets follow a raised max-envelope", args: []string{"--max-envelope", "16MiB", "--deliver-total-bytes", "1GiB"}, env: env(),
			check: func(c *config) string {
				// Zero: the relay sizes them to hold a 16 MiB frame.
				if l := c.limits; l.DeliverConnBytes != 0 || l.DeliverMailboxBytes != 0 || l.DeliverTotalBytes != 1<<30 {
					return fmt.Sprintf("%+v", c)
				}
				return ""
			}},
		{name: "flag wins over env", args: []string{"--max-ttl", "5h", "--limit-loopback=false"},
			env: env("EPHEMERA_RELAY_MAX_TTL", "3h", "EPHEMERA_RELAY_LIMIT_LOOPBACK", "true"),
			check: func(c *config) string {
				if c.limits.MaxTTL != 5*time.Hour || c.limits.LimitLoopback {
					return fmt.Sprintf("%+v", c)
				}
				return ""
			}},
		{name: "bad env", env: env("EPHEMERA_RELAY_IDLE_TIMEOUT", "soon"), wantErr: `EPHEMERA_RELAY_IDLE_TIMEOUT="soon"`},
		{name: "bad size", args: []string{"--max-blob", "-1"}, env: env(), wantErr: "invalid size"},
		{name: "bad level", args: []string{"--log-level", "loud"}, env: env(), wantErr: "unknown log level"},
		{name: "extra argument", args: []string{"serve"}, env: env(), wantErr: `unexpected argument "serve"`},
		{name: "wildcard plain", args: []string{"--listen", ":7867"}, env: env(), wantErr: "refusing to serve plain ws://"},
		{name: "public plain by env", env: env("EPHEMERA_RELAY_LISTEN", "192.0.2.1:80"), wantErr: "refusing to serve plain ws://"},
		{name: "insecure listen", args: []string{"--listen", "0.0.0.0:80", "--insecure-listen"}, env: env(),
			check: func(c *config) string { return "" }},
		{name: "tls", args: []string{"--listen", "[::]:443", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, env: env(),
			check: func(c *config) string { return "" }},
		{name: "localhost", args: []string{"--listen", "localhost:1"}, env: env(), check: func(c *config) string { return "" }},
		{name: "cert without key", args: []string{"--tls-cert", "c.pem"}, env: env(), wantErr: "go together"},
		{name: "bad listen", args: []string{"--listen", "nowhere"}, env: env(), wantErr: `--listen "nowhere"`},
		{name: "pprof on loopback", args: []string{"--pprof", "127.0.0.1:6060"}, env: env(),
			check: func(c *config) string {
				if c.pprof != "127.0.0.1:6060" {
					return fmt.Sprintf("pprof %q", c.pprof)
				}
				return ""
			}},
		{name: "access flags", args: []string{"--allow-host", "relay.example, relay2.example", "--allow-host", "[2001:db8::1]",
			"--allow-origin", "https://app.example"}, env: env(),
			check: func(c *config) string {
				if fmt.Sprint(c.access.Hosts) != "[relay.example relay2.example [2001:db8::1]]" ||
					fmt.Sprint(c.access.Origins) != "[https://app.example]" || c.access.RefuseOrigin {
					return fmt.Sprintf("%+v", c.access)
				}
				return ""
			}},
		{name: "access env", env: env("EPHEMERA_RELAY_ALLOW_HOST", "a.example,b.example", "EPHEMERA_RELAY_REFUSE_ORIGIN", "true"),
			check: func(c *config) string {
				if fmt.Sprint(c.access.Hosts) != "[a.example b.example]" || !c.access.RefuseOrigin {
					return fmt.Sprintf("%+v", c.access)
				}
				return ""
			}},
		{name: "access default", env: env(), check: func(c *config) string {
			if c.access.Hosts != nil || c.access.Origins != nil || c.access.RefuseOrigin {
				return fmt.Sprintf("%+v", c.access)
			}
			return ""
		}},
		{name: "store size", args: []string{"--max-store-bytes", "10GiB", "--store-reserve", "64MiB"}, env: env(),
			check: func(c *config) string {
				if c.store.maxBytes != 10<<30 || c.store.reserve != 64<<20 {
					return fmt.Sprintf("%+v", c.store)
				}
				return ""
			}},
		{name: "store reserve past max", args: []string{"--max-store-bytes", "1MiB", "--store-reserve", "1MiB"}, env: env(), wantErr: "--store-reserve"},
		{name: "pprof public", args: []string{"--pprof", "0.0.0.0:6060"}, env: env(), wantErr: "only a loopback address"},
		{name: "pprof public by env", env: env("EPHEMERA_RELAY_PPROF", "192.0.2.1:6060"), wantErr: "only a loopback address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			c, err := parseConfig(tc.args, tc.env, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if msg := tc.check(c); msg != "" {
				t.Errorf("got %s", msg)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe to read while run writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeAndStop runs the daemon in-process on a free port, uses it,
// and stops it the way a signal does.
func TestServeAndStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan int, 1)
	data := t.TempDir()
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--data", data, "--pprof", "127.0.0.1:0"}, func(string) (string, bool) { return "", false }, io.Discard, &stderr)
	}()
	re := regexp.MustCompile(`listening url=(ws://127\.0\.0\.1:\d+/v1/ws)`)
	var url string
	deadline := time.Now().Add(20 * time.Second)
	for url == "" {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listening line; stderr:\n%s", stderr.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	resp, err := http.Get(strings.Replace(strings.TrimSuffix(url, wsconn.Path), "ws://", "http://", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	// The profiling endpoints are on their own loopback listener only.
	pm := regexp.MustCompile(`profiling url=(http://127\.0\.0\.1:\d+/debug/pprof/)`).FindStringSubmatch(stderr.String())
	if pm == nil {
		t.Fatalf("no profiling line; stderr:\n%s", stderr.String())
	}
	for _, u := range []string{pm[1] + "goroutine?debug=1", strings.Replace(strings.TrimSuffix(url, wsconn.Path), "ws://", "http://", 1) + "/debug/pprof/"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 200, false: 404}[strings.HasPrefix(u, pm[1])]; resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", u, resp.StatusCode, want)
		}
	}

	// Register a mailbox over a real connection.
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	ws, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := wsconn.New(ws, wire.MaxFrameSize)
	b, err := c.ReadFrame(dctx)
	if err != nil {
		t.Fatal(err)
	}
	_, m, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	hello := m.(*wire.ServerHello)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	reg := &wire.Register{}
	rand.Read(reg.Mailbox[:])
	copy(reg.OwnerKey[:], pub)
	copy(reg.Signature[:], ed25519.Sign(priv, wire.AuthMessage(wire.OpRegister, hello.Relay, hello.Challenge, reg.Mailbox, reg.OwnerKey, wire.Key32{})))
	if err := c.WriteFrame(dctx, wire.Encode(1, reg)); err != nil {
		t.Fatal(err)
	}
	if b, err = c.ReadFrame(dctx); err != nil {
		t.Fatal(err)
	}
	if _, m, _ := wire.Decode(b); m == nil || m.Type() != wire.TypeOK {
		t.Fatalf("register: got %v", m)
	}

	closed := make(chan error, 1)
	go func() {
		_, err := c.ReadFrame(dctx)
		closed <- err
	}()
	cancel() // as SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit status %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop")
	}
	if err := <-closed; err == nil || !strings.Contains(err.Error(), "1001") {
		t.Errorf("connection after stop: got %v, want a 1001 close", err)
	}
	if !strings.Contains(stderr.String(), "msg=stopped") {
		t.Errorf("no stop line; stderr:\n%s", stderr.String())
	}
}
