package natsstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

func blobNotFound(id wire.BlobID) error {
	return fmt.Errorf("blob %v: %w", id, store.ErrNotFound)
}

// blob reads a blob record; ok is false if there is none. Expiry is the
// caller's to check.
func (s *Store) blob(ctx context.Context, id wire.BlobID) (r blobRecord, rev uint64, ok bool, err error) {
	v, rev, err := s.load(ctx, subjBlobRec(id))
	if err != nil || v == nil {
		return r, rev, false, err
	}
	r, err = decodeBlob(v)
	if err != nil {
		return r, 0, false, fmt.Errorf("blob %v: %w", id, err)
	}
	return r, rev, true, nil
}

func (s *Store) expired(expires int64) bool {
	return expires != 0 && expires <= timeToNanos(s.now())
}

// CreateBlob implements store.Store. The owner is charged first, then the
// blob's record is created; if the id turns out to be taken the charge is
// refunded.
func (s *Store) CreateBlob(ctx context.Context, id wire.BlobID, b store.Blob, q store.Quota) error {
	const op = "create blob"
	if b.Size < 0 {
		return fmt.Errorf("natsstore: %s: negative size %d: %w", op, b.Size, store.ErrTooLarge)
	}
	if err := s.enter(ctx, op); err != nil {
		return err
	}
	defer s.gate.RUnlock()
	mu := s.lock(id[:])
	mu.Lock()
	defer mu.Unlock()
	if err := s.createBlob(ctx, id, b, q); err != nil {
		return fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return nil
}

func (s *Store) createBlob(ctx context.Context, id wire.BlobID, b store.Blob, q store.Quota) error {
	_, rev, ok, err := s.blob(ctx, id)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("blob %v exists: %w", id, store.ErrConflict)
	}
	charge := func(sign int64, check bool) error {
		return s.update(ctx, b.Owner, func(m *mailboxRecord, ok bool) error {
			if !ok {
				return notFound(b.Owner)
			}
			if check {
				if err := checkQuota(m, 0, b.Size, q); err != nil {
					return fmt.Errorf("mailbox %v: %w", b.Owner, err)
				}
			}
			m.Bytes += sign * b.Size
			return nil
		})
	}
	if err := charge(1, true); err != nil {
		return err
	}
	rec := blobRecord{Owner: b.Owner, Size: b.Size, Expires: timeToNanos(b.Expires)}
	newRev, err := s.save(ctx, subjBlobRec(id), rec.encode(), rev)
	if err != nil {
		if rerr := charge(-1, false); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if errors.Is(err, errConflict) {
			return fmt.Errorf("blob %v exists: %w", id, store.ErrConflict)
		}
		return err
	}
	if rec.Expires != 0 {
		e := expiryEntry{Kind: 'b', ID: id, Expires: rec.Expires}
		if _, err := s.publish(context.WithoutCancel(ctx), subjExp(rec.Expires/int64(time.Minute)), nil, e.encode()); err != nil {
			// Without its index entry the blob would never be swept.
			if _, derr := s.save(context.WithoutCancel(ctx), subjBlobRec(id), nil, newRev); derr != nil {
				return errors.Join(err, derr)
			}
			return errors.Join(err, charge(-1, false))
		}
	}
	return nil
}

