//go:build linux || darwin || freebsd

package boltstore

import "syscall"

// diskFree returns the bytes available to this process on dir's file
// system, or -1 if that cannot be known.
func diskFree(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize))
}
