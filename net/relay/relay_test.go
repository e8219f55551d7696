package relay

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

func TestServerHello(t *testing.T) {
	e := newEnv(t)
	a, b := e.pipe(), e.pipe()
	relayID, _ := e.store.RelayID(context.Background())
	if a.hello.Relay != relayID {
		t.Errorf("hello relay id: got %x, want %x", a.hello.Relay, relayID)
	}
	if a.hello.Challenge == b.hello.Challenge || a.hello.Challenge.IsZero() {
		t.Errorf("challenges not fresh: %x and %x", a.hello.Challenge, b.hello.Challenge)
	}
	d := DefaultLimits()
	want := wire.ServerHello{Relay: relayID, Challenge: a.hello.Challenge, MaxEnvelope: uint32(d.MaxEnvelope),
		DefaultTTL: uint32(d.DefaultTTL.Seconds()), MaxTTL: uint32(d.MaxTTL.Seconds()), MaxBlob: uint64(d.MaxBlob), MaxChunk: uint32(d.MaxChunk)}
	if *a.hello != want {
		t.Errorf("hello: got %+v, want %+v", *a.hello, want)
	}
	mustType[*wire.Pong](a, &wire.Ping{})
}

func TestRegisterAndAuth(t *testing.T) {
	e := newEnv(t)
	o := newOwner(t)
	a := e.pipe()

	t.Run("bad signature", func(t *testing.T) {
		m := o.registerMsg(a, wire.Key32{})
		m.Signature[0] ^= 1
		a.wantError(m, wire.CodeUnauthorized)
	})
	t.Run("signed by another key", func(t *testing.T) {
		m := o.registerMsg(a, wire.Key32{})
		m.OwnerKey = newOwner(t).pub
		a.wantError(m, wire.CodeUnauthorized)
	})
	t.Run("auth unknown mailbox", func(t *testing.T) {
		a.wantError(o.authMsg(a), wire.CodeNotFound)
	})
	o.register(a, wire.Key32{})
	t.Run("register again same owner", func(t *testing.T) {
		o.register(a, tokenHash(wire.Key32{1}))
	})
	t.Run("register with another owner", func(t *testing.T) {
		o2 := newOwner(t)
		o2.id = o.id
		a.wantError(o2.registerMsg(a, wire.Key32{}), wire.CodeConflict)
	})

	b := e.pipe()
	t.Run("register replayed on another connection", func(t *testing.T) {
		b.wantError(o.registerMsg(a, wire.Key32{}), wire.CodeUnauthorized)
	})
	t.Run("auth replayed on another connection", func(t *testing.T) {
		b.wantError(o.authMsg(a), wire.CodeUnauthorized)
	})
	t.Run("register signature used as auth", func(t *testing.T) {
		r := o.registerMsg(b, wire.Key32{})
		b.wantError(&wire.Auth{Mailbox: o.id, Signature: r.Signature}, wire.CodeUnauthorized)
	})
	t.Run("auth", func(t *testing.T) {
		o.auth(b)
		o.auth(b) // again: no change
	})
}

func TestRegisterRateLimit(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.RegisterRate = 1; l.RegisterBurst = 2 }))
	c := e.pipe()
	o1, o2, o3 := newOwner(t), newOwner(t), newOwner(t)
	o1.register(c, wire.Key32{})
	o2.register(c, wire.Key32{})
	c.wantError(o3.registerMsg(c, wire.Key32{}), wire.CodeRateLimited)
	// Re-registering creates nothing and is not limited.
	o1.register(c, tokenHash(wire.Key32{7}))
	e.clock.Advance(time.Second)
	o3.register(c, wire.Key32{})
}

