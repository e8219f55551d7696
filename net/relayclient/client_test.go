package relayclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

func newMailbox(t testing.TB) Mailbox {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var id wire.MailboxID
	rand.Read(id[:])
	return Mailbox{ID: id, Key: priv}
}

func newTestClient(t testing.TB, r *fakeRelay, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		Dial:         r.Dial,
		MinBackoff:   time.Millisecond,
		MaxBackoff:   20 * time.Millisecond,
		PingInterval: time.Hour,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recv(t testing.TB, c *Client) Delivery {
	t.Helper()
	select {
	case d, ok := <-c.Deliveries():
		if !ok {
			t.Fatal("Deliveries closed")
		}
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery within 5s")
	}
	panic("unreachable")
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// stateLog records OnState calls.
type stateLog struct {
	mu     sync.Mutex
	states []State
	errs   []error
}

func (l *stateLog) on(s State, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states = append(l.states, s)
	l.errs = append(l.errs, err)
}

func (l *stateLog) get() ([]State, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]State(nil), l.states...), append([]error(nil), l.errs...)
}

func TestBackoffSchedule(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	// A failing source gives the ceiling: the exponential schedule.
	want := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, w := range want {
		n := i + 1
		if got := backoff(errReader{}, lo, hi, n); got != w*time.Millisecond {
			t.Errorf("ceiling after %d failures: got %v, want %v", n, got, w*time.Millisecond)
		}
	}
	if got := backoff(errReader{}, lo, hi, 1000); got != hi {
		t.Errorf("ceiling after 1000 failures: got %v, want %v", got, hi)
	}
	// Full jitter: anywhere in [0, ceiling], not clustered at the top.
	for n := 1; n <= 6; n++ {
		ceil := backoff(errReader{}, lo, hi, n)
		var low bool
		for range 200 {
			d := backoff(rand.Reader, lo, hi, n)
			if d < 0 || d > ceil {
				t.Fatalf("after %d failures: %v outside [0, %v]", n, d, ceil)
			}
			low = low || d < ceil/2
		}
		if !low {
			t.Errorf("after %d failures: 200 draws, none below %v", n, ceil/2)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no randomness") }

func TestTTLSeconds(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want uint32
	}{
		{0, 0}, {-time.Second, 0}, {time.Millisecond, 1}, {time.Second, 1},
		{1500 * time.Millisecond, 2}, {time.Hour, 3600}, {1 << 62, 1<<32 - 1},
	} {
		if got := ttlSeconds(tc.ttl); got != tc.want {
			t.Errorf("ttlSeconds(%v): got %d, want %d", tc.ttl, got, tc.want)
		}
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without URL or Dial: no error")
	}
	if _, err := New(Config{URL: "ws://relay.example.org"}); !errors.Is(err, wsconn.ErrInsecureURL) {
		t.Errorf("plain ws to a remote host: got %v, want ErrInsecureURL", err)
	}
	c, err := New(Config{URL: "https://relay.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.url != "wss://relay.example.org/v1/ws" {
		t.Errorf("normalised URL: got %q", c.url)
	}
	if c.State() != Disconnected {
		t.Errorf("state before Start: got %v, want %v", c.State(), Disconnected)
	}
	if _, ok := c.Hello(); ok {
		t.Error("Hello before Start: ok")
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Disconnected: "disconnected", Connecting: "connecting", Connected: "connected", Closed: "closed", 9: "State(9)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String(): got %q, want %q", int(s), got, want)
		}
	}
}

func TestSendReceiveAck(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	ctx := testContext(t)
	alice, bob := newTestClient(t, r, nil), newTestClient(t, r, nil)
	alice.Start()
	bob.Start()

	token := wire.Key32{1, 2, 3}
	mb := newMailbox(t)
	mb.SendTokenHash = sha256.Sum256(token[:])
	if err := bob.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	seq, err := alice.Send(ctx, mb.ID, token, time.Minute, []byte("hello bob"))
	if err != nil {
		t.Fatal(err)
	}
	if seq != 1 {
		t.Errorf("seq: got %d, want 1", seq)
	}
	d := recv(t, bob)
	if d.Mailbox != mb.ID || d.Seq != 1 || string(d.Envelope) != "hello bob" {
		t.Errorf("delivery: got %v/%d/%q, want %v/1/%q", d.Mailbox, d.Seq, d.Envelope, mb.ID, "hello bob")
	}
	if time.Since(d.Received) > time.Minute {
		t.Errorf("Received: got %v", d.Received)
	}
	if err := bob.Ack(ctx, mb.ID, d.Seq); err != nil {
		t.Fatal(err)
	}
	if got := r.stored(mb.ID); len(got) != 0 {
		t.Errorf("stored after ack: got %v, want none", got)
	}
	if err := bob.Ack(ctx, mb.ID); err != nil {
		t.Errorf("empty ack: %v", err)
	}

	_, err = alice.Send(ctx, mb.ID, wire.Key32{9}, 0, []byte("x"))
	if !errors.Is(err, &wire.Error{Code: wire.CodeUnauthorized}) {
		t.Errorf("wrong token: got %v, want unauthorized", err)
	}
	if errors.Is(err, ErrDisconnected) {
		t.Errorf("wrong token: %v wraps ErrDisconnected", err)
	}
	h, _ := alice.Hello()
	_, err = alice.Send(ctx, mb.ID, token, 0, make([]byte, h.MaxEnvelope+1))
	if !errors.Is(err, &wire.Error{Code: wire.CodeTooLarge}) {
		t.Errorf("envelope over the limit: got %v, want too-large", err)
	}
}

func TestRelayErrorCodes(t *testing.T) {
	r := newFakeRelay(t)
	r.quota = 1
	ctx := testContext(t)
	c := newTestClient(t, r, nil)
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("1")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("2"))
	if !errors.Is(err, &wire.Error{Code: wire.CodeQuota}) {
		t.Fatalf("full mailbox: got %v, want quota", err)
	}
	var werr *wire.Error
	if !errors.As(err, &werr) || werr.Message != "mailbox full" {
		t.Errorf("errors.As: got %+v", werr)
	}
	if !strings.Contains(err.Error(), "send") {
		t.Errorf("error %q does not name the operation", err)
	}
	_, err = c.Send(ctx, wire.MailboxID{7}, wire.Key32{}, 0, []byte("x"))
	if !errors.Is(err, &wire.Error{Code: wire.CodeNotFound}) {
		t.Errorf("unknown mailbox: got %v, want not-found", err)
	}
	if err := c.Register(ctx, Mailbox{ID: mb.ID, Key: []byte("short")}); err == nil {
		t.Error("Register with a bad key: no error")
	}
	other := newMailbox(t)
	other.ID = mb.ID
	if err := c.Register(ctx, other); !errors.Is(err, &wire.Error{Code: wire.CodeConflict}) {
		t.Errorf("register a mailbox owned by another key: got %v, want conflict", err)
	}
}

