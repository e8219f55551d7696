package boltstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

func (s *Store) blobPath(id wire.BlobID) string {
	return filepath.Join(s.blobs, hex.EncodeToString(id[:]))
}

func (s *Store) blobLock(id wire.BlobID) *sync.Mutex {
	return &s.blobLocks[id[0]%byte(len(s.blobLocks))]
}

// getBlob reads a blob record; ok is false if there is none or it expired.
func getBlob(tx *bolt.Tx, id wire.BlobID, now int64) (r blobRecord, ok bool, err error) {
	v := tx.Bucket(bucketBlobs).Get(id[:])
	if v == nil {
		return r, false, nil
	}
	if r, err = decodeBlob(v); err != nil {
		return r, false, fmt.Errorf("blob %v: %w", id, err)
	}
	if r.Expires != 0 && r.Expires <= now {
		return r, false, nil
	}
	return r, true, nil
}

func blobNotFound(id wire.BlobID) error {
	return fmt.Errorf("blob %v: %w", id, store.ErrNotFound)
}

// CreateBlob implements store.Store. The blob's file is made by its first
// write.
func (s *Store) CreateBlob(ctx context.Context, id wire.BlobID, b store.Blob, q store.Quota) error {
	const op = "create blob"
	if b.Size < 0 {
		return fmt.Errorf("boltstore: %s: negative size %d: %w", op, b.Size, store.ErrTooLarge)
	}
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	defer s.gate.RUnlock()
	rec := blobRecord{Owner: b.Owner, Size: b.Size, Expires: timeToNanos(b.Expires)}
	err := s.batch(op, func(tx *bolt.Tx) (error, error) {
		blobs := tx.Bucket(bucketBlobs)
		if blobs.Get(id[:]) != nil {
			return fmt.Errorf("blob %v exists: %w", id, store.ErrConflict), nil
		}
		m, ok, err := getMailbox(tx, b.Owner)
		if err != nil || !ok {
			return notFound(b.Owner), err
		}
		if err := checkQuota(&m, 0, b.Size, q); err != nil {
			return fmt.Errorf("mailbox %v: %w", b.Owner, err), nil
		}
		if err := s.space.fits(tx, s.db, b.Size); err != nil {
			return err, nil
		}
		m.Bytes += uint64(b.Size)
		if err := blobs.Put(id[:], rec.encode()); err != nil {
			return nil, err
		}
		if rec.Expires != 0 {
			if err := tx.Bucket(bucketExpiry).Put(expiryBlobKey(rec.Expires, id), nil); err != nil {
				return nil, err
			}
		}
		return nil, putMailbox(tx, b.Owner, &m)
	})
	if err == nil {
		s.space.blobBytes.Add(b.Size)
	}
	return err
}

// BlobInfo implements store.Store.
func (s *Store) BlobInfo(ctx context.Context, id wire.BlobID) (store.Blob, error) {
	const op = "blob info"
	if err := s.enter(ctx, op); err != nil {
		return store.Blob{}, err
	}
	defer s.gate.RUnlock()
	var r blobRecord
	var ok bool
	now := timeToNanos(s.now())
	err := s.view(op, func(tx *bolt.Tx) (err error) {
		r, ok, err = getBlob(tx, id, now)
		return err
	})
	if err != nil {
		return store.Blob{}, err
	}
	if !ok {
		return store.Blob{}, fmt.Errorf("boltstore: %s: %w", op, blobNotFound(id))
	}
	return r.blob(), nil
}

// WriteBlob implements store.Store. The bytes are written and fsynced to
// the blob's file first, then Have moves in relay.db: after a crash
// between the two, the file holds a tail past Have that the resumed upload
// overwrites.
func (s *Store) WriteBlob(ctx context.Context, id wire.BlobID, offset int64, data []byte) (int64, error) {
	const op = "write blob"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	// Held across the file write and the commit, so two writers at the same
	// offset cannot both pass the check below; Sweep takes it to remove
	// the file.
	mu := s.blobLock(id)
	mu.Lock()
	defer mu.Unlock()

	var r blobRecord
	var ok bool
	err := s.view(op, func(tx *bolt.Tx) (err error) {
		r, ok, err = getBlob(tx, id, timeToNanos(s.now()))
		return err
	})
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, fmt.Errorf("boltstore: %s: %w", op, blobNotFound(id))
	case offset != r.Have:
		return 0, fmt.Errorf("boltstore: %s: blob %v: offset %d, have %d: %w", op, id, offset, r.Have, store.ErrConflict)
	case int64(len(data)) > r.Size-offset:
		return 0, fmt.Errorf("boltstore: %s: blob %v: %d bytes at %d, size %d: %w", op, id, len(data), offset, r.Size, store.ErrTooLarge)
	case len(data) == 0:
		return r.Have, nil
	}
	if err := s.writeBlobFile(id, offset, data); err != nil {
		return 0, fmt.Errorf("boltstore: %s: blob %v: %w", op, id, err)
	}
	have := offset + int64(len(data))
	err = s.batch(op, func(tx *bolt.Tx) (error, error) {
		// Sweep may have deleted the blob while the file was written.
		r, ok, err := getBlob(tx, id, timeToNanos(s.now()))
		if err != nil || !ok {
			return blobNotFound(id), err
		}
		if r.Have != offset {
			return fmt.Errorf("blob %v: offset %d, have %d: %w", id, offset, r.Have, store.ErrConflict), nil
		}
		r.Have = have
		return nil, tx.Bucket(bucketBlobs).Put(id[:], r.encode())
	})
	if err != nil {
		return 0, err
	}
	return have, nil
}

func (s *Store) writeBlobFile(id wire.BlobID, offset int64, data []byte) error {
	f, err := os.OpenFile(s.blobPath(id), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, offset)
	if err == nil && !s.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && offset == 0 && !s.noSync {
		err = syncDir(s.blobs) // the file's name, made by this first write
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadBlob implements store.Store.
func (s *Store) ReadBlob(ctx context.Context, id wire.BlobID, offset int64, p []byte) (int, error) {
	const op = "read blob"
	if offset < 0 {
		return 0, fmt.Errorf("boltstore: %s: blob %v: negative offset %d", op, id, offset)
	}
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	var r blobRecord
	var ok bool
	err := s.view(op, func(tx *bolt.Tx) (err error) {
		r, ok, err = getBlob(tx, id, timeToNanos(s.now()))
		return err
	})
	switch {
	case err != nil:
		return 0, err
	case !ok:
		return 0, fmt.Errorf("boltstore: %s: %w", op, blobNotFound(id))
	case offset >= r.Have:
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.Have-offset)
	f, err := os.Open(s.blobPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("boltstore: %s: %w", op, blobNotFound(id)) // swept since
	}
	if err != nil {
		return 0, fmt.Errorf("boltstore: %s: blob %v: %w", op, id, err)
	}
	defer f.Close()
	n, err := f.ReadAt(p[:want], offset)
	if n < int(want) {
		return n, fmt.Errorf("boltstore: %s: blob %v: file ends before the %d bytes recorded: %w (%v)", op, id, r.Have, ErrCorrupt, err)
	}
	if int64(len(p)) > want {
		return n, io.EOF
	}
	return n, nil
}
