//go:build unix

package session

import "syscall"

// cpuTime returns the process's user+system CPU time in nanoseconds, so
// benchmarks can report CPU cost that does not depend on other load.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