func TestSend(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxEnvelope = 100 }))
	open, locked := newOwner(t), newOwner(t)
	tok := wire.Key32{42}
	r := e.pipe()
	open.register(r, wire.Key32{})
	locked.register(r, tokenHash(tok))
	s := e.pipe()

	if seq := s.send(open.id, wire.Key32{9}, "a"); seq != 1 {
		t.Errorf("first seq: got %d, want 1", seq)
	}
	if seq := s.send(open.id, wire.Key32{}, "b"); seq != 2 {
		t.Errorf("second seq: got %d, want 2", seq)
	}
	s.wantError(&wire.Send{Mailbox: locked.id, SendToken: wire.Key32{43}, Envelope: []byte("x")}, wire.CodeUnauthorized)
	s.wantError(&wire.Send{Mailbox: locked.id, Envelope: []byte("x")}, wire.CodeUnauthorized)
	s.send(locked.id, tok, "ok")
	s.wantError(&wire.Send{Mailbox: newOwner(t).id, Envelope: []byte("x")}, wire.CodeNotFound)
	s.wantError(&wire.Send{Mailbox: open.id, Envelope: make([]byte, 101)}, wire.CodeTooLarge)
	s.send(open.id, wire.Key32{}, string(make([]byte, 100)))

	if got := e.metric("ephemera_relay_messages_stored_total"); got != 4 {
		t.Errorf("messages_stored_total: got %v, want 4", got)
	}
	if got := e.metric("ephemera_relay_bytes_stored_total"); got != 104 {
		t.Errorf("bytes_stored_total: got %v, want 104", got)
	}
}

func TestBacklogDeliveredInOrderAndAckDeletes(t *testing.T) {
	e := newEnv(t)
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	s := e.pipe()
	const n = 500 // more than the window and a fetch batch
	for i := range n {
		s.send(o.id, wire.Key32{}, fmt.Sprint(i))
	}
	r2 := e.pipe()
	o.auth(r2)
	before := e.clock.Now().UnixMilli()
	var seqs []uint64
	for i := range n {
		d := r2.deliver()
		if d.Mailbox != o.id || string(d.Envelope) != fmt.Sprint(i) || d.Seq != uint64(i+1) {
			t.Fatalf("deliver %d: got seq %d %q, want seq %d %q", i, d.Seq, d.Envelope, i+1, fmt.Sprint(i))
		}
		if int64(d.Received) != before {
			t.Fatalf("deliver %d: received %d, want the store's clock %d", i, d.Received, before)
		}
		seqs = append(seqs, d.Seq)
		if len(seqs) == 100 {
			mustType[*wire.OK](r2, &wire.Ack{Mailbox: o.id, Seqs: seqs})
			seqs = nil
		}
	}
	// r, the registering connection, is subscribed too, but it acks
	// nothing, so it gets one window's worth.
	for range DefaultLimits().MaxInflight {
		r.deliver()
	}
	r.noDeliver()
	u, err := e.store.Usage(context.Background(), o.id)
	if err != nil || u.Messages != 0 {
		t.Errorf("usage after acks: got %+v, %v; want 0 messages", u, err)
	}
	if got := e.metric("ephemera_relay_messages_acknowledged_total"); got != n {
		t.Errorf("messages_acknowledged_total: got %v, want %d", got, n)
	}
	if got, want := e.metric("ephemera_relay_messages_delivered_total"), float64(n+DefaultLimits().MaxInflight); got != want {
		t.Errorf("messages_delivered_total: got %v, want %v", got, want)
	}
}

func TestLiveDelivery(t *testing.T) {
	e := newEnv(t)
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	s := e.pipe()
	for i := range 20 {
		seq := s.send(o.id, wire.Key32{}, fmt.Sprint("live", i))
		d := r.deliver()
		if d.Seq != seq || string(d.Envelope) != fmt.Sprint("live", i) {
			t.Fatalf("got seq %d %q, want seq %d", d.Seq, d.Envelope, seq)
		}
	}
}

