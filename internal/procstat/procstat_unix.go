//go:build unix

package procstat

import (
	"os"
	"runtime"
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

// PeakRSS returns the peak resident size in bytes of the exited process
// ps describes.
func PeakRSS(ps *os.ProcessState) (bytes int64, ok bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0, false
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss), true // bytes there; KiB elsewhere
	}
	return int64(ru.Maxrss) * 1024, true
}
