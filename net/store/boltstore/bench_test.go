package boltstore

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// The relay has about one goroutine per connection, so the benchmarks run
// benchAppenders of them whatever GOMAXPROCS is, spread over benchMailboxes.
const (
	benchAppenders = 1000
	benchMailboxes = 1024
	benchEnvelope  = 1 << 10
)

func benchStore(b *testing.B, opts Options) (*Store, []wire.MailboxID) {
	s, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ids := make([]wire.MailboxID, benchMailboxes)
	for i := range ids {
		ids[i] = wire.MailboxID{byte(i >> 8), byte(i), 0xbe}
	}
	// Registered in one transaction: this setup is not what is measured.
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			m := mailboxRecord{Owner: wire.Key32{1}, Created: timeToNanos(time.Now())}
			if err := putMailbox(tx, id, &m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s, ids
}

func benchAppend(b *testing.B, opts Options, del bool) {
	s, ids := benchStore(b, opts)
	ctx := context.Background()
	data := make([]byte, benchEnvelope)
	q := store.Quota{MaxMessages: 1 << 30, MaxBytes: 1 << 40}
	var next atomic.Uint64
	b.SetBytes(benchEnvelope)
	b.SetParallelism(max(1, benchAppenders/runtime.GOMAXPROCS(0)))
	tx0 := lastTxID(b, s)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids[next.Add(1)%benchMailboxes]
		env := store.Envelope{Data: data, Expires: time.Now().Add(time.Hour)}
		for pb.Next() {
			seq, err := s.Append(ctx, id, env, q)
			if err != nil {
				b.Error(err)
				return
			}
			if del {
				if _, err := s.Delete(ctx, id, []uint64{seq}); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/float64(lastTxID(b, s)-tx0), "appends/commit")
}

// lastTxID returns the id of the last committed write transaction.
func lastTxID(b *testing.B, s *Store) int {
	var id int
	if err := s.db.View(func(tx *bolt.Tx) error { id = int(tx.ID()); return nil }); err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkAppendParallel: many connections sending 1 KiB envelopes, fsync
// on, as the relay runs.
func BenchmarkAppendParallel(b *testing.B) { benchAppend(b, Options{}, false) }

// BenchmarkAppendDelete: the relay's steady state, each envelope stored
// then acknowledged and deleted.
func BenchmarkAppendDelete(b *testing.B) { benchAppend(b, Options{}, true) }

func BenchmarkAppendParallelNoSync(b *testing.B) { benchAppend(b, Options{NoSync: true}, false) }
func BenchmarkAppendDeleteNoSync(b *testing.B)   { benchAppend(b, Options{NoSync: true}, true) }

// BenchmarkAppendBatchDelay compares batch delays for the comment on
// Options.MaxBatchDelay.
func BenchmarkAppendBatchDelay(b *testing.B) {
	for _, d := range []time.Duration{0, 500 * time.Microsecond, 2 * time.Millisecond, 10 * time.Millisecond} {
		b.Run(d.String(), func(b *testing.B) { benchAppend(b, Options{MaxBatchDelay: d}, false) })
	}
}

// BenchmarkAppendSerial is one sender alone: its latency is one commit.
func BenchmarkAppendSerial(b *testing.B) {
	s, ids := benchStore(b, Options{})
	data := make([]byte, benchEnvelope)
	b.SetBytes(benchEnvelope)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Append(context.Background(), ids[0], store.Envelope{Data: data}, store.Quota{}); err != nil {
			b.Fatal(err)
		}
	}
}
