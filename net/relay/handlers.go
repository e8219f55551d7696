package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// handle performs one request and returns its response, and optionally
// work to do once the response is written (start delivering after Auth,
// wake subscribers after Send).
func (c *conn) handle(m wire.Message) (wire.Message, func()) {
	switch m := m.(type) {
	case *wire.Ping:
		return &wire.Pong{}, nil
	case *wire.Register:
		return c.register(m)
	case *wire.Auth:
		return c.auth(m)
	case *wire.Send:
		return c.send(m)
	case *wire.Ack:
		return c.ack(m), nil
	case *wire.PutPrekeys:
		return c.putPrekeys(m), nil
	case *wire.ClaimPrekey:
		return c.claimPrekey(m), nil
	case *wire.BlobCreate:
		return c.blobCreate(m), nil
	case *wire.BlobPut:
		return c.blobPut(m), nil
	case *wire.BlobStat:
		return c.blobStat(m), nil
	case *wire.BlobGet:
		return c.blobGet(m), nil
	}
	// serve lets only request types through, and every one is above.
	return fail(wire.CodeBadRequest, "unsupported request %v", m.Type()), nil
}

func fail(code wire.ErrorCode, format string, args ...any) *wire.Error {
	return &wire.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// storeFail maps a store error to the response a client gets. The message
// is generic on purpose: store errors carry internal detail.
func (c *conn) storeFail(op string, err error) *wire.Error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fail(wire.CodeNotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		return fail(wire.CodeConflict, "conflict")
	case errors.Is(err, store.ErrQuota):
		return fail(wire.CodeQuota, "mailbox quota exceeded")
	case errors.Is(err, store.ErrTooLarge):
		return fail(wire.CodeTooLarge, "too large")
	case errors.Is(err, store.ErrNoPrekeys):
		return fail(wire.CodeNoPrekeys, "no prekeys uploaded")
	case errors.Is(err, store.ErrFull):
		// Deletions still work: recipients can drain their mailboxes.
		return fail(wire.CodeUnavailable, "relay storage full; retry later")
	case errors.Is(err, store.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fail(wire.CodeUnavailable, "relay unavailable")
	}
	c.srv.logStoreError(op, err)
	return fail(wire.CodeInternal, "relay storage failed")
}

// ttl turns a requested TTL into an expiry time. Zero means the relay's
// default; above the maximum is clamped rather than refused, because a
// sender asking for longer gets "as long as this relay keeps anything",
// and a shorter life never hurts a disappearing message.
func (c *conn) expiry(ttl uint32) time.Time {
	l := &c.srv.limits
	d := time.Duration(ttl) * time.Second
	if ttl == 0 {
		d = l.DefaultTTL
	}
	d = min(d, l.MaxTTL)
	return c.srv.now().Add(d)
}

func (c *conn) quota() store.Quota {
	return store.Quota{MaxMessages: c.srv.limits.MailboxMaxMessages, MaxBytes: c.srv.limits.MailboxMaxBytes}
}

func verify(owner wire.Key32, msg []byte, sig wire.Signature) bool {
	return ed25519.Verify(ed25519.PublicKey(owner[:]), msg, sig[:])
}

func (c *conn) register(m *wire.Register) (wire.Message, func()) {
	s := c.srv
	if hasSmallOrder(m.OwnerKey) {
		// Anyone could sign for such a key (see smallOrder).
		return fail(wire.CodeUnauthorized, "owner key is a point of small order"), nil
	}
	msg := wire.AuthMessage(wire.OpRegister, s.relayID, c.challenge, m.Mailbox, m.OwnerKey, m.SendTokenHash)
	if !verify(m.OwnerKey, msg, m.Signature) {
		return fail(wire.CodeUnauthorized, "bad signature"), nil
	}
	existing, err := s.store.Mailbox(c.ctx, m.Mailbox)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Only creations are rate-limited: re-registering to change the
		// send token creates nothing.
		if !c.allowRegister() {
			return fail(wire.CodeRateLimited, "too many new mailboxes; retry later"), nil
		}
	case err != nil:
		return c.storeFail("mailbox", err), nil
	case existing.OwnerKey != m.OwnerKey:
		return fail(wire.CodeConflict, "mailbox has another owner"), nil
	}
	if resp := c.checkSubscribe(m.Mailbox); resp != nil {
		return resp, nil
	}
	err = s.store.Register(c.ctx, m.Mailbox, store.Mailbox{OwnerKey: m.OwnerKey, SendTokenHash: m.SendTokenHash, Created: s.now()})
	if errors.Is(err, store.ErrConflict) {
		return fail(wire.CodeConflict, "mailbox has another owner"), nil
	}
	if err != nil {
		return c.storeFail("register", err), nil
	}
	s.log.Debug("mailbox registered", "mailbox", m.Mailbox.String())
	// The registration stands even if this connection may not subscribe:
	// the owner signed it, and retries with Auth.
	return c.subscribed(m.Mailbox)
}

