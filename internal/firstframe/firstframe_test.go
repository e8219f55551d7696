package firstframe

import (
	"image/color"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// TestFirstFrameProbe: the probe reports when the window is painted (the
// test driver paints on Capture), not when it is made, laid out or
// walked; once only; and it changes no pixel nor the layout.
func TestProbe(t *testing.T) {
	test.NewTempApp(t)
	calls := 0
	probe := Probe(func() { calls++ })
	bg := canvas.NewRectangle(color.NRGBA{R: 200, G: 30, B: 40, A: 255})
	label := widget.NewLabel("Ephemera")
	content := container.NewStack(bg, label)

	plain := test.NewTempWindow(t, container.NewStack(canvas.NewRectangle(color.NRGBA{R: 200, G: 30, B: 40, A: 255}), widget.NewLabel("Ephemera")))
	plain.Resize(fyne.NewSize(200, 100))
	want := plain.Canvas().Capture()

	w := test.NewTempWindow(t, container.NewStack(content, probe))
	w.Resize(fyne.NewSize(200, 100))
	if got := probe.MinSize(); got != (fyne.Size{}) {
		t.Errorf("probe min size %v, want zero", got)
	}
	test.WidgetRenderer(probe.(fyne.Widget)).Layout(probe.Size())
	if calls != 0 {
		t.Fatalf("probe reported %d times before any paint, want 0", calls)
	}

	got := w.Canvas().Capture()
	if calls != 1 {
		t.Fatalf("probe reported %d times after the first paint, want 1", calls)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("capture is %v with the probe, %v without", got.Bounds(), want.Bounds())
	}
	b := got.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if g, w := color.NRGBAModel.Convert(got.At(x, y)), color.NRGBAModel.Convert(want.At(x, y)); g != w {
				t.Fatalf("pixel (%d,%d) is %v with the probe, %v without", x, y, g, w)
			}
		}
	}

	w.Resize(fyne.NewSize(300, 120))
	label.SetText("Ephemera, resized")
	w.Canvas().Capture()
	if calls != 1 {
		t.Errorf("probe reported %d times after a second paint, want 1", calls)
	}
}

func TestSinceProcessStart(t *testing.T) {
	d, err := procAge()
	if err != nil {
		t.Fatalf("procAge: %v", err) // the tests run on Linux
	}
	// The test binary started before this test and, on any sane machine,
	// within the last ten minutes.
	if d <= 0 && time.Since(loaded) > 50*time.Millisecond {
		t.Errorf("process age %v, want > 0 (package loaded %v ago)", d, time.Since(loaded))
	}
	if d > 10*time.Minute {
		t.Errorf("process age %v, want under 10m", d)
	}
	// It counts from before the Go runtime ran this package's init, to
	// the clock's 10 ms ticks (twice: start and now).
	if since := time.Since(loaded); d < since-20*time.Millisecond {
		t.Errorf("process age %v is less than the time since package init %v", d, since)
	}
	if got := SinceProcessStart(); got < d {
		t.Errorf("SinceProcessStart() = %v after procAge() = %v, want it not smaller", got, d)
	}
}
