package natsstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// BenchmarkMailboxes is the relay's steady state on one JetStream server
// (file storage): an envelope appended to a random one of N registered
// mailboxes, fetched after the previous one, deleted. With no consumer per
// mailbox, what a mailbox costs is its records; the time per envelope
// should not grow with N.
//
//	go test -run '^$' -bench Mailboxes -benchtime 5000x ./net/store/natsstore
func BenchmarkMailboxes(b *testing.B) {
	for _, n := range []int{100, 10_000, 30_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ns := startServer(b)
			s, err := Open(context.Background(), connect(b, ns), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			ids := make([]wire.MailboxID, n)
			for i := range ids {
				ids[i] = wire.MailboxID{byte(i >> 16), byte(i >> 8), byte(i), 0xbe}
				if err := s.Register(ctx, ids[i], store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
					b.Fatal(err)
				}
			}
			data := make([]byte, 1024)
			exp := time.Now().Add(time.Hour)
			var next atomic.Uint64
			b.SetBytes(int64(len(data)))
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(next.Add(1), 1))
				for pb.Next() {
					id := ids[r.IntN(n)]
					seq, err := s.Append(ctx, id, store.Envelope{Data: data, Expires: exp}, store.Quota{})
					if err != nil {
						b.Error(err)
						return
					}
					envs, err := s.Fetch(ctx, id, seq-1, 1)
					if err != nil || len(envs) != 1 {
						b.Errorf("Fetch: %d envelopes, %v", len(envs), err)
						return
					}
					if _, err := s.Delete(ctx, id, []uint64{seq}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkConsumerPerMailbox is the design not taken: one durable
// consumer per mailbox, filtered on its subject. nats-server 2.15 refuses
// more than 1,000 consumers per stream unless told otherwise
// (JetStreamLimits.DefaultMaxConsumers, lifted here). It measures what
// creating N costs, the server's memory per consumer, and then creating
// and deleting one more with N in place.
func BenchmarkConsumerPerMailbox(b *testing.B) {
	for _, n := range []int{1000, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ns, err := server.NewServer(&server.Options{
				ServerName: "bench", DontListen: true, JetStream: true, StoreDir: b.TempDir(), NoLog: true, NoSigs: true,
				JetStreamLimits: server.JSLimitOpts{DefaultMaxConsumers: -1},
			})
			if err != nil {
				b.Fatal(err)
			}
			ns.Start()
			defer ns.Shutdown()
			if !ns.ReadyForConnections(10 * time.Second) {
				b.Fatal("server not ready")
			}
			js, err := jetstream.New(connect(b, ns))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "C", Subjects: []string{"c.*"}})
			if err != nil {
				b.Fatal(err)
			}
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			for i := range n {
				_, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
					Durable: fmt.Sprintf("m%d", i), FilterSubject: fmt.Sprintf("c.%d", i), AckPolicy: jetstream.AckExplicitPolicy,
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			setup := time.Since(start)
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ResetTimer()
			for b.Loop() {
				if _, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
					Durable: "extra", FilterSubject: "c.extra", AckPolicy: jetstream.AckExplicitPolicy,
				}); err != nil {
					b.Fatal(err)
				}
				if err := st.DeleteConsumer(ctx, "extra"); err != nil {
					b.Fatal(err)
				}
			}
			// After the loop: ResetTimer drops metrics reported before it.
			b.ReportMetric(float64(setup.Microseconds())/float64(n), "µs/consumer-created")
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(n), "heap-B/consumer")
		})
	}
}
