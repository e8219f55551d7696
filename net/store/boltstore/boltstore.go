// Package boltstore is the relay's durable store.Store on one machine:
// go.etcd.io/bbolt for records and plain files for attachment bytes.
//
// A store lives in a directory holding relay.db and blobs/. relay.db has
// one bucket per kind of record (mailboxes, envelopes, prekeys, blobs), an
// expiry index ordered by time so Sweep reads only what has expired, and
// the relay's identity. Each mailbox's record carries its counters (last
// sequence number, messages, bytes, one-time keys) so quota checks are
// atomic with the writes they guard and sequence numbers are never reused,
// even after every envelope is deleted or the relay restarts.
//
// Every write is fsynced before the call returns (unless Options.NoSync).
// The writes many connections make at once (Register, Append, Delete,
// PutPrekeys, ClaimPrekey, CreateBlob, WriteBlob) share one commit and
// fsync: a single goroutine commits, in one transaction, every write that
// queued while the previous commit ran (commit.go). Blob bytes are
// written and fsynced to blobs/<hex id> before the blob's Have moves in
// relay.db, so Have never counts bytes that are not on disk; a tail
// written past Have before a crash is overwritten when the upload resumes.
//
// That commit loop replaces bbolt's DB.Batch, which sizes batches by a
// timer instead of by the load: writes arriving while a batch commits
// start a new one that commits MaxBatchDelay later, so at a relay's load
// it made many small commits, each rewriting the same hot pages and
// paying two fsyncs. The loop's batches grow with the load (about 250
// messages, 500 writes, per commit in the benchmark below, against 25-50
// messages), which cut the pages written per message 3x and the commits
// 7x, and a lone write no longer waits for a timer.
//
// Performance on the 2-core dev machine, in the relay's steady state
// (BenchmarkRelaySteadyState: 1000 goroutines each Append a 1 KiB
// envelope to a random one of 1000 mailboxes, Fetch it, Delete it; fsync
// on). Six alternating runs of the DB.Batch version (before) and this one,
// while other builds kept the load average at 8-11, so absolute figures
// varied 2-3x between runs. Options.UseDBBatch keeps the DB.Batch path, so
// the comparison reruns in one go (BenchmarkRelaySteadyStateDBBatch):
//
//	go test -run '^$' -bench 'RelaySteadyState|AppendSerial' -benchtime 20000x -count 6 ./net/store/boltstore
//
//	                         before        after         after/before (median of pairs)
//	msgs/s                   3,500-8,900   13,200-18,400 2.7x
//	process CPU per msg      89-150µs      46-63µs       0.5x  (about half a core at 10,000 msgs/s)
//	commits per msg          0.021-0.041   0.0038-0.0044 0.15x
//	4 KiB pages per msg      2.6-3.3       0.94-1.01     0.33x
//	one sender alone         4.5ms         1.7ms         0.4x  (BenchmarkAppendSerial, per append)
//
// With the load the machine had, fsync no longer limits the store: the
// remaining cost is bbolt rewriting every leaf page a commit touches
// (in this benchmark nearly the whole working set of in-flight envelopes
// and mailbox records, once per commit) and the kernel writing them.
// What did not help measurably, within the noise: the array freelist
// instead of the hashmap, InitialMmapSize, 16 KiB pages (fewer pages, but
// each random insert into a large backlog would then rewrite 16 KiB), and
// a batch delay (Options.MaxBatchDelay) on top of the loop.
package boltstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/ephemera-im/ephemera/internal/boltcheck"
	"github.com/ephemera-im/ephemera/net/store"
	"github.com/ephemera-im/ephemera/net/wire"
)

