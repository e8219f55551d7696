// Command ephemera is the Ephemera desktop messenger.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"github.com/ephemera-im/ephemera/core/messenger"
	"github.com/ephemera-im/ephemera/gui"
	"github.com/ephemera-im/ephemera/internal/version"
)

func main() {
	relay := flag.String("relay", os.Getenv("EPHEMERA_RELAY_URL"), "relay URL (wss://…); empty starts a local relay (env EPHEMERA_RELAY_URL)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Line("ephemera"))
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	a := app.NewWithID("im.ephemera.app")
	a.SetIcon(gui.Icon)
	m, err := messenger.NewRelayLink(messenger.RelayLinkOptions{RelayURL: *relay, DataDir: a.Storage().RootURI().Path(), Logger: log})
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	defer m.Close()
	w := gui.NewMainWindow(a, m)

	quit := make(chan os.Signal, 1) // SIGINT, SIGTERM: close the window, which quits
	signal.Notify(quit, os.Interrupt, syscall.SIGTERM)
	go func() { <-quit; fyne.Do(w.Close) }()

	m.Start()
	w.ShowAndRun()
}