func TestUnackedRedeliveredOnReconnect(t *testing.T) {
	e := newEnv(t)
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	s := e.pipe()
	for _, m := range []string{"one", "two", "three"} {
		s.send(o.id, wire.Key32{}, m)
	}
	for range 3 {
		r.deliver()
	}
	mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: []uint64{1}})
	r.conn.Close("going")

	r2 := e.pipe()
	o.auth(r2)
	for _, want := range []string{"two", "three"} {
		if d := r2.deliver(); string(d.Envelope) != want {
			t.Errorf("redelivered: got %q, want %q", d.Envelope, want)
		}
	}
	r2.noDeliver()
}

func TestAckNeedsAuth(t *testing.T) {
	e := newEnv(t)
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	s := e.pipe()
	s.send(o.id, wire.Key32{}, "x")
	s.wantError(&wire.Ack{Mailbox: o.id, Seqs: []uint64{1}}, wire.CodeUnauthorized)
	if u, _ := e.store.Usage(context.Background(), o.id); u.Messages != 1 {
		t.Errorf("an unauthenticated Ack deleted: %+v", u)
	}
}

func TestInflightWindow(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxInflight = 4 }))
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	s := e.pipe()
	for i := range 10 {
		s.send(o.id, wire.Key32{}, fmt.Sprint(i))
	}
	var got []uint64
	for range 4 {
		got = append(got, r.deliver().Seq)
	}
	r.noDeliver()
	mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: got[:2]})
	for range 2 {
		got = append(got, r.deliver().Seq)
	}
	r.noDeliver()
	// Acking an unknown or repeated seq frees nothing.
	mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: []uint64{1, 99}})
	r.noDeliver()
	mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: got[2:]})
	for range 4 {
		got = append(got, r.deliver().Seq)
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("delivery order: got %v", got)
		}
	}
}

func TestPrekeys(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.PrekeyClaimRate = 1; l.PrekeyClaimBurst = 3 }))
	o := newOwner(t)
	r := e.pipe()
	other := e.pipe()
	put := &wire.PutPrekeys{Mailbox: o.id, Bundle: []byte("bundle"), LastResort: []byte("last"), OneTime: [][]byte{[]byte("k1"), []byte("k2")}}
	other.wantError(put, wire.CodeUnauthorized) // mailbox not registered, nor authenticated
	o.register(r, wire.Key32{})
	other.wantError(&wire.ClaimPrekey{Mailbox: o.id}, wire.CodeNoPrekeys)
	other.wantError(put, wire.CodeUnauthorized)
	if got := mustType[*wire.PrekeysStored](r, put); got.Remaining != 2 {
		t.Errorf("remaining: got %d, want 2", got.Remaining)
	}
	// The failed claim above spent one of the three tokens.
	for _, want := range []wire.Prekey{{Bundle: []byte("bundle"), Key: []byte("k1")}, {Bundle: []byte("bundle"), Key: []byte("k2")}} {
		got := mustType[*wire.Prekey](other, &wire.ClaimPrekey{Mailbox: o.id})
		if !bytes.Equal(got.Bundle, want.Bundle) || !bytes.Equal(got.Key, want.Key) || got.LastResort {
			t.Errorf("claim: got %+v, want %+v", got, want)
		}
	}
	other.wantError(&wire.ClaimPrekey{Mailbox: o.id}, wire.CodeRateLimited)
	e.clock.Advance(time.Second)
	got := mustType[*wire.Prekey](other, &wire.ClaimPrekey{Mailbox: o.id})
	if !got.LastResort || string(got.Key) != "last" {
		t.Errorf("claim after one-time keys ran out: got %+v, want the last-resort key", got)
	}
	other.wantError(&wire.ClaimPrekey{Mailbox: newOwner(t).id}, wire.CodeNotFound)
	if got := e.metric("ephemera_relay_prekey_claims_total"); got != 3 {
		t.Errorf("prekey_claims_total: got %v, want 3", got)
	}
	// Too many one-time keys for the store.
	big := &wire.PutPrekeys{Mailbox: o.id}
	for range store.MaxOneTimePrekeys/wire.MaxPrekeyCount + 1 {
		big.OneTime = make([][]byte, wire.MaxPrekeyCount)
		for i := range big.OneTime {
			big.OneTime[i] = []byte{1}
		}
		if resp := r.call(big); resp.Type() != wire.TypePrekeysStored {
			if e, ok := resp.(*wire.Error); !ok || e.Code != wire.CodeQuota {
				t.Fatalf("overfull prekeys: got %v, want quota", describe(resp))
			}
			return
		}
	}
	t.Error("no quota error for too many one-time keys")
}