func (c *conn) allowRegister() bool {
	l := &c.srv.limits
	if c.regLimit == nil {
		c.regLimit = rate.NewLimiter(rate.Limit(l.RegisterRate), l.RegisterBurst)
	}
	// The connection's bucket first: an address's bucket is shared, and a
	// refused creation should not spend from it.
	return c.regLimit.AllowN(c.srv.now(), 1) && c.srv.admit.allowRegister(c.remote)
}

func (c *conn) auth(m *wire.Auth) (wire.Message, func()) {
	s := c.srv
	mb, err := s.store.Mailbox(c.ctx, m.Mailbox)
	if err != nil {
		return c.storeFail("mailbox", err), nil
	}
	if hasSmallOrder(mb.OwnerKey) {
		// Registered before Register refused such keys: nobody can prove
		// to own it, since anybody can sign for it.
		return fail(wire.CodeUnauthorized, "owner key is a point of small order"), nil
	}
	msg := wire.AuthMessage(wire.OpAuth, s.relayID, c.challenge, m.Mailbox, mb.OwnerKey, wire.Key32{})
	if !verify(mb.OwnerKey, msg, m.Signature) {
		return fail(wire.CodeUnauthorized, "bad signature"), nil
	}
	if resp := c.checkSubscribe(m.Mailbox); resp != nil {
		return resp, nil
	}
	s.log.Debug("mailbox authenticated", "mailbox", m.Mailbox.String())
	return c.subscribed(m.Mailbox)
}

// sub returns the connection's subscription to id, nil when the connection
// is not authenticated for it. A slice, not a map: nearly every connection
// has one mailbox, and a map costs hundreds of bytes per idle connection.
func (c *conn) sub(id wire.MailboxID) *sub {
	for _, sb := range c.subs {
		if sb.mailbox == id {
			return sb
		}
	}
	return nil
}

// checkSubscribe refuses a mailbox beyond MaxMailboxesPerConn.
func (c *conn) checkSubscribe(id wire.MailboxID) *wire.Error {
	if c.sub(id) == nil && len(c.subs) >= c.srv.limits.MaxMailboxesPerConn {
		return fail(wire.CodeQuota, "connection has %d mailboxes, the limit", len(c.subs))
	}
	return nil
}

// subscribed is the response to a successful Register or Auth: OK and
// the start of delivery, or the Error of subscribe.
func (c *conn) subscribed(id wire.MailboxID) (wire.Message, func()) {
	start, werr := c.subscribe(id)
	if werr != nil {
		return werr, nil
	}
	return &wire.OK{}, start
}

// subscribe authenticates the connection for id and returns the work that
// starts delivery, to run once OK is written so that OK comes before the
// first Deliver. Authenticating again for the same mailbox changes nothing.
// A mailbox that has MaxConnsPerMailbox connections already is refused
// rate-limited: the error is temporary, as an old connection ends.
func (c *conn) subscribe(id wire.MailboxID) (func(), *wire.Error) {
	if c.sub(id) != nil {
		return nil, nil
	}
	s := c.srv
	sb := &sub{c: c, mailbox: id}
	mbox := s.hub.join(sb)
	if mbox == nil {
		s.metrics.mailboxConnLimit.Inc()
		return nil, fail(wire.CodeRateLimited, "mailbox has %d connections, the relay's limit; retry later", s.limits.MaxConnsPerMailbox)
	}
	sb.budgets = budgets{&c.budget, mbox, s.deliverBudget}
	c.subs = append(c.subs, sb)
	return sb.start, nil
}

