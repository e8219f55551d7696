package messenger

import (
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// socks5 is a minimal SOCKS5 proxy (no authentication, CONNECT only) that
// counts the connections it carries, like Tor's SOCKS port would see.
type socks5 struct {
	ln      net.Listener
	connect atomic.Int64
	wg      sync.WaitGroup
}

func startSOCKS5(t *testing.T) *socks5 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &socks5{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *socks5) serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 262)
	// Greeting: version, methods.
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
		return
	}
	c.Write([]byte{5, 0})
	// Request: version, CONNECT, reserved, address type.
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[1] != 1 {
		return
	}
	var host string
	switch buf[3] {
	case 1:
		io.ReadFull(c, buf[:4])
		host = net.IP(buf[:4]).String()
	case 3:
		io.ReadFull(c, buf[:1])
		n := int(buf[0])
		io.ReadFull(c, buf[:n])
		host = string(buf[:n])
	default:
		return
	}
	io.ReadFull(c, buf[:2])
	port := binary.BigEndian.Uint16(buf[:2])
	up, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	p.connect.Add(1)
	c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	go io.Copy(up, c)
	io.Copy(c, up)
}

func TestSOCKS5AndMailboxIsolation(t *testing.T) {
	relay := startRelay(t)
	proxy := startSOCKS5(t)
	cfg := testConfig(t.TempDir(), "Alice", relay)
	cfg.SOCKS5 = proxy.ln.Addr().String()
	cfg.IsolateMailboxes = true
	alice, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	bob, _ := create(t, "Bob", relay)
	carol, _ := create(t, "Carol", relay)
	ab, _ := meet(t, alice, bob)
	ac, _ := meet(t, alice, carol)
	if _, err := bob.SendText(t.Context(), "Alice", "via Tor", SendOptions{}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, alice)
	if got := lastText(t, alice, "Bob"); got.Text != "via Tor" {
		t.Fatalf("Alice got %q through the proxy", got.Text)
	}
	// Every connection of Alice's went through the proxy, one per mailbox
	// owner: two invites, two contacts.
	alice.relayMu.Lock()
	keys := map[string]bool{}
	for k := range alice.relays {
		keys[k] = true
	}
	alice.relayMu.Unlock()
	for _, c := range []Contact{ab, ac} {
		if !keys[relay+"#"+c.ID] {
			t.Errorf("no connection of its own for contact %s: %v", c.Name, keys)
		}
	}
	if n := proxy.connect.Load(); n < 4 || int(n) < len(keys) {
		t.Errorf("the proxy carried %d connections for %d isolated ones", n, len(keys))
	}
	// Without isolation, one connection per relay.
	bob.relayMu.Lock()
	n := len(bob.relays)
	bob.relayMu.Unlock()
	if n != 1 {
		t.Errorf("Bob without isolation has %d relay connections, want 1", n)
	}
}
