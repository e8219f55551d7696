// Package storetest is the contract suite for store.Store implementations.
// A store passes when Run passes unchanged:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, now func() time.Time) (store.Store, func() store.Store) {
//			return memstore.New(memstore.Options{Now: now}), nil
//		})
//	}
//
// Every subtest drives the store's clock through now, so expiry is tested
// exactly and without sleeping. Subtests that need durability skip, with
// a reason, when the factory cannot reopen a store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Factory makes a fresh, empty store whose clock is now. reopen, nil for a
// store that keeps nothing across Close, closes the store last returned
// (unless already closed) and opens the same data again with the same
// clock. The factory arranges for stores to be closed when t ends.
type Factory func(t *testing.T, now func() time.Time) (s store.Store, reopen func() store.Store)

// Clock is a settable clock for tests; safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one subtest's world.
type env struct {
	t      *testing.T
	ctx    context.Context
	clock  *Clock
	s      store.Store
	reopen func() store.Store
}

func (e *env) durable() {
	e.t.Helper()
	if e.reopen == nil {
		e.t.Skip("store is not durable (factory has no reopen): persistence not tested")
	}
}

func (e *env) reopenStore() {
	e.t.Helper()
	e.s = e.reopen()
}

// start is where every subtest's clock begins: a fixed instant, so
// failures reproduce exactly.
var start = time.Date(2031, 3, 14, 15, 9, 26, 535897932, time.UTC)

// Run runs the contract suite against stores made by f.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(e *env)
	}{
		{"RelayID", testRelayID},
		{"Register", testRegister},
		{"Unregistered", testUnregistered},
		{"AppendFetch", testAppendFetch},
		{"AppendCopiesData", testAppendCopiesData},
		{"AppendTooLarge", testAppendTooLarge},
		{"Delete", testDelete},
		{"QuotaMessages", testQuotaMessages},
		{"QuotaBytes", testQuotaBytes},
		{"QuotaConcurrent", testQuotaConcurrent},
		{"AppendConcurrent", testAppendConcurrent},
		{"Expiry", testExpiry},
		{"SeqNeverReused", testSeqNeverReused},
		{"SeqNeverReusedAfterReopen", testSeqNeverReusedAfterReopen},
		{"Prekeys", testPrekeys},
		{"PrekeysReplaceAppend", testPrekeysReplaceAppend},
		{"PrekeysLimits", testPrekeysLimits},
		{"PrekeysConcurrentClaim", testPrekeysConcurrentClaim},
		{"PrekeysQuota", testPrekeysQuota},
		{"PrekeysSurviveReopen", testPrekeysSurviveReopen},
		{"Blob", testBlob},
		{"BlobResumeAfterReopen", testBlobResumeAfterReopen},
		{"BlobQuota", testBlobQuota},
		{"BlobExpiry", testBlobExpiry},
		{"Check", testCheck},
		{"CanceledContext", testCanceledContext},
		{"Close", testClose},
		{"Persistence", testPersistence},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := NewClock(start)
			s, reopen := f(t, clock.Now)
			tt.fn(&env{t: t, ctx: context.Background(), clock: clock, s: s, reopen: reopen})
		})
	}
}

func mbox(n byte) wire.MailboxID { return wire.MailboxID{0: 'm', 1: n, 31: n} }
func blobID(n byte) wire.BlobID  { return wire.BlobID{0: 'b', 1: n, 31: n} }
func key(n byte) wire.Key32      { return wire.Key32{0: 'k', 1: n, 31: n} }

// register registers mailbox n owned by key(n).
func (e *env) register(n byte) wire.MailboxID {
	e.t.Helper()
	id := mbox(n)
	if err := e.s.Register(e.ctx, id, store.Mailbox{OwnerKey: key(n)}); err != nil {
		e.t.Fatalf("Register(%v): %v", id, err)
	}
	return id
}

func (e *env) append(id wire.MailboxID, data string, expires time.Time, q store.Quota) uint64 {
	e.t.Helper()
	seq, err := e.s.Append(e.ctx, id, store.Envelope{Data: []byte(data), Expires: expires}, q)
	if err != nil {
		e.t.Fatalf("Append(%q): %v", data, err)
	}
	return seq
}

func (e *env) fetch(id wire.MailboxID, after uint64, limit int) []store.Envelope {
	e.t.Helper()
	envs, err := e.s.Fetch(e.ctx, id, after, limit)
	if err != nil {
		e.t.Fatalf("Fetch(after %d, limit %d): %v", after, limit, err)
	}
	return envs
}

func (e *env) usage(id wire.MailboxID, want store.Usage) {
	e.t.Helper()
	got, err := e.s.Usage(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Usage: %v", err)
	}
	if got != want {
		e.t.Errorf("Usage: got %+v, want %+v", got, want)
	}
}

func seqsOf(envs []store.Envelope) []uint64 {
	s := make([]uint64, len(envs))
	for i, e := range envs {
		s[i] = e.Seq
	}
	return s
}

