package natsstore_test

// The cluster test: three NATS servers clustered on loopback with
// JetStream replication 3, two relay nodes on them serving real WebSockets,
// and net/relayclient clients, as a deployment behind a load balancer runs.

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/ephemera-im/ephemera/net/relay"
	"github.com/ephemera-im/ephemera/net/relayclient"
	"github.com/ephemera-im/ephemera/net/store/natsstore"
	"github.com/ephemera-im/ephemera/net/wire"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// freePorts returns n loopback ports nobody listens on right now.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

type natsCluster struct {
	servers []*server.Server
	urls    []string
}

// startCluster runs three JetStream servers routed to each other.
func startCluster(t *testing.T) *natsCluster {
	t.Helper()
	ports := freePorts(t, 6) // client and route port of each
	c := &natsCluster{}
	var routes []*url.URL
	for i := range 3 {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[3+i])})
	}
	for i := range 3 {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "eph", Host: "127.0.0.1", Port: ports[3+i]},
			Routes:     routes,
		}
		ns, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("nats server %d: %v", i, err)
		}
		ns.Start()
		t.Cleanup(ns.Shutdown)
		if !ns.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats server %d not ready after 10s", i)
		}
		c.servers = append(c.servers, ns)
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	return c
}

// relayNode is one relay process: its own NATS connection and store.
type relayNode struct {
	nc   *nats.Conn
	st   *natsstore.Store
	srv  *relay.Server
	hs   *httptest.Server
	url  string
	once sync.Once
}

var clusterLimits = relay.Limits{PrekeyClaimRate: 1000, PrekeyClaimBurst: 1000, ConnRate: 10000, ConnBurst: 10000}

