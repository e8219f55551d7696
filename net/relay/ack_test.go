package relay

import (
	"context"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// slowDeletes holds every Delete until release is closed.
type slowDeletes struct {
	store.Store
	started chan struct{}
	release chan struct{}
}

func (s *slowDeletes) Delete(ctx context.Context, id wire.MailboxID, seqs []uint64) (int, error) {
	s.started <- struct{}{}
	<-s.release
	return s.Store.Delete(ctx, id, seqs)
}

// An Ack's disk commit must not hold up the Send the client pipelines
// behind it: the Sent comes back first, the OK when the delete is done.
func TestAckDoesNotHoldUpSend(t *testing.T) {
	slow := &slowDeletes{started: make(chan struct{}, 1), release: make(chan struct{})}
	e := newEnv(t, func(c *Config) { slow.Store = c.Store; c.Store = slow })
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	seq := r.send(o.id, wire.Key32{}, "first")
	if d := r.deliver(); d.Seq != seq {
		t.Fatalf("deliver: got seq %d, want %d", d.Seq, seq)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.conn.WriteFrame(ctx, wire.Encode(100, &wire.Ack{Mailbox: o.id, Seqs: []uint64{seq}})); err != nil {
		t.Fatal(err)
	}
	<-slow.started
	if err := r.conn.WriteFrame(ctx, wire.Encode(101, &wire.Send{Mailbox: o.id, Envelope: []byte("second")})); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-r.resps:
		if _, ok := f.m.(*wire.Sent); !ok || f.id != 101 {
			t.Fatalf("with the delete pending: got %v id %d, want Sent id 101", describe(f.m), f.id)
		}
	case <-ctx.Done():
		t.Fatal("Send held up behind a pending Ack")
	}
	close(slow.release)
	select {
	case f := <-r.resps:
		if _, ok := f.m.(*wire.OK); !ok || f.id != 100 {
			t.Fatalf("after the delete: got %v id %d, want OK id 100", describe(f.m), f.id)
		}
	case <-ctx.Done():
		t.Fatal("no answer to the Ack")
	}
	u, err := e.store.Usage(ctx, o.id)
	if err != nil || u.Messages != 1 {
		t.Errorf("usage: got %+v, %v; want 1 message (the second)", u, err)
	}
}
