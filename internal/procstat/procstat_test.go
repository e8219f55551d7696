package procstat

import (
	"runtime"
	"testing"
)

// TestCPUTimeGrows: CPU spent by this process shows in CPUTime.
func TestCPUTimeGrows(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "windows" {
		t.Skipf("CPU time is not measured on %s", runtime.GOOS)
	}
	before := CPUTime()
	x := uint64(1)
	for CPUTime()-before < 20e6 { // 20 ms of work, however slow the machine
		for i := 0; i < 1e5; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if after := CPUTime(); after <= before || x == 0 {
		t.Errorf("CPUTime went from %v to %v after busy work", before, after)
	}
}
