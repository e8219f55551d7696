//go:build !unix

package main

import (
	"log/slog"

	"github.com/ephemera-im/ephemera/gui"
)

// dumpOnSignal: Windows has no user signal to ask for the dump with, and
// the tests that read it run on Unix (main_test.go), so the dump is off.
func dumpOnSignal(_ []*gui.UI, path string, log *slog.Logger) {
	log.Warn("EPHEMERA_DUMP is set, but the window dump needs SIGUSR1, which this system lacks", "path", path)
}
