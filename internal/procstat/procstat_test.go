package procstat

import (
	"os"
	"os/exec"
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

// TestPeakRSSOfChild: a child that holds 64 MiB has a peak of at least
// that, and one that holds nothing much less.
func TestPeakRSSOfChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("peak RSS of a child is checked on Linux; this is %s", runtime.GOOS)
	}
	peak := func(mib string) int64 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHold$")
		cmd.Env = append(os.Environ(), "PROCSTAT_HOLD_MIB="+mib)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		n, ok := PeakRSS(cmd.ProcessState)
		if !ok {
			t.Fatal("PeakRSS: not known")
		}
		return n
	}
	small, big := peak("0"), peak("64")
	if big < 64<<20 || big-small < 48<<20 {
		t.Errorf("peak RSS: %d MiB holding 64 MiB, %d MiB holding none; want the first ≥ 64 MiB and ≥ 48 MiB above the second", big>>20, small>>20)
	}
}

// TestHelperHold is the child of TestPeakRSSOfChild: it touches
// PROCSTAT_HOLD_MIB MiB of memory and exits.
func TestHelperHold(t *testing.T) {
	mib := os.Getenv("PROCSTAT_HOLD_MIB")
	if mib == "" {
		return
	}
	n := 0
	for _, c := range mib {
		n = n*10 + int(c-'0')
	}
	b := make([]byte, n<<20)
	for i := range b {
		b[i] = byte(i)
	}
	runtime.KeepAlive(b)
}
