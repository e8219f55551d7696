package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ephemera-im/ephemera/net/store"
)

// Compaction: bbolt copies pages on write and keeps freed pages in the
// file until it reuses them, so an acknowledged or expired envelope stays
// readable in relay.db, byte for byte, for as long as its pages are not
// reused (a review found 1,346 of them). Envelopes are ciphertext to the
// relay, but they are what a seized relay.db must not give up: a copy
// made before the recipient's keys are gone would keep them decryptable.
//
// Zeroing a value before deleting it does not help (the zeroed copy goes
// to a new page; the old one is freed as it was), and sealing envelopes
// under keys forgotten on Ack only moves the problem to where the keys
// are kept. So the store rewrites relay.db from its live records into a
// new file and replaces the old one: Compact, run every
// Options.CompactEvery when there are freed pages. The old file's blocks
// are released to the file system, which may keep them on the device
// until it reuses them: put relay stores on encrypted disks.

// compactTxMaxSize bounds the bytes one transaction of the copy holds.
const compactTxMaxSize = 16 << 20

// CompactStats describes one compaction.
type CompactStats struct {
	Before, After int64 // relay.db's size
	Took          time.Duration
}

// Compact rewrites relay.db without its freed pages, so no deleted
// record remains in the file. Calls wait while it runs (it holds the
// store exclusively); it copies only live records, so its cost grows with
// what the store holds (see docs/PERFORMANCE.md). If it fails before the
// new file replaces the old, the store goes on with the old one.
func (s *Store) Compact(ctx context.Context) (CompactStats, error) {
	const op = "compact"
	if err := ctx.Err(); err != nil {
		return CompactStats{}, fmt.Errorf("boltstore: %s: %w", op, err)
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	if s.closed {
		return CompactStats{}, fmt.Errorf("boltstore: %s: %w", op, store.ErrClosed)
	}
	start := time.Now()
	path := s.path
	before, err := fileSize(path)
	if err != nil {
		return CompactStats{}, fmt.Errorf("boltstore: %s: %w", op, err)
	}
	// Room for the copy: at most the live pages, which must fit in the
	// disk space left.
	if f := diskFree(s.space.dir); f >= 0 && f < before-int64(s.db.Stats().FreeAlloc)+s.space.reserve {
		return CompactStats{}, fmt.Errorf("boltstore: %s: %d bytes free on the disk: %w", op, f, store.ErrFull)
	}
	s.commits.close()
	defer func() {
		if !s.closed {
			s.commits = newCommitter(s.db, s.maxBatch, s.batchDelay)
		}
	}()

	tmp := path + ".compact"
	os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return CompactStats{}, fmt.Errorf("boltstore: %s: %w", op, err)
	}
	err = bolt.Compact(dst, s.db, compactTxMaxSize)
	if err == nil && !s.noSync {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return CompactStats{}, fmt.Errorf("boltstore: %s: %w", op, err)
	}
	if err := s.db.Close(); err != nil {
		os.Remove(tmp)
		s.closed = true // the old file's state is unknown: stop here
		return CompactStats{}, fmt.Errorf("boltstore: %s: closing %s: %w", op, path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		if db, rerr := bolt.Open(path, 0o600, s.boltOpts()); rerr == nil {
			s.db = db
			return CompactStats{}, fmt.Errorf("boltstore: %s: %w", op, err)
		}
		s.closed = true
		return CompactStats{}, fmt.Errorf("boltstore: %s: %w", op, err)
	}
	if !s.noSync {
		// Should this fail, a crash may bring the old file back: it is
		// whole too, only not compacted.
		syncDir(filepath.Dir(path))
	}
	db, err := bolt.Open(path, 0o600, s.boltOpts())
	if err != nil {
		s.closed = true
		return CompactStats{}, fmt.Errorf("boltstore: %s: reopening %s: %w", op, path, err)
	}
	s.db = db
	after, _ := fileSize(path)
	return CompactStats{Before: before, After: after, Took: time.Since(start)}, nil
}

// freedBytes is the size of relay.db's freed pages: what Compact removes.
func (s *Store) freedBytes() int64 {
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.closed {
		return 0
	}
	return int64(s.db.Stats().FreeAlloc)
}

// compactor runs Compact every interval while there are freed pages.
func (s *Store) compactor(every time.Duration, onErr func(error)) {
	defer close(s.compactDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.compactStop:
			return
		case <-t.C:
		}
		if s.freedBytes() == 0 {
			continue
		}
		if _, err := s.Compact(context.Background()); err != nil && !errors.Is(err, store.ErrClosed) && onErr != nil {
			onErr(err)
		}
	}
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