func TestBlobs(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxBlob = 1000; l.MaxChunk = 300; l.MailboxMaxBytes = 1500 }))
	o, o2 := newOwner(t), newOwner(t)
	c := e.pipe()
	o.register(c, wire.Key32{})
	o2.register(c, wire.Key32{})
	other := e.pipe()

	other.wantError(&wire.BlobCreate{Mailbox: o.id, Size: 10}, wire.CodeUnauthorized)
	c.wantError(&wire.BlobCreate{Mailbox: o.id, Size: 1001}, wire.CodeTooLarge)
	id := mustType[*wire.BlobCreated](c, &wire.BlobCreate{Mailbox: o.id, Size: 700}).Blob
	// Quota: 700 held, 1500 allowed.
	c.wantError(&wire.BlobCreate{Mailbox: o.id, Size: 801}, wire.CodeQuota)

	data := make([]byte, 700)
	for i := range data {
		data[i] = byte(i)
	}
	c.wantError(&wire.BlobPut{Mailbox: o.id, Blob: id, Data: data[:301]}, wire.CodeTooLarge)
	c.wantError(&wire.BlobPut{Mailbox: o.id, Blob: id, Offset: 5, Data: data[5:10]}, wire.CodeConflict)
	c.wantError(&wire.BlobPut{Mailbox: o2.id, Blob: id, Data: data[:10]}, wire.CodeUnauthorized)
	other.wantError(&wire.BlobPut{Mailbox: o.id, Blob: id, Data: data[:10]}, wire.CodeUnauthorized)
	c.wantError(&wire.BlobPut{Mailbox: o.id, Blob: wire.BlobID{1}, Data: data[:10]}, wire.CodeNotFound)

	st := mustType[*wire.BlobStatus](c, &wire.BlobPut{Mailbox: o.id, Blob: id, Data: data[:300]})
	wantExp := uint64(e.clock.Now().Add(DefaultLimits().DefaultTTL).Unix())
	if *st != (wire.BlobStatus{Size: 700, Have: 300, Expires: wantExp}) {
		t.Errorf("status after first chunk: got %+v", *st)
	}
	other.wantError(&wire.BlobGet{Blob: id, Length: 10}, wire.CodeConflict) // incomplete

	// Resume on a new connection: ask where to continue.
	c.conn.Close("interrupted")
	c2 := e.pipe()
	o.auth(c2)
	st = mustType[*wire.BlobStatus](other, &wire.BlobStat{Blob: id})
	if st.Have != 300 {
		t.Fatalf("have after reconnect: got %d, want 300", st.Have)
	}
	for off := st.Have; off < 700; off += 300 {
		end := min(off+300, 700)
		mustType[*wire.BlobStatus](c2, &wire.BlobPut{Mailbox: o.id, Blob: id, Offset: off, Data: data[off:end]})
	}
	c2.wantError(&wire.BlobPut{Mailbox: o.id, Blob: id, Offset: 700, Data: []byte{1}}, wire.CodeTooLarge)

	var got []byte
	for off := uint64(0); off < 700; off += 256 {
		bd := mustType[*wire.BlobData](other, &wire.BlobGet{Blob: id, Offset: off, Length: 256})
		if bd.Offset != off {
			t.Fatalf("data offset: got %d, want %d", bd.Offset, off)
		}
		got = append(got, bd.Data...)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("blob read back differs")
	}
	other.wantError(&wire.BlobGet{Blob: id, Length: 301}, wire.CodeTooLarge)
	other.wantError(&wire.BlobGet{Blob: id, Offset: 701, Length: 1}, wire.CodeBadRequest)
	if bd := mustType[*wire.BlobData](other, &wire.BlobGet{Blob: id, Offset: 700, Length: 10}); len(bd.Data) != 0 {
		t.Errorf("read at the end: got %d bytes", len(bd.Data))
	}
	other.wantError(&wire.BlobStat{Blob: wire.BlobID{2}}, wire.CodeNotFound)
	if got := e.metric("ephemera_relay_blob_bytes_total"); got != 700 {
		t.Errorf("blob_bytes_total: got %v, want 700", got)
	}
}

