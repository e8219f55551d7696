package relayclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/wire"
)

// fakeRelay is a small scripted relay speaking over wire.Pipe: enough of
// the protocol to drive the client, with knobs to misbehave. It checks
// every signature against the connection's challenge.
type fakeRelay struct {
	t     testing.TB
	relay wire.Key32
	hello wire.ServerHello

	// hook, when set, sees every request first; returning false drops it
	// unanswered (the test may answer later with fc.reply).
	hook atomic.Pointer[func(fc *fakeConn, id uint32, m wire.Message) bool]
	// concurrent handles each request in its own goroutine, so answers
	// come back out of order.
	concurrent bool

	mu        sync.Mutex
	mailboxes map[wire.MailboxID]*fakeMailbox
	blobs     map[wire.BlobID]*fakeBlob
	prekeys   map[wire.MailboxID]*fakePrekeys
	conns     map[*fakeConn]bool
	refuse    int // refuse this many more dials
	dials     int
	auths     int // successful Auth requests
	quota     int // envelopes per mailbox; 0: unlimited
	wg        sync.WaitGroup
}

type fakeMailbox struct {
	owner, tokenHash wire.Key32
	next             uint64
	envs             []*wire.Deliver
}

type fakeBlob struct {
	owner wire.MailboxID
	data  []byte
	size  int
}

type fakePrekeys struct {
	bundle, last []byte
	oneTime      [][]byte
}

type fakeConn struct {
	r         *fakeRelay
	conn      wire.Conn
	challenge wire.Key32
	written   atomic.Int64 // frames written to the client

	mu     sync.Mutex
	authed map[wire.MailboxID]bool
	out    chan []byte
	done   chan struct{}
}

func newFakeRelay(t testing.TB) *fakeRelay {
	r := &fakeRelay{
		t:         t,
		mailboxes: make(map[wire.MailboxID]*fakeMailbox),
		blobs:     make(map[wire.BlobID]*fakeBlob),
		prekeys:   make(map[wire.MailboxID]*fakePrekeys),
		conns:     make(map[*fakeConn]bool),
	}
	rand.Read(r.relay[:])
	r.hello = wire.ServerHello{Relay: r.relay, MaxEnvelope: 1 << 20, DefaultTTL: 3600, MaxTTL: 86400, MaxBlob: 64 << 20, MaxChunk: 64 << 10}
	t.Cleanup(r.close)
	return r
}

func (r *fakeRelay) setHook(h func(fc *fakeConn, id uint32, m wire.Message) bool) { r.hook.Store(&h) }

// Dial is a Config.Dial.
func (r *fakeRelay) Dial(ctx context.Context) (wire.Conn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dials++
	if r.refuse > 0 {
		r.refuse--
		return nil, errors.New("fake relay: dial refused")
	}
	cli, srv := wire.Pipe()
	fc := &fakeConn{r: r, conn: srv, authed: make(map[wire.MailboxID]bool), out: make(chan []byte, 1<<16), done: make(chan struct{})}
	rand.Read(fc.challenge[:])
	r.conns[fc] = true
	h := r.hello
	h.Challenge = fc.challenge
	fc.push(0, &h)
	r.wg.Add(2)
	go fc.writeLoop()
	go fc.serve()
	return cli, nil
}

func (r *fakeRelay) dialCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dials
}

func (r *fakeRelay) connList() []*fakeConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	var l []*fakeConn
	for fc := range r.conns {
		l = append(l, fc)
	}
	return l
}

// dropAll closes every connection, as a crashing relay would.
func (r *fakeRelay) dropAll() {
	for _, fc := range r.connList() {
		fc.conn.Close("fake relay drop")
	}
}

func (r *fakeRelay) close() {
	r.dropAll()
	r.wg.Wait()
}

// stored returns the seqs a mailbox holds.
func (r *fakeRelay) stored(id wire.MailboxID) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var seqs []uint64
	if mb := r.mailboxes[id]; mb != nil {
		for _, e := range mb.envs {
			seqs = append(seqs, e.Seq)
		}
	}
	return seqs
}

// push queues a frame for the client. The queue is unbounded; the writer
// goroutine blocks when the client stops reading.
func (fc *fakeConn) push(id uint32, m wire.Message) {
	select {
	case fc.out <- wire.Encode(id, m):
	case <-fc.done:
	}
}

func (fc *fakeConn) reply(id uint32, m wire.Message) { fc.push(id, m) }

