package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// startNATS runs a JetStream server on a loopback port that wants user and
// password, until t ends.
func startNATS(t *testing.T, user, password string) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		ServerName: "test", Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Username: user, Password: password, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready after 10s")
	}
	return fmt.Sprintf("nats://%s", ns.Addr().(*net.TCPAddr).String())
}

// serveRelay runs the daemon with args and env until t ends; it returns
// its WebSocket URL and its log.
func serveRelay(t *testing.T, args []string, env map[string]string) (string, *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"--listen", "127.0.0.1:0", "--log-level", "debug"}, args...),
			func(k string) (string, bool) { v, ok := env[k]; return v, ok }, io.Discard, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("relay exit status %d; stderr:\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("relay did not stop within 30s")
		}
	})
	re := regexp.MustCompile(`listening url=(ws://127\.0\.0\.1:\d+/v1/ws)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], &stderr
		}
		select {
		case code := <-done:
			t.Fatalf("relay exited with %d; stderr:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line within 30s; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeNATS runs two relay daemons on one NATS server, as two nodes:
// a client on each, an envelope from one to the other pushed across nodes.
// The password given in the environment never reaches the logs.
func TestServeNATS(t *testing.T) {
	const password = "pw-never-logged-7731"
	natsURL := startNATS(t, "relay", password)
	env := map[string]string{envNATSPassword: password}
	args := []string{"--store", "nats", "--nats-url", natsURL, "--nats-user", "relay"}
	url1, log1 := serveRelay(t, args, env)
	url2, log2 := serveRelay(t, args, env)

	resp, err := http.Get(strings.Replace(strings.TrimSuffix(url1, wsconn.Path), "ws://", "http://", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d, want 200", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := func(url string) *relayclient.Client {
		c, err := relayclient.New(relayclient.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.Start()
		return c
	}
	alice, bob := client(url1), client(url2)
	b := newTestMailbox(t)
	if err := bob.Register(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, b.ID, wire.Key32{}, time.Hour, []byte("across nodes")); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-bob.Deliveries():
		if string(d.Envelope) != "across nodes" || d.Seq != 1 {
			t.Errorf("delivery: got seq %d %q, want seq 1 \"across nodes\"", d.Seq, d.Envelope)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery on node 2 within 20s")
	}
	for i, l := range []*lockedBuffer{log1, log2} {
		s := l.String()
		if !strings.Contains(s, "store=nats") || !strings.Contains(s, `msg="nats connected"`) {
			t.Errorf("node %d log: no store=nats and nats connected lines:\n%s", i+1, s)
		}
		if strings.Contains(s, password) {
			t.Errorf("node %d log contains the NATS password:\n%s", i+1, s)
		}
	}
}

// TestServeNATSBadPassword fails the start, clearly, without the password.
func TestServeNATSBadPassword(t *testing.T) {
	natsURL := startNATS(t, "relay", "right-password")
	var stderr lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, []string{"--listen", "127.0.0.1:0", "--store", "nats", "--nats-url", natsURL, "--nats-user", "relay"},
		func(k string) (string, bool) {
			if k == envNATSPassword {
				return "wrong-password-5521", true
			}
			return "", false
		}, io.Discard, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "connecting to NATS") {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and a connection error", code, stderr.String())
	}
	if strings.Contains(stderr.String(), "wrong-password-5521") {
		t.Errorf("stderr contains the password:\n%s", stderr.String())
	}
}

func newTestMailbox(t *testing.T) relayclient.Mailbox {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var id wire.MailboxID
	rand.Read(id[:])
	return relayclient.Mailbox{ID: id, Key: priv}
}