func (c *conn) send(m *wire.Send) (wire.Message, func()) {
	s := c.srv
	if len(m.Envelope) > s.limits.MaxEnvelope {
		return fail(wire.CodeTooLarge, "envelope is %d bytes, limit %d", len(m.Envelope), s.limits.MaxEnvelope), nil
	}
	mb, err := s.store.Mailbox(c.ctx, m.Mailbox)
	if err != nil {
		return c.storeFail("mailbox", err), nil
	}
	if !mb.SendTokenHash.IsZero() {
		h := sha256.Sum256(m.SendToken[:])
		if subtle.ConstantTimeCompare(h[:], mb.SendTokenHash[:]) != 1 {
			return fail(wire.CodeUnauthorized, "wrong send token"), nil
		}
	}
	env := store.Envelope{Expires: c.expiry(m.TTL), Data: m.Envelope}
	seq, err := s.store.Append(c.ctx, m.Mailbox, env, c.quota())
	if err != nil {
		return c.storeFail("append", err), nil
	}
	s.metrics.stored.Inc()
	s.metrics.bytesStored.Add(float64(len(m.Envelope)))
	// Subscribers that are caught up get the envelope as it is, without
	// reading it back; Received is the relay's clock, a moment after the
	// store's.
	env.Seq, env.Received = seq, s.now()
	return &wire.Sent{Seq: seq}, func() {
		s.hub.offer(m.Mailbox, env)
		if s.notifier != nil {
			s.notifier.Notify(m.Mailbox)
		}
	}
}

func (c *conn) ack(m *wire.Ack) wire.Message {
	sb := c.sub(m.Mailbox)
	if sb == nil {
		return fail(wire.CodeUnauthorized, "connection not authenticated for this mailbox")
	}
	return c.ackSub(m, sb)
}

// ackSub deletes acknowledged envelopes of a mailbox the connection is
// subscribed to; it may run off the reading goroutine.
func (c *conn) ackSub(m *wire.Ack, sb *sub) wire.Message {
	n, err := c.srv.store.Delete(c.ctx, m.Mailbox, m.Seqs)
	if err != nil {
		return c.storeFail("delete", err)
	}
	c.srv.metrics.acked.Add(float64(n))
	sb.acked(m.Seqs)
	return &wire.OK{}
}

func (c *conn) putPrekeys(m *wire.PutPrekeys) wire.Message {
	if c.sub(m.Mailbox) == nil {
		return fail(wire.CodeUnauthorized, "connection not authenticated for this mailbox")
	}
	n, err := c.srv.store.PutPrekeys(c.ctx, m.Mailbox, m.Bundle, m.LastResort, m.OneTime, m.Replace, c.quota())
	if err != nil {
		return c.storeFail("put prekeys", err)
	}
	return &wire.PrekeysStored{Remaining: uint32(n)}
}

func (c *conn) claimPrekey(m *wire.ClaimPrekey) wire.Message {
	s := c.srv
	// Look the mailbox up first so that made-up ids do not each get a
	// rate limiter.
	if _, err := s.store.Mailbox(c.ctx, m.Mailbox); err != nil {
		return c.storeFail("mailbox", err)
	}
	if !s.claims.allow(m.Mailbox, s.now(), &s.limits) {
		return fail(wire.CodeRateLimited, "too many prekey claims for this mailbox; retry later")
	}
	p, err := s.store.ClaimPrekey(c.ctx, m.Mailbox)
	if err != nil {
		return c.storeFail("claim prekey", err)
	}
	s.metrics.prekeyClaims.Inc()
	return &wire.Prekey{Bundle: p.Bundle, Key: p.Key, LastResort: p.LastResort}
}

func (c *conn) blobCreate(m *wire.BlobCreate) wire.Message {
	s := c.srv
	if c.sub(m.Mailbox) == nil {
		return fail(wire.CodeUnauthorized, "connection not authenticated for this mailbox")
	}
	if m.Size > uint64(s.limits.MaxBlob) {
		return fail(wire.CodeTooLarge, "blob is %d bytes, limit %d", m.Size, s.limits.MaxBlob)
	}
	var id wire.BlobID
	if err := s.random(id[:]); err != nil {
		s.log.Error("reading randomness for a blob id", "err", err)
		return fail(wire.CodeInternal, "relay failed")
	}
	b := store.Blob{Owner: m.Mailbox, Size: int64(m.Size), Expires: c.expiry(m.TTL)}
	if err := s.store.CreateBlob(c.ctx, id, b, c.quota()); err != nil {
		if errors.Is(err, store.ErrConflict) {
			// A repeated random id: a broken Rand, not the client's doing.
			s.log.Error("blob id collision")
			return fail(wire.CodeInternal, "relay failed")
		}
		return c.storeFail("create blob", err)
	}
	s.log.Debug("blob created", "blob", id.String(), "mailbox", m.Mailbox.String())
	return &wire.BlobCreated{Blob: id}
}