func (fc *fakeConn) writeLoop() {
	defer fc.r.wg.Done()
	for {
		select {
		case f := <-fc.out:
			if err := fc.conn.WriteFrame(context.Background(), f); err != nil {
				return
			}
			fc.written.Add(1)
		case <-fc.done:
			return
		}
	}
}

func (fc *fakeConn) serve() {
	defer fc.r.wg.Done()
	defer func() {
		fc.r.mu.Lock()
		delete(fc.r.conns, fc)
		fc.r.mu.Unlock()
		close(fc.done)
		fc.conn.Close("fake relay: done")
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		b, err := fc.conn.ReadFrame(context.Background())
		if err != nil {
			return
		}
		id, m, err := wire.Decode(b)
		if err != nil || id == 0 || !m.Type().IsRequest() {
			fc.conn.Close("bad frame")
			return
		}
		if h := fc.r.hook.Load(); h != nil && !(*h)(fc, id, m) {
			continue
		}
		if fc.r.concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var b [1]byte
				rand.Read(b[:])
				time.Sleep(time.Duration(b[0]%20) * 100 * time.Microsecond)
				fc.handle(id, m)
			}()
			continue
		}
		fc.handle(id, m)
	}
}

func fail(code wire.ErrorCode, msg string) *wire.Error { return &wire.Error{Code: code, Message: msg} }

func (fc *fakeConn) isAuthed(id wire.MailboxID) bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.authed[id]
}

