package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Several Stores on one JetStream stand for several relay nodes. Within
// one Store a mutex per mailbox orders the writes, so the contract suite
// never sees a compare-and-set lost; these tests make the Stores race.

func openNodes(t *testing.T, n int) []*Store {
	t.Helper()
	ns := startServer(t)
	var nodes []*Store
	for range n {
		s, err := Open(context.Background(), connect(t, ns), Options{Memory: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		nodes = append(nodes, s)
	}
	return nodes
}

func TestNodesShareRelayID(t *testing.T) {
	nodes := openNodes(t, 3)
	ctx := context.Background()
	first, _ := nodes[0].RelayID(ctx)
	for i, s := range nodes[1:] {
		if id, err := s.RelayID(ctx); id != first || err != nil {
			t.Errorf("node %d RelayID: got %x, %v, want %x", i+1, id[:4], err, first[:4])
		}
	}
}

func TestNodesAppendConcurrent(t *testing.T) {
	nodes := openNodes(t, 3)
	ctx := context.Background()
	id := wire.MailboxID{'m', 1}
	if err := nodes[0].Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 12, 10
	var mu sync.Mutex
	var seqs []uint64
	sent := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := nodes[w%len(nodes)]
			for i := range each {
				data := fmt.Sprintf("%d/%d", w, i)
				seq, err := s.Append(ctx, id, store.Envelope{Data: []byte(data)}, store.Quota{})
				if err != nil {
					t.Errorf("node %d Append: %v", w%len(nodes), err)
					return
				}
				mu.Lock()
				seqs = append(seqs, seq)
				sent[seq] = data
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	want := make([]uint64, workers*each)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if !slices.Equal(seqs, want) {
		t.Fatalf("seqs from three nodes: got %v, want 1..%d each once", seqs, len(want))
	}
	// Every node reads them all, in order, with the data sent under each seq.
	for i, s := range nodes {
		envs, err := s.Fetch(ctx, id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for j, e := range envs {
			if e.Seq != uint64(j+1) || string(e.Data) != sent[e.Seq] {
				t.Fatalf("node %d Fetch[%d]: got seq %d %q, want seq %d %q", i, j, e.Seq, e.Data, j+1, sent[uint64(j+1)])
			}
		}
		if len(envs) != len(want) {
			t.Errorf("node %d Fetch: got %d envelopes, want %d", i, len(envs), len(want))
		}
	}
	if u, _ := nodes[2].Usage(ctx, id); u.Messages != len(want) {
		t.Errorf("Usage: got %+v, want %d messages", u, len(want))
	}
}

func TestNodesQuotaConcurrent(t *testing.T) {
	nodes := openNodes(t, 2)
	ctx := context.Background()
	id := wire.MailboxID{'m', 2}
	if err := nodes[0].Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	q := store.Quota{MaxMessages: 15}
	var mu sync.Mutex
	ok, refused := 0, 0
	var wg sync.WaitGroup
	for w := range 30 {
		wg.Go(func() {
			_, err := nodes[w%2].Append(ctx, id, store.Envelope{Data: []byte("x")}, q)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrQuota):
				refused++
			default:
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 15 || refused != 15 {
		t.Errorf("30 appends through two nodes under MaxMessages 15: got %d stored, %d refused, want 15, 15", ok, refused)
	}
	envs, err := nodes[1].Fetch(ctx, id, 0, 0)
	if err != nil || len(envs) != 15 {
		t.Errorf("Fetch: got %d envelopes, %v, want 15", len(envs), err)
	}
	if u, _ := nodes[1].Usage(ctx, id); u != (store.Usage{Messages: 15, Bytes: 15}) {
		t.Errorf("Usage: got %+v, want 15 messages, 15 bytes", u)
	}
}

func TestNodesClaimConcurrent(t *testing.T) {
	nodes := openNodes(t, 3)
	ctx := context.Background()
	id := wire.MailboxID{'m', 3}
	if err := nodes[0].Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	for i := range 60 {
		keys = append(keys, fmt.Appendf(nil, "k%02d", i))
	}
	if _, err := nodes[1].PutPrekeys(ctx, id, []byte("b"), []byte("last"), keys, false, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	last := 0
	var wg sync.WaitGroup
	for w := range 9 {
		wg.Go(func() {
			for range 8 { // 72 claims
				p, err := nodes[w%3].ClaimPrekey(ctx, id)
				if err != nil {
					t.Errorf("ClaimPrekey: %v", err)
					return
				}
				mu.Lock()
				if p.LastResort {
					last++
				} else {
					seen[string(p.Key)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("key %q handed out %d times, want once", k, n)
		}
	}
	if len(seen) != 60 || last != 12 {
		t.Errorf("72 claims over 60 keys through three nodes: got %d distinct, %d last-resort, want 60, 12", len(seen), last)
	}
}

func TestWake(t *testing.T) {
	nodes := openNodes(t, 2)
	got := [2]chan wire.MailboxID{make(chan wire.MailboxID, 4), make(chan wire.MailboxID, 4)}
	for i, s := range nodes {
		if err := s.SubscribeWake(func(id wire.MailboxID) { got[i] <- id }); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodes[0].SubscribeWake(func(wire.MailboxID) {}); err == nil {
		t.Error("second SubscribeWake: got nil error, want one")
	}
	id := wire.MailboxID{'w', 1}
	nodes[0].Notify(id)
	select {
	case w := <-got[1]:
		if w != id {
			t.Errorf("node 1 woken for %x, want %x", w[:2], id[:2])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node 1 not woken within 10s")
	}
	// A node ignores its own wake-ups: the relay woke its subscribers
	// already. Node 1's wake-up to node 0, sent after, arrives after
	// anything node 0 could have had from itself.
	nodes[1].Notify(wire.MailboxID{'w', 2})
	select {
	case w := <-got[0]:
		if w != (wire.MailboxID{'w', 2}) {
			t.Errorf("node 0 woken for %x, want only node 1's wake-up w2", w[:2])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node 0 not woken within 10s")
	}
}

// TestNodesAppendAfterAck is the race the load test found: node B reads
// a mailbox, node A appends and the recipient acknowledges (deleting the
// newest envelope), then B publishes what it computed from its old read.
// B's publish must be refused, or it would reuse A's sequence number and
// a recipient past it would never be given B's envelope.
func TestNodesAppendAfterAck(t *testing.T) {
	nodes := openNodes(t, 2)
	ctx := context.Background()
	id := wire.MailboxID{'m', 4}
	if err := nodes[0].Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	b := nodes[1]
	m, rev, _, err := b.mailbox(ctx, id) // B's read: nothing stored yet
	if err != nil {
		t.Fatal(err)
	}
	seq, err := nodes[0].Append(ctx, id, store.Envelope{Data: []byte("a")}, store.Quota{})
	if err != nil || seq != m.LastSeq+1 {
		t.Fatalf("Append on A: got %d, %v, want %d", seq, err, m.LastSeq+1)
	}
	if n, err := nodes[0].Delete(ctx, id, []uint64{seq}); n != 1 || err != nil {
		t.Fatalf("Delete: got %d, %v, want 1", n, err)
	}
	_, err = b.publish(ctx, subjEnv(id, m.LastSeq+1), nil, []byte("b"), jetstream.WithExpectLastSequenceForSubject(rev, mbFilter(id)))
	if !isConflict(err) {
		t.Fatalf("publish from a read made before an Append and its Ack: got %v, want a wrong-last-sequence conflict", err)
	}
	if seq2, err := b.Append(ctx, id, store.Envelope{Data: []byte("b")}, store.Quota{}); seq2 != seq+1 || err != nil {
		t.Errorf("Append on B: got %d, %v, want %d", seq2, err, seq+1)
	}
}

// TestNodesDeliverWhileAcking runs the relay's pattern across nodes:
// senders append through both nodes while a reader fetches after its
// cursor and deletes what it read. Every envelope must be read exactly
// once, in increasing order.
func TestNodesDeliverWhileAcking(t *testing.T) {
	nodes := openNodes(t, 2)
	ctx := context.Background()
	id := wire.MailboxID{'m', 5}
	if err := nodes[0].Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	const senders, each = 4, 25
	var wg sync.WaitGroup
	for w := range senders {
		wg.Go(func() {
			for i := range each {
				if _, err := nodes[w%2].Append(ctx, id, store.Envelope{Data: fmt.Appendf(nil, "%d/%d", w, i)}, store.Quota{}); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	seen := map[string]bool{}
	var cursor uint64
	reader := nodes[1]
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < senders*each {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d envelopes within 60s; cursor %d", len(seen), senders*each, cursor)
		}
		envs, err := reader.Fetch(ctx, id, cursor, 8)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, e := range envs {
			if e.Seq <= cursor {
				t.Fatalf("Fetch after %d returned seq %d", cursor, e.Seq)
			}
			cursor = e.Seq
			if seen[string(e.Data)] {
				t.Fatalf("envelope %q read twice", e.Data)
			}
			seen[string(e.Data)] = true
			seqs = append(seqs, e.Seq)
		}
		if _, err := reader.Delete(ctx, id, seqs); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	// Nothing is left behind the cursor.
	if envs, err := nodes[0].Fetch(ctx, id, 0, 0); err != nil || len(envs) != 0 {
		t.Errorf("after reading all: %d envelopes left, %v", len(envs), err)
	}
}
