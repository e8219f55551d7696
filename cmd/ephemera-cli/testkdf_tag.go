//go:build ephemera_testkdf

package main

import (
	"os"
	"strings"
)

// Built with -tags ephemera_testkdf (only by this package's tests, for the
// child processes whose memory they measure), the binary honours
// EPHEMERA_INSECURE_TEST_KDF, and writes its peak resident size (VmHWM of
// /proc/self/status) to the file EPHEMERA_TEST_PEAK_RSS_FILE names as it
// exits. The parent cannot take that from wait4: on Linux a child's
// ru_maxrss includes the parent's own high-water mark, since the child
// starts in the parent's address space (os/exec uses vfork) and exec
// records that mark. Release builds never set the tag.
func init() {
	allowInsecureKDF = true
	if path := os.Getenv("EPHEMERA_TEST_PEAK_RSS_FILE"); path != "" {
		atExit = func() {
			b, err := os.ReadFile("/proc/self/status")
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "VmHWM:") {
					os.WriteFile(path, []byte(line), 0o600)
				}
			}
		}
	}
}
