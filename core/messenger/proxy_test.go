package messenger

import (
	"encoding/binary"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// socks5 is a minimal SOCKS5 proxy (CONNECT only) that counts the
// connections it carries, like Tor's SOCKS port would see. It takes
// username and password authentication when offered (RFC 1929), as Tor
// does to isolate streams, and with obs set records each connection's
// credentials and relay frames.
type socks5 struct {
	ln      net.Listener
	connect atomic.Int64
	wg      sync.WaitGroup
	obs     *wireObserver
}

func startSOCKS5(t *testing.T) *socks5 { t.Helper(); return startObservedSOCKS5(t, nil) }

func startObservedSOCKS5(t *testing.T, obs *wireObserver) *socks5 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &socks5{ln: ln, obs: obs}
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
	methods := buf[:buf[1]]
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	var creds string
	if slices.Contains(methods, 2) {
		c.Write([]byte{5, 2})
		// Version 1, username, password.
		if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 1 {
			return
		}
		user := make([]byte, buf[1])
		if _, err := io.ReadFull(c, user); err != nil {
			return
		}
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			return
		}
		pass := make([]byte, buf[0])
		if _, err := io.ReadFull(c, pass); err != nil {
			return
		}
		creds = string(user) + ":" + string(pass)
		c.Write([]byte{1, 0})
	} else {
		c.Write([]byte{5, 0})
	}
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
	if p.obs != nil {
		p.obs.tap(c, up, p.obs.newConn(creds))
		return
	}
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
		if !keys[alice.readKey(relay, c.ID)] {
			t.Errorf("no connection of its own for contact %s: %v", c.Name, keys)
		}
	}
	if n := proxy.connect.Load(); n < 4 || int(n) < len(keys) {
		t.Errorf("the proxy carried %d connections for %d isolated ones", n, len(keys))
	}
	// Without isolation, one connection per relay that reads and one
	// that sends.
	bob.relayMu.Lock()
	n := len(bob.relays)
	bob.relayMu.Unlock()
	if n != 2 {
		t.Errorf("Bob without isolation has %d relay connections, want 2", n)
	}
}
