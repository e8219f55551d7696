package natsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// prekeys reads a mailbox's prekey record; it checks that the mailbox is
// registered when there is none.
func (s *Store) prekeys(ctx context.Context, id wire.MailboxID) (p prekeyRecord, rev uint64, err error) {
	v, rev, err := s.load(ctx, subjPrekeys(id))
	if err != nil {
		return p, 0, err
	}
	if v == nil {
		_, _, ok, err := s.mailbox(ctx, id)
		if err == nil && !ok {
			err = notFound(id)
		}
		return p, rev, err
	}
	p, err = decodePrekeys(v)
	return p, rev, err
}

// PutPrekeys implements store.Store. The one-time keys are published to
// eph.keys.<mailbox> first, then their stream sequences are added to the
// prekey record with compare-and-set; keys a refused call published are
// deleted again.
func (s *Store) PutPrekeys(ctx context.Context, id wire.MailboxID, bundle, lastResort []byte, oneTime [][]byte, replace bool, q store.Quota) (int, error) {
	const op = "put prekeys"
	if err := store.CheckPrekeys(bundle, lastResort, oneTime); err != nil {
		return 0, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	mu := s.lock(id[:])
	mu.Lock()
	defer mu.Unlock()
	n, err := s.putPrekeys(ctx, id, bundle, lastResort, oneTime, replace, q)
	if err != nil {
		return 0, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return n, nil
}

func (s *Store) putPrekeys(ctx context.Context, id wire.MailboxID, bundle, lastResort []byte, oneTime [][]byte, replace bool, q store.Quota) (int, error) {
	var published []uint64
	undo := func() {
		for _, seq := range published {
			s.deleteMsg(context.WithoutCancel(ctx), streamKeys, seq)
		}
	}
	// As claim: one deadline, and lost races and leader changes retried
	// within it.
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var r retrier
	for {
		p, rev, err := s.prekeys(ctx, id)
		if err != nil {
			if r.again(ctx, err) {
				continue
			}
			undo()
			return 0, r.final(ctx, err)
		}
		if len(published) > 0 && slices.Contains(p.Keys, published[0]) {
			// An earlier attempt's save stuck though its answer was lost.
			return len(p.Keys), nil
		}
		old := p.Keys
		held := len(p.Keys)
		if replace {
			held = 0
		}
		if held+len(oneTime) > store.MaxOneTimePrekeys {
			undo()
			return 0, fmt.Errorf("mailbox %v holds %d one-time keys, %d more, limit %d: %w",
				id, held, len(oneTime), store.MaxOneTimePrekeys, store.ErrQuota)
		}
		if published == nil && len(oneTime) > 0 {
			if published, err = s.publishKeys(ctx, id, oneTime); err != nil {
				if r.again(ctx, err) {
					continue
				}
				return 0, r.final(ctx, err)
			}
		}
		// The mailbox is charged what this adds less what it replaces,
		// before the record changes, and refunded if the record's write
		// fails: a crash between the two over-charges, never under.
		delta := store.PrekeyBytes(bundle, lastResort, oneTime)
		if len(bundle) > 0 {
			delta -= int64(len(p.Bundle))
			p.Bundle = bundle
		}
		if len(lastResort) > 0 {
			delta -= int64(len(p.LastResort))
			p.LastResort = lastResort
		}
		if replace {
			delta -= p.KeyBytes
			p.Keys, p.KeyBytes = nil, 0
		}
		p.Keys = append(slices.Clip(p.Keys), published...)
		p.KeyBytes += store.PrekeyBytes(nil, nil, oneTime)
		if delta > 0 {
			if err := s.charge(ctx, id, delta, q); err != nil {
				undo()
				return 0, err
			}
		}
		_, err = s.save(ctx, subjPrekeys(id), p.encode(), rev)
		if err != nil {
			if delta > 0 {
				s.charge(context.WithoutCancel(ctx), id, -delta, store.Quota{})
			}
			if r.again(ctx, err) {
				continue
			}
			undo()
			return 0, r.final(ctx, err)
		}
		if delta < 0 {
			// Released after the write: a crash before it over-charges.
			if err := s.charge(ctx, id, delta, store.Quota{}); err != nil {
				return 0, err
			}
		}
		if replace {
			for _, seq := range old {
				s.deleteMsg(context.WithoutCancel(ctx), streamKeys, seq)
			}
		}
		return len(p.Keys), nil
	}
}

// publishWindow bounds the one-time keys in flight at once: nats.go
// refuses async publishes beyond its pending limit ("stalled with too
// many outstanding async published messages") when acks come slowly.
const publishWindow = 256

// publishKeys publishes keys in order, up to publishWindow in flight at
// once, and returns their stream sequences.
func (s *Store) publishKeys(ctx context.Context, id wire.MailboxID, keys [][]byte) ([]uint64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	seqs := make([]uint64, 0, len(keys))
	var err error
	for start := 0; start < len(keys) && err == nil; start += publishWindow {
		futures := make([]jetstream.PubAckFuture, 0, publishWindow)
		for _, k := range keys[start:min(start+publishWindow, len(keys))] {
			var f jetstream.PubAckFuture
			if f, err = s.js.PublishMsgAsync(&nats.Msg{Subject: subjKeys(id), Data: k}); err != nil {
				break
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case ack := <-f.Ok():
				seqs = append(seqs, ack.Sequence)
			case ferr := <-f.Err():
				err = errors.Join(err, ferr)
			case <-ctx.Done():
				err = errors.Join(err, ctx.Err())
			}
		}
	}
	if err != nil {
		for _, seq := range seqs {
			s.deleteMsg(context.WithoutCancel(ctx), streamKeys, seq)
		}
		return nil, err
	}
	return seqs, nil
}

// ClaimPrekey implements store.Store. A one-time key is taken off the
// prekey record with compare-and-set before it is read, so across all
// nodes only the caller whose write stuck hands it out; it is then
// deleted from the stream.
func (s *Store) ClaimPrekey(ctx context.Context, id wire.MailboxID) (store.Prekey, error) {
	const op = "claim prekey"
	if err := s.enter(ctx, op); err != nil {
		return store.Prekey{}, err
	}
	defer s.gate.RUnlock()
	mu := s.lock(id[:])
	mu.Lock()
	defer mu.Unlock()
	p, err := s.claim(ctx, id)
	if err != nil {
		return store.Prekey{}, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return p, nil
}

func (s *Store) claim(ctx context.Context, id wire.MailboxID) (store.Prekey, error) {
	// One deadline for the whole claim, the caller's or the store's
	// timeout: lost races and leader changes are retried within it.
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	var r retrier
	for {
		actx, acancel := s.attempt(ctx)
		p, err := s.claimOnce(actx, id)
		acancel()
		if err == nil || !r.again(ctx, err) {
			return p, r.final(ctx, err)
		}
	}
}

// claimOnce makes one attempt at a claim: errConflict when another
// writer changed the record first, errNoMsg when the key taken was gone.
func (s *Store) claimOnce(ctx context.Context, id wire.MailboxID) (store.Prekey, error) {
	p, rev, err := s.prekeys(ctx, id)
	if err != nil {
		return store.Prekey{}, err
	}
	if len(p.Bundle) == 0 {
		return store.Prekey{}, fmt.Errorf("mailbox %v: %w", id, store.ErrNoPrekeys)
	}
	out := store.Prekey{Bundle: slices.Clone(p.Bundle)}
	if len(p.Keys) == 0 {
		if len(p.LastResort) > 0 {
			out.Key, out.LastResort = slices.Clone(p.LastResort), true
		}
		return out, nil
	}
	// Read the key first, for its size: the record keeps the one-time
	// keys' total, and the mailbox is refunded it.
	seq := p.Keys[0]
	msg, err := s.get(ctx, streamKeys, msgGetReq{Seq: seq})
	if errors.Is(err, errNoMsg) {
		// A key the record lists but the stream lost: take it off the
		// record (unless the record changed meanwhile) and try again.
		p.Keys = p.Keys[1:]
		s.save(ctx, subjPrekeys(id), p.encode(), rev)
		return store.Prekey{}, errConflict
	}
	if err != nil {
		return store.Prekey{}, err
	}
	p.Keys = p.Keys[1:]
	p.KeyBytes = max(0, p.KeyBytes-int64(len(msg.Data)))
	if _, err := s.save(ctx, subjPrekeys(id), p.encode(), rev); err != nil {
		return store.Prekey{}, err
	}
	// The key is ours now: nobody else can take it off the record.
	s.deleteMsg(context.WithoutCancel(ctx), streamKeys, seq)
	// The key is handed out even if the refund fails: an over-charge
	// costs the owner less than a lost key.
	s.charge(context.WithoutCancel(ctx), id, -int64(len(msg.Data)), store.Quota{})
	out.Key = msg.Data
	return out, nil
}
