package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// readClose reads from ws until the relay closes it and returns the close
// status and reason.
func readClose(t *testing.T, ws *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read ended with %v, want a close frame", err)
		}
		return ce.Code, ce.Reason
	}
}

func TestWebSocketEndToEnd(t *testing.T) {
	e := newEnv(t)
	hs := e.httpServer()
	o := newOwner(t)
	tok := wire.Key32{5}
	r := e.ws(hs)
	o.register(r, tokenHash(tok))
	s := e.ws(hs)
	s.wantError(&wire.Send{Mailbox: o.id, Envelope: []byte("x")}, wire.CodeUnauthorized)
	for i := range 10 {
		s.send(o.id, tok, strings.Repeat("m", i))
	}
	for i := range 10 {
		d := r.deliver()
		if d.Seq != uint64(i+1) || len(d.Envelope) != i {
			t.Fatalf("deliver %d: got seq %d len %d", i, d.Seq, len(d.Envelope))
		}
	}
	mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: []uint64{1, 2, 3}})
	r.conn.Close("bye")
	r2 := e.ws(hs)
	o.auth(r2)
	if d := r2.deliver(); d.Seq != 4 {
		t.Errorf("first redelivered: got seq %d, want 4", d.Seq)
	}
	// Replaying r's signature on r2 fails: the challenge differs.
	r3 := e.ws(hs)
	r3.wantError(o.authMsg(r2), wire.CodeUnauthorized)
}

func TestBadInputOverWebSocket(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxEnvelope = 1000; l.MaxChunk = 1000 }))
	hs := e.httpServer()

	// A well-behaved client that must not notice any of it.
	o := newOwner(t)
	good := e.ws(hs)
	o.register(good, wire.Key32{})
	var seqs []uint64

	for _, tc := range []struct {
		name   string
		typ    websocket.MessageType
		msg    []byte
		code   websocket.StatusCode
		reason string // prefix
		metric string
	}{
		{"garbage", websocket.MessageBinary, []byte("\x07garbage!"), websocket.StatusPolicyViolation, "wire: malformed frame: unsupported version 7", reasonMalformed},
		{"empty", websocket.MessageBinary, nil, websocket.StatusPolicyViolation, "wire: malformed frame: frame is 0 bytes", reasonMalformed},
		{"truncated", websocket.MessageBinary, wire.Encode(3, &wire.Register{})[:40], websocket.StatusPolicyViolation, "Register frame: wire: malformed frame: truncated", reasonMalformed},
		{"trailing bytes", websocket.MessageBinary, append(wire.Encode(3, &wire.Ping{}), 0), websocket.StatusPolicyViolation, "Ping frame: wire: malformed frame: 1 trailing bytes", reasonMalformed},
		{"oversized", websocket.MessageBinary, make([]byte, 6000), websocket.StatusMessageTooBig, "read limited at 5097 bytes", reasonTooBig},
		{"text", websocket.MessageText, []byte("hello"), websocket.StatusPolicyViolation, "text message", reasonText},
		{"response type", websocket.MessageBinary, wire.Encode(9, &wire.Sent{Seq: 1}), websocket.StatusPolicyViolation, "Sent frame from a client", reasonUnexpected},
		{"server hello", websocket.MessageBinary, wire.Encode(0, &wire.ServerHello{}), websocket.StatusPolicyViolation, "ServerHello frame from a client", reasonUnexpected},
		{"zero id", websocket.MessageBinary, wire.Encode(0, &wire.Ping{}), websocket.StatusPolicyViolation, "request id 0", reasonRequestID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.metric("ephemera_relay_rejected_frames_total", "reason", tc.metric)
			ws := dialWS(t, hs)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, _, err := ws.Read(ctx); err != nil { // ServerHello
				t.Fatal(err)
			}
			if err := ws.Write(ctx, tc.typ, tc.msg); err != nil {
				t.Fatal(err)
			}
			code, reason := readClose(t, ws)
			if code != tc.code || !strings.HasPrefix(reason, tc.reason) {
				t.Errorf("close: got %d %q, want %d %q...", code, reason, tc.code, tc.reason)
			}
			// For an oversized frame the WebSocket library sends 1009 itself
			// before the relay sees the error and counts it: wait for it.
			got := e.metric("ephemera_relay_rejected_frames_total", "reason", tc.metric)
			for deadline := time.Now().Add(5 * time.Second); got != before+1 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
				got = e.metric("ephemera_relay_rejected_frames_total", "reason", tc.metric)
			}
			if got != before+1 {
				t.Errorf("rejected_frames_total{reason=%q}: got %v, want %v", tc.metric, got, before+1)
			}
			// The other client carries on.
			seq := good.send(o.id, wire.Key32{}, tc.name)
			if d := good.deliver(); d.Seq != seq || string(d.Envelope) != tc.name {
				t.Errorf("good client got seq %d %q, want %d %q", d.Seq, d.Envelope, seq, tc.name)
			}
			seqs = append(seqs, seq)
		})
	}
	mustType[*wire.OK](good, &wire.Ack{Mailbox: o.id, Seqs: seqs})
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	hs := e.httpServer()
	get := func() (int, string) {
		resp, err := http.Get(hs.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || body != "ok" {
		t.Errorf("healthy: got %d %q, want 200 \"ok\"", code, body)
	}
	e.store.Close()
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Errorf("store closed: got %d, want 503", code)
	}
}