// BlobInfo implements store.Store.
func (s *Store) BlobInfo(ctx context.Context, id wire.BlobID) (store.Blob, error) {
	const op = "blob info"
	if err := s.enter(ctx, op); err != nil {
		return store.Blob{}, err
	}
	defer s.gate.RUnlock()
	r, _, ok, err := s.blob(ctx, id)
	if err == nil && (!ok || s.expired(r.Expires)) {
		err = blobNotFound(id)
	}
	if err != nil {
		return store.Blob{}, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return store.Blob{Owner: r.Owner, Size: r.Size, Have: r.Have, Expires: nanosToTime(r.Expires)}, nil
}

// WriteBlob implements store.Store. The bytes go to eph.blob.<id> as one
// or more chunk messages, then the blob's record takes their stream
// sequences and the new Have with compare-and-set; chunks of a write that
// lost are deleted.
func (s *Store) WriteBlob(ctx context.Context, id wire.BlobID, offset int64, data []byte) (int64, error) {
	const op = "write blob"
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	mu := s.lock(id[:])
	mu.Lock()
	defer mu.Unlock()
	have, err := s.writeBlob(ctx, id, offset, data)
	if err != nil {
		return 0, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	return have, nil
}

func (s *Store) writeBlob(ctx context.Context, id wire.BlobID, offset int64, data []byte) (int64, error) {
	var chunks []chunk
	undo := func() {
		for _, c := range chunks {
			s.deleteMsg(context.WithoutCancel(ctx), streamBlob, c.Seq)
		}
	}
	for range maxAttempts {
		r, rev, ok, err := s.blob(ctx, id)
		switch {
		case err != nil:
			undo()
			return 0, err
		case !ok || s.expired(r.Expires):
			undo()
			return 0, blobNotFound(id)
		case offset != r.Have:
			undo()
			return 0, fmt.Errorf("blob %v: offset %d, have %d: %w", id, offset, r.Have, store.ErrConflict)
		case int64(len(data)) > r.Size-offset:
			undo()
			return 0, fmt.Errorf("blob %v: %d bytes at %d, size %d: %w", id, len(data), offset, r.Size, store.ErrTooLarge)
		case len(data) == 0:
			return r.Have, nil
		}
		if chunks == nil {
			for rest := data; len(rest) > 0; {
				n := min(len(rest), s.maxEnv)
				seq, err := s.publish(ctx, subjChunks(id), nil, rest[:n])
				if err != nil {
					undo()
					return 0, err
				}
				chunks = append(chunks, chunk{Len: uint32(n), Seq: seq})
				rest = rest[n:]
			}
		}
		r.Chunks = append(r.Chunks, chunks...)
		r.Have += int64(len(data))
		if _, err := s.save(ctx, subjBlobRec(id), r.encode(), rev); errors.Is(err, errConflict) {
			continue
		} else if err != nil {
			undo()
			return 0, err
		}
		return r.Have, nil
	}
	undo()
	return 0, fmt.Errorf("blob %v: %w", id, ErrContention)
}

// ReadBlob implements store.Store.
func (s *Store) ReadBlob(ctx context.Context, id wire.BlobID, offset int64, p []byte) (int, error) {
	const op = "read blob"
	if offset < 0 {
		return 0, fmt.Errorf("natsstore: %s: blob %v: %w", op, id, errNegativeOffset)
	}
	if err := s.enter(ctx, op); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	r, _, ok, err := s.blob(ctx, id)
	if err == nil && (!ok || s.expired(r.Expires)) {
		err = blobNotFound(id)
	}
	if err != nil {
		return 0, fmt.Errorf("natsstore: %s: %w", op, err)
	}
	if offset >= r.Have {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.Have-offset)
	n := 0
	var at int64
	for _, c := range r.Chunks {
		end := at + int64(c.Len)
		if end > offset && int64(n) < want {
			msg, err := s.get(ctx, streamBlob, msgGetReq{Seq: c.Seq})
			if errors.Is(err, errNoMsg) {
				return n, fmt.Errorf("natsstore: %s: %w", op, blobNotFound(id)) // swept since
			}
			if err != nil {
				return n, fmt.Errorf("natsstore: %s: blob %v: %w", op, id, err)
			}
			if len(msg.Data) != int(c.Len) {
				return n, fmt.Errorf("natsstore: %s: blob %v: chunk of %d bytes, %d recorded: %w", op, id, len(msg.Data), c.Len, ErrCorrupt)
			}
			from := max(offset+int64(n)-at, 0)
			n += copy(p[n:want], msg.Data[from:])
		}
		at = end
		if int64(n) >= want {
			break
		}
	}
	if int64(len(p)) > want {
		return n, io.EOF
	}
	return n, nil
}
