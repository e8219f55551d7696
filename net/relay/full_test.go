package relay

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemera-im/ephemera/net/store/boltstore"
	"github.com/ephemera-im/ephemera/net/wire"
)

// TestFullStore runs a relay over a bbolt store bounded to 2 MiB, over
// real sockets: Sends fill it until refused with "unavailable", /healthz
// then answers 503, and the recipient can still acknowledge (delete)
// every envelope, after which the relay is healthy and takes Sends again.
func TestFullStore(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{MaxBytes: 2 << 20, Reserve: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry(),
		Limits: Limits{MailboxMaxBytes: 64 << 20, MailboxMaxMessages: 100000}})
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
	health := func() int {
		resp, err := http.Get(hs.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := health(); got != http.StatusOK {
		t.Fatalf("healthz when empty: %d", got)
	}
	o := newOwner(t)
	r := e.ws(hs)
	o.register(r, wire.Key32{})
	s := e.ws(hs)
	env := make([]byte, 16<<10)
	var sent int
	for ; ; sent++ {
		if sent > 200 {
			t.Fatal("a 2 MiB store took 200 envelopes of 16 KiB")
		}
		resp := s.call(&wire.Send{Mailbox: o.id, Envelope: env})
		if er, ok := resp.(*wire.Error); ok {
			if er.Code != wire.CodeUnavailable {
				t.Fatalf("Send %d: got %v, want unavailable", sent, er)
			}
			break
		}
	}
	if got := health(); got != http.StatusServiceUnavailable {
		t.Errorf("healthz when full: got %d, want 503", got)
	}
	for i := range sent {
		d := r.deliver()
		if resp := r.call(&wire.Ack{Mailbox: o.id, Seqs: []uint64{d.Seq}}); resp.Type() != wire.TypeOK {
			t.Fatalf("Ack %d when full: got %v", i, describe(resp))
		}
	}
	if got := health(); got != http.StatusOK {
		t.Errorf("healthz after the acks: got %d, want 200", got)
	}
	s.send(o.id, wire.Key32{}, "room again")
}
