//go:build !unix && !windows

package procstat

import (
	"os"
	"time"
)

// CPUTime is not measured on this system: 0.
func CPUTime() time.Duration { return 0 }

// PeakRSS is not known on this system.
func PeakRSS(*os.ProcessState) (bytes int64, ok bool) { return 0, false }