// Many requests in flight on one connection, answered out of order, each
// get their own answer.
func TestConcurrentRequests(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	r.concurrent = true
	ctx := testContext(t)
	c := newTestClient(t, r, nil)
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	const n = 200
	seqs := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, fmt.Appendf(nil, "msg %d", i))
			if err != nil {
				t.Error(err)
			}
			seqs[i] = seq
		}()
	}
	wg.Wait()
	bySeq := make(map[uint64]string)
	for i, s := range seqs {
		bySeq[s] = fmt.Sprintf("msg %d", i)
	}
	if len(bySeq) != n {
		t.Fatalf("%d distinct seqs, want %d", len(bySeq), n)
	}
	for i := range n {
		d := recv(t, c)
		if d.Seq != uint64(i+1) {
			t.Fatalf("delivery %d: seq %d, want %d", i, d.Seq, i+1)
		}
		if string(d.Envelope) != bySeq[d.Seq] {
			t.Errorf("seq %d: delivered %q, but Send of %q returned it", d.Seq, d.Envelope, bySeq[d.Seq])
		}
	}
}

func TestPendingRequestsFailOnDisconnect(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	ctx := testContext(t)
	c := newTestClient(t, r, nil)
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	var held atomic.Int32
	r.setHook(func(fc *fakeConn, id uint32, m wire.Message) bool {
		if _, ok := m.(*wire.Send); ok {
			held.Add(1)
			return false // never answered
		}
		return true
	})
	const n = 10
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("lost?"))
			errs <- err
		}()
	}
	waitFor(t, "sends to reach the relay", func() bool { return held.Load() == n })
	r.setHook(func(*fakeConn, uint32, wire.Message) bool { return true })
	r.dropAll()
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrDisconnected) {
				t.Errorf("pending send: got %v, want ErrDisconnected", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("pending send did not fail within 2s of the disconnect")
		}
	}
	// The outbox retries, and the client has reconnected.
	if _, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("retry")); err != nil {
		t.Fatalf("send after reconnect: %v", err)
	}
}

