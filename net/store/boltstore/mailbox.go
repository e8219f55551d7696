package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Register implements store.Store.
func (s *Store) Register(ctx context.Context, id wire.MailboxID, reg store.Mailbox) error {
	const op = "register"
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	defer s.gate.RUnlock()
	created := reg.Created
	if created.IsZero() {
		created = s.now()
	}
	return s.batch(op, func(tx *bolt.Tx) (error, error) {
		m, ok, err := getMailbox(tx, id)
		if err != nil {
			return nil, err
		}
		if ok {
			if m.Owner != reg.OwnerKey {
				return fmt.Errorf("mailbox %v has another owner: %w", id, store.ErrConflict), nil
			}
			if m.TokenHash == reg.SendTokenHash {
				return nil, nil
			}
			m.TokenHash = reg.SendTokenHash
		} else {
			if err := s.space.fits(tx, s.db, mailboxRecordSize); err != nil {
				return err, nil
			}
			m = mailboxRecord{Owner: reg.OwnerKey, TokenHash: reg.SendTokenHash, Created: timeToNanos(created)}
		}
		return nil, putMailbox(tx, id, &m)
	})
}

// Mailbox implements store.Store.
func (s *Store) Mailbox(ctx context.Context, id wire.MailboxID) (store.Mailbox, error) {
	m, err := s.mailboxRecord(ctx, "mailbox", id)
	return m.mailbox(), err
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, id wire.MailboxID) (store.Usage, error) {
	m, err := s.mailboxRecord(ctx, "usage", id)
	return m.usage(), err
}

// mailboxRecord reads a mailbox's record in a read transaction; op names
// the calling operation in errors.
func (s *Store) mailboxRecord(ctx context.Context, op string, id wire.MailboxID) (mailboxRecord, error) {
	if err := s.enter(ctx, op); err != nil {
		return mailboxRecord{}, err
	}
	defer s.gate.RUnlock()
	var m mailboxRecord
	var ok bool
	err := s.view(op, func(tx *bolt.Tx) (err error) {
		m, ok, err = getMailbox(tx, id)
		return err
	})
	if err != nil {
		return mailboxRecord{}, err
	}
	if !ok {
		return mailboxRecord{}, fmt.Errorf("boltstore: %s: %w", op, notFound(id))
	}
	return m, nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, id wire.MailboxID, env store.Envelope, q store.Quota) (uint64, error) {
	const op = "append"
	if len(env.Data) > wire.MaxEnvelopeSize {
		return 0, fmt.Errorf("boltstore: %s: envelope is %d bytes, limit %d: %w", op, len(env.Data), wire.MaxEnvelopeSize, store.ErrTooLarge)
	}
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	rec := envelopeRecord{Received: timeToNanos(s.now()), Expires: timeToNanos(env.Expires), Data: env.Data}
	val := rec.encode() // a copy: bbolt keeps values until commit
	var seq uint64
	err := s.batch(op, func(tx *bolt.Tx) (error, error) {
		seq = 0
		m, ok, err := getMailbox(tx, id)
		if err != nil || !ok {
			return notFound(id), err
		}
		if err := checkQuota(&m, 1, int64(len(env.Data)), q); err != nil {
			return fmt.Errorf("mailbox %v: %w", id, err), nil
		}
		if err := s.space.fits(tx, s.db, int64(len(val))); err != nil {
			return err, nil
		}
		if m.LastSeq == math.MaxUint64 {
			return nil, corrupt("mailbox", "%v: sequence numbers exhausted", id)
		}
		m.LastSeq++
		m.Messages++
		m.Bytes += uint64(len(env.Data))
		if err := tx.Bucket(bucketEnvelopes).Put(envKey(id, m.LastSeq), val); err != nil {
			return nil, err
		}
		if rec.Expires != 0 {
			if err := tx.Bucket(bucketExpiry).Put(expiryEnvKey(rec.Expires, id, m.LastSeq), nil); err != nil {
				return nil, err
			}
		}
		if err := putMailbox(tx, id, &m); err != nil {
			return nil, err
		}
		seq = m.LastSeq
		return nil, nil
	})
	return seq, err
}

// Fetch implements store.Store.
func (s *Store) Fetch(ctx context.Context, id wire.MailboxID, after uint64, limit int) ([]store.Envelope, error) {
	const op = "fetch"
	if err := s.enter(ctx, op); err != nil {
		return nil, err
	}
	defer s.gate.RUnlock()
	now := s.now()
	var out []store.Envelope
	var ok bool
	err := s.view(op, func(tx *bolt.Tx) error {
		out = nil
		var err error
		if _, ok, err = getMailbox(tx, id); err != nil || !ok {
			return err
		}
		if after == math.MaxUint64 {
			return nil
		}
		c := tx.Bucket(bucketEnvelopes).Cursor()
		for k, v := c.Seek(envKey(id, after+1)); k != nil && bytes.HasPrefix(k, id[:]); k, v = c.Next() {
			if limit > 0 && len(out) >= limit {
				break
			}
			if len(k) != len(id)+8 {
				return corrupt("envelope key", "%d bytes", len(k))
			}
			rec, err := decodeEnvelope(v)
			if err != nil {
				return fmt.Errorf("mailbox %v: %w", id, err)
			}
			if expired(rec.Expires, now) {
				continue
			}
			out = append(out, store.Envelope{
				Seq:      binary.BigEndian.Uint64(k[len(id):]),
				Received: nanosToTime(rec.Received),
				Expires:  nanosToTime(rec.Expires),
				Data:     slices.Clone(rec.Data), // v is valid only in the transaction
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("boltstore: %s: %w", op, notFound(id))
	}
	return out, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, id wire.MailboxID, seqs []uint64) (int, error) {
	const op = "delete"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	var n int
	err := s.batch(op, func(tx *bolt.Tx) (error, error) {
		n = 0
		m, ok, err := getMailbox(tx, id)
		if err != nil || !ok {
			return notFound(id), err
		}
		envs, exp := tx.Bucket(bucketEnvelopes), tx.Bucket(bucketExpiry)
		for _, seq := range seqs {
			k := envKey(id, seq)
			v := envs.Get(k)
			if v == nil {
				continue // unknown, or listed twice
			}
			rec, err := decodeEnvelope(v)
			if err != nil {
				return nil, fmt.Errorf("mailbox %v seq %d: %w", id, seq, err)
			}
			size := uint64(len(rec.Data))
			if m.Messages == 0 || m.Bytes < size {
				return nil, corrupt("mailbox", "%v: counters below a held envelope", id)
			}
			if rec.Expires != 0 {
				if err := exp.Delete(expiryEnvKey(rec.Expires, id, seq)); err != nil {
					return nil, err
				}
			}
			if err := envs.Delete(k); err != nil {
				return nil, err
			}
			m.Messages--
			m.Bytes -= size
			n++
		}
		if n == 0 {
			return nil, nil
		}
		return nil, putMailbox(tx, id, &m)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
