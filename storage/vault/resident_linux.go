package vault

import (
	"os"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// releaseResident tells the kernel that the pages of db's memory map
// need not stay in this process's resident set. Opening a database whose
// freelist is not stored (NoFreelistSync) reads every page to rebuild it,
// which would otherwise leave the whole file resident; the pages stay in
// the page cache and fault back in when read. Best effort.
func releaseResident(db *bolt.DB, path string) {
	st, err := os.Stat(path)
	if err != nil || st.Size() == 0 {
		return
	}
	// The address is bbolt's mapping, which stays put until the next
	// remap; madvise only drops pages, so a stale range would be harmless.
	unix.Syscall(unix.SYS_MADVISE, db.Info().Data, uintptr(st.Size()), unix.MADV_DONTNEED)
}