func dataOf(envs []store.Envelope) []string {
	s := make([]string, len(envs))
	for i, e := range envs {
		s[i] = string(e.Data)
	}
	return s
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func testRelayID(e *env) {
	id, err := e.s.RelayID(e.ctx)
	if err != nil {
		e.t.Fatalf("RelayID: %v", err)
	}
	if id.IsZero() {
		e.t.Errorf("RelayID: got zero id")
	}
	again, err := e.s.RelayID(e.ctx)
	if err != nil || again != id {
		e.t.Errorf("RelayID again: got %x, %v, want %x", again, err, id)
	}
	if e.reopen == nil {
		return
	}
	e.reopenStore()
	after, err := e.s.RelayID(e.ctx)
	if err != nil || after != id {
		e.t.Errorf("RelayID after reopen: got %x, %v, want %x", after, err, id)
	}
}

func testRegister(e *env) {
	id := mbox(1)
	_, err := e.s.Mailbox(e.ctx, id)
	wantErr(e.t, "Mailbox before Register", err, store.ErrNotFound)

	m := store.Mailbox{OwnerKey: key(1), SendTokenHash: key(100)}
	if err := e.s.Register(e.ctx, id, m); err != nil {
		e.t.Fatalf("Register: %v", err)
	}
	got, err := e.s.Mailbox(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Mailbox: %v", err)
	}
	if got.OwnerKey != m.OwnerKey || got.SendTokenHash != m.SendTokenHash {
		e.t.Errorf("Mailbox: got %+v, want %+v", got, m)
	}
	if !got.Created.Equal(start) {
		e.t.Errorf("Mailbox.Created: got %v, want the store clock %v", got.Created, start)
	}

	// The same owner updates the send token; Created stays.
	e.clock.Advance(time.Hour)
	m.SendTokenHash = wire.Key32{}
	if err := e.s.Register(e.ctx, id, m); err != nil {
		e.t.Fatalf("Register update: %v", err)
	}
	got, _ = e.s.Mailbox(e.ctx, id)
	if got.SendTokenHash != (wire.Key32{}) || !got.Created.Equal(start) {
		e.t.Errorf("Mailbox after update: got token %x created %v, want zero token created %v", got.SendTokenHash, got.Created, start)
	}

	// Another owner conflicts and changes nothing.
	err = e.s.Register(e.ctx, id, store.Mailbox{OwnerKey: key(2), SendTokenHash: key(200)})
	wantErr(e.t, "Register by another owner", err, store.ErrConflict)
	got, _ = e.s.Mailbox(e.ctx, id)
	if got.OwnerKey != key(1) || got.SendTokenHash != (wire.Key32{}) {
		e.t.Errorf("Mailbox after conflict: got %+v, want owner %x and zero token", got, key(1))
	}
}

func testUnregistered(e *env) {
	id := mbox(9)
	_, err := e.s.Append(e.ctx, id, store.Envelope{Data: []byte("x")}, store.Quota{})
	wantErr(e.t, "Append", err, store.ErrNotFound)
	_, err = e.s.Fetch(e.ctx, id, 0, 10)
	wantErr(e.t, "Fetch", err, store.ErrNotFound)
	_, err = e.s.Delete(e.ctx, id, []uint64{1})
	wantErr(e.t, "Delete", err, store.ErrNotFound)
	_, err = e.s.Usage(e.ctx, id)
	wantErr(e.t, "Usage", err, store.ErrNotFound)
	_, err = e.s.PutPrekeys(e.ctx, id, []byte("b"), nil, nil, false, store.Quota{})
	wantErr(e.t, "PutPrekeys", err, store.ErrNotFound)
	_, err = e.s.ClaimPrekey(e.ctx, id)
	wantErr(e.t, "ClaimPrekey", err, store.ErrNotFound)
	err = e.s.CreateBlob(e.ctx, blobID(1), store.Blob{Owner: id, Size: 1}, store.Quota{})
	wantErr(e.t, "CreateBlob", err, store.ErrNotFound)
	_, err = e.s.BlobInfo(e.ctx, blobID(1))
	wantErr(e.t, "BlobInfo after failed CreateBlob", err, store.ErrNotFound)
}

func testAppendFetch(e *env) {
	id := e.register(1)
	other := e.register(2)
	var want []string
	for i := range 10 {
		d := fmt.Sprintf("envelope %d", i)
		want = append(want, d)
		seq := e.append(id, d, time.Time{}, store.Quota{})
		if seq != uint64(i+1) {
			e.t.Errorf("Append #%d: got seq %d, want %d", i, seq, i+1)
		}
		e.clock.Advance(time.Second)
	}
	if seq := e.append(other, "other", time.Time{}, store.Quota{}); seq != 1 {
		e.t.Errorf("Append to a second mailbox: got seq %d, want 1", seq)
	}

	all := e.fetch(id, 0, 0)
	if got := dataOf(all); !slices.Equal(got, want) {
		e.t.Fatalf("Fetch all: got %q, want %q", got, want)
	}
	for i, env := range all {
		if wantT := start.Add(time.Duration(i) * time.Second); !env.Received.Equal(wantT) {
			e.t.Errorf("envelope %d Received: got %v, want %v", i, env.Received, wantT)
		}
		if !env.Expires.IsZero() {
			e.t.Errorf("envelope %d Expires: got %v, want zero", i, env.Expires)
		}
	}
	cases := []struct {
		after uint64
		limit int
		want  []uint64
	}{
		{0, 3, []uint64{1, 2, 3}},
		{5, 3, []uint64{6, 7, 8}},
		{8, 5, []uint64{9, 10}},
		{9, 1, []uint64{10}},
		{10, 5, []uint64{}},
		{1000, 0, []uint64{}},
	}
	for _, c := range cases {
		if got := seqsOf(e.fetch(id, c.after, c.limit)); !slices.Equal(got, c.want) {
			e.t.Errorf("Fetch(after %d, limit %d): got seqs %v, want %v", c.after, c.limit, got, c.want)
		}
	}
	if got := dataOf(e.fetch(other, 0, 0)); !slices.Equal(got, []string{"other"}) {
		e.t.Errorf("Fetch second mailbox: got %q, want [other]", got)
	}
	e.usage(id, store.Usage{Messages: 10, Bytes: int64(10 * len("envelope 0"))})
}

func testAppendCopiesData(e *env) {
	id := e.register(1)
	data := []byte("original")
	if _, err := e.s.Append(e.ctx, id, store.Envelope{Data: data}, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	copy(data, "CHANGED!")
	got := e.fetch(id, 0, 0)
	if len(got) != 1 || string(got[0].Data) != "original" {
		e.t.Fatalf("Fetch after the caller changed its slice: got %q, want [original]", dataOf(got))
	}
	copy(got[0].Data, "CHANGED!")
	if got := dataOf(e.fetch(id, 0, 0)); !slices.Equal(got, []string{"original"}) {
		e.t.Errorf("Fetch after the caller changed a fetched slice: got %q, want [original]", got)
	}
}

func testAppendTooLarge(e *env) {
	id := e.register(1)
	_, err := e.s.Append(e.ctx, id, store.Envelope{Data: make([]byte, wire.MaxEnvelopeSize+1)}, store.Quota{})
	wantErr(e.t, "Append above wire.MaxEnvelopeSize", err, store.ErrTooLarge)
	e.usage(id, store.Usage{})
}

func testDelete(e *env) {
	id := e.register(1)
	for i := range 5 {
		e.append(id, fmt.Sprint("e", i), time.Time{}, store.Quota{}) // 2 bytes each
	}
	n, err := e.s.Delete(e.ctx, id, []uint64{2, 4, 99, 2, 0})
	if err != nil || n != 2 {
		e.t.Errorf("Delete([2 4 99 2 0]): got %d, %v, want 2, nil", n, err)
	}
	if got := seqsOf(e.fetch(id, 0, 0)); !slices.Equal(got, []uint64{1, 3, 5}) {
		e.t.Errorf("Fetch after Delete: got seqs %v, want [1 3 5]", got)
	}
	e.usage(id, store.Usage{Messages: 3, Bytes: 6})

	n, err = e.s.Delete(e.ctx, id, []uint64{2, 4})
	if err != nil || n != 0 {
		e.t.Errorf("Delete again: got %d, %v, want 0, nil", n, err)
	}
	n, err = e.s.Delete(e.ctx, id, nil)
	if err != nil || n != 0 {
		e.t.Errorf("Delete(nil): got %d, %v, want 0, nil", n, err)
	}
	n, err = e.s.Delete(e.ctx, id, []uint64{5, 3, 1})
	if err != nil || n != 3 {
		e.t.Errorf("Delete rest: got %d, %v, want 3, nil", n, err)
	}
	e.usage(id, store.Usage{})
	if got := e.fetch(id, 0, 0); len(got) != 0 {
		e.t.Errorf("Fetch after deleting all: got seqs %v, want none", seqsOf(got))
	}
}

func testQuotaMessages(e *env) {
	id := e.register(1)
	q := store.Quota{MaxMessages: 3}
	for i := range 3 {
		e.append(id, fmt.Sprint(i), time.Time{}, q)
	}
	_, err := e.s.Append(e.ctx, id, store.Envelope{Data: []byte("x")}, q)
	wantErr(e.t, "Append past MaxMessages", err, store.ErrQuota)
	e.usage(id, store.Usage{Messages: 3, Bytes: 3})
	if got := seqsOf(e.fetch(id, 0, 0)); !slices.Equal(got, []uint64{1, 2, 3}) {
		e.t.Errorf("Fetch after refused Append: got seqs %v, want [1 2 3]", got)
	}
	if n, err := e.s.Delete(e.ctx, id, []uint64{1}); n != 1 || err != nil {
		e.t.Fatalf("Delete: got %d, %v, want 1, nil", n, err)
	}
	if seq := e.append(id, "y", time.Time{}, q); seq != 4 {
		e.t.Errorf("Append after Delete freed a slot: got seq %d, want 4 (3 is not reused by the refused append)", seq)
	}
}

func testQuotaBytes(e *env) {
	id := e.register(1)
	q := store.Quota{MaxBytes: 100}
	e.append(id, string(make([]byte, 60)), time.Time{}, q)
	_, err := e.s.Append(e.ctx, id, store.Envelope{Data: make([]byte, 41)}, q)
	wantErr(e.t, "Append of 41 bytes onto 60 of 100", err, store.ErrQuota)
	e.append(id, string(make([]byte, 40)), time.Time{}, q) // exactly full
	_, err = e.s.Append(e.ctx, id, store.Envelope{Data: make([]byte, 1)}, q)
	wantErr(e.t, "Append of 1 byte onto a full quota", err, store.ErrQuota)
	e.usage(id, store.Usage{Messages: 2, Bytes: 100})
	if _, err := e.s.Delete(e.ctx, id, []uint64{1}); err != nil {
		e.t.Fatal(err)
	}
	e.usage(id, store.Usage{Messages: 1, Bytes: 40})
	e.append(id, string(make([]byte, 60)), time.Time{}, q)
	// A quota with no limits lets anything through.
	e.append(id, string(make([]byte, 1000)), time.Time{}, store.Quota{})
	e.usage(id, store.Usage{Messages: 3, Bytes: 1100})
}

func testQuotaConcurrent(e *env) {
	id := e.register(1)
	q := store.Quota{MaxMessages: 25}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for range 50 {
		wg.Go(func() {
			_, err := e.s.Append(e.ctx, id, store.Envelope{Data: []byte("x")}, q)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrQuota):
				refused++
			default:
				e.t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 25 || refused != 25 {
		e.t.Errorf("50 concurrent appends under MaxMessages 25: got %d stored, %d refused, want 25, 25", ok, refused)
	}
	e.usage(id, store.Usage{Messages: 25, Bytes: 25})
}

func testAppendConcurrent(e *env) {
	ids := []wire.MailboxID{e.register(1), e.register(2)}
	const workers, each = 16, 20
	seqs := make([][]uint64, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			id := w % len(ids)
			for i := range each {
				seq, err := e.s.Append(e.ctx, ids[id], store.Envelope{Data: fmt.Appendf(nil, "%d/%d", w, i)}, store.Quota{})
				if err != nil {
					e.t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				seqs[id] = append(seqs[id], seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, id := range ids {
		n := workers / len(ids) * each
		slices.Sort(seqs[i])
		want := make([]uint64, n)
		for j := range want {
			want[j] = uint64(j + 1)
		}
		if !slices.Equal(seqs[i], want) {
			e.t.Errorf("mailbox %d: got seqs %v, want 1..%d each once", i, seqs[i], n)
		}
		if got := seqsOf(e.fetch(id, 0, 0)); !slices.Equal(got, want) {
			e.t.Errorf("mailbox %d Fetch: got seqs %v, want 1..%d", i, got, n)
		}
	}
}

func testExpiry(e *env) {
	id := e.register(1)
	other := e.register(2)
	e.append(id, "a", start.Add(10*time.Second), store.Quota{})
	e.append(id, "bb", start.Add(20*time.Second), store.Quota{})
	e.append(id, "ccc", time.Time{}, store.Quota{})
	e.append(other, "dddd", start.Add(10*time.Second), store.Quota{})

	got := e.fetch(id, 0, 0)
	if d := dataOf(got); !slices.Equal(d, []string{"a", "bb", "ccc"}) {
		e.t.Fatalf("Fetch before expiry: got %q, want [a bb ccc]", d)
	}
	if !got[0].Expires.Equal(start.Add(10 * time.Second)) {
		e.t.Errorf("Expires: got %v, want %v", got[0].Expires, start.Add(10*time.Second))
	}

	e.clock.Advance(10*time.Second - 1)
	if d := dataOf(e.fetch(id, 0, 0)); !slices.Equal(d, []string{"a", "bb", "ccc"}) {
		e.t.Errorf("Fetch 1ns before expiry: got %q, want [a bb ccc]", d)
	}
	e.clock.Advance(1)
	if d := dataOf(e.fetch(id, 0, 0)); !slices.Equal(d, []string{"bb", "ccc"}) {
		e.t.Errorf("Fetch at expiry, before Sweep: got %q, want [bb ccc]", d)
	}
	if d := dataOf(e.fetch(id, 0, 1)); !slices.Equal(d, []string{"bb"}) {
		e.t.Errorf("Fetch(limit 1) skips expired without using the limit: got %q, want [bb]", d)
	}
	// Sweeping at an earlier time deletes nothing.
	if n, err := e.s.Sweep(e.ctx, start); n != 0 || err != nil {
		e.t.Errorf("Sweep(start): got %d, %v, want 0, nil", n, err)
	}
	if n, err := e.s.Sweep(e.ctx, e.clock.Now()); n != 2 || err != nil {
		e.t.Errorf("Sweep at 10s: got %d, %v, want 2, nil", n, err)
	}
	e.usage(id, store.Usage{Messages: 2, Bytes: 5})
	e.usage(other, store.Usage{})
	if n, err := e.s.Sweep(e.ctx, e.clock.Now()); n != 0 || err != nil {
		e.t.Errorf("Sweep again: got %d, %v, want 0, nil", n, err)
	}

	// Deleting an envelope takes it out of the expiry index too: a later
	// Sweep neither counts it nor releases its bytes twice.
	seq := e.append(id, "eeeee", e.clock.Now().Add(time.Minute), store.Quota{})
	if n, err := e.s.Delete(e.ctx, id, []uint64{seq}); n != 1 || err != nil {
		e.t.Fatalf("Delete: got %d, %v, want 1, nil", n, err)
	}
	e.clock.Advance(time.Hour)
	if n, err := e.s.Sweep(e.ctx, e.clock.Now()); n != 1 || err != nil {
		e.t.Errorf("Sweep at 1h: got %d, %v, want 1 (bb), nil", n, err)
	}
	if d := dataOf(e.fetch(id, 0, 0)); !slices.Equal(d, []string{"ccc"}) {
		e.t.Errorf("Fetch after Sweep: got %q, want [ccc]", d)
	}
	e.usage(id, store.Usage{Messages: 1, Bytes: 3})
}

func testSeqNeverReused(e *env) {
	id := e.register(1)
	for range 3 {
		e.append(id, "x", time.Time{}, store.Quota{})
	}
	if n, err := e.s.Delete(e.ctx, id, []uint64{1, 2, 3}); n != 3 || err != nil {
		e.t.Fatalf("Delete all: got %d, %v, want 3, nil", n, err)
	}
	if seq := e.append(id, "y", time.Time{}, store.Quota{}); seq != 4 {
		e.t.Errorf("Append after deleting all: got seq %d, want 4", seq)
	}
	e.append(id, "z", start.Add(time.Second), store.Quota{})
	e.clock.Advance(time.Second)
	if n, _ := e.s.Sweep(e.ctx, e.clock.Now()); n != 1 {
		e.t.Errorf("Sweep: got %d, want 1", n)
	}
	if seq := e.append(id, "w", time.Time{}, store.Quota{}); seq != 6 {
		e.t.Errorf("Append after Sweep deleted the last: got seq %d, want 6", seq)
	}
}

func testSeqNeverReusedAfterReopen(e *env) {
	e.durable()
	id := e.register(1)
	for range 3 {
		e.append(id, "x", time.Time{}, store.Quota{})
	}
	if _, err := e.s.Delete(e.ctx, id, []uint64{1, 2, 3}); err != nil {
		e.t.Fatal(err)
	}
	e.reopenStore()
	if seq := e.append(id, "y", time.Time{}, store.Quota{}); seq != 4 {
		e.t.Errorf("Append after delete-all and reopen: got seq %d, want 4", seq)
	}
	e.reopenStore()
	if seq := e.append(id, "z", time.Time{}, store.Quota{}); seq != 5 {
		e.t.Errorf("Append after second reopen: got seq %d, want 5", seq)
	}
}

func (e *env) claim(id wire.MailboxID) store.Prekey {
	e.t.Helper()
	p, err := e.s.ClaimPrekey(e.ctx, id)
	if err != nil {
		e.t.Fatalf("ClaimPrekey: %v", err)
	}
	return p
}

func keys(prefix string, n int) [][]byte {
	k := make([][]byte, n)
	for i := range k {
		k[i] = fmt.Appendf(nil, "%s%04d", prefix, i)
	}
	return k
}

func testPrekeys(e *env) {
	id := e.register(1)
	_, err := e.s.ClaimPrekey(e.ctx, id)
	wantErr(e.t, "ClaimPrekey with nothing stored", err, store.ErrNoPrekeys)

	// One-time keys without a bundle are kept, but claims need a bundle.
	if n, err := e.s.PutPrekeys(e.ctx, id, nil, nil, keys("k", 1), false, store.Quota{}); n != 1 || err != nil {
		e.t.Fatalf("PutPrekeys(one key): got %d, %v, want 1, nil", n, err)
	}
	_, err = e.s.ClaimPrekey(e.ctx, id)
	wantErr(e.t, "ClaimPrekey without a bundle", err, store.ErrNoPrekeys)

	if n, err := e.s.PutPrekeys(e.ctx, id, []byte("bundle1"), nil, nil, false, store.Quota{}); n != 1 || err != nil {
		e.t.Fatalf("PutPrekeys(bundle): got %d, %v, want 1, nil", n, err)
	}
	p := e.claim(id)
	if string(p.Bundle) != "bundle1" || string(p.Key) != "k0000" || p.LastResort {
		e.t.Errorf("ClaimPrekey: got %q %q last-resort %v, want bundle1 k0000 false", p.Bundle, p.Key, p.LastResort)
	}
	// Bundle, no keys at all: the bundle alone.
	p = e.claim(id)
	if string(p.Bundle) != "bundle1" || p.Key != nil || p.LastResort {
		e.t.Errorf("ClaimPrekey with no keys: got %q %q last-resort %v, want bundle1, nil key, false", p.Bundle, p.Key, p.LastResort)
	}
	// The last-resort key is handed out again and again.
	if _, err := e.s.PutPrekeys(e.ctx, id, nil, []byte("last"), nil, false, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	for i := range 3 {
		p = e.claim(id)
		if string(p.Bundle) != "bundle1" || string(p.Key) != "last" || !p.LastResort {
			e.t.Errorf("ClaimPrekey #%d: got %q %q last-resort %v, want bundle1 last true", i, p.Bundle, p.Key, p.LastResort)
		}
	}
	// Empty bundle and last-resort leave the stored ones; non-empty replace.
	if _, err := e.s.PutPrekeys(e.ctx, id, []byte("bundle2"), nil, nil, false, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	p = e.claim(id)
	if string(p.Bundle) != "bundle2" || string(p.Key) != "last" {
		e.t.Errorf("ClaimPrekey after new bundle: got %q %q, want bundle2 last", p.Bundle, p.Key)
	}
	if _, err := e.s.PutPrekeys(e.ctx, id, nil, []byte("last2"), nil, false, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	p = e.claim(id)
	if string(p.Bundle) != "bundle2" || string(p.Key) != "last2" {
		e.t.Errorf("ClaimPrekey after new last-resort: got %q %q, want bundle2 last2", p.Bundle, p.Key)
	}
}

func testPrekeysReplaceAppend(e *env) {
	id := e.register(1)
	put := func(what string, oneTime [][]byte, replace bool, want int) {
		e.t.Helper()
		n, err := e.s.PutPrekeys(e.ctx, id, []byte("bundle"), []byte("last"), oneTime, replace, store.Quota{})
		if n != want || err != nil {
			e.t.Fatalf("PutPrekeys(%s): got %d, %v, want %d, nil", what, n, err, want)
		}
	}
	put("3 keys", keys("a", 3), false, 3)
	put("2 more", keys("b", 2), false, 5)
	got := map[string]bool{}
	for range 2 {
		got[string(e.claim(id).Key)] = true
	}
	put("nothing", nil, false, 3)
	put("replace with 2", keys("c", 2), true, 2)
	for range 2 {
		k := string(e.claim(id).Key)
		if k != "c0000" && k != "c0001" || got[k] {
			e.t.Errorf("ClaimPrekey after replace: got %q, want c0000 or c0001, once each", k)
		}
		got[k] = true
	}
	if p := e.claim(id); !p.LastResort {
		e.t.Errorf("ClaimPrekey after the replaced keys: got %q last-resort false, want the last-resort key", p.Key)
	}
	put("replace with none", nil, true, 0)
	put("1 key", keys("d", 1), false, 1)
	if p := e.claim(id); string(p.Key) != "d0000" {
		e.t.Errorf("ClaimPrekey: got %q, want d0000", p.Key)
	}
}

func testPrekeysLimits(e *env) {
	id := e.register(1)
	big := make([]byte, wire.MaxPrekeySize+1)
	_, err := e.s.PutPrekeys(e.ctx, id, big, nil, nil, false, store.Quota{})
	wantErr(e.t, "PutPrekeys with a big bundle", err, store.ErrTooLarge)
	_, err = e.s.PutPrekeys(e.ctx, id, []byte("b"), big, nil, false, store.Quota{})
	wantErr(e.t, "PutPrekeys with a big last-resort key", err, store.ErrTooLarge)
	_, err = e.s.PutPrekeys(e.ctx, id, []byte("b"), nil, [][]byte{[]byte("ok"), big}, false, store.Quota{})
	wantErr(e.t, "PutPrekeys with a big one-time key", err, store.ErrTooLarge)
	_, err = e.s.ClaimPrekey(e.ctx, id)
	wantErr(e.t, "ClaimPrekey after refused puts", err, store.ErrNoPrekeys)

	n, err := e.s.PutPrekeys(e.ctx, id, []byte("b"), nil, keys("a", store.MaxOneTimePrekeys), false, store.Quota{})
	if n != store.MaxOneTimePrekeys || err != nil {
		e.t.Fatalf("PutPrekeys(MaxOneTimePrekeys): got %d, %v, want %d, nil", n, err, store.MaxOneTimePrekeys)
	}
	_, err = e.s.PutPrekeys(e.ctx, id, []byte("b2"), nil, keys("z", 1), false, store.Quota{})
	wantErr(e.t, "PutPrekeys past MaxOneTimePrekeys", err, store.ErrQuota)
	if p := e.claim(id); string(p.Bundle) != "b" {
		e.t.Errorf("refused PutPrekeys changed the bundle: got %q, want b", p.Bundle)
	}
	if n, err := e.s.PutPrekeys(e.ctx, id, nil, nil, keys("r", 7), true, store.Quota{}); n != 7 || err != nil {
		e.t.Errorf("PutPrekeys(replace) on a full set: got %d, %v, want 7, nil", n, err)
	}
}

func testPrekeysConcurrentClaim(e *env) {
	id := e.register(1)
	const total, workers, each = 200, 32, 8 // 256 claims
	var k [][]byte
	for _, chunk := range [][][]byte{keys("k", total)[:100], keys("k", total)[100:]} {
		k = append(k, chunk...)
		if _, err := e.s.PutPrekeys(e.ctx, id, []byte("bundle"), []byte("last"), chunk, false, store.Quota{}); err != nil {
			e.t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	lastResort := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				p, err := e.s.ClaimPrekey(e.ctx, id)
				if err != nil {
					e.t.Errorf("ClaimPrekey: %v", err)
					return
				}
				mu.Lock()
				if p.LastResort {
					lastResort++
				} else {
					seen[string(p.Key)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != total || lastResort != workers*each-total {
		e.t.Errorf("%d claims over %d keys: got %d distinct one-time keys and %d last-resort, want %d and %d",
			workers*each, total, len(seen), lastResort, total, workers*each-total)
	}
	for key, n := range seen {
		if n != 1 {
			e.t.Errorf("one-time key %q handed out %d times, want once", key, n)
		}
	}
	for _, key := range k {
		if seen[string(key)] == 0 {
			e.t.Errorf("one-time key %q never handed out", key)
			break
		}
	}
	if n, err := e.s.PutPrekeys(e.ctx, id, nil, nil, nil, false, store.Quota{}); n != 0 || err != nil {
		e.t.Errorf("PutPrekeys(nothing) after claims: got %d, %v, want 0 held, nil", n, err)
	}
}

// sized returns n keys of size bytes each.
func sized(n, size int) [][]byte {
	k := make([][]byte, n)
	for i := range k {
		k[i] = bytes.Repeat([]byte{byte('a' + i%26)}, size)
	}
	return k
}

// testPrekeysQuota: prekey bytes count in Usage.Bytes with envelopes, so
// uploads of one-time keys cannot fill the disk past the mailbox quota;
// claims and replacements release them, and envelopes and prekeys share
// one budget.
func testPrekeysQuota(e *env) {
	id := e.register(1)
	q := store.Quota{MaxBytes: 1000}
	put := func(what string, bundle, last []byte, oneTime [][]byte, replace bool, wantHeld int, wantErr error) {
		e.t.Helper()
		n, err := e.s.PutPrekeys(e.ctx, id, bundle, last, oneTime, replace, q)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				e.t.Fatalf("PutPrekeys(%s): got %d, %v, want %v", what, n, err, wantErr)
			}
			return
		}
		if err != nil || n != wantHeld {
			e.t.Fatalf("PutPrekeys(%s): got %d, %v, want %d, nil", what, n, err, wantHeld)
		}
	}
	put("bundle, last resort and five keys", sized(1, 100)[0], sized(1, 100)[0], sized(5, 100), false, 5, nil)
	e.usage(id, store.Usage{Bytes: 700})
	put("four more keys, past the quota", nil, nil, sized(4, 100), false, 0, store.ErrQuota)
	e.usage(id, store.Usage{Bytes: 700})
	put("three more keys, to the quota", nil, nil, sized(3, 100), false, 8, nil)
	e.usage(id, store.Usage{Bytes: 1000})
	_, err := e.s.Append(e.ctx, id, store.Envelope{Data: []byte("x")}, q)
	wantErr(e.t, "Append with prekeys at the quota", err, store.ErrQuota)
	if p := e.claim(id); len(p.Key) != 100 || p.LastResort {
		e.t.Fatalf("claim: got %d-byte key, last resort %v", len(p.Key), p.LastResort)
	}
	e.usage(id, store.Usage{Bytes: 900})
	// Replacing: a 50-byte bundle for the 100-byte one, two keys for the
	// seven held. 900 - 100 - 700 + 50 + 200.
	put("replace", sized(1, 50)[0], nil, sized(2, 100), true, 2, nil)
	e.usage(id, store.Usage{Bytes: 350})
	e.append(id, string(sized(1, 600)[0]), time.Time{}, q)
	e.usage(id, store.Usage{Messages: 1, Bytes: 950})
	put("a key past the quota, envelopes counted", nil, nil, sized(1, 100), false, 0, store.ErrQuota)
	// A same-size replacement of the last-resort key changes nothing.
	put("last resort replaced", nil, sized(1, 100)[0], nil, false, 2, nil)
	e.usage(id, store.Usage{Messages: 1, Bytes: 950})
	e.claim(id)
	e.claim(id)
	e.usage(id, store.Usage{Messages: 1, Bytes: 750})
	if p := e.claim(id); !p.LastResort {
		e.t.Fatalf("third claim: got last resort %v, want true", p.LastResort)
	}
	e.usage(id, store.Usage{Messages: 1, Bytes: 750})
}

func testPrekeysSurviveReopen(e *env) {
	e.durable()
	id := e.register(1)
	if _, err := e.s.PutPrekeys(e.ctx, id, []byte("bundle"), []byte("last"), keys("k", 10), false, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 4 {
		seen[string(e.claim(id).Key)] = true
	}
	e.reopenStore()
	for i := range 6 {
		p := e.claim(id)
		if p.LastResort || seen[string(p.Key)] || string(p.Bundle) != "bundle" {
			e.t.Errorf("claim #%d after reopen: got %q last-resort %v bundle %q, want a fresh one-time key", i+4, p.Key, p.LastResort, p.Bundle)
		}
		seen[string(p.Key)] = true
	}
	if p := e.claim(id); !p.LastResort || string(p.Key) != "last" {
		e.t.Errorf("claim #10: got %q last-resort %v, want last true", p.Key, p.LastResort)
	}
}

func (e *env) read(id wire.BlobID, off int64, n int) (string, error) {
	e.t.Helper()
	p := make([]byte, n)
	got, err := e.s.ReadBlob(e.ctx, id, off, p)
	return string(p[:got]), err
}

func testBlob(e *env) {
	owner := e.register(1)
	id := blobID(1)
	exp := start.Add(time.Hour)
	if err := e.s.CreateBlob(e.ctx, id, store.Blob{Owner: owner, Size: 11, Have: 7, Expires: exp}, store.Quota{}); err != nil {
		e.t.Fatalf("CreateBlob: %v", err)
	}
	info, err := e.s.BlobInfo(e.ctx, id)
	if err != nil || info.Owner != owner || info.Size != 11 || info.Have != 0 || !info.Expires.Equal(exp) {
		e.t.Errorf("BlobInfo: got %+v, %v, want owner %v size 11 have 0 expires %v", info, err, owner, exp)
	}
	err = e.s.CreateBlob(e.ctx, id, store.Blob{Owner: owner, Size: 1}, store.Quota{})
	wantErr(e.t, "CreateBlob of an existing id", err, store.ErrConflict)
	e.usage(owner, store.Usage{Bytes: 11})

	if got, err := e.read(id, 0, 4); got != "" || err != io.EOF {
		e.t.Errorf("ReadBlob of an empty blob: got %q, %v, want \"\", EOF", got, err)
	}
	if have, err := e.s.WriteBlob(e.ctx, id, 0, []byte("hello")); have != 5 || err != nil {
		e.t.Fatalf("WriteBlob(0, hello): got %d, %v, want 5, nil", have, err)
	}
	_, err = e.s.WriteBlob(e.ctx, id, 3, []byte("xx"))
	wantErr(e.t, "WriteBlob at 3 with 5 held", err, store.ErrConflict)
	_, err = e.s.WriteBlob(e.ctx, id, 0, []byte("hello"))
	wantErr(e.t, "WriteBlob repeating offset 0", err, store.ErrConflict)
	_, err = e.s.WriteBlob(e.ctx, id, 6, []byte("x"))
	wantErr(e.t, "WriteBlob past Have", err, store.ErrConflict)
	_, err = e.s.WriteBlob(e.ctx, id, 5, []byte(" world!"))
	wantErr(e.t, "WriteBlob past Size", err, store.ErrTooLarge)
	// Reads stop at Have even though Size is larger.
	if got, err := e.read(id, 0, 11); got != "hello" || err != io.EOF {
		e.t.Errorf("ReadBlob of a partial blob: got %q, %v, want hello, EOF", got, err)
	}
	if have, err := e.s.WriteBlob(e.ctx, id, 5, nil); have != 5 || err != nil {
		e.t.Errorf("WriteBlob of nothing: got %d, %v, want 5, nil", have, err)
	}
	if have, err := e.s.WriteBlob(e.ctx, id, 5, []byte(" world")); have != 11 || err != nil {
		e.t.Fatalf("WriteBlob(5, world): got %d, %v, want 11, nil", have, err)
	}
	_, err = e.s.WriteBlob(e.ctx, id, 11, []byte("x"))
	wantErr(e.t, "WriteBlob onto a complete blob", err, store.ErrTooLarge)
	if info, _ := e.s.BlobInfo(e.ctx, id); info.Have != 11 {
		e.t.Errorf("BlobInfo.Have: got %d, want 11", info.Have)
	}
	reads := []struct {
		off  int64
		n    int
		want string
		err  error
	}{
		{0, 11, "hello world", nil},
		{0, 5, "hello", nil},
		{6, 5, "world", nil},
		{8, 10, "rld", io.EOF},
		{11, 1, "", io.EOF},
		{100, 1, "", io.EOF},
	}
	for _, r := range reads {
		got, err := e.read(id, r.off, r.n)
		if got != r.want || err != r.err {
			e.t.Errorf("ReadBlob(%d, %d): got %q, %v, want %q, %v", r.off, r.n, got, err, r.want, r.err)
		}
	}
	_, err = e.read(id, -1, 1)
	if err == nil {
		e.t.Errorf("ReadBlob at -1: got nil error, want one")
	}

	unknown := blobID(2)
	_, err = e.s.BlobInfo(e.ctx, unknown)
	wantErr(e.t, "BlobInfo of an unknown blob", err, store.ErrNotFound)
	_, err = e.s.WriteBlob(e.ctx, unknown, 0, []byte("x"))
	wantErr(e.t, "WriteBlob of an unknown blob", err, store.ErrNotFound)
	_, err = e.read(unknown, 0, 1)
	wantErr(e.t, "ReadBlob of an unknown blob", err, store.ErrNotFound)

	// A zero-size blob is complete from the start.
	if err := e.s.CreateBlob(e.ctx, blobID(3), store.Blob{Owner: owner}, store.Quota{}); err != nil {
		e.t.Fatalf("CreateBlob(size 0): %v", err)
	}
	if got, err := e.read(blobID(3), 0, 1); got != "" || err != io.EOF {
		e.t.Errorf("ReadBlob of a zero-size blob: got %q, %v, want \"\", EOF", got, err)
	}
	err = e.s.CreateBlob(e.ctx, blobID(4), store.Blob{Owner: owner, Size: -1}, store.Quota{})
	if err == nil {
		e.t.Errorf("CreateBlob(size -1): got nil error, want one")
	}
}

func testBlobResumeAfterReopen(e *env) {
	e.durable()
	owner := e.register(1)
	id := blobID(1)
	if err := e.s.CreateBlob(e.ctx, id, store.Blob{Owner: owner, Size: 10}, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.WriteBlob(e.ctx, id, 0, []byte("01234")); err != nil {
		e.t.Fatal(err)
	}
	e.reopenStore()
	info, err := e.s.BlobInfo(e.ctx, id)
	if err != nil || info.Have != 5 || info.Size != 10 {
		e.t.Fatalf("BlobInfo after reopen: got %+v, %v, want have 5 size 10", info, err)
	}
	if have, err := e.s.WriteBlob(e.ctx, id, 5, []byte("56789")); have != 10 || err != nil {
		e.t.Fatalf("WriteBlob resumed: got %d, %v, want 10, nil", have, err)
	}
	if got, err := e.read(id, 0, 10); got != "0123456789" || err != nil {
		e.t.Errorf("ReadBlob: got %q, %v, want 0123456789, nil", got, err)
	}
}

func testBlobQuota(e *env) {
	owner := e.register(1)
	q := store.Quota{MaxBytes: 100, MaxMessages: 1}
	e.append(owner, string(make([]byte, 30)), time.Time{}, q)
	err := e.s.CreateBlob(e.ctx, blobID(1), store.Blob{Owner: owner, Size: 71}, q)
	wantErr(e.t, "CreateBlob of 71 bytes onto 30 of 100", err, store.ErrQuota)
	if _, err := e.s.BlobInfo(e.ctx, blobID(1)); !errors.Is(err, store.ErrNotFound) {
		e.t.Errorf("BlobInfo of a refused blob: got %v, want ErrNotFound", err)
	}
	// MaxMessages does not limit blobs.
	if err := e.s.CreateBlob(e.ctx, blobID(1), store.Blob{Owner: owner, Size: 70}, q); err != nil {
		e.t.Fatalf("CreateBlob of 70 bytes onto 30 of 100: %v", err)
	}
	e.usage(owner, store.Usage{Messages: 1, Bytes: 100})
	if _, err := e.s.Delete(e.ctx, owner, []uint64{1}); err != nil {
		e.t.Fatal(err)
	}
	_, err = e.s.Append(e.ctx, owner, store.Envelope{Data: make([]byte, 31)}, q)
	wantErr(e.t, "Append of 31 bytes beside a 70-byte blob", err, store.ErrQuota)
	e.append(owner, string(make([]byte, 30)), time.Time{}, q)
	e.usage(owner, store.Usage{Messages: 1, Bytes: 100})
}

func testBlobExpiry(e *env) {
	owner := e.register(1)
	id := blobID(1)
	if err := e.s.CreateBlob(e.ctx, id, store.Blob{Owner: owner, Size: 8, Expires: start.Add(time.Minute)}, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.CreateBlob(e.ctx, blobID(2), store.Blob{Owner: owner, Size: 4, Expires: start.Add(time.Hour)}, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.WriteBlob(e.ctx, id, 0, []byte("abcd")); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	_, err := e.s.BlobInfo(e.ctx, id)
	wantErr(e.t, "BlobInfo of an expired blob", err, store.ErrNotFound)
	_, err = e.read(id, 0, 4)
	wantErr(e.t, "ReadBlob of an expired blob", err, store.ErrNotFound)
	_, err = e.s.WriteBlob(e.ctx, id, 4, []byte("efgh"))
	wantErr(e.t, "WriteBlob of an expired blob", err, store.ErrNotFound)
	e.usage(owner, store.Usage{Bytes: 12})

	if n, err := e.s.Sweep(e.ctx, e.clock.Now()); n != 0 || err != nil {
		e.t.Errorf("Sweep: got %d, %v, want 0 envelopes, nil", n, err)
	}
	e.usage(owner, store.Usage{Bytes: 4})
	if _, err := e.s.BlobInfo(e.ctx, blobID(2)); err != nil {
		e.t.Errorf("BlobInfo of the unexpired blob after Sweep: %v", err)
	}
	// The id is free again once swept; the new blob starts empty.
	if err := e.s.CreateBlob(e.ctx, id, store.Blob{Owner: owner, Size: 2}, store.Quota{}); err != nil {
		e.t.Fatalf("CreateBlob reusing a swept id: %v", err)
	}
	if got, err := e.read(id, 0, 4); got != "" || err != io.EOF {
		e.t.Errorf("ReadBlob of the new blob: got %q, %v, want \"\", EOF", got, err)
	}
	e.usage(owner, store.Usage{Bytes: 6})
}

func testCheck(e *env) {
	if err := e.s.Check(e.ctx); err != nil {
		e.t.Errorf("Check: %v", err)
	}
}

func testCanceledContext(e *env) {
	id := e.register(1)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	_, err := e.s.Append(ctx, id, store.Envelope{Data: []byte("x")}, store.Quota{})
	wantErr(e.t, "Append with a canceled context", err, context.Canceled)
	e.usage(id, store.Usage{})
}

func testClose(e *env) {
	id := e.register(1)
	if err := e.s.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	ctx := e.ctx
	calls := map[string]func() error{
		"RelayID":  func() error { _, err := e.s.RelayID(ctx); return err },
		"Register": func() error { return e.s.Register(ctx, id, store.Mailbox{OwnerKey: key(1)}) },
		"Mailbox":  func() error { _, err := e.s.Mailbox(ctx, id); return err },
		"Append": func() error {
			_, err := e.s.Append(ctx, id, store.Envelope{Data: []byte("x")}, store.Quota{})
			return err
		},
		"Fetch":  func() error { _, err := e.s.Fetch(ctx, id, 0, 1); return err },
		"Delete": func() error { _, err := e.s.Delete(ctx, id, []uint64{1}); return err },
		"Usage":  func() error { _, err := e.s.Usage(ctx, id); return err },
		"PutPrekeys": func() error {
			_, err := e.s.PutPrekeys(ctx, id, []byte("b"), nil, nil, false, store.Quota{})
			return err
		},
		"ClaimPrekey": func() error { _, err := e.s.ClaimPrekey(ctx, id); return err },
		"CreateBlob":  func() error { return e.s.CreateBlob(ctx, blobID(1), store.Blob{Owner: id}, store.Quota{}) },
		"WriteBlob":   func() error { _, err := e.s.WriteBlob(ctx, blobID(1), 0, nil); return err },
		"BlobInfo":    func() error { _, err := e.s.BlobInfo(ctx, blobID(1)); return err },
		"ReadBlob":    func() error { _, err := e.s.ReadBlob(ctx, blobID(1), 0, make([]byte, 1)); return err },
		"Sweep":       func() error { _, err := e.s.Sweep(ctx, e.clock.Now()); return err },
		"Check":       func() error { return e.s.Check(ctx) },
		"Close":       func() error { return e.s.Close() },
	}
	for name, call := range calls {
		wantErr(e.t, name+" after Close", call(), store.ErrClosed)
	}
}

func testPersistence(e *env) {
	e.durable()
	a := e.register(1)
	b := e.register(2)
	if err := e.s.Register(e.ctx, b, store.Mailbox{OwnerKey: key(2), SendTokenHash: key(22)}); err != nil {
		e.t.Fatal(err)
	}
	relay, _ := e.s.RelayID(e.ctx)
	for i := range 5 {
		e.append(a, fmt.Sprint("a", i), start.Add(time.Duration(i+1)*time.Hour), store.Quota{})
	}
	e.append(b, "b0", time.Time{}, store.Quota{})
	if _, err := e.s.Delete(e.ctx, a, []uint64{2}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.PutPrekeys(e.ctx, b, []byte("bundle"), []byte("last"), keys("k", 2), false, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.s.CreateBlob(e.ctx, blobID(1), store.Blob{Owner: a, Size: 6, Expires: start.Add(90 * time.Minute)}, store.Quota{}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.WriteBlob(e.ctx, blobID(1), 0, []byte("blob")); err != nil {
		e.t.Fatal(err)
	}
	before := e.fetch(a, 0, 0)

	e.reopenStore()
	if got, _ := e.s.RelayID(e.ctx); got != relay {
		e.t.Errorf("RelayID: got %x, want %x", got, relay)
	}
	m, err := e.s.Mailbox(e.ctx, b)
	if err != nil || m.OwnerKey != key(2) || m.SendTokenHash != key(22) || !m.Created.Equal(start) {
		e.t.Errorf("Mailbox: got %+v, %v, want owner %x token %x created %v", m, err, key(2), key(22), start)
	}
	after := e.fetch(a, 0, 0)
	if len(after) != len(before) {
		e.t.Fatalf("Fetch: got seqs %v, want %v", seqsOf(after), seqsOf(before))
	}
	for i := range after {
		g, w := after[i], before[i]
		if g.Seq != w.Seq || !g.Received.Equal(w.Received) || !g.Expires.Equal(w.Expires) || !bytes.Equal(g.Data, w.Data) {
			e.t.Errorf("envelope %d: got %+v, want %+v", i, g, w)
		}
	}
	e.usage(a, store.Usage{Messages: 4, Bytes: 8 + 6})
	e.usage(b, store.Usage{Messages: 1, Bytes: 2 + int64(len("bundle")+len("last")+2*len("k0000"))}) // envelope and prekeys
	if info, err := e.s.BlobInfo(e.ctx, blobID(1)); err != nil || info.Have != 4 || info.Size != 6 || info.Owner != a {
		e.t.Errorf("BlobInfo: got %+v, %v, want owner %v have 4 size 6", info, err, a)
	}
	if got, err := e.read(blobID(1), 0, 4); got != "blob" || err != nil {
		e.t.Errorf("ReadBlob: got %q, %v, want blob, nil", got, err)
	}
	if p := e.claim(b); string(p.Bundle) != "bundle" || p.LastResort || !bytes.HasPrefix(p.Key, []byte("k")) {
		e.t.Errorf("ClaimPrekey: got %q %q %v, want bundle, a one-time key", p.Bundle, p.Key, p.LastResort)
	}

	// The expiry index survives too: Sweep after reopen finds what expired.
	e.clock.Advance(2 * time.Hour)
	if n, err := e.s.Sweep(e.ctx, e.clock.Now()); n != 1 || err != nil {
		e.t.Errorf("Sweep at 2h after reopen: got %d, %v, want 1 (a0; a1 was deleted), nil", n, err)
	}
	e.usage(a, store.Usage{Messages: 3, Bytes: 6})
	if _, err := e.s.BlobInfo(e.ctx, blobID(1)); !errors.Is(err, store.ErrNotFound) {
		e.t.Errorf("BlobInfo after Sweep: got %v, want ErrNotFound", err)
	}
}
