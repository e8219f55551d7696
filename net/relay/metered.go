package relay

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// meteredStore times every store call into store_latency_seconds{op}. The
// relay itself calls it like the plain store.
type meteredStore struct {
	s store.Store
	h *prometheus.HistogramVec

	// One observer per op, looked up once: WithLabelValues on every call
	// would hash the label each time.
	register, mailbox, appendOp, fetch, del, usage, putPrekeys, claim,
	createBlob, writeBlob, blobInfo, readBlob, sweep, check prometheus.Observer
}

func newMeteredStore(s store.Store, h *prometheus.HistogramVec) *meteredStore {
	return &meteredStore{s: s, h: h,
		register: h.WithLabelValues("register"), mailbox: h.WithLabelValues("mailbox"),
		appendOp: h.WithLabelValues("append"), fetch: h.WithLabelValues("fetch"),
		del: h.WithLabelValues("delete"), usage: h.WithLabelValues("usage"),
		putPrekeys: h.WithLabelValues("put_prekeys"), claim: h.WithLabelValues("claim_prekey"),
		createBlob: h.WithLabelValues("create_blob"), writeBlob: h.WithLabelValues("write_blob"),
		blobInfo: h.WithLabelValues("blob_info"), readBlob: h.WithLabelValues("read_blob"),
		sweep: h.WithLabelValues("sweep"), check: h.WithLabelValues("check"),
	}
}

func since(o prometheus.Observer, t time.Time) { o.Observe(time.Since(t).Seconds()) }

func (m *meteredStore) Register(ctx context.Context, id wire.MailboxID, mb store.Mailbox) error {
	defer since(m.register, time.Now())
	return m.s.Register(ctx, id, mb)
}

func (m *meteredStore) Mailbox(ctx context.Context, id wire.MailboxID) (store.Mailbox, error) {
	defer since(m.mailbox, time.Now())
	return m.s.Mailbox(ctx, id)
}

func (m *meteredStore) Append(ctx context.Context, id wire.MailboxID, env store.Envelope, q store.Quota) (uint64, error) {
	defer since(m.appendOp, time.Now())
	return m.s.Append(ctx, id, env, q)
}

func (m *meteredStore) Fetch(ctx context.Context, id wire.MailboxID, after uint64, limit int) ([]store.Envelope, error) {
	defer since(m.fetch, time.Now())
	return m.s.Fetch(ctx, id, after, limit)
}

func (m *meteredStore) Delete(ctx context.Context, id wire.MailboxID, seqs []uint64) (int, error) {
	defer since(m.del, time.Now())
	return m.s.Delete(ctx, id, seqs)
}

func (m *meteredStore) PutPrekeys(ctx context.Context, id wire.MailboxID, bundle, lastResort []byte, oneTime [][]byte, replace bool, q store.Quota) (int, error) {
	defer since(m.putPrekeys, time.Now())
	return m.s.PutPrekeys(ctx, id, bundle, lastResort, oneTime, replace, q)
}

func (m *meteredStore) ClaimPrekey(ctx context.Context, id wire.MailboxID) (store.Prekey, error) {
	defer since(m.claim, time.Now())
	return m.s.ClaimPrekey(ctx, id)
}

func (m *meteredStore) CreateBlob(ctx context.Context, id wire.BlobID, b store.Blob, q store.Quota) error {
	defer since(m.createBlob, time.Now())
	return m.s.CreateBlob(ctx, id, b, q)
}

func (m *meteredStore) WriteBlob(ctx context.Context, id wire.BlobID, offset int64, data []byte) (int64, error) {
	defer since(m.writeBlob, time.Now())
	return m.s.WriteBlob(ctx, id, offset, data)
}

func (m *meteredStore) BlobInfo(ctx context.Context, id wire.BlobID) (store.Blob, error) {
	defer since(m.blobInfo, time.Now())
	return m.s.BlobInfo(ctx, id)
}

func (m *meteredStore) ReadBlob(ctx context.Context, id wire.BlobID, offset int64, p []byte) (int, error) {
	defer since(m.readBlob, time.Now())
	return m.s.ReadBlob(ctx, id, offset, p)
}

func (m *meteredStore) Sweep(ctx context.Context, now time.Time) (int, error) {
	defer since(m.sweep, time.Now())
	return m.s.Sweep(ctx, now)
}

func (m *meteredStore) Check(ctx context.Context) error {
	defer since(m.check, time.Now())
	return m.s.Check(ctx)
}