func blobStatus(b store.Blob) *wire.BlobStatus {
	return &wire.BlobStatus{Size: uint64(b.Size), Have: uint64(b.Have), Expires: uint64(b.Expires.Unix())}
}

func (c *conn) blobPut(m *wire.BlobPut) wire.Message {
	s := c.srv
	if c.sub(m.Mailbox) == nil {
		return fail(wire.CodeUnauthorized, "connection not authenticated for this mailbox")
	}
	if len(m.Data) > s.limits.MaxChunk {
		return fail(wire.CodeTooLarge, "chunk is %d bytes, limit %d", len(m.Data), s.limits.MaxChunk)
	}
	b, err := s.store.BlobInfo(c.ctx, m.Blob)
	if err != nil {
		return c.storeFail("blob info", err)
	}
	if b.Owner != m.Mailbox {
		return fail(wire.CodeUnauthorized, "blob belongs to another mailbox")
	}
	if m.Offset != uint64(b.Have) {
		// The message tells a resuming client where to continue.
		return fail(wire.CodeConflict, "offset %d, relay has %d", m.Offset, b.Have)
	}
	if uint64(len(m.Data)) > uint64(b.Size-b.Have) {
		return fail(wire.CodeTooLarge, "%d bytes at offset %d pass the blob's size %d", len(m.Data), m.Offset, b.Size)
	}
	have, err := s.store.WriteBlob(c.ctx, m.Blob, int64(m.Offset), m.Data)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			// Another connection of the same mailbox wrote meanwhile.
			return fail(wire.CodeConflict, "offset %d no longer matches", m.Offset)
		}
		return c.storeFail("write blob", err)
	}
	s.metrics.blobBytes.Add(float64(len(m.Data)))
	b.Have = have
	return blobStatus(b)
}

func (c *conn) blobStat(m *wire.BlobStat) wire.Message {
	b, err := c.srv.store.BlobInfo(c.ctx, m.Blob)
	if err != nil {
		return c.storeFail("blob info", err)
	}
	return blobStatus(b)
}

func (c *conn) blobGet(m *wire.BlobGet) wire.Message {
	s := c.srv
	if m.Length > uint32(s.limits.MaxChunk) {
		return fail(wire.CodeTooLarge, "length %d, limit %d", m.Length, s.limits.MaxChunk)
	}
	b, err := s.store.BlobInfo(c.ctx, m.Blob)
	if err != nil {
		return c.storeFail("blob info", err)
	}
	if b.Have < b.Size {
		// Readers get only whole blobs: a partial one may never finish.
		return fail(wire.CodeConflict, "blob incomplete: %d of %d bytes", b.Have, b.Size)
	}
	if m.Offset > uint64(b.Size) {
		return fail(wire.CodeBadRequest, "offset %d past the blob's size %d", m.Offset, b.Size)
	}
	n := min(uint64(m.Length), uint64(b.Size)-m.Offset)
	data := make([]byte, n)
	got, err := s.store.ReadBlob(c.ctx, m.Blob, int64(m.Offset), data)
	if err != nil && !(errors.Is(err, io.EOF) && uint64(got) == n) {
		return c.storeFail("read blob", err)
	}
	return &wire.BlobData{Offset: m.Offset, Data: data[:got]}
}

// claimLimiters holds a token bucket per mailbox whose prekeys were
// claimed recently.
type claimLimiters struct {
	mu sync.Mutex
	m  map[wire.MailboxID]*rate.Limiter
}

func (cl *claimLimiters) allow(id wire.MailboxID, now time.Time, l *Limits) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	lim := cl.m[id]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(l.PrekeyClaimRate), l.PrekeyClaimBurst)
		cl.m[id] = lim
	}
	return lim.AllowN(now, 1)
}

// prune forgets buckets that have refilled; a new one would be the same.
func (cl *claimLimiters) prune(now time.Time) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for id, lim := range cl.m {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(cl.m, id)
		}
	}
}