func TestMetricsEndpoint(t *testing.T) {
	ms := newEnv(t).store // only for a store; this relay has its own registry
	srv, err := New(Config{Store: ms})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	e := &env{t: t, srv: srv, store: ms, reg: srv.reg}
	hs := e.httpServer()
	o := newOwner(t)
	c := e.ws(hs)
	o.register(c, wire.Key32{})
	c.send(o.id, wire.Key32{}, "hello")
	c.deliver()
	mustType[*wire.OK](c, &wire.Ack{Mailbox: o.id, Seqs: []uint64{1}})
	// The pump counts a Deliver once its write has returned, which may be
	// after the client has read it, acknowledged it and got the answer.
	eventually(t, "the Deliver to be counted", func() bool { return e.metric("ephemera_relay_messages_delivered_total") == 1 })

	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		"ephemera_relay_connections 1",
		"ephemera_relay_connections_total 1",
		"ephemera_relay_messages_stored_total 1",
		"ephemera_relay_messages_delivered_total 1",
		"ephemera_relay_messages_acknowledged_total 1",
		"ephemera_relay_messages_expired_total 0",
		"ephemera_relay_bytes_stored_total 5",
		"ephemera_relay_bytes_delivered_total 5",
		`ephemera_relay_rejected_frames_total{reason="malformed"} 0`,
		`ephemera_relay_store_latency_seconds_count{op="append"} 1`,
		"ephemera_relay_blob_bytes_total 0",
		"ephemera_relay_prekey_claims_total 0",
		"process_resident_memory_bytes",
		"go_goroutines",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestConnectionLimits(t *testing.T) {
	dialStatus := func(t *testing.T, url string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, resp, err := websocket.Dial(ctx, url, nil)
		if err == nil {
			t.Cleanup(func() { ws.CloseNow() })
			return 101
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		return resp.StatusCode
	}
	t.Run("per address", func(t *testing.T) {
		e := newEnv(t, withLimits(func(l *Limits) { l.IPMaxConns = 2; l.LimitLoopback = true }))
		hs := e.httpServer()
		for i, want := range []int{101, 101, http.StatusTooManyRequests} {
			if got := dialStatus(t, wsURL(hs)); got != want {
				t.Errorf("dial %d: got %d, want %d", i, got, want)
			}
		}
	})
	t.Run("loopback exempt", func(t *testing.T) {
		e := newEnv(t, withLimits(func(l *Limits) { l.IPMaxConns = 2; l.IPConnBurst = 1 }))
		hs := e.httpServer()
		for i := range 4 {
			if got := dialStatus(t, wsURL(hs)); got != 101 {
				t.Errorf("dial %d: got %d, want 101", i, got)
			}
		}
	})
	t.Run("address rate", func(t *testing.T) {
		e := newEnv(t, withLimits(func(l *Limits) { l.IPConnRate = 1; l.IPConnBurst = 2; l.LimitLoopback = true }))
		hs := e.httpServer()
		for i, want := range []int{101, 101, http.StatusTooManyRequests} {
			if got := dialStatus(t, wsURL(hs)); got != want {
				t.Errorf("dial %d: got %d, want %d", i, got, want)
			}
		}
		e.clock.Advance(time.Second)
		if got := dialStatus(t, wsURL(hs)); got != 101 {
			t.Errorf("dial after a second: got %d, want 101", got)
		}
	})
	t.Run("global", func(t *testing.T) {
		e := newEnv(t, withLimits(func(l *Limits) { l.MaxConns = 2 }))
		hs := e.httpServer()
		for i, want := range []int{101, 101, http.StatusServiceUnavailable} {
			if got := dialStatus(t, wsURL(hs)); got != want {
				t.Errorf("dial %d: got %d, want %d", i, got, want)
			}
		}
		// A pipe is refused too, with 1013.
		a, b := wire.Pipe()
		e.srv.ServeConn(context.Background(), b, netip.Addr{})
		_, err := a.ReadFrame(context.Background())
		var ce *wire.CloseError
		if !errors.As(err, &ce) || ce.Reason != "1013 relay overloaded: max_conns" {
			t.Errorf("pipe beyond MaxConns: got %v", err)
		}
		if got := e.metric("ephemera_relay_rejected_connections_total", "reason", reasonMaxConns); got != 2 {
			t.Errorf("rejected_connections_total{max_conns}: got %v, want 2", got)
		}
	})
}

// gateStore holds Append until released, to catch a Send in flight.
type gateStore struct {
	store.Store
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gateStore) Append(ctx context.Context, id wire.MailboxID, env store.Envelope, q store.Quota) (uint64, error) {
	g.once.Do(func() { close(g.started) })
	<-g.release
	return g.Store.Append(ctx, id, env, q)
}

func TestShutdown(t *testing.T) {
	e := newEnv(t)
	gate := &gateStore{Store: e.store, started: make(chan struct{}), release: make(chan struct{})}
	e.srv.store.s = gate
	hs := e.httpServer()
	o := newOwner(t)
	idle := e.ws(hs)
	o.register(idle, wire.Key32{})
	busy := e.ws(hs)
	if err := busy.conn.WriteFrame(context.Background(), wire.Encode(7, &wire.Send{Mailbox: o.id, Envelope: []byte("in flight")})); err != nil {
		t.Fatal(err)
	}
	<-gate.started

	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(context.Background()) }()
	if got := idle.closed(); got != "1001 relay shutting down" {
		t.Errorf("idle connection: got close %q, want 1001", got)
	}
	// New connections are refused before the upgrade.
	eventually(t, "refusal", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ws, resp, err := websocket.Dial(ctx, wsURL(hs), nil)
		if err == nil {
			ws.CloseNow()
			return false
		}
		return resp != nil && resp.StatusCode == http.StatusServiceUnavailable
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a Send in flight", err)
	case <-time.After(50 * time.Millisecond):
	}

	close(gate.release)
	select {
	case f := <-busy.resps:
		if sent, ok := f.m.(*wire.Sent); !ok || f.id != 7 || sent.Seq != 1 {
			t.Errorf("in-flight Send: got %v id %d, want Sent seq 1 id 7", describe(f.m), f.id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight Send not answered")
	}
	if got := busy.closed(); got != "1001 relay shutting down" {
		t.Errorf("busy connection: got close %q, want 1001", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if envs, _ := e.store.Fetch(context.Background(), o.id, 0, 0); len(envs) != 1 {
		t.Errorf("stored after shutdown: %d envelopes, want 1", len(envs))
	}
}

func TestShutdownDeadline(t *testing.T) {
	e := newEnv(t)
	gate := &gateStore{Store: e.store, started: make(chan struct{}), release: make(chan struct{})}
	e.srv.store.s = gate
	defer close(gate.release)
	o := newOwner(t)
	c := e.pipe()
	o.register(c, wire.Key32{})
	c.conn.WriteFrame(context.Background(), wire.Encode(1, &wire.Send{Mailbox: o.id}))
	<-gate.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown past its deadline: got %v", err)
	}
}