// DefaultMaxBatchSize bounds the writes one transaction commits when
// Options.MaxBatchSize is zero. More than that queued at once (more
// connections writing than this) commit in several transactions, one
// after another, so one commit's time and memory stay bounded.
const DefaultMaxBatchSize = 1000

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Now is the store's clock, used for Received times and to hide
	// expired envelopes and blobs; nil means time.Now.
	Now func() time.Time
	// MaxBatchDelay, if positive, makes a write that finds the writer
	// idle wait this long for others to share its commit. Zero, the
	// default, commits at once: under load, writes that arrive during a
	// commit share the next one anyway (BenchmarkAppendBatchDelay).
	MaxBatchDelay time.Duration
	// MaxBatchSize bounds the writes one transaction commits; zero means
	// DefaultMaxBatchSize.
	MaxBatchSize int
	// NoSync skips fsync of relay.db and blob files. For tests and
	// benchmarks only: a crash can lose or corrupt acknowledged data.
	NoSync bool
	// MaxBytes, if positive, bounds the store's size: relay.db's pages in
	// use plus the sizes of the blobs held. Writes that add data
	// (Register of a new mailbox, Append, PutPrekeys, CreateBlob) are
	// refused with store.ErrFull once they would leave less than Reserve
	// under it, and Check fails; deletions always proceed, into that
	// reserve. Zero: no bound of the store's own.
	MaxBytes int64
	// Reserve is the room kept for deletions, under MaxBytes and on the
	// disk (where free space below it refuses writes that add data, with
	// or without MaxBytes); zero means DefaultReserve, or MaxBytes/8 if
	// that is smaller.
	Reserve int64
	// CompactEvery, if positive, is how often the store rewrites relay.db
	// without its freed pages (Compact) when it has any, so that deleted
	// envelopes do not stay readable in the file. Zero: never.
	CompactEvery time.Duration
	// OnCompactError, if set, is told of scheduled compactions that fail.
	OnCompactError func(error)
	// UseDBBatch sends writes through bbolt's DB.Batch instead of the
	// store's own commit loop. It exists so the two can be compared in one
	// run (BenchmarkRelaySteadyStateDBBatch); the loop is the faster.
	UseDBBatch bool
}

// Store is a store.Store on bbolt. Make one with Open; it is safe for
// concurrent use.
type Store struct {
	db     *bolt.DB
	blobs  string // directory of blob files
	now    func() time.Time
	noSync bool
	relay  wire.Key32

	// gate is held shared by every call and exclusively by Close, so Close
	// waits for calls in flight and later calls see closed.
	gate   sync.RWMutex
	closed bool

	commits    *committer
	useDBBatch bool
	space      space
	maxBatch   int
	batchDelay time.Duration
	path       string // relay.db

	compactStop    chan struct{} // nil without a compactor
	compactDone    chan struct{}
	closeCompactor sync.Once

	// blobLocks serialise writes to one blob file (and its removal by
	// Sweep) across the file write and the transaction that records it.
	blobLocks [64]sync.Mutex
}

var _ store.Store = (*Store)(nil)

var (
	bucketMeta      = []byte("meta")
	bucketMailboxes = []byte("mailboxes")
	bucketEnvelopes = []byte("envelopes")
	bucketPrekeys   = []byte("prekeys")
	bucketBlobs     = []byte("blobs")
	bucketExpiry    = []byte("expiry")

	metaRelayID = []byte("relay-id")
	metaFormat  = []byte("format")
	metaCheck   = []byte("check")
)

// formatVersion is relay.db's format. 2: mailbox byte counters include
// prekey bytes; Open migrates a format 1 file by adding them up.
const formatVersion = 2

// openTimeout bounds the wait for relay.db's file lock, held by another
// process running on the same directory.
const openTimeout = 2 * time.Second