func TestQuota(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MailboxMaxMessages = 2; l.MailboxMaxBytes = 10 }))
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	s := e.pipe()
	s.send(o.id, wire.Key32{}, "a")
	s.wantError(&wire.Send{Mailbox: o.id, Envelope: make([]byte, 10)}, wire.CodeQuota)
	s.send(o.id, wire.Key32{}, "b")
	s.wantError(&wire.Send{Mailbox: o.id, Envelope: []byte("c")}, wire.CodeQuota)
	r.deliver()
	mustType[*wire.OK](r, &wire.Ack{Mailbox: o.id, Seqs: []uint64{1}})
	s.send(o.id, wire.Key32{}, "c")
}

func TestTTLExpiryAndSweeper(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SweepInterval = 5 * time.Millisecond },
		withLimits(func(l *Limits) { l.DefaultTTL = time.Hour; l.MaxTTL = 2 * time.Hour }))
	o := newOwner(t)
	r := e.pipe()
	o.register(r, wire.Key32{})
	r.conn.Close("away")
	s := e.pipe()
	s.send(o.id, wire.Key32{}, "default")                                                     // 1h
	mustType[*wire.Sent](s, &wire.Send{Mailbox: o.id, TTL: 60, Envelope: []byte("minute")})   // 60s
	mustType[*wire.Sent](s, &wire.Send{Mailbox: o.id, TTL: 1 << 30, Envelope: []byte("max")}) // clamped to 2h

	envs, _ := e.store.Fetch(context.Background(), o.id, 0, 0)
	now := e.clock.Now()
	for i, want := range []time.Time{now.Add(time.Hour), now.Add(time.Minute), now.Add(2 * time.Hour)} {
		if !envs[i].Expires.Equal(want) {
			t.Errorf("envelope %d expires %v, want %v", i, envs[i].Expires, want)
		}
	}

	e.clock.Advance(time.Minute)
	eventually(t, "one envelope swept", func() bool { return e.metric("ephemera_relay_messages_expired_total") == 1 })
	e.clock.Advance(time.Hour)
	eventually(t, "two envelopes swept", func() bool { return e.metric("ephemera_relay_messages_expired_total") == 2 })

	r2 := e.pipe()
	o.auth(r2)
	if d := r2.deliver(); string(d.Envelope) != "max" {
		t.Errorf("after expiry: got %q, want only %q", d.Envelope, "max")
	}
	r2.noDeliver()
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.IdleTimeout = 200 * time.Millisecond }))
	c := e.pipe()
	for range 4 {
		time.Sleep(100 * time.Millisecond)
		mustType[*wire.Pong](c, &wire.Ping{}) // pings keep it open
	}
	if got := c.closed(); got != "1001 idle timeout" {
		t.Errorf("close: got %q, want %q", got, "1001 idle timeout")
	}
}

