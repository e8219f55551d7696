package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemera-im/ephemera/net/store/boltstore"
	"github.com/ephemera-im/ephemera/net/wire"
)

// TestAckedEnvelopesLeaveRelayDB: envelopes sent, delivered and
// acknowledged over real sockets are, after the store's scheduled
// compaction, nowhere in relay.db's raw bytes; unacknowledged ones are.
func TestAckedEnvelopesLeaveRelayDB(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{CompactEvery: 20 * time.Millisecond,
		OnCompactError: func(err error) { t.Errorf("compaction: %v", err) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	hs := e.httpServer()
	o := newOwner(t)
	r := e.ws(hs)
	o.register(r, wire.Key32{})
	s := e.ws(hs)
	envs := make([][]byte, 40)
	for i := range envs {
		envs[i] = make([]byte, 2000)
		rand.Read(envs[i])
		mustType[*wire.Sent](s, &wire.Send{Mailbox: o.id, Envelope: envs[i]})
	}
	var acked [][]byte
	for i := range envs {
		d := r.deliver()
		if i < 30 {
			mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: []uint64{d.Seq}})
			acked = append(acked, d.Envelope)
		}
	}
	count := func(envs [][]byte) int {
		raw, err := os.ReadFile(st.Path())
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
	eventually(t, "acked envelopes to leave relay.db", func() bool { return count(acked) == 0 })
	if n := count(envs[30:]); n != 10 {
		t.Errorf("%d of 10 unacknowledged envelopes in relay.db", n)
	}
}
