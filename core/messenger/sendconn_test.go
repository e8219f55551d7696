package messenger

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// wireLog is what a relay learns from one TCP connection: the mailboxes it
// authenticates for, and the mailboxes and blobs it reaches that belong to
// someone else (Send, ClaimPrekey, BlobGet). creds are the SOCKS5
// username and password the connection came through, if any.
type wireLog struct {
	creds   string
	auth    map[wire.MailboxID]bool
	targets map[string]bool // "send:<hex>", "claim:<hex>", "blob:<hex>"
}

// wireObserver records a wireLog per connection by reading the client's
// side of the WebSocket stream (plain ws:// in tests, no compression), as
// the relay itself would.
type wireObserver struct {
	mu    sync.Mutex
	conns []*wireLog
}

func (o *wireObserver) newConn(creds string) *wireLog {
	l := &wireLog{creds: creds, auth: map[wire.MailboxID]bool{}, targets: map[string]bool{}}
	o.mu.Lock()
	o.conns = append(o.conns, l)
	o.mu.Unlock()
	return l
}

// snapshot returns copies of the logs so far.
func (o *wireObserver) snapshot() []wireLog {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]wireLog, 0, len(o.conns))
	for _, l := range o.conns {
		c := wireLog{creds: l.creds, auth: map[wire.MailboxID]bool{}, targets: map[string]bool{}}
		for k := range l.auth {
			c.auth[k] = true
		}
		for k := range l.targets {
			c.targets[k] = true
		}
		out = append(out, c)
	}
	return out
}

// parse reads an HTTP upgrade request and then client WebSocket frames
// from r, recording each relay frame in l. It always drains r, so the
// connection it taps never stalls.
func (o *wireObserver) parse(r io.Reader, l *wireLog) {
	defer io.Copy(io.Discard, r)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if line == "\r\n" {
			break
		}
	}
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		var mask [4]byte
		if h[1]&0x80 != 0 {
			if _, err := io.ReadFull(br, mask[:]); err != nil {
				return
			}
		}
		if n > 64<<20 {
			return
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		for i := range p {
			p[i] ^= mask[i%4]
		}
		if op >= 8 { // control frames: ping, pong, close
			continue
		}
		msg = append(msg, p...)
		if !fin {
			continue
		}
		_, m, err := wire.Decode(msg)
		msg = nil
		if err != nil {
			continue
		}
		o.mu.Lock()
		switch m := m.(type) {
		case *wire.Register:
			l.auth[m.Mailbox] = true
		case *wire.Auth:
			l.auth[m.Mailbox] = true
		case *wire.Send:
			l.targets["send:"+m.Mailbox.String()] = true
		case *wire.ClaimPrekey:
			l.targets["claim:"+m.Mailbox.String()] = true
		case *wire.BlobGet:
			l.targets["blob:"+hex.EncodeToString(m.Blob[:])] = true
		}
		o.mu.Unlock()
	}
}

// tap copies client to upstream and upstream to client, feeding the
// client's bytes to the observer.
func (o *wireObserver) tap(client, upstream net.Conn, l *wireLog) {
	pr, pw := io.Pipe()
	go o.parse(pr, l)
	go func() {
		io.Copy(upstream, io.TeeReader(client, pw))
		pw.Close()
		upstream.Close()
	}()
	io.Copy(client, upstream)
	client.Close()
}

