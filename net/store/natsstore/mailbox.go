package natsstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// maxAttempts bounds compare-and-set retries; each lost race means
// another writer made progress, so reaching it means heavy contention.
const maxAttempts = 200

func notFound(id wire.MailboxID) error {
	return fmt.Errorf("mailbox %v: %w", id, store.ErrNotFound)
}

// charge adds n (which may be negative) to mailbox id's Bytes, refusing
// with ErrQuota when a positive n would pass q.MaxBytes. Leader changes
// and lost races are retried within ctx's deadline (the caller's, or the
// store's timeout). Keys stored before prekeys were charged are released
// without having been counted, which can only under-count.
func (s *Store) charge(ctx context.Context, id wire.MailboxID, n int64, q store.Quota) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var r retrier
	for {
		err := s.update(ctx, id, func(m *mailboxRecord, ok bool) error {
			if !ok {
				return notFound(id)
			}
			if n > 0 && q.MaxBytes > 0 && m.Bytes+n > q.MaxBytes {
				return fmt.Errorf("mailbox %v: %d bytes held, %d more, limit %d: %w", id, m.Bytes, n, q.MaxBytes, store.ErrQuota)
			}
			m.Bytes += n
			return nil
		})
		if err == nil || !r.again(ctx, err) {
			return r.final(ctx, err)
		}
	}
}

// mailbox reads a mailbox record and its revision; ok is false if there
// is none.
func (s *Store) mailbox(ctx context.Context, id wire.MailboxID) (m mailboxRecord, rev uint64, ok bool, err error) {
	v, rev, err := s.load(ctx, subjMailbox(id))
	if err != nil || v == nil {
		return m, rev, false, err
	}
	m, err = decodeMailbox(v)
	if err != nil {
		return m, 0, false, fmt.Errorf("mailbox %v: %w", id, err)
	}
	return m, rev, true, nil
}