func TestThrottle(t *testing.T) {
	limits := withLimits(func(l *Limits) { l.ConnRate = 50; l.ConnBurst = 5 })
	// Which frames are throttled, on a clock that advances only by the
	// relay's own waits: on the real one, a test slowed down by a busy
	// machine sends slower than the limit and fewer frames wait.
	t.Run("counts", func(t *testing.T) {
		e := newEnv(t, limits)
		var mu sync.Mutex
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		var waits []time.Duration
		e.srv.throttleClock = throttleClock{
			now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
			sleep: func(_ context.Context, d time.Duration) bool {
				mu.Lock()
				defer mu.Unlock()
				now = now.Add(d)
				waits = append(waits, d)
				return true
			},
		}
		c := e.pipe()
		for range 15 {
			mustType[*wire.Pong](c, &wire.Ping{})
		}
		// 5 at once, then 10 at 50/s: each of those waits 20ms.
		mu.Lock()
		defer mu.Unlock()
		if len(waits) != 10 {
			t.Errorf("%d frames waited (%v), want 10", len(waits), waits)
		}
		for i, d := range waits {
			if d < 19*time.Millisecond || d > 21*time.Millisecond {
				t.Errorf("wait %d: %v, want 20ms", i, d)
			}
		}
		if got := e.metric("ephemera_relay_throttled_frames_total"); got != 10 {
			t.Errorf("throttled_frames_total: got %v, want 10", got)
		}
	})
	// On the real clock, the waits are real: a busy machine only makes
	// this slower.
	t.Run("real clock", func(t *testing.T) {
		e := newEnv(t, limits)
		c := e.pipe()
		start := time.Now()
		for range 15 {
			mustType[*wire.Pong](c, &wire.Ping{})
		}
		// 5 at once, then 10 at 50/s: at least 200ms.
		if d := time.Since(start); d < 180*time.Millisecond {
			t.Errorf("15 pings took %v, want the frame rate to slow them down", d)
		}
	})
}

func TestBadFramesOverPipe(t *testing.T) {
	e := newEnv(t, withLimits(func(l *Limits) { l.MaxEnvelope = 1000; l.MaxChunk = 1000 }))
	for _, tc := range []struct {
		name, want string
		frame      []byte
	}{
		{"garbage", "1008 wire: malformed frame: unsupported version 222", []byte{222, 1, 2, 3, 4, 5, 6}},
		{"truncated", "1008 Send frame: wire: malformed frame: truncated mailbox", wire.Encode(1, &wire.Send{})[:20]},
		{"response type", "1008 OK frame from a client", wire.Encode(1, &wire.OK{})},
		{"push type", "1008 Deliver frame from a client", wire.Encode(0, &wire.Deliver{})},
		{"zero id", "1008 request id 0 is reserved for relay pushes", wire.Encode(0, &wire.Ping{})},
		{"oversized", "1009 frame is 6101 bytes, limit 5096", make([]byte, 6101)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.pipe()
			if err := c.conn.WriteFrame(context.Background(), tc.frame); err != nil {
				t.Fatal(err)
			}
			if got := c.closed(); got != tc.want {
				t.Errorf("close: got %q, want %q", got, tc.want)
			}
		})
	}
}

// panicStore panics where the relay looks a mailbox up.
type panicStore struct{ store.Store }

func (panicStore) Mailbox(context.Context, wire.MailboxID) (store.Mailbox, error) { panic("boom") }

func TestPanicCostsOnlyTheConnection(t *testing.T) {
	e := newEnv(t)
	e.srv.store.s = panicStore{e.store}
	c, other := e.pipe(), e.pipe()
	c.conn.WriteFrame(context.Background(), wire.Encode(1, &wire.Send{}))
	if got := c.closed(); got != "1011 internal error" {
		t.Errorf("close: got %q", got)
	}
	mustType[*wire.Pong](other, &wire.Ping{})
	if got := e.metric("ephemera_relay_panics_total"); got != 1 {
		t.Errorf("panics_total: got %v, want 1", got)
	}
}
