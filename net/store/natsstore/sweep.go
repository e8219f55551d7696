package natsstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Sweep implements store.Store. The expiry index has one subject per
// minute (eph.exp.<unix minute>); Sweep lists the subjects, reads those
// of minutes up to now, deletes what has expired and then the index
// entries it handled. Every node's relay sweeps; two sweeping at once each
// delete what the other has not, and an envelope counts for the one whose
// delete removed it.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	const op = "sweep"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	n, err := s.sweep(ctx, timeToNanos(now))
	if err != nil {
		return n, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return n, nil
}

func (s *Store) sweep(ctx context.Context, now int64) (int, error) {
	ictx, cancel := s.ctx(ctx)
	info, err := s.streams[streamExp].Info(ictx, jetstream.WithSubjectFilter("eph.exp.*"))
	cancel()
	if err != nil {
		return 0, err
	}
	var minutes []int64
	for subj := range info.State.Subjects {
		m, err := strconv.ParseInt(strings.TrimPrefix(subj, "eph.exp."), 10, 64)
		if err == nil && m <= now/int64(time.Minute) {
			minutes = append(minutes, m)
		}
	}
	slices.Sort(minutes)
	total := 0
	for _, minute := range minutes {
		n, err := s.sweepMinute(ctx, minute, now)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (s *Store) sweepMinute(ctx context.Context, minute, now int64) (int, error) {
	subj := subjExp(minute)
	var done []uint64 // index entries handled
	var kept bool     // some entry of this minute is not due yet
	byMailbox := map[wire.MailboxID][]envRef{}
	var blobs []expiryEntry
	for start := uint64(1); ; {
		msgs, err := s.directBatch(ctx, streamExp, msgGetReq{Seq: start, NextFor: subj, Batch: 256})
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			start = m.Seq + 1
			e, err := decodeExpiry(m.Data)
			if err != nil {
				done = append(done, m.Seq) // unreadable: nothing to do with it
				continue
			}
			if e.Expires > now {
				kept = true
				continue
			}
			done = append(done, m.Seq)
			switch e.Kind {
			case 'e':
				id := wire.MailboxID(e.ID)
				byMailbox[id] = append(byMailbox[id], envRef{Seq: e.Seq, Stream: e.Stream, Size: e.Size})
			case 'b':
				blobs = append(blobs, e)
			}
		}
		if len(msgs) < 256 {
			break
		}
	}
	total := 0
	for id, refs := range byMailbox {
		mu := s.lock(id[:])
		mu.Lock()
		n, err := s.remove(ctx, id, refs)
		mu.Unlock()
		total += n
		if err != nil && !errors.Is(err, store.ErrNotFound) { // no mailbox: nothing to release
			return total, err
		}
	}
	for _, e := range blobs {
		if err := s.sweepBlob(ctx, wire.BlobID(e.ID), e.Expires, now); err != nil {
			return total, err
		}
	}
	if len(done) == 0 {
		return total, nil
	}
	if !kept {
		// Only what was read: an entry added since stays for next time.
		return total, s.purge(ctx, streamExp, subj, slices.Max(done)+1)
	}
	for _, seq := range done {
		if _, err := s.deleteMsg(ctx, streamExp, seq); err != nil {
			return total, err
		}
	}
	return total, nil
}

// sweepBlob deletes blob id if it still is the one that expires at
// expires, and releases its size from its owner.
func (s *Store) sweepBlob(ctx context.Context, id wire.BlobID, expires, now int64) error {
	mu := s.lock(id[:])
	mu.Lock()
	defer mu.Unlock()
	for range maxAttempts {
		r, rev, ok, err := s.blob(ctx, id)
		if err != nil {
			return err
		}
		if !ok || r.Expires != expires || r.Expires > now {
			return nil // gone, or made again since
		}
		_, err = s.save(ctx, subjBlobRec(id), nil, rev)
		if errors.Is(err, errConflict) {
			continue
		}
		if err != nil {
			return err
		}
		err = s.update(ctx, r.Owner, func(m *mailboxRecord, ok bool) error {
			if !ok {
				return errNoMsg
			}
			m.Bytes -= r.Size
			return nil
		})
		if err != nil && !errors.Is(err, errNoMsg) {
			return err
		}
		if len(r.Chunks) == 0 {
			return nil
		}
		// Below the last chunk only: a blob made again with this id since
		// keeps its own.
		last := slices.MaxFunc(r.Chunks, func(a, b chunk) int { return cmp.Compare(a.Seq, b.Seq) })
		return s.purge(ctx, streamBlob, subjChunks(id), last.Seq+1)
	}
	return fmt.Errorf("blob %v: %w", id, ErrContention)
}