// update applies fn to mailbox id's record with compare-and-set until it
// sticks. fn returns a refusal (not found, quota) to stop without a write.
// Lost races are retried at once, up to maxAttempts; see charge for
// retries through leader changes.
func (s *Store) update(ctx context.Context, id wire.MailboxID, fn func(m *mailboxRecord, ok bool) error) error {
	for range maxAttempts {
		m, rev, ok, err := s.mailbox(ctx, id)
		if err != nil {
			return err
		}
		if err := fn(&m, ok); err != nil {
			return err
		}
		if _, err = s.save(ctx, subjMailbox(id), m.encode(), rev); !errors.Is(err, errConflict) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return fmt.Errorf("mailbox %v: %w", id, ErrContention)
}

func checkQuota(m *mailboxRecord, msgs int, n int64, q store.Quota) error {
	if q.MaxMessages > 0 && m.Messages+int64(msgs) > int64(q.MaxMessages) {
		return fmt.Errorf("%d messages held, limit %d: %w", m.Messages, q.MaxMessages, store.ErrQuota)
	}
	if q.MaxBytes > 0 && m.Bytes+n > q.MaxBytes {
		return fmt.Errorf("%d bytes held, %d more asked, limit %d: %w", m.Bytes, n, q.MaxBytes, store.ErrQuota)
	}
	return nil
}

// Register implements store.Store.
func (s *Store) Register(ctx context.Context, id wire.MailboxID, reg store.Mailbox) error {
	const op = "register"
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	defer s.gate.RUnlock()
	mu := s.lock(id[:])
	mu.Lock()
	defer mu.Unlock()
	created := reg.Created
	if created.IsZero() {
		created = s.now()
	}
	errSame := errors.New("unchanged")
	err := s.update(ctx, id, func(m *mailboxRecord, ok bool) error {
		if !ok {
			*m = mailboxRecord{Owner: reg.OwnerKey, Token: reg.SendTokenHash, Created: timeToNanos(created)}
			return nil
		}
		if m.Owner != reg.OwnerKey {
			return fmt.Errorf("mailbox %v has another owner: %w", id, store.ErrConflict)
		}
		if m.Token == reg.SendTokenHash {
			return errSame
		}
		m.Token = reg.SendTokenHash
		return nil
	})
	if err != nil && !errors.Is(err, errSame) {
		return fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return nil
}

// Mailbox implements store.Store.
func (s *Store) Mailbox(ctx context.Context, id wire.MailboxID) (store.Mailbox, error) {
	m, err := s.mailboxOp(ctx, "mailbox", id)
	if err != nil {
		return store.Mailbox{}, err
	}
	return store.Mailbox{OwnerKey: m.Owner, SendTokenHash: m.Token, Created: nanosToTime(m.Created)}, nil
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, id wire.MailboxID) (store.Usage, error) {
	m, err := s.mailboxOp(ctx, "usage", id)
	if err != nil {
		return store.Usage{}, err
	}
	return store.Usage{Messages: int(max(m.Messages, 0)), Bytes: max(m.Bytes, 0)}, nil
}

func (s *Store) mailboxOp(ctx context.Context, op string, id wire.MailboxID) (mailboxRecord, error) {
	if err := s.enter(ctx, op); err != nil {
		return mailboxRecord{}, err
	}
	defer s.gate.RUnlock()
	m, _, ok, err := s.mailbox(ctx, id)
	if err == nil && !ok {
		err = notFound(id)
	}
	if err != nil {
		return mailboxRecord{}, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return m, nil
}

// Append implements store.Store.
//
// The envelope is published to eph.mb.<mailbox>.e.<seq> on condition that
// the mailbox's record and newest envelope are still the ones read just
// before (an expected-last-sequence check on the subject filter
// eph.mb.<mailbox>.>), so appends to one mailbox are stored one at a time,
// in the order of their sequence numbers, whichever nodes make them (see
// the package doc). The mailbox record's
// counters are then raised with compare-and-set; if that shows the quota
// exceeded (another node's append got in between) the envelope is removed
// again and ErrQuota returned.
func (s *Store) Append(ctx context.Context, id wire.MailboxID, env store.Envelope, q store.Quota) (uint64, error) {
	const op = "append"
	if len(env.Data) > s.maxEnv {
		return 0, fmt.Errorf("natsstore: %s: envelope is %d bytes, limit %d: %w", op, len(env.Data), s.maxEnv, store.ErrTooLarge)
	}
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	mu := s.lock(id[:])
	mu.Lock()
	defer mu.Unlock()
	seq, err := s.append(ctx, id, env, q)
	if err != nil {
		return 0, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return seq, nil
}

func (s *Store) append(ctx context.Context, id wire.MailboxID, env store.Envelope, q store.Quota) (uint64, error) {
	size := int64(len(env.Data))
	received := timeToNanos(s.now())
	expires := timeToNanos(env.Expires)
	for attempt := 0; ; attempt++ {
		if attempt >= maxAttempts {
			return 0, fmt.Errorf("mailbox %v: %w", id, ErrContention)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		m, rev, ok, err := s.mailbox(ctx, id)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, notFound(id)
		}
		if err := checkQuota(&m, 1, size, q); err != nil {
			return 0, fmt.Errorf("mailbox %v: %w", id, err)
		}
		var tailStream, tailSeq uint64
		tail, err := s.get(ctx, streamEnv, msgGetReq{LastFor: envFilter(id)})
		switch {
		case errors.Is(err, errNoMsg):
		case err != nil:
			return 0, err
		default:
			tailStream = tail.Seq
			if tailSeq, err = strconv.ParseUint(tail.Header.Get(hdrSeq), 10, 64); err != nil {
				return 0, fmt.Errorf("mailbox %v: envelope at %d: %w", id, tail.Seq, ErrCorrupt)
			}
		}
		if m.LastSeq == math.MaxUint64 {
			return 0, fmt.Errorf("mailbox %v: %w", id, errExhausted)
		}
		seq := max(m.LastSeq, tailSeq) + 1
		h := nats.Header{}
		h.Set(hdrSeq, strconv.FormatUint(seq, 10))
		h.Set(hdrReceived, strconv.FormatInt(received, 10))
		if expires != 0 {
			h.Set(hdrExpires, strconv.FormatInt(expires, 10))
		}
		// The newest message of the mailbox (record or envelope) must
		// still be the newest of the two read: no record update and no
		// envelope since. Conditioning on the envelopes alone would let
		// an Ack that deletes the newest one make an old read look
		// current again, and a sequence number be given out twice.
		at, err := s.publish(ctx, subjEnv(id, seq), h, env.Data, jetstream.WithExpectLastSequenceForSubject(max(rev, tailStream), mbFilter(id)))
		if isConflict(err) {
			// Another node appended (or an Ack removed the tail): read
			// again, after a short random pause once it keeps happening,
			// so nodes racing for one mailbox do not retry in lockstep.
			if attempt > 0 {
				time.Sleep(time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond))))
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		ref := envRef{Seq: seq, Stream: at, Size: size}
		if expires != 0 {
			e := expiryEntry{Kind: 'e', ID: id, Seq: seq, Stream: at, Size: size, Expires: expires}
			if _, err := s.publish(ctx, subjExp(expires/int64(time.Minute)), nil, e.encode()); err != nil {
				s.deleteMsg(context.WithoutCancel(ctx), streamEnv, at)
				return 0, err
			}
		}
		// Count it. From here on the envelope is stored: give up only if
		// the quota, read again, refuses it and it can still be taken back.
		var refused error
		err = s.update(context.WithoutCancel(ctx), id, func(m *mailboxRecord, ok bool) error {
			if !ok {
				return notFound(id)
			}
			if refused == nil {
				refused = checkQuota(m, 1, size, q)
				if refused != nil {
					return refused
				}
			}
			m.LastSeq = max(m.LastSeq, seq)
			m.Messages++
			m.Bytes += size
			return nil
		})
		if refused != nil {
			gone, derr := s.deleteMsg(context.WithoutCancel(ctx), streamEnv, at)
			if derr != nil {
				return 0, derr
			}
			if gone {
				return 0, fmt.Errorf("mailbox %v: %w", id, refused)
			}
			// Someone deleted it (and took it off the counters) first:
			// it was delivered, so it counts as stored.
			err = s.update(context.WithoutCancel(ctx), id, func(m *mailboxRecord, ok bool) error {
				m.LastSeq = max(m.LastSeq, seq)
				m.Messages++
				m.Bytes += size
				return nil
			})
		}
		if err != nil {
			return 0, err
		}
		s.cache.put(id, ref)
		return seq, nil
	}
}

// Fetch implements store.Store. It reads with batched direct gets, which
// any current replica of the stream may answer; if the answer stops short
// of the mailbox's newest envelope, which the stream leader names, the
// replica was behind and the read is repeated.
func (s *Store) Fetch(ctx context.Context, id wire.MailboxID, after uint64, limit int) ([]store.Envelope, error) {
	const op = "fetch"
	if err := s.enter(ctx, op); err != nil {
		return nil, err
	}
	defer s.gate.RUnlock()
	out, err := s.fetch(ctx, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return out, nil
}

func (s *Store) fetch(ctx context.Context, id wire.MailboxID, after uint64, limit int) ([]store.Envelope, error) {
	m, _, ok, err := s.mailbox(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound(id)
	}
	if after >= m.LastSeq {
		return nil, nil // appends not yet counted are not read before they are
	}
	now := timeToNanos(s.now())
	start := uint64(1)
	if r, ok := s.cache.get(id, after); ok {
		start = r.Stream + 1
	}
	var tail uint64 // the leader's newest envelope of the mailbox, when needed
	var lastSeen uint64
	const batch = 128
	var out []store.Envelope
	for stale := 0; ; {
		n := batch
		if limit > 0 {
			n = min(batch, limit-len(out)+8)
		}
		msgs, err := s.directBatch(ctx, streamEnv, msgGetReq{Seq: start, NextFor: envFilter(id), Batch: n})
		if err != nil {
			return nil, err
		}
		for _, msg := range msgs {
			start = msg.Seq + 1
			seq, err := strconv.ParseUint(msg.Header.Get(hdrSeq), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("mailbox %v: envelope at %d: %w", id, msg.Seq, ErrCorrupt)
			}
			lastSeen = seq
			if seq > m.LastSeq {
				return out, nil // not counted yet: not committed
			}
			ref := envRef{Seq: seq, Stream: msg.Seq, Size: int64(len(msg.Data))}
			s.cache.put(id, ref)
			if seq <= after {
				continue
			}
			exp, _ := strconv.ParseInt(msg.Header.Get(hdrExpires), 10, 64)
			if exp != 0 && exp <= now {
				continue
			}
			recv, _ := strconv.ParseInt(msg.Header.Get(hdrReceived), 10, 64)
			out = append(out, store.Envelope{Seq: seq, Received: nanosToTime(recv), Expires: nanosToTime(exp), Data: slices.Clone(msg.Data)})
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
		}
		if len(msgs) == n {
			continue
		}
		if len(msgs) > 0 && lastSeen >= m.LastSeq || s.envReplicas == 1 {
			return out, nil // up to the newest counted: nothing can be missing
		}
		// The replica had nothing more. Was it behind?
		if tail == 0 {
			t, err := s.get(ctx, streamEnv, msgGetReq{LastFor: envFilter(id)})
			if errors.Is(err, errNoMsg) {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			tail = t.Seq
		}
		if start > tail {
			return out, nil
		}
		if stale++; stale > 50 {
			return nil, fmt.Errorf("mailbox %v: %w", id, errBehind)
		}
		time.Sleep(time.Millisecond)
	}
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, id wire.MailboxID, seqs []uint64) (int, error) {
	const op = "delete"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	mu := s.lock(id[:])
	mu.Lock()
	defer mu.Unlock()
	var refs []envRef
	seen := map[uint64]bool{}
	for _, seq := range seqs {
		if seq == 0 || seen[seq] {
			continue
		}
		seen[seq] = true
		if r, ok := s.cache.get(id, seq); ok {
			refs = append(refs, r)
			continue
		}
		msg, err := s.get(ctx, streamEnv, msgGetReq{LastFor: subjEnv(id, seq)})
		if errors.Is(err, errNoMsg) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("natsstore: %s: %w", op, err)
		}
		refs = append(refs, envRef{Seq: seq, Stream: msg.Seq, Size: int64(len(msg.Data))})
	}
	if len(refs) == 0 {
		// Nothing to remove; remove would have found an unknown mailbox.
		if _, _, ok, err := s.mailbox(ctx, id); err != nil || !ok {
			if err == nil {
				err = notFound(id)
			}
			return 0, fmt.Errorf("natsstore: %s: %w", op, err)
		}
		return 0, nil
	}
	n, err := s.remove(ctx, id, refs)
	if err != nil {
		return n, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return n, nil
}

// remove deletes envelopes of mailbox id and takes them off its counters,
// and returns how many it deleted. The counters go down first, and the
// mailbox's LastSeq up to the highest of them, so that no Append reuses a
// sequence number while the envelopes go; those another caller deleted
// first (and counted off) are put back.
func (s *Store) remove(ctx context.Context, id wire.MailboxID, refs []envRef) (int, error) {
	if len(refs) == 0 {
		return 0, nil
	}
	ctx = context.WithoutCancel(ctx) // finish what was started
	adjust := func(refs []envRef, sign int64) error {
		return s.update(ctx, id, func(m *mailboxRecord, ok bool) error {
			if !ok {
				return errNoMsg // nothing to count against
			}
			for _, r := range refs {
				m.LastSeq = max(m.LastSeq, r.Seq)
				m.Messages -= sign
				m.Bytes -= sign * r.Size
			}
			return nil
		})
	}
	if err := adjust(refs, 1); errors.Is(err, errNoMsg) {
		return 0, notFound(id) // no envelope of an unknown mailbox is deleted
	} else if err != nil {
		return 0, err
	}
	var missed []envRef
	n := 0
	for i, r := range refs {
		gone, err := s.deleteMsg(ctx, streamEnv, r.Stream)
		if err != nil {
			// Put back what was not deleted.
			if aerr := adjust(append(missed, refs[i:]...), -1); aerr != nil && !errors.Is(aerr, errNoMsg) {
				return n, errors.Join(err, aerr)
			}
			return n, err
		}
		if gone {
			n++
		} else {
			missed = append(missed, r)
		}
	}
	if len(missed) > 0 {
		if err := adjust(missed, -1); err != nil && !errors.Is(err, errNoMsg) {
			return n, err
		}
	}
	return n, nil
}