func (fc *fakeConn) handle(id uint32, m wire.Message) {
	r := fc.r
	switch m := m.(type) {
	case *wire.Ping:
		fc.reply(id, &wire.Pong{})
	case *wire.Register:
		msg := wire.AuthMessage(wire.OpRegister, r.relay, fc.challenge, m.Mailbox, m.OwnerKey, m.SendTokenHash)
		if !ed25519.Verify(m.OwnerKey[:], msg, m.Signature[:]) {
			fc.reply(id, fail(wire.CodeUnauthorized, "bad signature"))
			return
		}
		r.mu.Lock()
		mb := r.mailboxes[m.Mailbox]
		if mb != nil && mb.owner != m.OwnerKey {
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeConflict, "owned by another key"))
			return
		}
		if mb == nil {
			mb = &fakeMailbox{owner: m.OwnerKey}
			r.mailboxes[m.Mailbox] = mb
		}
		mb.tokenHash = m.SendTokenHash
		fc.authenticated(id, m.Mailbox, mb) // unlocks r.mu
	case *wire.Auth:
		r.mu.Lock()
		mb := r.mailboxes[m.Mailbox]
		if mb == nil {
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeNotFound, "no such mailbox"))
			return
		}
		msg := wire.AuthMessage(wire.OpAuth, r.relay, fc.challenge, m.Mailbox, mb.owner, wire.Key32{})
		if !ed25519.Verify(mb.owner[:], msg, m.Signature[:]) {
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeUnauthorized, "bad signature"))
			return
		}
		r.auths++
		fc.authenticated(id, m.Mailbox, mb)
	case *wire.Send:
		r.mu.Lock()
		mb := r.mailboxes[m.Mailbox]
		switch {
		case mb == nil:
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeNotFound, "no such mailbox"))
			return
		case !mb.tokenHash.IsZero() && sha256.Sum256(m.SendToken[:]) != mb.tokenHash:
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeUnauthorized, "wrong send token"))
			return
		case r.quota > 0 && len(mb.envs) >= r.quota:
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeQuota, "mailbox full"))
			return
		}
		mb.next++
		d := &wire.Deliver{Mailbox: m.Mailbox, Seq: mb.next, Received: uint64(time.Now().UnixMilli()), Envelope: m.Envelope}
		mb.envs = append(mb.envs, d)
		// Push while holding r.mu, so pushes keep their order.
		for c := range r.conns {
			if c.isAuthed(m.Mailbox) {
				c.push(0, d)
			}
		}
		r.mu.Unlock()
		fc.reply(id, &wire.Sent{Seq: d.Seq})
	case *wire.Ack:
		if !fc.isAuthed(m.Mailbox) {
			fc.reply(id, fail(wire.CodeUnauthorized, "not authenticated"))
			return
		}
		r.mu.Lock()
		mb := r.mailboxes[m.Mailbox]
		for _, s := range m.Seqs {
			if mb == nil {
				break
			}
			for i, e := range mb.envs {
				if e.Seq == s {
					mb.envs = append(mb.envs[:i], mb.envs[i+1:]...)
					break
				}
			}
		}
		r.mu.Unlock()
		fc.reply(id, &wire.OK{})
	case *wire.PutPrekeys:
		if !fc.isAuthed(m.Mailbox) {
			fc.reply(id, fail(wire.CodeUnauthorized, "not authenticated"))
			return
		}
		r.mu.Lock()
		p := r.prekeys[m.Mailbox]
		if p == nil {
			p = &fakePrekeys{}
			r.prekeys[m.Mailbox] = p
		}
		if len(m.Bundle) > 0 {
			p.bundle = m.Bundle
		}
		if len(m.LastResort) > 0 {
			p.last = m.LastResort
		}
		if m.Replace {
			p.oneTime = nil
		}
		p.oneTime = append(p.oneTime, m.OneTime...)
		n := len(p.oneTime)
		r.mu.Unlock()
		fc.reply(id, &wire.PrekeysStored{Remaining: uint32(n)})
	case *wire.ClaimPrekey:
		r.mu.Lock()
		p := r.prekeys[m.Mailbox]
		if p == nil || p.bundle == nil {
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeNoPrekeys, ""))
			return
		}
		resp := &wire.Prekey{Bundle: p.bundle, Key: p.last, LastResort: true}
		if len(p.oneTime) > 0 {
			resp.Key, resp.LastResort = p.oneTime[0], false
			p.oneTime = p.oneTime[1:]
		}
		r.mu.Unlock()
		fc.reply(id, resp)
	case *wire.BlobCreate:
		if !fc.isAuthed(m.Mailbox) {
			fc.reply(id, fail(wire.CodeUnauthorized, "not authenticated"))
			return
		}
		var bid wire.BlobID
		rand.Read(bid[:])
		r.mu.Lock()
		r.blobs[bid] = &fakeBlob{owner: m.Mailbox, size: int(m.Size)}
		r.mu.Unlock()
		fc.reply(id, &wire.BlobCreated{Blob: bid})
	case *wire.BlobPut:
		if !fc.isAuthed(m.Mailbox) {
			fc.reply(id, fail(wire.CodeUnauthorized, "not authenticated"))
			return
		}
		r.mu.Lock()
		b := r.blobs[m.Blob]
		switch {
		case b == nil || b.owner != m.Mailbox:
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeNotFound, "no such blob"))
			return
		case m.Offset != uint64(len(b.data)):
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeConflict, "wrong offset"))
			return
		case len(b.data)+len(m.Data) > b.size || len(m.Data) > int(r.hello.MaxChunk):
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeTooLarge, "too much"))
			return
		}
		b.data = append(b.data, m.Data...)
		st := &wire.BlobStatus{Size: uint64(b.size), Have: uint64(len(b.data))}
		r.mu.Unlock()
		fc.reply(id, st)
	case *wire.BlobStat:
		r.mu.Lock()
		b := r.blobs[m.Blob]
		if b == nil {
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeNotFound, "no such blob"))
			return
		}
		st := &wire.BlobStatus{Size: uint64(b.size), Have: uint64(len(b.data))}
		r.mu.Unlock()
		fc.reply(id, st)
	case *wire.BlobGet:
		r.mu.Lock()
		b := r.blobs[m.Blob]
		if b == nil || len(b.data) < b.size || m.Offset > uint64(b.size) || m.Length > r.hello.MaxChunk {
			r.mu.Unlock()
			fc.reply(id, fail(wire.CodeBadRequest, "bad get"))
			return
		}
		end := min(uint64(b.size), m.Offset+uint64(m.Length))
		data := append([]byte(nil), b.data[m.Offset:end]...)
		r.mu.Unlock()
		fc.reply(id, &wire.BlobData{Offset: m.Offset, Data: data})
	default:
		fc.reply(id, fail(wire.CodeBadRequest, "unsupported"))
	}
}

// authenticated marks mb authenticated on fc, answers OK and pushes the
// backlog, all before releasing r.mu so no Send slips in between.
func (fc *fakeConn) authenticated(id uint32, mbID wire.MailboxID, mb *fakeMailbox) {
	fc.mu.Lock()
	fc.authed[mbID] = true
	fc.mu.Unlock()
	fc.push(id, &wire.OK{})
	for _, e := range mb.envs {
		fc.push(0, e)
	}
	fc.r.mu.Unlock()
}

// checkNoLeaks fails the test if goroutines of the client outlive it.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var leaked []string
			for _, g := range strings.Split(string(buf), "\n\n") {
				if strings.Contains(g, "relayclient.(*session)") || strings.Contains(g, "relayclient.(*Client)") {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d client goroutines leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
