package relay

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// lockedLog is a log sink safe for the relay's concurrent goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// failingAppends fails Append, once on is set, with an error whose text
// names the mailbox and quotes the envelope, as a careless store might.
type failingAppends struct {
	store.Store
	on atomic.Bool
}

func (f *failingAppends) Append(ctx context.Context, id wire.MailboxID, env store.Envelope, q store.Quota) (uint64, error) {
	if f.on.Load() {
		return 0, fmt.Errorf("append to %x of %q: %w", id[:], env.Data, errors.New("disk on fire"))
	}
	return f.Store.Append(ctx, id, env, q)
}

// The relay's logs never carry envelope content, tokens or keys, at any
// level, and no mailbox id (not even its short form) at info level and
// above — through registration, sending, delivery, bad frames and store
// failures.
func TestLogsHoldNoSecrets(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		t.Run(level.String(), func(t *testing.T) {
			var sink lockedLog
			fail := &failingAppends{}
			e := newEnv(t, func(c *Config) {
				c.Logger = slog.New(slog.NewTextHandler(&sink, &slog.HandlerOptions{Level: level}))
				fail.Store = c.Store
				c.Store = fail
			})
			o := newOwner(t)
			tok := wire.Key32{0: 0x5e, 1: 0xc7, 31: 0x42}
			r := e.pipe()
			o.register(r, tokenHash(tok))
			s := e.pipe()
			const secret = "the-secret-envelope-content"
			seq := s.send(o.id, tok, secret)
			r.deliver()
			mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: []uint64{seq}})
			s.wantError(&wire.Send{Mailbox: o.id, SendToken: wire.Key32{9}, Envelope: []byte(secret)}, wire.CodeUnauthorized)
			// A bad frame, then a store that fails under a connection.
			bad := e.pipe()
			bad.conn.WriteFrame(t.Context(), []byte(secret))
			bad.closed()
			fail.on.Store(true)
			s.wantError(&wire.Send{Mailbox: o.id, SendToken: tok, Envelope: []byte(secret)}, wire.CodeInternal)

			logs := sink.String()
			if !strings.Contains(logs, "disk on fire") {
				t.Fatalf("the store failure was not logged; the test would prove nothing:\n%s", logs)
			}
			forbidden := map[string]string{
				"envelope content":    secret,
				"envelope hex":        hex.EncodeToString([]byte(secret)),
				"send token":          hex.EncodeToString(tok[:]),
				"mailbox id":          hex.EncodeToString(o.id[:]),
				"owner key":           hex.EncodeToString(o.pub[:]),
				"send token hash":     hex.EncodeToString(func() []byte { h := tokenHash(tok); return h[:] }()),
				"mailbox id (binary)": string(o.id[:]),
			}
			if level >= slog.LevelInfo {
				forbidden["short mailbox id"] = o.id.String()
			}
			for what, s := range forbidden {
				if strings.Contains(logs, s) {
					t.Errorf("%v logs contain the %s", level, what)
				}
			}
		})
	}
}

// TestDebugLogsNoClientAddress: at debug level the relay logs short
// mailbox ids as connections authenticate, so it must log no client
// address at all (a line naming both, or lines a moment apart, would
// tell whose mailboxes those are). A client registers over a real socket
// and then resets its TCP connection, so the relay's read fails with an
// error that names both ends.
func TestDebugLogsNoClientAddress(t *testing.T) {
	var sink lockedLog
	e := newEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	hs := e.httpServer()
	var tcp *net.TCPConn
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			tcp = c.(*net.TCPConn)
		}
		return c, err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(hs), &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	c := newClient(t, wsconn.New(ws, wire.MaxFrameSize))
	o := newOwner(t)
	o.register(c, wire.Key32{})
	c.send(o.id, wire.Key32{}, "x")
	c.deliver()
	client := tcp.LocalAddr().String()
	// Linger 0: the close sends a reset, which the relay's read reports
	// with both addresses.
	tcp.SetLinger(0)
	tcp.Close()
	eventually(t, "the relay to log the connection's end", func() bool {
		return strings.Contains(sink.String(), "connection ended")
	})
	logs := sink.String()
	if !strings.Contains(logs, o.id.String()) {
		t.Fatalf("no mailbox prefix logged at debug level; the test would prove nothing:\n%s", logs)
	}
	_, port, _ := net.SplitHostPort(client)
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, client) || strings.Contains(line, ":"+port) {
			t.Errorf("a log line names the client's address %s: %s", client, line)
		}
		if strings.Contains(line, o.id.String()) && addrPattern.MatchString(line) {
			t.Errorf("a log line names a mailbox and an address: %s", line)
		}
	}
}

func TestErrTextScrubsAddresses(t *testing.T) {
	for _, in := range []string{
		"read tcp 127.0.0.1:7867->192.0.2.44:50312: read: connection reset by peer",
		"write tcp [::1]:7867->[2001:db8::7]:50312: write: broken pipe",
		"dial 2001:db8::7 failed",
		"from 192.0.2.44",
	} {
		out := errText(errors.New(in))
		for _, leak := range []string{"192.0.2.44", "2001:db8::7", "50312", "127.0.0.1", "::1"} {
			if strings.Contains(out, leak) {
				t.Errorf("errText(%q) = %q, still holds %s", in, out, leak)
			}
		}
	}
}
