package relayclient_test

// End-to-end tests: real clients, a real relay over a bbolt store, real
// WebSockets on loopback sockets.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/store/boltstore"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

type testRelay struct {
	st   *boltstore.Store
	srv  *relay.Server
	hs   *httptest.Server
	addr string
	once sync.Once
}

// startRelay serves a relay over the bbolt store in dir on addr
// ("127.0.0.1:0" for any port).
func startRelay(t *testing.T, dir, addr string, limits relay.Limits) *testRelay {
	t.Helper()
	st, err := boltstore.Open(dir, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(relay.Config{Store: st, Limits: limits, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // the old listener's port may take a moment to free
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	r := &testRelay{st: st, srv: srv, hs: hs, addr: ln.Addr().String()}
	t.Cleanup(r.stop)
	return r
}

func (r *testRelay) url() string { return "ws://" + r.addr }

// stop shuts the relay down as its daemon would on SIGTERM.
func (r *testRelay) stop() {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.srv.Shutdown(ctx)
		r.hs.Close()
		r.st.Close()
	})
}

func newClient(t *testing.T, cfg relayclient.Config) *relayclient.Client {
	t.Helper()
	cfg.MinBackoff = 5 * time.Millisecond
	cfg.MaxBackoff = 100 * time.Millisecond
	c, err := relayclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Start()
	return c
}

func newMailbox(t *testing.T) relayclient.Mailbox {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var id wire.MailboxID
	rand.Read(id[:])
	return relayclient.Mailbox{ID: id, Key: priv}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recv(t *testing.T, c *relayclient.Client) relayclient.Delivery {
	t.Helper()
	select {
	case d := <-c.Deliveries():
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
	}
	panic("unreachable")
}

func expect(t *testing.T, c *relayclient.Client, mb wire.MailboxID, seq uint64, env string) relayclient.Delivery {
	t.Helper()
	d := recv(t, c)
	if d.Mailbox != mb || d.Seq != seq || string(d.Envelope) != env {
		t.Fatalf("delivery: got %v seq %d %q, want %v seq %d %q", d.Mailbox, d.Seq, d.Envelope, mb, seq, env)
	}
	return d
}

// dropper is a Config.Dial over real WebSockets whose connections the test
// can cut.
type dropper struct {
	url   string
	mu    sync.Mutex
	conns []*wsconn.Conn
}

func (d *dropper) dial(ctx context.Context) (wire.Conn, error) {
	ws, _, err := websocket.Dial(ctx, d.url, nil)
	if err != nil {
		return nil, err
	}
	c := wsconn.New(ws, wire.MaxFrameSize)
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

func (d *dropper) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.CloseWith(websocket.StatusAbnormalClosure, "test drop")
	}
	d.conns = nil
}

func TestE2EExchange(t *testing.T) {
	relayclient.CheckNoLeaks(t)
	r := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Limits{})
	ctx := testContext(t)
	alice, bob := newClient(t, relayclient.Config{URL: r.url()}), newClient(t, relayclient.Config{URL: r.url()})
	a, b := newMailbox(t), newMailbox(t)
	tokenA, tokenB := wire.Key32{'a'}, wire.Key32{'b'}
	a.SendTokenHash, b.SendTokenHash = sha256.Sum256(tokenA[:]), sha256.Sum256(tokenB[:])
	if err := alice.Register(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := bob.Register(ctx, b); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := alice.Send(ctx, b.ID, tokenB, time.Hour, fmt.Appendf(nil, "to bob %d", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Send(ctx, a.ID, tokenA, 0, fmt.Appendf(nil, "to alice %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		d := expect(t, bob, b.ID, uint64(i+1), fmt.Sprintf("to bob %d", i))
		if err := bob.Ack(ctx, b.ID, d.Seq); err != nil {
			t.Fatal(err)
		}
		d = expect(t, alice, a.ID, uint64(i+1), fmt.Sprintf("to alice %d", i))
		if err := alice.Ack(ctx, a.ID, d.Seq); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []wire.MailboxID{a.ID, b.ID} {
		if envs, err := r.st.Fetch(ctx, id, 0, 10); err != nil || len(envs) != 0 {
			t.Errorf("mailbox %v after acks: %d envelopes, %v", id, len(envs), err)
		}
	}
	if _, err := alice.Send(ctx, b.ID, tokenA, 0, []byte("wrong token")); !errors.Is(err, &wire.Error{Code: wire.CodeUnauthorized}) {
		t.Errorf("wrong token: got %v, want unauthorized", err)
	}
}

func TestE2EOfflineBacklog(t *testing.T) {
	relayclient.CheckNoLeaks(t)
	r := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Limits{})
	ctx := testContext(t)
	mb := newMailbox(t)
	{
		bob := newClient(t, relayclient.Config{URL: r.url()})
		if err := bob.Register(ctx, mb); err != nil {
			t.Fatal(err)
		}
		bob.Close()
	}
	alice := newClient(t, relayclient.Config{URL: r.url()})
	const n = 20
	for i := range n {
		if _, err := alice.Send(ctx, mb.ID, wire.Key32{}, 0, fmt.Appendf(nil, "%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	bob := newClient(t, relayclient.Config{URL: r.url()})
	if err := bob.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		d := expect(t, bob, mb.ID, uint64(i+1), fmt.Sprint(i+1))
		if err := bob.Ack(ctx, mb.ID, d.Seq); err != nil {
			t.Fatal(err)
		}
	}
}

func TestE2ERedeliveryAfterReconnect(t *testing.T) {
	relayclient.CheckNoLeaks(t)
	r := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Limits{})
	ctx := testContext(t)
	d := &dropper{url: r.url() + wsconn.Path}
	bob := newClient(t, relayclient.Config{Dial: d.dial})
	mb := newMailbox(t)
	if err := bob.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := bob.Send(ctx, mb.ID, wire.Key32{}, 0, fmt.Appendf(nil, "%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		expect(t, bob, mb.ID, uint64(i+1), fmt.Sprint(i+1))
	}
	if err := bob.Ack(ctx, mb.ID, 2); err != nil {
		t.Fatal(err)
	}
	d.drop()
	expect(t, bob, mb.ID, 1, "1")
	expect(t, bob, mb.ID, 3, "3")
	if err := bob.Ack(ctx, mb.ID, 1, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("4")); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, mb.ID, 4, "4")
}

// The relay restarts under connected clients: they reconnect to the new
// process on the same address and store, authenticate again and go on.
func TestE2ERelayRestart(t *testing.T) {
	relayclient.CheckNoLeaks(t)
	dir := t.TempDir()
	r1 := startRelay(t, dir, "127.0.0.1:0", relay.Limits{})
	ctx := testContext(t)
	var mu sync.Mutex
	var states []relayclient.State
	alice := newClient(t, relayclient.Config{URL: r1.url()})
	bob := newClient(t, relayclient.Config{URL: r1.url(), OnState: func(s relayclient.State, err error) {
		mu.Lock()
		states = append(states, s)
		mu.Unlock()
	}})
	mb := newMailbox(t)
	if err := bob.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("before")); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, mb.ID, 1, "before") // not acknowledged
	h1, _ := bob.Hello()

	r1.stop()
	deadline := time.Now().Add(10 * time.Second)
	for bob.State() == relayclient.Connected || alice.State() == relayclient.Connected {
		if time.Now().After(deadline) {
			t.Fatal("clients did not notice the relay stopping")
		}
		time.Sleep(time.Millisecond)
	}
	sent := make(chan error, 1)
	go func() { // waits for the relay to come back
		_, err := alice.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("during"))
		sent <- err
	}()
	time.Sleep(50 * time.Millisecond)

	r2 := startRelay(t, dir, r1.addr, relay.Limits{})
	if err := <-sent; err != nil {
		t.Fatalf("send across the restart: %v", err)
	}
	expect(t, bob, mb.ID, 1, "before") // redelivered: never acknowledged
	expect(t, bob, mb.ID, 2, "during")
	if err := bob.Ack(ctx, mb.ID, 1, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("after")); err != nil {
		t.Fatal(err)
	}
	expect(t, bob, mb.ID, 3, "after")
	h2, _ := bob.Hello()
	if h1.Relay != h2.Relay || h1.Challenge == h2.Challenge {
		t.Errorf("hello across restart: relay id kept %v, challenge changed %v", h1.Relay == h2.Relay, h1.Challenge != h2.Challenge)
	}
	if envs, err := r2.st.Fetch(ctx, mb.ID, 0, 10); err != nil || len(envs) != 1 {
		t.Errorf("stored after acks: %d, %v; want 1", len(envs), err)
	}
	mu.Lock()
	defer mu.Unlock()
	var down, upAgain bool
	for _, s := range states {
		down = down || s == relayclient.Disconnected
		upAgain = upAgain || (down && s == relayclient.Connected)
	}
	if !upAgain {
		t.Errorf("states: %v, want Connected after Disconnected", states)
	}
}

type failingWriter struct {
	w     *bytes.Buffer
	limit int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.w.Len()+len(p) > f.limit {
		return 0, errors.New("disk full")
	}
	return f.w.Write(p)
}

func TestE2EBlobs(t *testing.T) {
	relayclient.CheckNoLeaks(t)
	const chunk = 256 << 10
	r := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Limits{MaxChunk: chunk})
	ctx := testContext(t)
	d := &dropper{url: r.url() + wsconn.Path}
	alice := newClient(t, relayclient.Config{Dial: d.dial})
	bob := newClient(t, relayclient.Config{URL: r.url()})
	mb := newMailbox(t)
	if err := alice.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	sum := sha256.Sum256(data)
	size := int64(len(data))
	chunks := int((size + chunk - 1) / chunk)

	t.Run("upload and download", func(t *testing.T) {
		var calls []int64
		id, err := alice.UploadBlob(ctx, mb.ID, bytes.NewReader(data), size, time.Hour, func(done, total int64) {
			if total != size {
				t.Errorf("progress total: got %d, want %d", total, size)
			}
			calls = append(calls, done)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != chunks || calls[len(calls)-1] != size {
			t.Errorf("progress: %d calls ending at %d, want %d ending at %d", len(calls), calls[len(calls)-1], chunks, size)
		}
		h := sha256.New()
		n, err := bob.DownloadBlob(ctx, id, h, 0, -1, nil)
		if err != nil || n != size {
			t.Fatalf("download: %d bytes, %v", n, err)
		}
		if [32]byte(h.Sum(nil)) != sum {
			t.Error("downloaded blob's SHA-256 differs")
		}

		// An interrupted download resumes from where it stopped.
		var buf bytes.Buffer
		n, err = bob.DownloadBlob(ctx, id, &failingWriter{w: &buf, limit: 1 << 20}, 0, -1, nil)
		if err == nil || n != 1<<20 {
			t.Fatalf("download to a full disk: %d bytes, %v", n, err)
		}
		if _, err := bob.DownloadBlob(ctx, id, &buf, n, -1, nil); err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(buf.Bytes()) != sum {
			t.Error("resumed download's SHA-256 differs")
		}
	})

	t.Run("upload cancelled then resumed", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		id, err := alice.UploadBlob(cctx, mb.ID, bytes.NewReader(data), size, time.Hour, func(done, total int64) {
			if done >= 3*chunk {
				cancel()
			}
		})
		if !errors.Is(err, context.Canceled) || id == (wire.BlobID{}) {
			t.Fatalf("cancelled upload: id %v, %v", id, err)
		}
		st, err := alice.StatBlob(ctx, id)
		if err != nil || st.Have != 3*chunk || st.Size != size {
			t.Fatalf("relay holds %+v, %v; want 3 chunks", st, err)
		}
		var calls int
		if err := alice.ResumeUpload(ctx, mb.ID, id, bytes.NewReader(data), size, func(done, total int64) { calls++ }); err != nil {
			t.Fatal(err)
		}
		if calls != chunks-3 {
			t.Errorf("resumed upload: %d progress calls, want %d", calls, chunks-3)
		}
		h := sha256.New()
		if _, err := bob.DownloadBlob(ctx, id, h, 0, -1, nil); err != nil || [32]byte(h.Sum(nil)) != sum {
			t.Errorf("download after resume: %v, SHA-256 equal %v", err, [32]byte(h.Sum(nil)) == sum)
		}
	})

	t.Run("connection cut during upload", func(t *testing.T) {
		var once sync.Once
		id, err := alice.UploadBlob(ctx, mb.ID, bytes.NewReader(data), size, time.Hour, func(done, total int64) {
			if done >= 2*chunk {
				once.Do(d.drop)
			}
		})
		if err != nil {
			// The cut caught a chunk in flight: resume on the new connection.
			if !errors.Is(err, relayclient.ErrDisconnected) || id == (wire.BlobID{}) {
				t.Fatalf("upload cut: id %v, %v", id, err)
			}
			if err := alice.ResumeUpload(ctx, mb.ID, id, bytes.NewReader(data), size, nil); err != nil {
				t.Fatal(err)
			}
		}
		h := sha256.New()
		if _, err := bob.DownloadBlob(ctx, id, h, 0, -1, nil); err != nil || [32]byte(h.Sum(nil)) != sum {
			t.Errorf("download after the cut: %v, SHA-256 equal %v", err, [32]byte(h.Sum(nil)) == sum)
		}
	})
}

func TestE2EPrekeys(t *testing.T) {
	relayclient.CheckNoLeaks(t)
	r := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Limits{})
	ctx := testContext(t)
	bob := newClient(t, relayclient.Config{URL: r.url()})
	alice := newClient(t, relayclient.Config{URL: r.url()})
	mb := newMailbox(t)
	if err := bob.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.ClaimPrekey(ctx, mb.ID); !errors.Is(err, &wire.Error{Code: wire.CodeNoPrekeys}) {
		t.Errorf("claim before upload: got %v, want no-prekeys", err)
	}
	n, err := bob.PutPrekeys(ctx, mb.ID, []byte("bundle"), []byte("last resort"), [][]byte{[]byte("otk1"), []byte("otk2")}, false)
	if err != nil || n != 2 {
		t.Fatalf("PutPrekeys: %d, %v", n, err)
	}
	seen := map[string]bool{}
	for range 2 {
		p, err := alice.ClaimPrekey(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(p.Bundle) != "bundle" || p.LastResort || seen[string(p.Key)] {
			t.Errorf("claim: got %+v", p)
		}
		seen[string(p.Key)] = true
	}
	p, err := alice.ClaimPrekey(ctx, mb.ID)
	if err != nil || !p.LastResort || string(p.Key) != "last resort" {
		t.Errorf("claim with no one-time keys left: got %+v, %v", p, err)
	}
	if n, err := bob.PutPrekeys(ctx, mb.ID, nil, nil, [][]byte{[]byte("otk3")}, false); err != nil || n != 1 {
		t.Errorf("top up: %d, %v", n, err)
	}
}

// wss: the default client verifies the relay's certificate with the system
// roots (and so refuses a self-signed test certificate); an HTTPClient can
// bring its own trust.
func TestE2ETLS(t *testing.T) {
	relayclient.CheckNoLeaks(t)
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := relay.New(relay.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	hs.StartTLS()
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	ctx := testContext(t)

	untrusting := make(chan error, 1)
	c := newClient(t, relayclient.Config{URL: hs.URL, OnState: func(s relayclient.State, err error) {
		if s == relayclient.Disconnected && err != nil {
			select {
			case untrusting <- err:
			default:
			}
		}
	}})
	select {
	case err := <-untrusting:
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("dial with system roots: got %v, want a certificate error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no dial error for a self-signed relay")
	}
	c.Close()

	trusting := newClient(t, relayclient.Config{URL: hs.URL, HTTPClient: hs.Client()})
	mb := newMailbox(t)
	if err := trusting.Register(ctx, mb); err != nil {
		t.Fatal(err)
	}
	if _, err := trusting.Send(ctx, mb.ID, wire.Key32{}, 0, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	expect(t, trusting, mb.ID, 1, "over tls")
	trusting.Close()
}