// Open opens the store in dir, creating dir, relay.db, blobs/ and the
// relay's identity if they do not exist.
func Open(dir string, opts Options) (*Store, error) {
	blobs := filepath.Join(dir, "blobs")
	if err := os.MkdirAll(blobs, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: open: %w", err)
	}
	path := filepath.Join(dir, "relay.db")
	// A damaged file would panic in bbolt's freelist rebuild, out of any
	// recover's reach (see internal/boltcheck): check it first. A missing
	// or empty file is a new store.
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		if err := boltcheck.Check(path); err != nil {
			return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, boltOpts(opts.NoSync))
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: locked by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s := &Store{db: db, blobs: blobs, now: opts.Now, noSync: opts.NoSync, useDBBatch: opts.UseDBBatch,
		maxBatch: opts.MaxBatchSize, batchDelay: opts.MaxBatchDelay, path: path}
	if opts.UseDBBatch {
		db.MaxBatchDelay = 2 * time.Millisecond
		if opts.MaxBatchDelay > 0 {
			db.MaxBatchDelay = opts.MaxBatchDelay
		}
		if opts.MaxBatchSize > 0 {
			db.MaxBatchSize = opts.MaxBatchSize
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.space.max, s.space.reserve, s.space.dir = opts.MaxBytes, opts.Reserve, dir
	if s.space.reserve <= 0 {
		s.space.reserve = DefaultReserve
		if opts.MaxBytes > 0 {
			s.space.reserve = min(DefaultReserve, opts.MaxBytes/8)
		}
	}
	s.space.diskAt.Store(0)
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := s.removeOrphanBlobs(); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s.commits = newCommitter(db, opts.MaxBatchSize, opts.MaxBatchDelay)
	if opts.CompactEvery > 0 {
		s.compactStop, s.compactDone = make(chan struct{}), make(chan struct{})
		go s.compactor(opts.CompactEvery, opts.OnCompactError)
	}
	return s, nil
}

func boltOpts(noSync bool) *bolt.Options {
	return &bolt.Options{
		Timeout: openTimeout,
		NoSync:  noSync,
		// As etcd does: the freelist is rebuilt on open instead of being
		// written by every commit, and kept in a hashmap, which stays fast
		// as a relay's churn frees many pages.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	}
}

func (s *Store) boltOpts() *bolt.Options { return boltOpts(s.noSync) }

// init creates the buckets and the relay identity.
func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketMailboxes, bucketEnvelopes, bucketPrekeys, bucketBlobs, bucketExpiry} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(metaFormat); {
		case v == nil:
			if err := meta.Put(metaFormat, []byte{formatVersion}); err != nil {
				return err
			}
		case len(v) == 1 && v[0] == 1:
			if err := chargePrekeys(tx); err != nil {
				return fmt.Errorf("migrating from format 1: %w", err)
			}
			if err := meta.Put(metaFormat, []byte{formatVersion}); err != nil {
				return err
			}
		case len(v) != 1 || v[0] != formatVersion:
			return fmt.Errorf("unsupported format %x", v)
		}
		if v := meta.Get(metaRelayID); v != nil {
			if len(v) != len(s.relay) {
				return corrupt("relay id", "%d bytes", len(v))
			}
			copy(s.relay[:], v)
			return nil
		}
		if _, err := rand.Read(s.relay[:]); err != nil {
			return err
		}
		return meta.Put(metaRelayID, s.relay[:])
	})
}

// chargePrekeys adds every mailbox's stored prekey bytes to its byte
// counter: format 1 did not count them.
func chargePrekeys(tx *bolt.Tx) error {
	sums := make(map[wire.MailboxID]uint64)
	err := tx.Bucket(bucketPrekeys).ForEach(func(k, v []byte) error {
		var id wire.MailboxID
		if len(k) < len(id)+1 {
			return corrupt("prekey key", "%d bytes", len(k))
		}
		copy(id[:], k)
		sums[id] += uint64(len(v))
		return nil
	})
	if err != nil {
		return err
	}
	for id, n := range sums {
		m, ok, err := getMailbox(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			continue // prekeys of no mailbox: nothing to charge
		}
		m.Bytes += n
		if err := putMailbox(tx, id, &m); err != nil {
			return err
		}
	}
	return nil
}

// removeOrphanBlobs deletes blob files with no record: left when the
// relay stopped between Sweep's commit and its removal of the files.
func (s *Store) removeOrphanBlobs() error {
	entries, err := os.ReadDir(s.blobs)
	if err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBlobs)
		// The blobs' sizes count toward Options.MaxBytes.
		// A record that does not decode is reported by the calls that
		// read it, as every corrupt record is, not by Open.
		var sum int64
		b.ForEach(func(k, v []byte) error {
			if r, err := decodeBlob(v); err == nil {
				sum += r.Size
			}
			return nil
		})
		s.space.blobBytes.Store(sum)
		for _, e := range entries {
			id, err := hex.DecodeString(e.Name())
			if err != nil || len(id) != len(wire.BlobID{}) || e.IsDir() {
				continue // not ours
			}
			if b.Get(id) == nil {
				if err := os.Remove(filepath.Join(s.blobs, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
		return nil
	})
}

// enter admits a call: on nil the caller must s.gate.RUnlock().
func (s *Store) enter(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	s.gate.RLock()
	if s.closed {
		s.gate.RUnlock()
		return fmt.Errorf("boltstore: %s: %w", op, store.ErrClosed)
	}
	return nil
}

// batch runs fn in a shared write transaction (see committer). fn
// reports refusals (not found, quota, conflict) by returning them as its
// outcome with a nil error and no changes made, so one refused call does
// not roll back and re-run the rest of the batch; an error rolls back.
// fn may run more than once, so it must set every result afresh.
func (s *Store) batch(op string, fn func(tx *bolt.Tx) (outcome error, err error)) error {
	var outcome error
	run := func(tx *bolt.Tx) error {
		var err error
		outcome, err = fn(tx)
		return err
	}
	write := s.commits.write
	if s.useDBBatch {
		write = s.db.Batch
	}
	if err := write(run); err != nil {
		return s.wrap(op, err)
	}
	if outcome != nil {
		return fmt.Errorf("boltstore: %s: %w", op, outcome)
	}
	return nil
}

func (s *Store) wrap(op string, err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		err = store.ErrClosed
	}
	return fmt.Errorf("boltstore: %s: %w", op, err)
}

