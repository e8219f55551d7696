//go:build unix

package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/ephemera-im/ephemera/gui"
)

// dumpOnSignal writes the dump of the windows to path at every SIGUSR1.
func dumpOnSignal(uis []*gui.UI, path string, log *slog.Logger) {
	dump := make(chan os.Signal, 1)
	signal.Notify(dump, syscall.SIGUSR1)
	go func() {
		for range dump {
			dumpNow(uis, path, log)
		}
	}()
}
