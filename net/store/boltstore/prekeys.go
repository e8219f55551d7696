package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// PutPrekeys implements store.Store. One-time keys are kept in the order
// stored and claimed oldest first.
func (s *Store) PutPrekeys(ctx context.Context, id wire.MailboxID, bundle, lastResort []byte, oneTime [][]byte, replace bool, q store.Quota) (int, error) {
	const op = "put prekeys"
	if err := store.CheckPrekeys(bundle, lastResort, oneTime); err != nil {
		return 0, fmt.Errorf("boltstore: %s: %w", op, err)
	}
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	var held int
	err := s.batch(op, func(tx *bolt.Tx) (error, error) {
		held = 0
		m, ok, err := getMailbox(tx, id)
		if err != nil || !ok {
			return notFound(id), err
		}
		n := m.OTKs
		if replace {
			n = 0
		}
		if n+uint64(len(oneTime)) > store.MaxOneTimePrekeys {
			return fmt.Errorf("mailbox %v holds %d one-time keys, %d more, limit %d: %w",
				id, n, len(oneTime), store.MaxOneTimePrekeys, store.ErrQuota), nil
		}
		b := tx.Bucket(bucketPrekeys)
		// What this upload stores, less what it replaces, is charged to
		// the mailbox like envelope bytes.
		var released int64
		if len(bundle) > 0 {
			released += int64(len(b.Get(prekeyKey(id, prekeyBundle))))
		}
		if len(lastResort) > 0 {
			released += int64(len(b.Get(prekeyKey(id, prekeyLastResort))))
		}
		var old [][]byte
		if replace && m.OTKs > 0 {
			prefix := prekeyKey(id, prekeyOneTime)
			c := b.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				old = append(old, slices.Clone(k))
				released += int64(len(v))
			}
		}
		delta := store.PrekeyBytes(bundle, lastResort, oneTime) - released
		if delta > 0 {
			if err := checkQuota(&m, 0, delta, q); err != nil {
				return fmt.Errorf("mailbox %v: %w", id, err), nil
			}
			if err := s.space.fits(tx, s.db, delta); err != nil {
				return err, nil
			}
		}
		if delta < 0 && int64(m.Bytes) < -delta {
			return nil, corrupt("mailbox", "%v: counters below its prekeys", id)
		}
		m.Bytes = uint64(int64(m.Bytes) + delta)
		if len(old) > 0 {
			for _, k := range old {
				if err := b.Delete(k); err != nil {
					return nil, err
				}
			}
		}
		if len(bundle) > 0 {
			if err := b.Put(prekeyKey(id, prekeyBundle), bundle); err != nil {
				return nil, err
			}
		}
		if len(lastResort) > 0 {
			if err := b.Put(prekeyKey(id, prekeyLastResort), lastResort); err != nil {
				return nil, err
			}
		}
		for _, k := range oneTime {
			if err := b.Put(oneTimeKey(id, m.NextOTK), k); err != nil {
				return nil, err
			}
			m.NextOTK++
		}
		m.OTKs = n + uint64(len(oneTime))
		held = int(m.OTKs)
		return nil, putMailbox(tx, id, &m)
	})
	if err != nil {
		return 0, err
	}
	return held, nil
}

// ClaimPrekey implements store.Store. The one-time key is deleted in the
// same transaction that reads it, and bbolt runs write transactions one at
// a time, so no key is handed out twice.
func (s *Store) ClaimPrekey(ctx context.Context, id wire.MailboxID) (store.Prekey, error) {
	const op = "claim prekey"
	if err := s.enter(ctx, op); err != nil {
		return store.Prekey{}, err
	}
	defer s.gate.RUnlock()
	var p store.Prekey
	err := s.batch(op, func(tx *bolt.Tx) (error, error) {
		p = store.Prekey{}
		m, ok, err := getMailbox(tx, id)
		if err != nil || !ok {
			return notFound(id), err
		}
		b := tx.Bucket(bucketPrekeys)
		bundle, err := decodePrekey("bundle", b.Get(prekeyKey(id, prekeyBundle)))
		if err != nil {
			return nil, err
		}
		if len(bundle) == 0 {
			return fmt.Errorf("mailbox %v: %w", id, store.ErrNoPrekeys), nil
		}
		p.Bundle = slices.Clone(bundle)
		if m.OTKs > 0 {
			prefix := prekeyKey(id, prekeyOneTime)
			k, v := b.Cursor().Seek(prefix)
			if k == nil || !bytes.HasPrefix(k, prefix) {
				return nil, corrupt("mailbox", "%v counts %d one-time keys, none stored", id, m.OTKs)
			}
			key, err := decodePrekey("one-time key", v)
			if err != nil {
				return nil, err
			}
			p.Key = slices.Clone(key)
			if err := b.Delete(slices.Clone(k)); err != nil {
				return nil, err
			}
			if m.Bytes < uint64(len(key)) {
				return nil, corrupt("mailbox", "%v: counters below a held one-time key", id)
			}
			m.Bytes -= uint64(len(key))
			m.OTKs--
			return nil, putMailbox(tx, id, &m)
		}
		last, err := decodePrekey("last-resort key", b.Get(prekeyKey(id, prekeyLastResort)))
		if err != nil {
			return nil, err
		}
		if len(last) > 0 {
			p.Key, p.LastResort = slices.Clone(last), true
		}
		return nil, nil
	})
	if err != nil {
		return store.Prekey{}, err
	}
	return p, nil
}