func (s *Store) view(op string, fn func(tx *bolt.Tx) error) error {
	if err := s.db.View(fn); err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// getMailbox reads a mailbox record; ok is false if there is none.
func getMailbox(tx *bolt.Tx, id wire.MailboxID) (m mailboxRecord, ok bool, err error) {
	v := tx.Bucket(bucketMailboxes).Get(id[:])
	if v == nil {
		return m, false, nil
	}
	m, err = decodeMailbox(v)
	if err != nil {
		return m, false, fmt.Errorf("mailbox %v: %w", id, err)
	}
	return m, true, nil
}

func putMailbox(tx *bolt.Tx, id wire.MailboxID, m *mailboxRecord) error {
	return tx.Bucket(bucketMailboxes).Put(id[:], m.encode())
}

func notFound(id wire.MailboxID) error {
	return fmt.Errorf("mailbox %v: %w", id, store.ErrNotFound)
}

func expired(expires int64, now time.Time) bool {
	return expires != 0 && expires <= timeToNanos(now)
}

// checkQuota reports store.ErrQuota if adding msgs and n bytes to m would
// pass q.
func checkQuota(m *mailboxRecord, msgs int, n int64, q store.Quota) error {
	if q.MaxMessages > 0 && m.Messages+uint64(msgs) > uint64(q.MaxMessages) {
		return fmt.Errorf("%d messages held, limit %d: %w", m.Messages, q.MaxMessages, store.ErrQuota)
	}
	if q.MaxBytes > 0 && int64(m.Bytes)+n > q.MaxBytes {
		return fmt.Errorf("%d bytes held, %d more asked, limit %d: %w", m.Bytes, n, q.MaxBytes, store.ErrQuota)
	}
	return nil
}

// RelayID implements store.Store.
func (s *Store) RelayID(ctx context.Context) (wire.Key32, error) {
	if err := s.enter(ctx, "relay id"); err != nil {
		return wire.Key32{}, err
	}
	defer s.gate.RUnlock()
	return s.relay, nil
}

// Check implements store.Store with a small write transaction, fsynced,
// so that it fails when the disk does not take writes, and with
// store.ErrFull when the store refuses writes that add data.
func (s *Store) Check(ctx context.Context) error {
	if err := s.enter(ctx, "check"); err != nil {
		return err
	}
	defer s.gate.RUnlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		// Healthy means a client's envelope would be taken: not only that
		// this small write commits (it fits in freed pages on a full disk).
		if err := s.space.fitsFresh(tx, s.db, checkRoom, true); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaCheck, binary.BigEndian.AppendUint64(nil, uint64(timeToNanos(s.now()))))
	})
	if err != nil {
		return s.wrap("check", err)
	}
	return nil
}

// Close implements store.Store. It waits for calls in flight.
func (s *Store) Close() error {
	if s.compactStop != nil {
		// Before the gate: a compaction in progress holds it.
		s.closeCompactor.Do(func() { close(s.compactStop); <-s.compactDone })
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	if s.closed {
		return fmt.Errorf("boltstore: close: %w", store.ErrClosed)
	}
	s.closed = true
	s.commits.close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// Path returns the path of relay.db, for logs and backups.
func (s *Store) Path() string { return s.path }
