//go:build unix

package procstat

import (
	"syscall"
	"time"
)

// CPUTime returns the user plus system CPU time this process has used, or
// 0 if the system does not tell.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
