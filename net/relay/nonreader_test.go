//go:build linux

package relay

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// nonReader connects over a real socket with a 4 KiB receive buffer,
// authenticates for o and then reads nothing more, so the relay's writes
// to it block after a few KiB.
func nonReader(t *testing.T, hs *httptest.Server, o owner) *wsconn.Conn {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, wsURL(hs), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := wsconn.New(ws, wire.MaxFrameSize)
	read := func() wire.Message {
		b, err := c.ReadFrame(ctx)
		if err != nil {
			t.Fatalf("non-reader: %v", err)
		}
		_, m, err := wire.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	hello := read().(*wire.ServerHello)
	if err := c.WriteFrame(ctx, wire.Encode(1, o.authMsg(&client{hello: hello}))); err != nil {
		t.Fatal(err)
	}
	if m := read(); m.Type() != wire.TypeOK {
		t.Fatalf("non-reader's Auth: got %v, want OK", describe(m))
	}
	return c
}

// smallSendBufferServer serves the relay on a loopback socket whose
// accepted connections have a 16 KiB send buffer, so that a write to a
// client that does not read blocks in the relay instead of filling the
// kernel's buffer (which grows to megabytes on its own).
func smallSendBufferServer(t *testing.T, e *env) *httptest.Server {
	hs := httptest.NewUnstartedServer(e.srv.Handler())
	hs.Listener = smallSendBufferListener{hs.Listener}
	hs.Start()
	t.Cleanup(hs.Close)
	return hs
}

type smallSendBufferListener struct{ net.Listener }

func (l smallSendBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// heapInUse is the Go heap in use after a collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// TestDeliveryMemoryBounded: connections that never read hold at most
// the delivery budgets — one frame each here, three per mailbox, four in
// all — however many there are and however much their mailboxes hold
// (before the budgets each held a batch of up to 64 envelopes). Measured
// in this process's Go heap; the relay binary's resident memory under the
// same attack is TestNonReadersBounded in cmd/ephemera-relay.
func TestDeliveryMemoryBounded(t *testing.T) {
	const (
		envSize   = 64 << 10
		mailboxes = 2
		perBox    = 30
		stored    = 8
	)
	e := newEnv(t, withLimits(func(l *Limits) {
		l.MaxEnvelope = envSize
		l.MaxConnsPerMailbox = 100
		frame := l.maxDeliverFrame()
		l.DeliverConnBytes, l.DeliverMailboxBytes, l.DeliverTotalBytes = frame, 3*frame, 4*frame
		l.WriteTimeout = time.Hour // nobody is cut off during the test
	}))
	frame := e.srv.limits.maxDeliverFrame()
	hs := smallSendBufferServer(t, e)
	filler := e.ws(hs)
	payload := make([]byte, envSize)
	rand.Read(payload)
	var owners []owner
	for range mailboxes {
		o := newOwner(t)
		o.register(filler, tokenHash(wire.Key32{2}))
		filler.send(o.id, wire.Key32{2}, "first, small")
		owners = append(owners, o)
	}
	filler.conn.Close("filled")
	// The filler drained its deliveries; wait until it has let go.
	eventually(t, "the filler to leave", func() bool { return e.metric("ephemera_relay_connections") == 0 })

	delivered := e.metric("ephemera_relay_messages_delivered_total")
	before := heapInUse()
	var hoarders []*wsconn.Conn
	for _, o := range owners {
		for range perBox {
			hoarders = append(hoarders, nonReader(t, hs, o))
		}
	}
	// Each takes the small first envelope (the socket has room for it)
	// and leaves it unacknowledged, like an attacker who stopped reading.
	eventually(t, "the first envelope to reach every non-reader", func() bool {
		return e.metric("ephemera_relay_messages_delivered_total")-delivered == mailboxes*perBox
	})
	sender := e.ws(hs)
	for _, o := range owners {
		for range stored {
			mustType[*wire.Sent](sender, &wire.Send{Mailbox: o.id, SendToken: wire.Key32{2}, Envelope: payload})
		}
	}
	// Sixty connections want 8 frames each; the relay's budget is four.
	deadline := time.Now().Add(60 * time.Second)
	for e.srv.deliverBudget.held() < 4*frame || e.srv.deliverBudget.waiting()[1] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("delivery budget never filled: %d of %d bytes held; %v delivered, %v waits", e.srv.deliverBudget.held(), 4*frame, e.metric("ephemera_relay_messages_delivered_total"), e.metric("ephemera_relay_delivery_budget_waits_total"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	grown := heapInUse() - before
	t.Logf("%d non-reading connections on %d mailboxes of %d x %d KiB: heap grew %d KiB; budget held %d KiB",
		mailboxes*perBox, mailboxes, stored, envSize>>10, grown>>10, e.srv.deliverBudget.held()>>10)
	if got := e.metric("ephemera_relay_delivery_buffered_bytes"); got != float64(4*frame) {
		t.Errorf("delivery_buffered_bytes: got %v, want %d", got, 4*frame)
	}
	e.srv.hub.mu.Lock()
	for i, o := range owners {
		if held := e.srv.hub.boxes[o.id].budget.held(); held > 3*frame {
			t.Errorf("mailbox %d holds %d bytes, above its budget of %d", i, held, 3*frame)
		}
	}
	e.srv.hub.mu.Unlock()
	// Unbounded, each connection held its mailbox's 8 envelopes (30 MiB in
	// all); bounded, four frames and the sockets' buffers.
	if bound := int64(12 << 20); grown > bound {
		t.Errorf("heap grew %d MiB with %d non-reading connections, want under %d MiB", grown>>20, mailboxes*perBox, bound>>20)
	}

	// A reading client of another mailbox asks for delivery memory before
	// the non-readers, which hold unacknowledged frames: when one of them
	// is cut off (here by hand: a cancelled write, as when WriteTimeout
	// passes), its frame goes to
	// the canary, not to the non-readers queued before it.
	canary := e.ws(hs)
	co := newOwner(t)
	co.register(canary, tokenHash(wire.Key32{3}))
	seq := canary.send(co.id, wire.Key32{3}, "canary")
	eventually(t, "the canary to wait for the relay's budget", func() bool { return e.srv.deliverBudget.waiting()[0] == 1 })
	if e.srv.deliverBudget.waiting()[1] == 0 {
		t.Fatal("no non-reader waits for the relay's budget: the test shows nothing")
	}
	// A non-reader blocked writing a large frame has it in flight after
	// the small one; it holds one frame of the relay's budget.
	writing := func(c *conn) bool {
		for _, o := range owners {
			if sb := c.sub(o.id); sb != nil {
				sb.mu.Lock()
				defer sb.mu.Unlock()
				return len(sb.inflight) == 2
			}
		}
		return false
	}
	e.srv.mu.Lock()
	cut := 0
	for c := range e.srv.conns {
		if writing(c) {
			c.cancel()
			cut++
			break
		}
	}
	e.srv.mu.Unlock()
	if cut != 1 {
		t.Fatal("found no non-reader blocked in a write")
	}
	if d := canary.deliver(); d.Seq != seq {
		t.Errorf("canary: got seq %d, want %d", d.Seq, seq)
	}
	if n := e.srv.deliverBudget.waiting()[1]; n == 0 {
		t.Error("the non-readers' queue emptied before the canary was served")
	}

	// When the non-readers go, every byte comes back, and nothing was
	// lost: a reader gets each mailbox's envelopes.
	for _, h := range hoarders {
		h.CloseWith(websocket.StatusNormalClosure, "")
	}
	eventually(t, "the delivery budget to empty", func() bool { return e.srv.deliverBudget.held() == 0 })
	for i, o := range owners {
		c := e.ws(hs)
		o.auth(c)
		if d := c.deliver(); string(d.Envelope) != "first, small" {
			t.Fatalf("mailbox %d: first delivered %q, want the small envelope", i, d.Envelope)
		}
		for range stored {
			if d := c.deliver(); len(d.Envelope) != envSize {
				t.Fatalf("mailbox %d: delivered %d bytes, want %d", i, len(d.Envelope), envSize)
			}
		}
	}
}

// TestSlowReaderCutOff: a connection that does not take a frame within
// WriteTimeout is closed rather than left holding memory, its budget
// bytes come back, and its envelopes go to the next reader.
func TestSlowReaderCutOff(t *testing.T) {
	const envSize, stored = 64 << 10, 8
	e := newEnv(t, withLimits(func(l *Limits) {
		l.MaxEnvelope = envSize
		l.WriteTimeout = 500 * time.Millisecond
	}))
	hs := smallSendBufferServer(t, e)
	o := newOwner(t)
	filler := e.ws(hs)
	o.register(filler, tokenHash(wire.Key32{4}))
	payload := make([]byte, envSize)
	for range stored {
		mustType[*wire.Sent](filler, &wire.Send{Mailbox: o.id, SendToken: wire.Key32{4}, Envelope: payload})
	}
	filler.conn.Close("filled")
	eventually(t, "the filler to leave", func() bool { return e.metric("ephemera_relay_connections") == 0 })

	nonReader(t, hs, o)
	deadline := time.Now().Add(60 * time.Second)
	for e.metric("ephemera_relay_connections") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the non-reading connection was not cut off")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.metric("ephemera_relay_slow_readers_closed_total"); got != 1 {
		t.Errorf("slow_readers_closed_total: got %v, want 1", got)
	}
	eventually(t, "the delivery budget to empty", func() bool { return e.srv.deliverBudget.held() == 0 })
	c := e.ws(hs)
	o.auth(c)
	for range stored {
		c.deliver()
	}
}