func TestReconnectBackoff(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	r.refuse = 5
	var seed [32]byte
	seed[0] = 42
	var log stateLog
	var mu sync.Mutex
	var waits []time.Duration
	c := newTestClient(t, r, func(cfg *Config) {
		cfg.MinBackoff = 10 * time.Millisecond
		cfg.MaxBackoff = 50 * time.Millisecond
		cfg.Rand = mathrand.NewChaCha8(seed)
		cfg.OnState = log.on
	})
	c.afterBackoff = func(d time.Duration) <-chan time.Time {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		ch := make(chan time.Time, 1)
		ch <- time.Time{}
		return ch
	}
	c.Start()
	waitFor(t, "Connected", func() bool { return c.State() == Connected })

	want := mathrand.NewChaCha8(seed)
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 5 {
		t.Fatalf("%d backoff waits, want 5: %v", len(waits), waits)
	}
	for i, got := range waits {
		if w := backoff(want, 10*time.Millisecond, 50*time.Millisecond, i+1); got != w {
			t.Errorf("wait %d: got %v, want %v", i+1, got, w)
		}
	}
	states, errs := log.get()
	var wantStates []State
	for range 5 {
		wantStates = append(wantStates, Connecting, Disconnected)
	}
	wantStates = append(wantStates, Connecting, Connected)
	if fmt.Sprint(states) != fmt.Sprint(wantStates) {
		t.Errorf("states: got %v, want %v", states, wantStates)
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "dial refused") {
		t.Errorf("Disconnected error: got %v, want the dial error", errs[1])
	}
}

