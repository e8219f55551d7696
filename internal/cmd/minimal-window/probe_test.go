package main

import (
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/gui"
)

// TestProbeAgreesWithGUI: this baseline's probe and clock behave as the
// app's (gui.FirstFrameProbe, gui.SinceProcessStart), so the two are
// measured the same way.
func TestProbeAgreesWithGUI(t *testing.T) {
	test.NewTempApp(t)
	var mine, theirs int
	w := test.NewTempWindow(t, container.NewStack(
		widget.NewLabel("Hello"),
		firstFrameProbe(func() { mine++ }),
		gui.FirstFrameProbe(func() { theirs++ }),
	))
	w.Resize(fyne.NewSize(200, 100))
	if mine != 0 || theirs != 0 {
		t.Fatalf("before the first paint: reported %d (baseline) and %d (gui) times, want 0", mine, theirs)
	}
	for range 2 {
		w.Canvas().Capture()
		if mine != 1 || theirs != 1 {
			t.Fatalf("after painting: reported %d (baseline) and %d (gui) times, want 1", mine, theirs)
		}
	}

	if _, err := procAge(); err != nil {
		t.Fatalf("procAge: %v", err)
	}
	a, b := sinceProcessStart(), gui.SinceProcessStart()
	if d := a - b; d < -30*time.Millisecond || d > 30*time.Millisecond {
		t.Errorf("process age: %v here, %v from gui; want within 30 ms (10 ms clock ticks)", a, b)
	}
	if a <= 0 {
		t.Errorf("process age %v, want > 0", a)
	}
}
