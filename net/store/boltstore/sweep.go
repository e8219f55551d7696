package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ephemera-im/ephemera/net/wire"
)

// sweepChunk bounds the expiry index entries one Sweep transaction
// handles, so a large backlog does not hold the writer lock (and every
// Send behind it) for long.
var sweepChunk = 1000 // a variable so tests can make chunks small

// Sweep implements store.Store. It walks the expiry index from its start,
// which is ordered by time, so it reads only what has expired. It commits
// in chunks of a bounded size; if one fails, the chunks before it stay
// deleted (deleting expired data early is harmless) and the count says
// how many envelopes they held.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	const op = "sweep"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	limit := timeToNanos(now)
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("boltstore: %s: %w", op, err)
		}
		var envs, seen int
		var blobs []wire.BlobID
		var blobBytes int64
		err := s.db.Update(func(tx *bolt.Tx) error {
			var err error
			envs, seen, blobs, blobBytes, err = sweepChunkTx(tx, limit)
			return err
		})
		if err != nil {
			return total, s.wrap(op, err)
		}
		s.space.blobBytes.Add(-blobBytes)
		total += envs
		for _, id := range blobs {
			if err := s.removeBlobFile(id); err != nil {
				return total, fmt.Errorf("boltstore: %s: blob %v: %w", op, id, err)
			}
		}
		if seen < sweepChunk {
			return total, nil
		}
	}
}

// sweepChunkTx deletes up to sweepChunk expired entries and what they
// point at, releasing their bytes from the owners' counters. It returns the
// envelopes deleted, the index entries seen, and the blobs whose files the
// caller must remove after the commit, and the sum of their sizes.
func sweepChunkTx(tx *bolt.Tx, limit int64) (envs, seen int, blobs []wire.BlobID, blobBytes int64, err error) {
	exp := tx.Bucket(bucketExpiry)
	var entries []expiryEntry
	c := exp.Cursor()
	for k, _ := c.First(); k != nil && len(entries) < sweepChunk; k, _ = c.Next() {
		e, err := decodeExpiryKey(k)
		if err != nil {
			return 0, 0, nil, 0, err
		}
		if e.Expires > limit {
			break
		}
		entries = append(entries, e)
	}
	// Owners' records, changed in memory and written once each.
	owners := map[wire.MailboxID]*mailboxRecord{}
	owner := func(id wire.MailboxID) (*mailboxRecord, error) {
		if m, ok := owners[id]; ok {
			return m, nil
		}
		m, ok, err := getMailbox(tx, id)
		if err != nil || !ok {
			return nil, err // a missing owner has nothing to release
		}
		owners[id] = &m
		return &m, nil
	}
	envBucket, blobBucket := tx.Bucket(bucketEnvelopes), tx.Bucket(bucketBlobs)
	for _, e := range entries {
		if err := exp.Delete(e.key()); err != nil {
			return 0, 0, nil, 0, err
		}
		var size uint64
		var m *mailboxRecord
		switch e.Kind {
		case expiryEnvelope:
			k := envKey(e.Mailbox, e.Seq)
			v := envBucket.Get(k)
			if v == nil {
				continue // deleted already (Delete removes its entry, so only after a crash mid-way: never)
			}
			rec, err := decodeEnvelope(v)
			if err != nil {
				return 0, 0, nil, 0, fmt.Errorf("mailbox %v seq %d: %w", e.Mailbox, e.Seq, err)
			}
			if err := envBucket.Delete(k); err != nil {
				return 0, 0, nil, 0, err
			}
			envs++
			size = uint64(len(rec.Data))
			if m, err = owner(e.Mailbox); err != nil {
				return 0, 0, nil, 0, err
			}
			if m != nil {
				if m.Messages == 0 {
					return 0, 0, nil, 0, corrupt("mailbox", "%v: counters below a held envelope", e.Mailbox)
				}
				m.Messages--
			}
		case expiryBlob:
			v := blobBucket.Get(e.Blob[:])
			if v == nil {
				continue
			}
			rec, err := decodeBlob(v)
			if err != nil {
				return 0, 0, nil, 0, fmt.Errorf("blob %v: %w", e.Blob, err)
			}
			if err := blobBucket.Delete(e.Blob[:]); err != nil {
				return 0, 0, nil, 0, err
			}
			blobs = append(blobs, e.Blob)
			blobBytes += rec.Size
			size = uint64(rec.Size)
			if m, err = owner(rec.Owner); err != nil {
				return 0, 0, nil, 0, err
			}
		}
		if m != nil {
			if m.Bytes < size {
				return 0, 0, nil, 0, corrupt("mailbox", "counters below a held %d bytes", size)
			}
			m.Bytes -= size
		}
	}
	for id, m := range owners {
		if err := putMailbox(tx, id, m); err != nil {
			return 0, 0, nil, 0, err
		}
	}
	return envs, len(entries), blobs, blobBytes, nil
}

func (s *Store) removeBlobFile(id wire.BlobID) error {
	mu := s.blobLock(id)
	mu.Lock()
	defer mu.Unlock()
	if err := os.Remove(s.blobPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