// startObservedRelay runs a real relay behind a TCP forwarder that
// records what each connection does, and returns the URL to reach it.
func startObservedRelay(t *testing.T) (string, *wireObserver) {
	t.Helper()
	target := strings.TrimSuffix(strings.TrimPrefix(startRelay(t), "ws://"), wsconn.Path)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	o := &wireObserver{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				up, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				o.tap(c, up, o.newConn(""))
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + wsconn.Path, o
}

// ownMailboxes returns the mailboxes m reads, and the contacts' mailboxes
// it sends to.
func ownMailboxes(t *testing.T, m *Messenger) (own, theirs map[wire.MailboxID]bool) {
	t.Helper()
	own, theirs = map[wire.MailboxID]bool{}, map[wire.MailboxID]bool{}
	m.mu.Lock()
	for id := range m.owners {
		own[id] = true
	}
	m.mu.Unlock()
	cs, err := m.Contacts()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		rec, err := m.findContact(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		theirs[rec.Theirs.ID] = true
	}
	return own, theirs
}

// converse makes alice meet bob and carol, exchanges texts both ways and
// has bob send alice a file, which alice downloads.
func converse(t *testing.T, alice, bob, carol *Messenger) {
	t.Helper()
	ab, ba := meet(t, alice, bob)
	ac, ca := meet(t, alice, carol)
	for _, s := range []struct {
		from *Messenger
		to   string
	}{{alice, ab.ID}, {alice, ac.ID}, {bob, ba.ID}, {carol, ca.ID}} {
		if _, err := s.from.SendText(t.Context(), s.to, "hello from "+s.from.Pseudonym(), SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(src, []byte("minutes of the meeting"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.SendFile(t.Context(), ba.ID, src, FileOptions{AsIs: true}); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice, bob, carol)
	waitText(t, alice, ab.ID, "hello from Bob")
	waitText(t, alice, ac.ID, "hello from Carol")
	waitText(t, bob, ba.ID, "hello from Alice")
	waitText(t, carol, ca.ID, "hello from Alice")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		h, err := alice.History(ab.ID, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 1 && h[0].File != nil && h[0].File.Have {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alice never downloaded Bob's file: %+v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoLinkingConn fails when a connection both authenticates for a
// mailbox and sends, claims or downloads: that would link the sender's
// mailbox to the recipient's.
func checkNoLinkingConn(t *testing.T, logs []wireLog) {
	t.Helper()
	var auths, sends int
	for i, l := range logs {
		if len(l.auth) > 0 && len(l.targets) > 0 {
			t.Errorf("connection %d authenticates %d mailboxes and also reaches %v", i, len(l.auth), keys(l.targets))
		}
		auths += len(l.auth)
		for k := range l.targets {
			if strings.HasPrefix(k, "send:") {
				sends++
			}
		}
	}
	// The observer must have seen the traffic it judges.
	if auths == 0 || sends == 0 {
		t.Fatalf("the observer saw %d authentications and %d sends over %d connections", auths, sends, len(logs))
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSendsNeverGoOnAnAuthenticatedConnection(t *testing.T) {
	relay, obs := startObservedRelay(t)
	alice, _ := create(t, "Alice", relay)
	bob, _ := create(t, "Bob", relay)
	carol, _ := create(t, "Carol", relay)
	converse(t, alice, bob, carol)
	logs := obs.snapshot()
	checkNoLinkingConn(t, logs)
	if t.Failed() {
		return
	}
	// Without isolation one connection reads all of Alice's mailboxes:
	// the observer does see per connection.
	own, _ := ownMailboxes(t, alice)
	shared := false
	for _, l := range logs {
		n := 0
		for id := range l.auth {
			if own[id] {
				n++
			}
		}
		shared = shared || n >= 2
	}
	if !shared {
		t.Errorf("without isolation no connection reads two of Alice's %d mailboxes", len(own))
	}
}

func TestIsolatedMailboxesShareNoConnection(t *testing.T) {
	relay, obs := startObservedRelay(t)
	cfg := testConfig(filepath.Join(t.TempDir(), "Alice"), "Alice", relay)
	cfg.IsolateMailboxes = true
	alice, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	bob, _ := create(t, "Bob", relay)
	carol, _ := create(t, "Carol", relay)
	converse(t, alice, bob, carol)
	logs := obs.snapshot()
	checkNoLinkingConn(t, logs)
	own, theirs := ownMailboxes(t, alice)
	if len(own) < 2 || len(theirs) != 2 {
		t.Fatalf("Alice reads %d mailboxes and sends to %d; want at least 2 and 2", len(own), len(theirs))
	}
	seen := map[wire.MailboxID]bool{}
	for i, l := range logs {
		var mine []string
		for id := range l.auth {
			if own[id] {
				mine = append(mine, id.String()[:8])
				seen[id] = true
			}
		}
		if len(mine) > 1 {
			t.Errorf("connection %d reads %d of Alice's mailboxes: %v", i, len(mine), mine)
		}
		// Only Alice sends to her contacts' mailboxes: one connection
		// that reaches two of them links her contacts together.
		var dests []string
		for id := range theirs {
			if l.targets["send:"+id.String()] || l.targets["claim:"+id.String()] {
				dests = append(dests, id.String()[:8])
			}
		}
		if len(dests) > 1 {
			t.Errorf("connection %d sends to %d of Alice's contacts: %v", i, len(dests), dests)
		}
	}
	for id := range own {
		if !seen[id] {
			t.Errorf("the observer never saw Alice read mailbox %s", id.String()[:8])
		}
	}
}

func TestSOCKS5IsolatesEveryMailboxAndTheSendPath(t *testing.T) {
	relay := startRelay(t)
	proxy := startObservedSOCKS5(t, &wireObserver{})
	cfg := testConfig(filepath.Join(t.TempDir(), "Alice"), "Alice", relay)
	cfg.SOCKS5 = proxy.ln.Addr().String() // and no IsolateMailboxes: a proxy isolates by default
	alice, err := Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alice.Close() })
	bob, _ := create(t, "Bob", relay)
	carol, _ := create(t, "Carol", relay)
	converse(t, alice, bob, carol)
	logs := proxy.obs.snapshot()
	checkNoLinkingConn(t, logs)
	own, theirs := ownMailboxes(t, alice)
	// Each connection has one role, a mailbox it reads or a destination
	// it reaches; a role may reconnect with the same credentials, but no
	// credentials may serve two roles: Tor would put them on one circuit.
	roles := map[string]map[string]bool{} // creds -> roles
	for i, l := range logs {
		if l.creds == "" {
			t.Errorf("connection %d went through the proxy without credentials", i)
			continue
		}
		if roles[l.creds] == nil {
			roles[l.creds] = map[string]bool{}
		}
		for id := range l.auth {
			roles[l.creds]["read "+id.String()[:8]] = true
		}
		for id := range theirs {
			if l.targets["send:"+id.String()] || l.targets["claim:"+id.String()] {
				roles[l.creds]["send "+id.String()[:8]] = true
			}
		}
		if len(l.auth) == 0 && len(l.targets) > 0 && len(roles[l.creds]) == 0 {
			// A send path to a mailbox that is not a contact's (an
			// invite's) or a download: a role of its own.
			roles[l.creds][fmt.Sprint("other ", keys(l.targets))] = true
		}
	}
	all := map[string]bool{}
	for c, rs := range roles {
		if len(rs) > 1 {
			t.Errorf("credentials %q serve %d roles: %v", c, len(rs), keys(rs))
		}
		for r := range rs {
			if all[r] {
				t.Errorf("role %s uses two sets of credentials", r)
			}
			all[r] = true
		}
	}
	for id := range own {
		if !all["read "+id.String()[:8]] {
			t.Errorf("Alice's mailbox %s was never read through the proxy", id.String()[:8])
		}
	}
	for id := range theirs {
		if !all["send "+id.String()[:8]] {
			t.Errorf("Alice never sent to her contact's mailbox %s through the proxy", id.String()[:8])
		}
	}
}

func TestProxyFromSettingsAppliesAtNextOpen(t *testing.T) {
	relay := startRelay(t)
	proxy := startSOCKS5(t)
	dir := filepath.Join(t.TempDir(), "Alice")
	alice, err := Create(testConfig(dir, "Alice", relay))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateInvite(t.Context(), InviteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"127.0.0.1", "tor:port", ":9050", "127.0.0.1:0", "127.0.0.1:70000"} {
		s := alice.Settings()
		s.SOCKS5 = bad
		if err := alice.SetSettings(s); !errors.Is(err, ErrBadProxy) {
			t.Errorf("proxy %q: got %v, want ErrBadProxy", bad, err)
		}
	}
	s := alice.Settings()
	s.SOCKS5 = proxy.ln.Addr().String()
	if err := alice.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	if alice.SOCKS5() != "" || proxy.connect.Load() != 0 {
		t.Fatalf("the proxy setting applied before the next open: %q, %d connections", alice.SOCKS5(), proxy.connect.Load())
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}
	alice, err = Open(testConfig(dir, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if got := alice.SOCKS5(); got != s.SOCKS5 || !alice.isolated() {
		t.Fatalf("after reopening: proxy %q, isolated %v; want %q, true", got, alice.isolated(), s.SOCKS5)
	}
	// The invite's mailbox is read through the proxy.
	deadline := time.Now().Add(2 * time.Minute)
	for proxy.connect.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no relay connection went through the proxy after reopening")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
