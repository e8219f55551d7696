package boltstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// BenchmarkCompact compacts a relay.db holding live MiB of envelopes
// (1 KiB each, over 1,000 mailboxes) after as many more were appended and
// deleted. Every store call waits while Compact runs, so ns/op is also the
// pause writers see. Reported in docs/PERFORMANCE.md.
func BenchmarkCompact(b *testing.B) {
	for _, live := range []int{8, 64} {
		b.Run(fmt.Sprintf("live=%dMiB", live), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const mailboxes, size = 1000, 1 << 10
			n := live << 20 / size
			data := make([]byte, size)
			rand.Read(data)
			for m := range mailboxes {
				id := wire.MailboxID{byte(m), byte(m >> 8)}
				if err := s.Register(ctx, id, store.Mailbox{OwnerKey: wire.Key32{1}}); err != nil {
					b.Fatal(err)
				}
			}
			// Appends in parallel so the commit loop batches them.
			fill := func(k int) [][2]uint64 {
				out := make(chan [2]uint64, k)
				sem := make(chan struct{}, 256)
				for i := range k {
					sem <- struct{}{}
					go func() {
						defer func() { <-sem }()
						m := i % mailboxes
						seq, err := s.Append(ctx, wire.MailboxID{byte(m), byte(m >> 8)}, store.Envelope{Data: data}, store.Quota{})
						if err != nil {
							b.Error(err)
						}
						out <- [2]uint64{uint64(m), seq}
					}()
				}
				var got [][2]uint64
				for range k {
					got = append(got, <-out)
				}
				return got
			}
			fill(n)
			for _, ms := range fill(n) {
				m := int(ms[0])
				if _, err := s.Delete(ctx, wire.MailboxID{byte(m), byte(m >> 8)}, []uint64{ms[1]}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(n * size))
			b.ResetTimer()
			for b.Loop() {
				st, err := s.Compact(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(st.Before)/(1<<20), "MiB-before")
				b.ReportMetric(float64(st.After)/(1<<20), "MiB-after")
			}
		})
	}
}
