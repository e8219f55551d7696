// Command minimal-window is the baseline of the desktop app's start-up
// and memory figures (docs/PERFORMANCE.md, scripts/perf-gui.sh): a Fyne
// window with one label, built like bin/ephemera (go build, same flags)
// and reporting its first frame the same way: with EPHEMERA_FIRST_FRAME=1
// it prints first-frame-ms=N (since the process started) to stderr when
// the window is first painted, and with EPHEMERA_EXIT_AFTER_FIRST_FRAME=1
// it then exits.
//
// It does not import the gui package, whose dependencies (the messenger,
// the embedded relay, NATS) would load with it and make the baseline
// heavier than a minimal window; the probe and clock come from
// internal/firstframe, which imports Fyne only.
package main

import (
	"os"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/internal/firstframe"
)

func main() {
	a := app.NewWithID("im.ephemera.minimal-window")
	w := a.NewWindow("Minimal window")
	var content fyne.CanvasObject = widget.NewLabel("Hello from a minimal Fyne window")
	if os.Getenv("EPHEMERA_FIRST_FRAME") == "1" {
		exit := os.Getenv("EPHEMERA_EXIT_AFTER_FIRST_FRAME") == "1"
		content = container.NewStack(content, firstframe.Probe(firstframe.Reporter(exit)))
	}
	w.SetContent(content)
	w.Resize(fyne.NewSize(960, 640))
	w.ShowAndRun()
}
