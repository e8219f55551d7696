package boltstore

import (
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ephemera-im/ephemera/net/store"
)

// DefaultReserve is Options.Reserve when it is zero: room kept for
// deletions. A delete rewrites the pages it touches (bbolt copies on
// write), which takes free pages or grows the file by a few pages; a
// batch of a thousand Acks needs well under a megabyte.
const DefaultReserve = 32 << 20

// space decides whether a write that adds data fits: it keeps Reserve
// bytes free both under Options.MaxBytes and on the disk, so that Acks
// (deletions), claims and sweeps always find room to commit. Writes that
// only remove data are never refused.
type space struct {
	max     int64 // Options.MaxBytes; 0: no limit of our own
	reserve int64
	dir     string

	blobBytes atomic.Int64 // sizes of the blobs held (reserved at CreateBlob)

	diskAt   atomic.Int64 // unix nanos of the last disk check
	diskFree atomic.Int64 // bytes available at that check; -1 unknown
	added    atomic.Int64 // bytes admitted since that check
}

// checkRoom is the room above the reserve that Check asks for: a little
// more than the largest envelope Ephemera's clients make (261,006 bytes).
const checkRoom = 256<<10 + 16<<10

// diskCheckEvery bounds how often the free disk space is asked for: one
// statfs per write would cost more than the write's own bookkeeping.
// Between checks, what was admitted is taken off, twice over for bbolt's
// page overhead (a measured 16 KiB append wrote about 20 KiB).
const diskCheckEvery = 50 * time.Millisecond

// used is what the store takes now: relay.db's pages in use (its size
// less the pages bbolt will reuse) plus the blobs' reserved sizes.
func (sp *space) used(tx *bolt.Tx, db *bolt.DB) int64 {
	st := db.Stats()
	return tx.Size() - int64(st.FreeAlloc) + sp.blobBytes.Load()
}

// free estimates the disk's available bytes: the last check, at most
// diskCheckEvery old (or fresh when asked), less what was admitted since.
func (sp *space) free(fresh bool) int64 {
	now := time.Now().UnixNano()
	if fresh || now-sp.diskAt.Load() > int64(diskCheckEvery) {
		sp.diskFree.Store(diskFree(sp.dir))
		sp.added.Store(0)
		sp.diskAt.Store(now)
	}
	f := sp.diskFree.Load()
	if f < 0 {
		return f
	}
	return f - 2*sp.added.Load()
}

// fits reports store.ErrFull if adding n bytes would leave less than the
// reserve, under MaxBytes or on the disk; otherwise it counts n as
// admitted. fitsFresh with fresh set asks the disk now and counts nothing,
// for Check.
func (sp *space) fits(tx *bolt.Tx, db *bolt.DB, n int64) error {
	return sp.fitsFresh(tx, db, n, false)
}

func (sp *space) fitsFresh(tx *bolt.Tx, db *bolt.DB, n int64, fresh bool) error {
	if sp.max > 0 {
		if u := sp.used(tx, db); u+n > sp.max-sp.reserve {
			return fmt.Errorf("%d bytes used, %d more, limit %d less a reserve of %d: %w", u, n, sp.max, sp.reserve, store.ErrFull)
		}
	}
	if f := sp.free(fresh); f >= 0 && f-2*n < sp.reserve {
		return fmt.Errorf("%d bytes free on the disk, %d more, reserve %d: %w", f, n, sp.reserve, store.ErrFull)
	}
	if !fresh { // Check asks, it adds nothing
		sp.added.Add(n)
	}
	return nil
}
