package wsconn_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

func TestNormalizeURL(t *testing.T) {
	ok := []struct{ in, want string }{
		{"wss://relay.example", "wss://relay.example/v1/ws"},
		{"wss://relay.example/", "wss://relay.example/v1/ws"},
		{"wss://relay.example:8443", "wss://relay.example:8443/v1/ws"},
		{"wss://relay.example/custom/path", "wss://relay.example/custom/path"},
		{"wss://relay.example/v1/ws", "wss://relay.example/v1/ws"},
		{"https://relay.example", "wss://relay.example/v1/ws"},
		{"HTTPS://relay.example", "wss://relay.example/v1/ws"},
		{"  wss://relay.example\n", "wss://relay.example/v1/ws"},
		{"wss://203.0.113.7", "wss://203.0.113.7/v1/ws"},
		{"wss://[2001:db8::1]:443", "wss://[2001:db8::1]:443/v1/ws"},
		// Plain ws only to loopback.
		{"ws://127.0.0.1:8080", "ws://127.0.0.1:8080/v1/ws"},
		{"ws://127.255.255.254", "ws://127.255.255.254/v1/ws"},
		{"ws://[::1]:8080", "ws://[::1]:8080/v1/ws"},
		{"ws://localhost:8080", "ws://localhost:8080/v1/ws"},
		{"ws://LocalHost", "ws://LocalHost/v1/ws"},
		{"http://127.0.0.1:8080", "ws://127.0.0.1:8080/v1/ws"},
		{"http://localhost/", "ws://localhost/v1/ws"},
	}
	for _, tc := range ok {
		got, err := wsconn.NormalizeURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if again, err := wsconn.NormalizeURL(got); err != nil || again != got {
			t.Errorf("NormalizeURL(%q) = %q, %v; want it unchanged", got, again, err)
		}
	}

	insecure := []string{
		"ws://relay.example",
		"http://relay.example",
		"ws://10.0.0.1",
		"ws://192.168.1.1:8080",
		"ws://128.0.0.1",
		"ws://[::2]",
		"ws://[fe80::1]",
		"ws://0.0.0.0",
		"ws://localhost.relay.example",
		"ws://127.0.0.1.nip.io",
		"ws://localhostx",
	}
	for _, in := range insecure {
		if got, err := wsconn.NormalizeURL(in); !errors.Is(err, wsconn.ErrInsecureURL) {
			t.Errorf("NormalizeURL(%q) = %q, %v; want ErrInsecureURL", in, got, err)
		}
	}

	refused := []string{
		"wss://user@relay.example",
		"wss://user:secret@relay.example",
		"https://:@relay.example",
		"ftp://user:secret@relay.example",
		"ws://user@localhost",
		"",
		"   ",
		"relay.example",
		"relay.example:443",
		"//relay.example",
		"ftp://relay.example",
		"file:///etc/passwd",
		"wss://",
		"wss:///v1/ws",
		"wss://:443",
		"wss://:443/v1/ws",
		"wss:relay.example",
		"wss://relay.example:port",
		"wss://[::1",
		"wss://relay.example/\x00",
		"://relay.example",
		"wss ://relay.example",
	}
	for _, in := range refused {
		got, err := wsconn.NormalizeURL(in)
		if err == nil {
			t.Errorf("NormalizeURL(%q) = %q, want an error", in, got)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("NormalizeURL(%q): error %q repeats the password", in, err)
		}
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true,
		"": false, "localhost.": false, "0.0.0.0": false, "::": false, "10.0.0.1": false,
		"relay.example": false, "[::1]": false, "127.0.0.1:80": false,
	} {
		if got := wsconn.IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// pair starts a WebSocket server whose connections are handed to serve,
// and returns a client connection to it.
func pair(t *testing.T, maxFrame int64, serve func(*wsconn.Conn)) (*wsconn.Conn, *websocket.Conn) {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer close(done)
		serve(wsconn.New(ws, maxFrame))
	}))
	t.Cleanup(func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("server handler did not return")
		}
		srv.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u, err := wsconn.NormalizeURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := wsconn.New(ws, maxFrame)
	t.Cleanup(func() { c.CloseWith(websocket.StatusNormalClosure, "") })
	return c, ws
}