func startNode(t *testing.T, c *natsCluster) *relayNode {
	t.Helper()
	nc, err := nats.Connect(strings.Join(c.urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// The cluster elects its JetStream leader some seconds after start:
	// until then creating the streams fails.
	var st *natsstore.Store
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		st, err = natsstore.Open(ctx, nc, natsstore.Options{Replicas: 3, Timeout: 5 * time.Second, CloseConn: true})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("opening the store on the cluster: still failing after 60s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	srv, err := relay.New(relay.Config{Store: st, Notifier: st, Limits: clusterLimits, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SubscribeWake(srv.Wake); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	n := &relayNode{nc: nc, st: st, srv: srv, hs: hs, url: "ws://" + hs.Listener.Addr().String() + wsconn.Path}
	t.Cleanup(n.kill)
	return n
}

// kill stops the node as a crash would: connections cut, nothing drained.
func (n *relayNode) kill() {
	n.once.Do(func() {
		n.hs.CloseClientConnections()
		n.hs.Close()
		n.st.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n.srv.Shutdown(ctx)
	})
}

// balancer dials the first node in its list that answers, as a load
// balancer in front of the relay nodes does once its health check has
// seen a node die.
type balancer struct {
	mu    sync.Mutex
	nodes []*relayNode
}

func (b *balancer) dial(ctx context.Context) (wire.Conn, error) {
	b.mu.Lock()
	nodes := append([]*relayNode(nil), b.nodes...)
	b.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		ws, _, err := websocket.Dial(ctx, n.url, nil)
		if err == nil {
			return wsconn.New(ws, wire.MaxFrameSize), nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func newClient(t *testing.T, nodes ...*relayNode) *relayclient.Client {
	t.Helper()
	b := &balancer{nodes: nodes}
	c, err := relayclient.New(relayclient.Config{Dial: b.dial, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
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

// expect reads the next n deliveries and checks them against want (in
// order), acknowledging each.
func expect(t *testing.T, ctx context.Context, c *relayclient.Client, mb wire.MailboxID, who string, want []string) {
	t.Helper()
	for i, w := range want {
		select {
		case d := <-c.Deliveries():
			if d.Mailbox != mb || string(d.Envelope) != w {
				t.Fatalf("%s delivery %d: got %q in %v, want %q", who, i, d.Envelope, d.Mailbox, w)
			}
			if err := c.Ack(ctx, mb, d.Seq); err != nil {
				t.Fatalf("%s ack: %v", who, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: delivery %d (%q) not received within 20s", who, i, w)
		}
	}
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test: three NATS servers and two relays take about half a minute; run without -short")
	}
	start := time.Now()
	c := startCluster(t)
	n1, n2 := startNode(t, c), startNode(t, c)
	t.Logf("cluster and two relay nodes up in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	alice, bob := newClient(t, n1), newClient(t, n2)
	a, b := newMailbox(t), newMailbox(t)
	for _, r := range []struct {
		c  *relayclient.Client
		mb relayclient.Mailbox
	}{{alice, a}, {bob, b}} {
		if err := r.c.Register(ctx, r.mb); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	h1, _ := alice.Hello()
	h2, _ := bob.Hello()
	if h1.Relay != h2.Relay {
		t.Fatalf("the two nodes announce relay ids %x and %x, want one", h1.Relay[:4], h2.Relay[:4])
	}

	t.Run("both directions", func(t *testing.T) {
		var toBob, toAlice []string
		for i := range 5 {
			toBob = append(toBob, fmt.Sprintf("to bob %d", i))
			toAlice = append(toAlice, fmt.Sprintf("to alice %d", i))
			if _, err := alice.Send(ctx, b.ID, wire.Key32{}, time.Hour, []byte(toBob[i])); err != nil {
				t.Fatal(err)
			}
			if _, err := bob.Send(ctx, a.ID, wire.Key32{}, time.Hour, []byte(toAlice[i])); err != nil {
				t.Fatal(err)
			}
		}
		// Each is pushed across nodes by a wake-up, not found by polling.
		expect(t, ctx, bob, b.ID, "bob on node 2", toBob)
		expect(t, ctx, alice, a.ID, "alice on node 1", toAlice)
	})

	t.Run("recipient moves to the other node", func(t *testing.T) {
		bob.Close()
		var backlog []string
		for i := range 5 {
			backlog = append(backlog, fmt.Sprintf("backlog %d", i))
			if _, err := alice.Send(ctx, b.ID, wire.Key32{}, time.Hour, []byte(backlog[i])); err != nil {
				t.Fatal(err)
			}
		}
		bob = newClient(t, n1)
		if err := bob.Register(ctx, b); err != nil {
			t.Fatal(err)
		}
		expect(t, ctx, bob, b.ID, "bob moved to node 1", backlog)
		// And new envelopes sent through node 2 reach it on node 1.
		carol := newClient(t, n2)
		if _, err := carol.Send(ctx, b.ID, wire.Key32{}, time.Hour, []byte("via node 2")); err != nil {
			t.Fatal(err)
		}
		expect(t, ctx, bob, b.ID, "bob on node 1, sent via node 2", []string{"via node 2"})
	})

	t.Run("concurrent prekey claims", func(t *testing.T) {
		owner := newClient(t, n1)
		d := newMailbox(t)
		if err := owner.Register(ctx, d); err != nil {
			t.Fatal(err)
		}
		const keys, claimers, each = 100, 8, 15 // 120 claims through two nodes
		var otk [][]byte
		for i := range keys {
			otk = append(otk, fmt.Appendf(nil, "otk-%03d", i))
		}
		if n, err := owner.PutPrekeys(ctx, d.ID, []byte("bundle"), []byte("last"), otk, false); err != nil || n != keys {
			t.Fatalf("PutPrekeys: got %d, %v, want %d", n, err, keys)
		}
		clients := []*relayclient.Client{newClient(t, n1), newClient(t, n2)}
		var mu sync.Mutex
		seen := map[string]int{}
		lastResort, failed := 0, 0
		var wg sync.WaitGroup
		for i := range claimers {
			wg.Go(func() {
				for range each {
					p, err := clients[i%2].ClaimPrekey(ctx, d.ID)
					mu.Lock()
					switch {
					case err != nil:
						failed++
						t.Errorf("claim through node %d: %v", i%2+1, err)
					case p.LastResort:
						lastResort++
					default:
						seen[string(p.Key)]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for k, n := range seen {
			if n != 1 {
				t.Errorf("one-time key %q handed out %d times, want once", k, n)
			}
		}
		if len(seen) != keys || lastResort != claimers*each-keys-failed {
			t.Errorf("%d claims over %d keys: got %d distinct one-time keys, %d last-resort, %d failed; want %d and %d",
				claimers*each, keys, len(seen), lastResort, failed, keys, claimers*each-keys)
		}
	})

	t.Run("prekey claims while stream leaders change", func(t *testing.T) {
		testClaimsAcrossLeaderChanges(t, ctx, n1, n2)
	})

	t.Run("relay node and NATS server killed while sending", func(t *testing.T) {
		testKill(t, ctx, c, n1, n2)
	})
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// testKill has a sender on each node write to a receiver on each node;
// midway node 2 and one NATS server die. Every envelope a sender had
// acknowledged (Send returned its seq) must reach its receiver.
func testKill(t *testing.T, ctx context.Context, c *natsCluster, n1, n2 *relayNode) {
	const senders, perSender = 4, 60
	type rcv struct {
		c  *relayclient.Client
		mb relayclient.Mailbox
	}
	var rcvs []rcv
	for i := range 2 {
		nodes := []*relayNode{n1, n2}
		if i == 1 {
			nodes = []*relayNode{n2, n1} // on node 2 until it dies
		}
		r := rcv{newClient(t, nodes...), newMailbox(t)}
		if err := r.c.Register(ctx, r.mb); err != nil {
			t.Fatal(err)
		}
		rcvs = append(rcvs, r)
	}
	var mu sync.Mutex
	got := map[string]bool{}
	var recvWG sync.WaitGroup
	rctx, rcancel := context.WithCancel(ctx)
	for _, r := range rcvs {
		recvWG.Go(func() {
			for {
				select {
				case d := <-r.c.Deliveries():
					mu.Lock()
					got[string(d.Envelope)] = true
					mu.Unlock()
					r.c.Ack(rctx, d.Mailbox, d.Seq) // lost Acks mean redelivery only
				case <-rctx.Done():
					return
				}
			}
		})
	}

	var acked sync.Map // envelope → true once a Send returned its seq
	var nAcked, nFailed atomic.Int64
	killAt := int64(senders * perSender / 3)
	killed := make(chan struct{})
	var sendWG sync.WaitGroup
	for s := range senders {
		nodes := []*relayNode{n1, n2}
		if s%2 == 1 {
			nodes = []*relayNode{n2, n1}
		}
		sc := newClient(t, nodes...)
		sendWG.Go(func() {
			for k := range perSender {
				r := rcvs[(s+k)%len(rcvs)]
				env := fmt.Sprintf("s%d-%d", s, k)
				// Retry until acknowledged: a send cut off by the kill
				// may or may not have been stored.
				for attempt := 0; ; attempt++ {
					sctx, scancel := context.WithTimeout(ctx, 15*time.Second)
					_, err := sc.Send(sctx, r.mb.ID, wire.Key32{}, time.Hour, []byte(env))
					scancel()
					if err == nil {
						acked.Store(env, true)
						if nAcked.Add(1) == killAt {
							close(killed)
						}
						break
					}
					nFailed.Add(1)
					if ctx.Err() != nil || attempt > 50 {
						t.Errorf("send %s: still failing after %d attempts: %v", env, attempt+1, err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatal("senders made no progress")
	}
	// The NATS server to kill is the one leading the envelope stream, so
	// the stream must elect another leader while sends go on.
	victim := 2
	for i, ns := range c.servers {
		if ns.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, "EPH_ENV") {
			victim = i
		}
	}
	n2.kill()
	c.servers[victim].Shutdown()
	t.Logf("killed relay node 2 and NATS server n%d (envelope stream leader) after %d acknowledged sends", victim, nAcked.Load())
	sendWG.Wait()
	t.Logf("senders done: %d acknowledged, %d failed attempts (retried)", nAcked.Load(), nFailed.Load())

	// Wait for every acknowledged envelope to arrive.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var missing []string
		mu.Lock()
		acked.Range(func(k, _ any) bool {
			if !got[k.(string)] {
				missing = append(missing, k.(string))
			}
			return true
		})
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged envelopes never delivered within 60s after sending ended, e.g. %q", len(missing), missing[:min(5, len(missing))])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := nAcked.Load(); n != senders*perSender {
		t.Errorf("acknowledged sends: got %d, want %d", n, senders*perSender)
	}
	rcancel()
	recvWG.Wait()
}

// testClaimsAcrossLeaderChanges claims prekeys through both nodes while
// the leaders of the streams a claim touches step down again and again,
// as they do when a loaded machine delays the cluster's heartbeats: each
// change leaves the stream without a leader for a moment, and requests
// in that moment fail or time out. A claim must ride that out (retry
// within its deadline) and succeed: none may fail, none hand a key out
// twice.
func testClaimsAcrossLeaderChanges(t *testing.T, ctx context.Context, n1, n2 *relayNode) {
	owner := newClient(t, n1)
	d := newMailbox(t)
	if err := owner.Register(ctx, d); err != nil {
		t.Fatal(err)
	}
	const keys, claimers, each = 60, 8, 10 // 80 claims
	var otk [][]byte
	for i := range keys {
		otk = append(otk, fmt.Appendf(nil, "otk-%03d", i))
	}
	if n, err := owner.PutPrekeys(ctx, d.ID, []byte("bundle"), []byte("last"), otk, false); err != nil || n != keys {
		t.Fatalf("PutPrekeys: got %d, %v, want %d", n, err, keys)
	}
	clients := []*relayclient.Client{newClient(t, n1), newClient(t, n2)}
	// Both connections up before the leaders start moving: one claim each.
	for _, c := range clients {
		if _, err := c.ClaimPrekey(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	progress := make(chan struct{}, 1) // a claim finished
	var stepdowns atomic.Int64
	var sd sync.WaitGroup
	sd.Go(func() {
		for {
			for _, stream := range []string{"EPH_STATE", "EPH_KEYS"} {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := n1.nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 5*time.Second); err == nil {
					stepdowns.Add(1)
				}
				// The next change once some claim has finished since
				// this one: back-to-back changes, under the race detector,
				// leave the streams without a leader most of the time,
				// which no deadline rides out; a real cluster under load
				// has its leader back between changes.
				select {
				case <-stop:
					return
				case <-progress:
				}
			}
		}
	})
	var mu sync.Mutex
	seen := map[string]int{}
	lastResort := 0
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			for range each {
				p, err := clients[i%2].ClaimPrekey(ctx, d.ID)
				select {
				case progress <- struct{}{}:
				default:
				}
				mu.Lock()
				switch {
				case err != nil:
					t.Errorf("claim through node %d: %v", i%2+1, err)
				case p.LastResort:
					lastResort++
				default:
					seen[string(p.Key)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	sd.Wait()
	if stepdowns.Load() == 0 {
		t.Fatal("no leader stepped down; the test proved nothing")
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("one-time key %q handed out %d times, want once", k, n)
		}
	}
	if len(seen)+lastResort != claimers*each || len(seen) > keys-len(clients) {
		t.Errorf("%d claims over %d keys: got %d one-time keys and %d last-resort", claimers*each, keys, len(seen), lastResort)
	}
	t.Logf("%d leader changes during %d claims", stepdowns.Load(), claimers*each)
}
