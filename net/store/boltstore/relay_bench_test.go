package boltstore

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/internal/procstat"
	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Relay steady state: relayClients connections, each sending a 1 KiB
// envelope to a random one of relayMailboxes, then fetching and deleting
// it as delivery and acknowledgement do.
const (
	relayClients   = 1000
	relayMailboxes = 1000
)

// BenchmarkRelaySteadyState reports msgs/s (one Append, Fetch and Delete
// each), the write commits per message, and the process CPU the store
// used: cpu-µs/msg and cores (CPU time over wall time).
func BenchmarkRelaySteadyState(b *testing.B) {
	benchRelay(b, Options{})
}

// BenchmarkRelaySteadyStateDBBatch is the same through bbolt's DB.Batch:
// the baseline the commit loop is measured against, in the same run.
func BenchmarkRelaySteadyStateDBBatch(b *testing.B) {
	benchRelay(b, Options{UseDBBatch: true})
}

// BenchmarkRelaySteadyStateNoSync is the same without fsync: what the
// store's own work costs.
func BenchmarkRelaySteadyStateNoSync(b *testing.B) {
	benchRelay(b, Options{NoSync: true})
}

func benchRelay(b *testing.B, opts Options) {
	ctx := context.Background()
	s, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := make([]wire.MailboxID, relayMailboxes)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = wire.MailboxID{0: 'r', 1: byte(i >> 8), 2: byte(i), 31: 1}
		wg.Go(func() {
			if err := s.Register(ctx, ids[i], store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	data := make([]byte, 1<<10)
	q := store.Quota{MaxMessages: 10000, MaxBytes: 100 << 20}
	var left atomic.Int64
	left.Store(int64(b.N))
	b.SetBytes(int64(len(data)))
	tx0 := lastTxID(b, s)
	cpu0 := procstat.CPUTime()
	st0 := s.db.Stats()
	b.ResetTimer()
	start := time.Now()
	for c := range relayClients {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(c), 1))
			for left.Add(-1) >= 0 {
				id := ids[r.IntN(len(ids))]
				env := store.Envelope{Expires: time.Now().Add(24 * time.Hour), Data: data}
				seq, err := s.Append(ctx, id, env, q)
				if err != nil {
					b.Error(err)
					return
				}
				envs, err := s.Fetch(ctx, id, seq-1, 1)
				if err != nil || len(envs) != 1 || envs[0].Seq != seq {
					b.Errorf("Fetch after %d: got %d envelopes, %v, want seq %d", seq-1, len(envs), err, seq)
					return
				}
				if n, err := s.Delete(ctx, id, []uint64{seq}); n != 1 || err != nil {
					b.Errorf("Delete %d: got %d, %v, want 1, nil", seq, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := procstat.CPUTime() - cpu0
	st := s.db.Stats()
	d := st.TxStats.Sub(&st0.TxStats)
	commits := float64(lastTxID(b, s) - tx0)
	b.ReportMetric(float64(d.GetWrite())/float64(b.N), "pages/msg")
	b.ReportMetric(float64(d.GetWriteTime().Microseconds())/commits, "write-µs/commit")
	b.ReportMetric(float64(d.GetSpillTime().Microseconds())/commits, "spill-µs/commit")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lastTxID(b, s)-tx0)/float64(b.N), "commits/msg")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
}