func TestConnEchoAndCloseReason(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	long := strings.Repeat("é", 100) // 200 bytes: cut to at most 123, on a rune boundary
	c, _ := pair(t, 1024, func(s *wsconn.Conn) {
		for i := 0; i < 2; i++ {
			f, err := s.ReadFrame(ctx)
			if err != nil {
				t.Errorf("server read: %v", err)
				return
			}
			if err := s.WriteFrame(ctx, f); err != nil {
				t.Errorf("server write: %v", err)
				return
			}
		}
		s.CloseWith(websocket.StatusPolicyViolation, long)
	})
	for _, f := range [][]byte{wire.Encode(1, &wire.Ping{}), {}} {
		if err := c.WriteFrame(ctx, f); err != nil {
			t.Fatal(err)
		}
		got, err := c.ReadFrame(ctx)
		if err != nil || string(got) != string(f) {
			t.Fatalf("echo: got %x, %v; want %x", got, err, f)
		}
	}
	_, err := c.ReadFrame(ctx)
	var ce *wire.CloseError
	if !errors.As(err, &ce) || !errors.Is(err, wire.ErrClosed) {
		t.Fatalf("after server close: %v, want a wire.CloseError", err)
	}
	reason, ok := strings.CutPrefix(ce.Reason, "1008 ")
	if !ok {
		t.Fatalf("reason %q, want it to start with the 1008 status", ce.Reason)
	}
	if !utf8.ValidString(reason) || len(reason) > 123 || len(reason) < 120 || !strings.HasPrefix(long, reason) {
		t.Errorf("close reason %q (%d bytes): want the first 122 bytes of the long reason, valid UTF-8", reason, len(reason))
	}
}

func TestConnRejectsTextAndOversize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	results := make(chan error, 2)
	c, raw := pair(t, 16, func(s *wsconn.Conn) {
		_, err := s.ReadFrame(ctx)
		results <- err
		_, err = s.ReadFrame(ctx)
		results <- err
	})
	// A text message is malformed; the connection stays usable.
	if err := raw.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := <-results; !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("text message: %v, want ErrMalformed", err)
	}
	// A frame above the read limit fails the read, and the peer learns
	// why through status 1009.
	if err := c.WriteFrame(ctx, make([]byte, 17)); err != nil {
		t.Fatal(err)
	}
	if err := <-results; err == nil {
		t.Error("oversized frame: read succeeded")
	}
	_, err := c.ReadFrame(ctx)
	if !strings.HasPrefix(reasonOf(err), "1009 ") {
		t.Errorf("after an oversized frame: %v, want close status 1009", err)
	}
}

func reasonOf(err error) string {
	var ce *wire.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// FuzzNormalizeURL checks the URL rules on any input: an accepted URL is
// ws or wss, has a host and a path, has no user information, uses ws only
// for loopback, and normalises to itself.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"wss://relay.example", "http://127.0.0.1:80/", "ws://[::1]", "https://u:p@h", "wss://:443", "ws://localhost/x?y#z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := wsconn.NormalizeURL(in)
		if err != nil {
			return
		}
		u, err := url.Parse(out)
		if err != nil {
			t.Fatalf("NormalizeURL(%q) = %q, which does not parse: %v", in, out, err)
		}
		if (u.Scheme != "ws" && u.Scheme != "wss") || u.Hostname() == "" || u.User != nil || u.Path == "" {
			t.Fatalf("NormalizeURL(%q) = %q", in, out)
		}
		if u.Scheme == "ws" && !wsconn.IsLoopbackHost(u.Hostname()) {
			t.Fatalf("NormalizeURL(%q) = %q: plain ws to a non-loopback host", in, out)
		}
		if again, err := wsconn.NormalizeURL(out); err != nil || again != out {
			t.Fatalf("NormalizeURL(%q) = %q, then %q, %v", in, out, again, err)
		}
	})
}

func TestNormalizeURLErrorHidesPassword(t *testing.T) {
	for _, raw := range []string{"wss://user:s3cret@relay.example/%zz", "wss://user:s3cret@relay.example/v1/ws", "ws://user:s3cret@[::1"} {
		_, err := wsconn.NormalizeURL(raw)
		if err == nil {
			t.Fatalf("NormalizeURL(%q): got no error", raw)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("NormalizeURL(%q): error %q repeats the password", raw, err)
		}
	}
}
