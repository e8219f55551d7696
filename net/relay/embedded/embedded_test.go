package embedded

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

type conn struct {
	t     *testing.T
	c     *wsconn.Conn
	hello *wire.ServerHello
	id    uint32
}

func dial(t *testing.T, url string) *conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &conn{t: t, c: wsconn.New(ws, wire.MaxFrameSize)}
	_, m := c.read()
	c.hello = m.(*wire.ServerHello)
	return c
}

func (c *conn) read() (uint32, wire.Message) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := c.c.ReadFrame(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	id, m, err := wire.Decode(b)
	if err != nil {
		c.t.Fatal(err)
	}
	return id, m
}

func (c *conn) call(m wire.Message) wire.Message {
	c.t.Helper()
	c.id++
	if err := c.c.WriteFrame(context.Background(), wire.Encode(c.id, m)); err != nil {
		c.t.Fatal(err)
	}
	for {
		id, resp := c.read()
		if id == c.id {
			return resp
		}
	}
}

func TestStartSendRestart(t *testing.T) {
	dir := t.TempDir()
	r, err := Start(context.Background(), Options{DataDir: dir, Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.URL(), "ws://127.0.0.1:") || !strings.HasSuffix(r.URL(), "/v1/ws") {
		t.Errorf("URL: got %q", r.URL())
	}
	if _, err := wsconn.NormalizeURL(r.URL()); err != nil {
		t.Errorf("URL %q is not one the client accepts: %v", r.URL(), err)
	}
	c := dial(t, r.URL())
	relayID := c.hello.Relay
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	reg := &wire.Register{}
	rand.Read(reg.Mailbox[:])
	copy(reg.OwnerKey[:], pub)
	copy(reg.Signature[:], ed25519.Sign(priv, wire.AuthMessage(wire.OpRegister, relayID, c.hello.Challenge, reg.Mailbox, reg.OwnerKey, wire.Key32{})))
	if m := c.call(reg); m.Type() != wire.TypeOK {
		t.Fatalf("register: got %v", m)
	}
	if m := c.call(&wire.Send{Mailbox: reg.Mailbox, Envelope: []byte("kept")}); m.Type() != wire.TypeSent {
		t.Fatalf("send: got %v", m)
	}
	c.c.Close("restarting")
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// Same directory: same identity, the envelope still queued.
	r2, err := Start(context.Background(), Options{DataDir: dir, Addr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	c2 := dial(t, r2.URL())
	if c2.hello.Relay != relayID {
		t.Errorf("relay id changed across restarts")
	}
	auth := &wire.Auth{Mailbox: reg.Mailbox}
	copy(auth.Signature[:], ed25519.Sign(priv, wire.AuthMessage(wire.OpAuth, relayID, c2.hello.Challenge, reg.Mailbox, reg.OwnerKey, wire.Key32{})))
	if m := c2.call(auth); m.Type() != wire.TypeOK {
		t.Fatalf("auth: got %v", m)
	}
	_, m := c2.read()
	if d, ok := m.(*wire.Deliver); !ok || string(d.Envelope) != "kept" {
		t.Errorf("after restart: got %v, want the stored envelope", m)
	}
	c2.c.Close("done")
}

func TestBusyPortFallsBack(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r, err := Start(context.Background(), Options{DataDir: t.TempDir(), Addr: busy.Addr().String(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if strings.Contains(r.URL(), busy.Addr().String()) {
		t.Errorf("URL %q uses the busy port", r.URL())
	}
	dial(t, r.URL()).c.Close("done")
}

func TestRefusals(t *testing.T) {
	if _, err := Start(context.Background(), Options{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("no DataDir: no error")
	}
	if _, err := Start(context.Background(), Options{DataDir: t.TempDir(), Addr: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "not loopback") {
		t.Errorf("wildcard address: got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Options{DataDir: t.TempDir(), Addr: "127.0.0.1:0"}); err == nil {
		t.Error("cancelled context: no error")
	}
}
