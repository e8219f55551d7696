// Package memstore is an in-memory store.Store for tests: a mutex and maps,
// nothing on disk, nothing kept after Close. It passes the same contract
// suite (storetest) as the durable stores, with an injectable clock so
// expiry tests run without sleeping.
package memstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Now is the store's clock; nil means time.Now.
	Now func() time.Time
	// RelayID is the relay identity to report; zero means 32 random bytes.
	RelayID wire.Key32
}

// Store is an in-memory store.Store. Use New; it is safe for concurrent use.
type Store struct {
	now func() time.Time

	mu      sync.Mutex
	closed  bool
	relayID wire.Key32
	boxes   map[wire.MailboxID]*mailbox
	blobs   map[wire.BlobID]*blob
}

type mailbox struct {
	reg     store.Mailbox
	lastSeq uint64
	envs    []store.Envelope // sorted by Seq
	usage   store.Usage

	bundle, lastResort []byte
	oneTime            [][]byte
}

type blob struct {
	info store.Blob
	data []byte
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New(opts Options) *Store {
	s := &Store{
		now:     opts.Now,
		relayID: opts.RelayID,
		boxes:   make(map[wire.MailboxID]*mailbox),
		blobs:   make(map[wire.BlobID]*blob),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.relayID.IsZero() {
		rand.Read(s.relayID[:])
	}
	return s
}

// lock takes the mutex and reports why the call cannot proceed, if it
// cannot. On a nil error the caller must unlock.
func (s *Store) lock(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %s: %w", op, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("memstore: %s: %w", op, store.ErrClosed)
	}
	return nil
}

func (s *Store) box(op string, id wire.MailboxID) (*mailbox, error) {
	b, ok := s.boxes[id]
	if !ok {
		return nil, fmt.Errorf("memstore: %s: mailbox %v: %w", op, id, store.ErrNotFound)
	}
	return b, nil
}

func expired(exp, now time.Time) bool { return !exp.IsZero() && !now.Before(exp) }

// RelayID implements store.Store.
func (s *Store) RelayID(ctx context.Context) (wire.Key32, error) {
	if err := s.lock(ctx, "relay id"); err != nil {
		return wire.Key32{}, err
	}
	defer s.mu.Unlock()
	return s.relayID, nil
}

// Register implements store.Store.
func (s *Store) Register(ctx context.Context, id wire.MailboxID, m store.Mailbox) error {
	if err := s.lock(ctx, "register"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if b, ok := s.boxes[id]; ok {
		if b.reg.OwnerKey != m.OwnerKey {
			return fmt.Errorf("memstore: register: mailbox %v has another owner: %w", id, store.ErrConflict)
		}
		b.reg.SendTokenHash = m.SendTokenHash
		return nil
	}
	if m.Created.IsZero() {
		m.Created = s.now()
	}
	s.boxes[id] = &mailbox{reg: m}
	return nil
}

// Mailbox implements store.Store.
func (s *Store) Mailbox(ctx context.Context, id wire.MailboxID) (store.Mailbox, error) {
	if err := s.lock(ctx, "mailbox"); err != nil {
		return store.Mailbox{}, err
	}
	defer s.mu.Unlock()
	b, err := s.box("mailbox", id)
	if err != nil {
		return store.Mailbox{}, err
	}
	return b.reg, nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, id wire.MailboxID, env store.Envelope, q store.Quota) (uint64, error) {
	if len(env.Data) > wire.MaxEnvelopeSize {
		return 0, fmt.Errorf("memstore: append: envelope is %d bytes, limit %d: %w", len(env.Data), wire.MaxEnvelopeSize, store.ErrTooLarge)
	}
	if err := s.lock(ctx, "append"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	b, err := s.box("append", id)
	if err != nil {
		return 0, err
	}
	if err := checkQuota(b.usage, 1, int64(len(env.Data)), q); err != nil {
		return 0, fmt.Errorf("memstore: append to %v: %w", id, err)
	}
	b.lastSeq++
	b.envs = append(b.envs, store.Envelope{
		Seq:      b.lastSeq,
		Received: s.now(),
		Expires:  env.Expires,
		Data:     slices.Clone(env.Data),
	})
	b.usage.Messages++
	b.usage.Bytes += int64(len(env.Data))
	return b.lastSeq, nil
}

// checkQuota reports store.ErrQuota if adding msgs and n bytes to u would
// pass q.
func checkQuota(u store.Usage, msgs int, n int64, q store.Quota) error {
	if q.MaxMessages > 0 && u.Messages+msgs > q.MaxMessages {
		return fmt.Errorf("%d messages held, limit %d: %w", u.Messages, q.MaxMessages, store.ErrQuota)
	}
	if q.MaxBytes > 0 && u.Bytes+n > q.MaxBytes {
		return fmt.Errorf("%d bytes held, %d more asked, limit %d: %w", u.Bytes, n, q.MaxBytes, store.ErrQuota)
	}
	return nil
}

// Fetch implements store.Store.
func (s *Store) Fetch(ctx context.Context, id wire.MailboxID, after uint64, limit int) ([]store.Envelope, error) {
	if err := s.lock(ctx, "fetch"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	b, err := s.box("fetch", id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	i, _ := slices.BinarySearchFunc(b.envs, after+1, func(e store.Envelope, seq uint64) int {
		return cmpU64(e.Seq, seq)
	})
	var out []store.Envelope
	for _, e := range b.envs[i:] {
		if limit > 0 && len(out) >= limit {
			break
		}
		if expired(e.Expires, now) {
			continue
		}
		e.Data = slices.Clone(e.Data)
		out = append(out, e)
	}
	return out, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, id wire.MailboxID, seqs []uint64) (int, error) {
	if err := s.lock(ctx, "delete"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	b, err := s.box("delete", id)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, seq := range seqs {
		i, ok := slices.BinarySearchFunc(b.envs, seq, func(e store.Envelope, seq uint64) int {
			return cmpU64(e.Seq, seq)
		})
		if !ok {
			continue
		}
		b.usage.Messages--
		b.usage.Bytes -= int64(len(b.envs[i].Data))
		b.envs = slices.Delete(b.envs, i, i+1)
		n++
	}
	return n, nil
}

// Usage implements store.Store.
func (s *Store) Usage(ctx context.Context, id wire.MailboxID) (store.Usage, error) {
	if err := s.lock(ctx, "usage"); err != nil {
		return store.Usage{}, err
	}
	defer s.mu.Unlock()
	b, err := s.box("usage", id)
	if err != nil {
		return store.Usage{}, err
	}
	return b.usage, nil
}

// PutPrekeys implements store.Store.
func (s *Store) PutPrekeys(ctx context.Context, id wire.MailboxID, bundle, lastResort []byte, oneTime [][]byte, replace bool, q store.Quota) (int, error) {
	if err := store.CheckPrekeys(bundle, lastResort, oneTime); err != nil {
		return 0, fmt.Errorf("memstore: put prekeys: %w", err)
	}
	if err := s.lock(ctx, "put prekeys"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	b, err := s.box("put prekeys", id)
	if err != nil {
		return 0, err
	}
	held := len(b.oneTime)
	if replace {
		held = 0
	}
	if held+len(oneTime) > store.MaxOneTimePrekeys {
		return 0, fmt.Errorf("memstore: put prekeys: %d one-time keys held, %d more, limit %d: %w",
			held, len(oneTime), store.MaxOneTimePrekeys, store.ErrQuota)
	}
	var released int64
	if len(bundle) > 0 {
		released += int64(len(b.bundle))
	}
	if len(lastResort) > 0 {
		released += int64(len(b.lastResort))
	}
	if replace {
		released += store.PrekeyBytes(nil, nil, b.oneTime)
	}
	delta := store.PrekeyBytes(bundle, lastResort, oneTime) - released
	if delta > 0 && q.MaxBytes > 0 && b.usage.Bytes+delta > q.MaxBytes {
		return 0, fmt.Errorf("memstore: put prekeys: %d bytes held, %d more, limit %d: %w",
			b.usage.Bytes, delta, q.MaxBytes, store.ErrQuota)
	}
	b.usage.Bytes += delta
	if len(bundle) > 0 {
		b.bundle = slices.Clone(bundle)
	}
	if len(lastResort) > 0 {
		b.lastResort = slices.Clone(lastResort)
	}
	if replace {
		b.oneTime = nil
	}
	for _, k := range oneTime {
		b.oneTime = append(b.oneTime, slices.Clone(k))
	}
	return len(b.oneTime), nil
}

// ClaimPrekey implements store.Store.
func (s *Store) ClaimPrekey(ctx context.Context, id wire.MailboxID) (store.Prekey, error) {
	if err := s.lock(ctx, "claim prekey"); err != nil {
		return store.Prekey{}, err
	}
	defer s.mu.Unlock()
	b, err := s.box("claim prekey", id)
	if err != nil {
		return store.Prekey{}, err
	}
	if len(b.bundle) == 0 {
		return store.Prekey{}, fmt.Errorf("memstore: claim prekey: mailbox %v: %w", id, store.ErrNoPrekeys)
	}
	p := store.Prekey{Bundle: slices.Clone(b.bundle)}
	switch {
	case len(b.oneTime) > 0:
		p.Key = b.oneTime[0]
		b.usage.Bytes -= int64(len(p.Key))
		b.oneTime[0] = nil
		b.oneTime = b.oneTime[1:]
	case len(b.lastResort) > 0:
		p.Key = slices.Clone(b.lastResort)
		p.LastResort = true
	}
	return p, nil
}

// CreateBlob implements store.Store.
func (s *Store) CreateBlob(ctx context.Context, id wire.BlobID, b store.Blob, q store.Quota) error {
	if b.Size < 0 {
		return fmt.Errorf("memstore: create blob: negative size %d: %w", b.Size, store.ErrTooLarge)
	}
	if err := s.lock(ctx, "create blob"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.blobs[id]; ok {
		return fmt.Errorf("memstore: create blob %v: already exists: %w", id, store.ErrConflict)
	}
	owner, err := s.box("create blob", b.Owner)
	if err != nil {
		return err
	}
	if err := checkQuota(owner.usage, 0, b.Size, q); err != nil {
		return fmt.Errorf("memstore: create blob for %v: %w", b.Owner, err)
	}
	owner.usage.Bytes += b.Size
	b.Have = 0
	s.blobs[id] = &blob{info: b}
	return nil
}

func (s *Store) blob(op string, id wire.BlobID) (*blob, error) {
	b, ok := s.blobs[id]
	if !ok || expired(b.info.Expires, s.now()) {
		return nil, fmt.Errorf("memstore: %s: blob %v: %w", op, id, store.ErrNotFound)
	}
	return b, nil
}

// WriteBlob implements store.Store.
func (s *Store) WriteBlob(ctx context.Context, id wire.BlobID, offset int64, data []byte) (int64, error) {
	if err := s.lock(ctx, "write blob"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	b, err := s.blob("write blob", id)
	if err != nil {
		return 0, err
	}
	if offset != b.info.Have {
		return 0, fmt.Errorf("memstore: write blob %v: offset %d, have %d: %w", id, offset, b.info.Have, store.ErrConflict)
	}
	if int64(len(data)) > b.info.Size-offset {
		return 0, fmt.Errorf("memstore: write blob %v: %d bytes at %d, size %d: %w", id, len(data), offset, b.info.Size, store.ErrTooLarge)
	}
	b.data = append(b.data, data...)
	b.info.Have += int64(len(data))
	return b.info.Have, nil
}

// BlobInfo implements store.Store.
func (s *Store) BlobInfo(ctx context.Context, id wire.BlobID) (store.Blob, error) {
	if err := s.lock(ctx, "blob info"); err != nil {
		return store.Blob{}, err
	}
	defer s.mu.Unlock()
	b, err := s.blob("blob info", id)
	if err != nil {
		return store.Blob{}, err
	}
	return b.info, nil
}

// ReadBlob implements store.Store.
func (s *Store) ReadBlob(ctx context.Context, id wire.BlobID, offset int64, p []byte) (int, error) {
	if offset < 0 {
		return 0, fmt.Errorf("memstore: read blob %v: negative offset %d", id, offset)
	}
	if err := s.lock(ctx, "read blob"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	b, err := s.blob("read blob", id)
	if err != nil {
		return 0, err
	}
	if offset >= b.info.Have {
		return 0, io.EOF
	}
	n := copy(p, b.data[offset:b.info.Have])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Sweep implements store.Store.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if err := s.lock(ctx, "sweep"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.boxes {
		b.envs = slices.DeleteFunc(b.envs, func(e store.Envelope) bool {
			if !expired(e.Expires, now) {
				return false
			}
			b.usage.Messages--
			b.usage.Bytes -= int64(len(e.Data))
			n++
			return true
		})
	}
	for id, b := range s.blobs {
		if expired(b.info.Expires, now) {
			if owner, ok := s.boxes[b.info.Owner]; ok {
				owner.usage.Bytes -= b.info.Size
			}
			delete(s.blobs, id)
		}
	}
	return n, nil
}

// Check implements store.Store.
func (s *Store) Check(ctx context.Context) error {
	if err := s.lock(ctx, "check"); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Close implements store.Store. It drops everything the store held.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memstore: close: %w", store.ErrClosed)
	}
	s.closed = true
	s.boxes, s.blobs = nil, nil
	return nil
}
