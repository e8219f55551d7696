package boltstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// found returns how many of envs occur, byte for byte, in the file.
func found(t *testing.T, path string, envs [][]byte) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range envs {
		if bytes.Contains(raw, e) {
			n++
		}
	}
	return n
}

func randomEnvelopes(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
		rand.Read(out[i])
	}
	return out
}

// TestCompactRemovesDeletedEnvelopes: deleted envelopes stay in relay.db's
// freed pages (the defect) until Compact, after which none of their bytes
// are in the file, the kept ones are, and the store works on.
func TestCompactRemovesDeletedEnvelopes(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := wire.MailboxID{1}
	if err := s.Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	envs := randomEnvelopes(60, 1000)
	var seqs []uint64
	for _, e := range envs {
		seq, err := s.Append(ctx, id, store.Envelope{Data: e}, store.Quota{})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	acked, kept := envs[:50], envs[50:]
	for _, seq := range seqs[:50] {
		if _, err := s.Delete(ctx, id, []uint64{seq}); err != nil {
			t.Fatal(err)
		}
	}
	if n := found(t, s.Path(), acked); n == 0 {
		t.Fatal("no deleted envelope readable before compaction; the test would prove nothing")
	} else {
		t.Logf("before compaction %d of %d deleted envelopes readable in relay.db", n, len(acked))
	}
	st, err := s.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted %d -> %d bytes in %v", st.Before, st.After, st.Took)
	if n := found(t, s.Path(), acked); n != 0 {
		t.Errorf("after compaction %d deleted envelopes readable in relay.db", n)
	}
	if n := found(t, s.Path(), kept); n != len(kept) {
		t.Errorf("after compaction %d of %d kept envelopes in relay.db", n, len(kept))
	}
	got, err := s.Fetch(ctx, id, 0, 0)
	if err != nil || len(got) != len(kept) {
		t.Fatalf("Fetch after compaction: %d envelopes, %v", len(got), err)
	}
	for i, e := range got {
		if !bytes.Equal(e.Data, kept[i]) || e.Seq != seqs[50+i] {
			t.Errorf("envelope %d after compaction differs", i)
		}
	}
	seq, err := s.Append(ctx, id, store.Envelope{Data: []byte("after")}, store.Quota{})
	if err != nil || seq != seqs[len(seqs)-1]+1 {
		t.Errorf("Append after compaction: seq %d, %v", seq, err)
	}
	if u, _ := s.Usage(ctx, id); u.Messages != len(kept)+1 {
		t.Errorf("Usage after compaction: %+v", u)
	}
}

// TestScheduledCompaction: with CompactEvery set, deleted envelopes leave
// relay.db without anyone calling Compact, and Close stops the schedule.
func TestScheduledCompaction(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{NoSync: true, CompactEvery: 20 * time.Millisecond,
		OnCompactError: func(err error) { t.Errorf("scheduled compaction: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	id := wire.MailboxID{1}
	if err := s.Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
		t.Fatal(err)
	}
	envs := randomEnvelopes(20, 1000)
	for _, e := range envs {
		if _, err := s.Append(ctx, id, store.Envelope{Data: e}, store.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, id, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for found(t, s.Path(), envs[:10]) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("deleted envelopes still in relay.db after 20s of scheduled compaction")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := found(t, s.Path(), envs[10:]); n != 10 {
		t.Errorf("%d of 10 kept envelopes in relay.db", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