// After a reconnect the client authenticates every mailbox again with the
// new challenge, and unacknowledged envelopes come again.
func TestReauthAndRedelivery(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	ctx := testContext(t)
	alice, bob := newTestClient(t, r, nil), newTestClient(t, r, nil)
	alice.Start()
	bob.Start()
	mbs := []Mailbox{newMailbox(t), newMailbox(t), newMailbox(t)}
	for _, mb := range mbs {
		if err := bob.Register(ctx, mb); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := alice.Send(ctx, mbs[0].ID, wire.Key32{}, 0, fmt.Appendf(nil, "%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if d := recv(t, bob); d.Seq != uint64(i+1) {
			t.Fatalf("delivery %d: seq %d", i, d.Seq)
		}
	}
	if err := bob.Ack(ctx, mbs[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	h1, _ := bob.Hello()
	r.mu.Lock()
	authsBefore := r.auths
	r.mu.Unlock()

	r.dropAll()
	for _, want := range []uint64{2, 3} {
		if d := recv(t, bob); d.Seq != want || string(d.Envelope) != fmt.Sprint(want) {
			t.Fatalf("redelivery: got seq %d %q, want %d", d.Seq, d.Envelope, want)
		}
	}
	waitFor(t, "Connected", func() bool { return bob.State() == Connected && alice.State() == Connected })
	r.mu.Lock()
	auths := r.auths - authsBefore
	r.mu.Unlock()
	if auths != len(mbs) {
		t.Errorf("Auths after reconnect: got %d, want %d", auths, len(mbs))
	}
	h2, _ := bob.Hello()
	if h1.Challenge == h2.Challenge {
		t.Error("challenge did not change across connections")
	}
	for i, mb := range mbs {
		if _, err := alice.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("after")); err != nil {
			t.Fatal(err)
		}
		d := recv(t, bob)
		if d.Mailbox != mb.ID || string(d.Envelope) != "after" {
			t.Errorf("mailbox %d after reconnect: got %v %q", i, d.Mailbox, d.Envelope)
		}
	}
}

func TestReregisterWhenRelayForgets(t *testing.T) {
	r := newFakeRelay(t)
	ctx := testContext(t)
	c := newTestClient(t, r, nil)
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.mailboxes = make(map[wire.MailboxID]*fakeMailbox)
	r.mu.Unlock()
	r.dropAll()
	waitFor(t, "reconnect", func() bool { return r.dialCount() == 2 && c.State() == Connected })
	if _, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("again")); err != nil {
		t.Fatalf("send to a mailbox the relay forgot: %v", err)
	}
	if d := recv(t, c); string(d.Envelope) != "again" {
		t.Errorf("got %q", d.Envelope)
	}
}

func TestRefusedMailboxReported(t *testing.T) {
	r := newFakeRelay(t)
	ctx := testContext(t)
	var log stateLog
	c := newTestClient(t, r, func(cfg *Config) { cfg.OnState = log.on })
	c.Start()
	mb, ok := newMailbox(t), newMailbox(t)
	for _, m := range []Mailbox{mb, ok} {
		if err := c.Register(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	r.mailboxes[mb.ID].owner = wire.Key32{1} // someone else's now
	r.mu.Unlock()
	r.dropAll()
	waitFor(t, "a second Connected", func() bool {
		states, _ := log.get()
		n := 0
		for _, s := range states {
			if s == Connected {
				n++
			}
		}
		return n == 2
	})
	states, errs := log.get()
	last := len(states) - 1
	if states[last] != Connected || !errors.Is(errs[last], &wire.Error{Code: wire.CodeUnauthorized}) {
		t.Errorf("last state: got %v %v, want Connected with an unauthorized error", states[last], errs[last])
	}
	if _, err := c.Send(ctx, ok.ID, wire.Key32{}, 0, []byte("still works")); err != nil {
		t.Fatal(err)
	}
	if d := recv(t, c); d.Mailbox != ok.ID {
		t.Errorf("delivery for %v, want %v", d.Mailbox, ok.ID)
	}
}

// A consumer that stops reading stops the client reading; nothing is lost,
// and acknowledging from the consuming goroutine does not deadlock.
func TestBackpressure(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	ctx := testContext(t)
	mb := newMailbox(t)
	{
		c := newTestClient(t, r, nil)
		c.Start()
		if err := c.Register(ctx, mb); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	alice := newTestClient(t, r, nil)
	alice.Start()
	const n = 300
	for i := range n {
		if _, err := alice.Send(ctx, mb.ID, wire.Key32{}, 0, fmt.Appendf(nil, "%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	bob := newTestClient(t, r, func(cfg *Config) { cfg.DeliveryBuffer = 4 })
	bob.Start()
	if err := bob.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	var fc *fakeConn
	for _, c := range r.connList() {
		if c.isAuthed(mb.ID) {
			fc = c
		}
	}
	var last int64 = -1
	waitFor(t, "the relay's writes to stall", func() bool {
		time.Sleep(20 * time.Millisecond)
		w := fc.written.Load()
		stalled := w == last
		last = w
		return stalled
	})
	if last >= n {
		t.Fatalf("relay wrote %d frames to a client whose consumer reads none, want < %d", last, n)
	}
	t.Logf("relay stalled after %d frames", last)
	for i := range n {
		d := recv(t, bob)
		if d.Seq != uint64(i+1) || string(d.Envelope) != fmt.Sprint(i+1) {
			t.Fatalf("delivery %d: got seq %d %q", i, d.Seq, d.Envelope)
		}
		if err := bob.Ack(ctx, mb.ID, d.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.stored(mb.ID); len(got) != 0 {
		t.Errorf("%d envelopes left after acking all", len(got))
	}
}

func TestPingTimeoutReconnects(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	var first atomic.Pointer[fakeConn]
	var pings atomic.Int32
	r.setHook(func(fc *fakeConn, id uint32, m wire.Message) bool {
		if _, ok := m.(*wire.Ping); ok {
			first.CompareAndSwap(nil, fc)
			pings.Add(1)
			return first.Load() != fc // the first connection never answers
		}
		return true
	})
	var log stateLog
	c := newTestClient(t, r, func(cfg *Config) {
		cfg.PingInterval = 20 * time.Millisecond
		cfg.OnState = log.on
	})
	c.Start()
	waitFor(t, "a second connection", func() bool { return r.dialCount() == 2 && c.State() == Connected })
	_, errs := log.get()
	var sawTimeout bool
	for _, err := range errs {
		sawTimeout = sawTimeout || (err != nil && strings.Contains(err.Error(), "ping"))
	}
	if !sawTimeout {
		t.Errorf("no ping timeout reported: %v", errs)
	}
	// Answered pings keep the connection.
	p := pings.Load()
	waitFor(t, "more pings", func() bool { return pings.Load() >= p+5 })
	if d := r.dialCount(); d != 2 {
		t.Errorf("dials with pings answered: got %d, want 2", d)
	}
}

func TestMalformedFrameDropsConnection(t *testing.T) {
	r := newFakeRelay(t)
	ctx := testContext(t)
	var log stateLog
	c := newTestClient(t, r, func(cfg *Config) { cfg.OnState = log.on })
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	r.connList()[0].conn.WriteFrame(ctx, []byte{wire.Version, 0xee, 0, 0, 0, 0})
	waitFor(t, "reconnect", func() bool { return r.dialCount() == 2 && c.State() == Connected })
	_, errs := log.get()
	var sawProtocol bool
	for _, err := range errs {
		sawProtocol = sawProtocol || errors.Is(err, ErrProtocol)
	}
	if !sawProtocol {
		t.Errorf("no protocol error reported: %v", errs)
	}
	if _, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestRequestsWaitForConnection(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	r.refuse = 1 << 30
	mb := newMailbox(t)
	r.mailboxes[mb.ID] = &fakeMailbox{}
	c := newTestClient(t, r, nil)
	c.Start()

	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := c.Send(short, mb.ID, wire.Key32{}, 0, []byte("x"))
	if !errors.Is(err, ErrDisconnected) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("send without a connection: got %v, want ErrDisconnected and DeadlineExceeded", err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := c.Send(testContext(t), mb.ID, wire.Key32{}, 0, []byte("x"))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("send returned without a connection: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	r.mu.Lock()
	r.refuse = 0
	r.mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("send did not complete after the relay came back")
	}
}

func TestClose(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	ctx := testContext(t)
	var log stateLog
	c := newTestClient(t, r, func(cfg *Config) { cfg.OnState = log.on })
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	// A request in flight when Close is called fails.
	r.setHook(func(fc *fakeConn, id uint32, m wire.Message) bool {
		_, ok := m.(*wire.Send)
		return !ok
	})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("x"))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("send in flight at Close: got %v, want ErrClosed", err)
	}
	if _, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("send after Close: got %v, want ErrClosed", err)
	}
	if _, ok := <-c.Deliveries(); ok {
		t.Error("Deliveries not closed")
	}
	if c.State() != Closed {
		t.Errorf("state: got %v, want closed", c.State())
	}
	states, _ := log.get()
	if states[len(states)-1] != Closed {
		t.Errorf("last OnState: got %v, want closed", states[len(states)-1])
	}
	c.Start() // no-op

	// Closing a client that never started.
	var log2 stateLog
	c2 := newTestClient(t, r, func(cfg *Config) { cfg.OnState = log2.on })
	c2.Close()
	c2.Start()
	if states, _ := log2.get(); fmt.Sprint(states) != "[closed]" {
		t.Errorf("states of a client closed before Start: %v", states)
	}
	if _, err := c2.Send(ctx, mb.ID, wire.Key32{}, 0, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("send on a client closed before Start: got %v", err)
	}
}

func TestPrekeys(t *testing.T) {
	r := newFakeRelay(t)
	ctx := testContext(t)
	c := newTestClient(t, r, nil)
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ClaimPrekey(ctx, mb.ID); !errors.Is(err, &wire.Error{Code: wire.CodeNoPrekeys}) {
		t.Errorf("claim before upload: got %v, want no-prekeys", err)
	}
	n, err := c.PutPrekeys(ctx, mb.ID, []byte("bundle"), []byte("last"), [][]byte{[]byte("k1"), []byte("k2")}, false)
	if err != nil || n != 2 {
		t.Fatalf("PutPrekeys: got %d, %v; want 2", n, err)
	}
	for _, want := range []Prekey{{[]byte("bundle"), []byte("k1"), false}, {[]byte("bundle"), []byte("k2"), false}, {[]byte("bundle"), []byte("last"), true}} {
		got, err := c.ClaimPrekey(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bundle, want.Bundle) || !bytes.Equal(got.Key, want.Key) || got.LastResort != want.LastResort {
			t.Errorf("claim: got %q/%q/%v, want %q/%q/%v", got.Bundle, got.Key, got.LastResort, want.Bundle, want.Key, want.LastResort)
		}
	}
	if _, err := c.PutPrekeys(ctx, mb.ID, nil, nil, make([][]byte, wire.MaxPrekeyCount+1), false); err == nil {
		t.Error("too many one-time keys: no error")
	}
}

func TestBlobUploadDownload(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	r.hello.MaxChunk = 1000
	ctx := testContext(t)
	c := newTestClient(t, r, nil)
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 1, 999, 1000, 1001, 10_500} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := make([]byte, size)
			rand.Read(data)
			var calls [][2]int64
			id, err := c.UploadBlob(ctx, mb.ID, bytes.NewReader(data), int64(size), time.Hour, func(done, total int64) {
				calls = append(calls, [2]int64{done, total})
			})
			if err != nil {
				t.Fatal(err)
			}
			chunks := (size + 999) / 1000
			if len(calls) != chunks {
				t.Errorf("upload progress calls: got %d, want %d", len(calls), chunks)
			}
			for i, cl := range calls {
				if want := min(int64(i+1)*1000, int64(size)); cl != [2]int64{want, int64(size)} {
					t.Errorf("upload progress %d: got %v, want [%d %d]", i, cl, want, size)
				}
			}
			var buf bytes.Buffer
			calls = nil
			n, err := c.DownloadBlob(ctx, id, &buf, 0, -1, func(done, total int64) { calls = append(calls, [2]int64{done, total}) })
			if err != nil || n != int64(size) {
				t.Fatalf("download: got %d, %v; want %d", n, err, size)
			}
			if sha256.Sum256(buf.Bytes()) != sha256.Sum256(data) {
				t.Error("downloaded blob differs")
			}
			if len(calls) != chunks {
				t.Errorf("download progress calls: got %d, want %d", len(calls), chunks)
			}
			if size > 0 {
				off := int64(size / 3)
				buf.Reset()
				n, err := c.DownloadBlob(ctx, id, &buf, off, -1, nil)
				if err != nil || !bytes.Equal(buf.Bytes(), data[off:]) || n != int64(size)-off {
					t.Errorf("download from %d: got %d bytes, %v", off, n, err)
				}
			}
		})
	}
	if _, err := c.DownloadBlob(ctx, wire.BlobID{1}, io.Discard, 0, -1, nil); !errors.Is(err, &wire.Error{Code: wire.CodeNotFound}) {
		t.Errorf("unknown blob: got %v, want not-found", err)
	}
	// A blob of another size than the caller expects is refused before
	// anything is read (a relay cannot make a download run on).
	sized, err := c.UploadBlob(ctx, mb.ID, bytes.NewReader(make([]byte, 3000)), 3000, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int64{2999, 3001, 0} {
		var buf bytes.Buffer
		if n, err := c.DownloadBlob(ctx, sized, &buf, 0, want, nil); !errors.Is(err, ErrBlobSize) || n != 0 || buf.Len() != 0 {
			t.Errorf("blob of 3000 bytes, expecting %d: got %d bytes, %v; want none, ErrBlobSize", want, n, err)
		}
	}
	if n, err := c.DownloadBlob(ctx, sized, io.Discard, 0, 3000, nil); err != nil || n != 3000 {
		t.Errorf("blob of 3000 bytes, expecting 3000: got %d, %v", n, err)
	}
	if _, err := c.UploadBlob(ctx, mb.ID, bytes.NewReader(nil), int64(r.hello.MaxBlob)+1, 0, nil); !errors.Is(err, &wire.Error{Code: wire.CodeTooLarge}) {
		t.Errorf("blob over the limit: got %v, want too-large", err)
	}
	if _, err := c.UploadBlob(ctx, mb.ID, bytes.NewReader(make([]byte, 10)), 2000, 0, nil); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Errorf("reader shorter than size: got %v", err)
	}
}

func TestResumeUpload(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	r.hello.MaxChunk = 1000
	ctx := testContext(t)
	c := newTestClient(t, r, nil)
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	var puts atomic.Int32
	r.setHook(func(fc *fakeConn, id uint32, m wire.Message) bool {
		if _, ok := m.(*wire.BlobPut); ok && puts.Add(1) == 4 {
			fc.conn.Close("crash during the 4th chunk")
			return false
		}
		return true
	})
	data := make([]byte, 7777)
	rand.Read(data)
	id, err := c.UploadBlob(ctx, mb.ID, bytes.NewReader(data), int64(len(data)), 0, nil)
	if !errors.Is(err, ErrDisconnected) {
		t.Fatalf("interrupted upload: got %v, want ErrDisconnected", err)
	}
	if id == (wire.BlobID{}) {
		t.Fatal("interrupted upload returned no blob id")
	}
	if _, err := c.DownloadBlob(ctx, id, io.Discard, 0, -1, nil); !errors.Is(err, ErrBlobIncomplete) {
		t.Errorf("download of a partial blob: got %v, want ErrBlobIncomplete", err)
	}
	var calls []int64
	if err := c.ResumeUpload(ctx, mb.ID, id, bytes.NewReader(data), int64(len(data)), func(done, total int64) { calls = append(calls, done) }); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 5 || calls[0] != 4000 {
		t.Errorf("resumed upload progress: got %v, want 5 calls from 4000", calls)
	}
	var buf bytes.Buffer
	if _, err := c.DownloadBlob(ctx, id, &buf, 0, -1, nil); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Errorf("download after resume: %v, equal %v", err, bytes.Equal(buf.Bytes(), data))
	}
	if err := c.ResumeUpload(ctx, mb.ID, id, bytes.NewReader(data), 5, nil); err == nil {
		t.Error("resume with the wrong size: no error")
	}
}

// A request that could not be written (its connection had just dropped)
// never reached the relay, so it waits for the next connection instead of
// failing.
func TestUnsentRequestWaitsForNextConnection(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	ctx := testContext(t)
	c := newTestClient(t, r, nil)
	c.Start()
	mb := newMailbox(t)
	if err := c.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		r.dropAll()
		if _, err := c.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("x")); err != nil {
			t.Fatalf("send %d right after a drop: %v", i, err)
		}
	}
	if n := r.dialCount(); n != 21 {
		t.Errorf("dials: got %d, want 21", n)
	}
}

// Mailboxes registered while connections come and go are all
// authenticated on the connection that finally stays.
func TestRegisterDuringReconnects(t *testing.T) {
	checkNoLeaks(t)
	r := newFakeRelay(t)
	ctx := testContext(t)
	c := newTestClient(t, r, nil)
	c.Start()
	stop := make(chan struct{})
	dropped := make(chan struct{})
	go func() {
		defer close(dropped)
		for i := 0; ; i++ {
			// Let each connection come up, and do some work, before it
			// is cut.
			for c.State() != Connected && c.State() != Closed {
				time.Sleep(100 * time.Microsecond)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(i%4) * 500 * time.Microsecond):
				r.dropAll()
			}
		}
	}()
	const n = 30
	mbs := make([]Mailbox, n)
	var wg sync.WaitGroup
	for i := range mbs {
		mbs[i] = newMailbox(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := c.Register(ctx, mbs[i])
				if err == nil {
					return
				}
				if !errors.Is(err, ErrDisconnected) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-dropped
	sender := newTestClient(t, r, nil)
	sender.Start()
	want := make(map[wire.MailboxID]bool)
	for _, mb := range mbs {
		want[mb.ID] = true
		if _, err := sender.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("hi")); err != nil {
			t.Fatal(err)
		}
	}
	for len(want) > 0 {
		d := recv(t, c)
		delete(want, d.Mailbox)
	}
}
