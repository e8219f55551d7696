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
func (s *Store) PutPrekeys(ctx context.Context, id wire.MailboxID, bundle, lastResort []byte, oneTime [][]byte, replace bool) (int, error) {
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
	n, err := s.putPrekeys(ctx, id, bundle, lastResort, oneTime, replace)
	if err != nil {
		return 0, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return n, nil
}

func (s *Store) putPrekeys(ctx context.Context, id wire.MailboxID, bundle, lastResort []byte, oneTime [][]byte, replace bool) (int, error) {
	var published []uint64
	undo := func() {
		for _, seq := range published {
			s.deleteMsg(context.WithoutCancel(ctx), streamKeys, seq)
		}
	}
	for range maxAttempts {
		p, rev, err := s.prekeys(ctx, id)
		if err != nil {
			undo()
			return 0, err
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
				undo()
				return 0, err
			}
		}
		if len(bundle) > 0 {
			p.Bundle = bundle
		}
		if len(lastResort) > 0 {
			p.LastResort = lastResort
		}
		if replace {
			p.Keys = nil
		}
		p.Keys = append(slices.Clip(p.Keys), published...)
		_, err = s.save(ctx, subjPrekeys(id), p.encode(), rev)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			undo()
			return 0, err
		}
		if replace {
			for _, seq := range old {
				s.deleteMsg(context.WithoutCancel(ctx), streamKeys, seq)
			}
		}
		return len(p.Keys), nil
	}
	undo()
	return 0, fmt.Errorf("mailbox %v: %w", id, ErrContention)
}

// publishKeys publishes keys in order, all in flight at once, and returns
// their stream sequences.
func (s *Store) publishKeys(ctx context.Context, id wire.MailboxID, keys [][]byte) ([]uint64, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(keys))
	var err error
	for _, k := range keys {
		var f jetstream.PubAckFuture
		if f, err = s.js.PublishMsgAsync(&nats.Msg{Subject: subjKeys(id), Data: k}); err != nil {
			break
		}
		futures = append(futures, f)
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	seqs := make([]uint64, 0, len(futures))
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
	for range maxAttempts {
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
		seq := p.Keys[0]
		p.Keys = p.Keys[1:]
		if _, err := s.save(ctx, subjPrekeys(id), p.encode(), rev); errors.Is(err, errConflict) {
			continue
		} else if err != nil {
			return store.Prekey{}, err
		}
		msg, err := s.get(context.WithoutCancel(ctx), streamKeys, msgGetReq{Seq: seq})
		if errors.Is(err, errNoMsg) {
			continue // withdrawn by a replacing PutPrekeys: take the next
		}
		if err != nil {
			return store.Prekey{}, err
		}
		s.deleteMsg(context.WithoutCancel(ctx), streamKeys, seq)
		out.Key = msg.Data
		return out, nil
	}
	return store.Prekey{}, fmt.Errorf("mailbox %v: %w", id, ErrContention)
}
