// Package firstframe reports when a Fyne window is first painted, counted
// from the start of the process: the app and its minimal-window baseline
// (internal/cmd/minimal-window) measure their start-up with it, the same
// way. It imports Fyne only, so the baseline stays minimal.
package firstframe

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"os"
	"strconv"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/widget"
)

// Probe returns an invisible object that calls report once, the
// first time the window holding it is painted. Put it anywhere in the
// window's content (main.go stacks it over the screen); it takes no room,
// draws one transparent pixel and takes no input.
//
// The hook is the painter itself: the probe renders a one-pixel
// canvas.Raster, whose generator the GL painter calls when it first draws
// the raster, inside the paint walk of the window's first frame (the
// desktop driver paints a window only once it is visible). Objects() or
// Refresh of a renderer would fire earlier, from layout and focus walks
// that run before anything is painted.
//
// report runs on the Fyne goroutine, before the frame's buffers are
// swapped, so it should only record the time; it may use fyne.Do to act
// after the frame.
func Probe(report func()) fyne.CanvasObject {
	p := &firstFrameProbe{}
	p.raster = canvas.NewRaster(func(w, h int) image.Image {
		p.once.Do(report)
		return image.NewNRGBA(image.Rect(0, 0, max(w, 1), max(h, 1))) // transparent
	})
	p.ExtendBaseWidget(p)
	return p
}

type firstFrameProbe struct {
	widget.BaseWidget
	raster *canvas.Raster
	once   sync.Once
}

func (p *firstFrameProbe) CreateRenderer() fyne.WidgetRenderer {
	return &firstFrameRenderer{objects: []fyne.CanvasObject{p.raster}}
}

type firstFrameRenderer struct{ objects []fyne.CanvasObject }

func (r *firstFrameRenderer) Layout(fyne.Size) {
	r.objects[0].Move(fyne.NewPos(0, 0))
	r.objects[0].Resize(fyne.NewSquareSize(1))
}
func (r *firstFrameRenderer) MinSize() fyne.Size           { return fyne.Size{} }
func (r *firstFrameRenderer) Refresh()                     {}
func (r *firstFrameRenderer) Objects() []fyne.CanvasObject { return r.objects }
func (r *firstFrameRenderer) Destroy()                     {}

// Reporter is the report function both programs give Probe, for
// EPHEMERA_FIRST_FRAME=1: it prints first-frame-ms=N (since the process
// started) to stderr and, with exit, ends the process after that frame.
func Reporter(exit bool) func() {
	return func() {
		fmt.Fprintf(os.Stderr, "first-frame-ms=%d\n", SinceProcessStart().Milliseconds())
		if exit {
			go fyne.Do(func() { os.Exit(0) }) // after this frame
		}
	}
}

// loaded is when this package was initialised: the start time used where
// the process's own start time cannot be read.
var loaded = time.Now()

// SinceProcessStart returns how long ago the process started. On Linux it
// is counted from the kernel's record of the process start (so it
// includes loading the executable, its shared libraries and the Go
// runtime), to the 10 ms of the kernel's clock ticks; elsewhere from the
// initialisation of this package.
func SinceProcessStart() time.Duration {
	if d, err := procAge(); err == nil {
		return d
	}
	return time.Since(loaded)
}

// procAge reads the process's start time (field 22 of /proc/self/stat,
// in clock ticks since boot) and the time since boot (/proc/uptime, on the
// same clock).
func procAge() (time.Duration, error) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	uptime, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing parenthesis, which is field 2's end.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("firstframe: malformed /proc/self/stat")
	}
	fields := bytes.Fields(stat[i+1:]) // fields 3, 4, ...
	if len(fields) < 20 {
		return 0, errors.New("firstframe: short /proc/self/stat")
	}
	ticks, err := strconv.ParseUint(string(fields[22-3]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("firstframe: /proc/self/stat start time: %v", err)
	}
	up := bytes.Fields(uptime)
	if len(up) == 0 {
		return 0, errors.New("firstframe: empty /proc/uptime")
	}
	secs, err := strconv.ParseFloat(string(up[0]), 64)
	if err != nil {
		return 0, fmt.Errorf("firstframe: /proc/uptime: %v", err)
	}
	const clockTicks = 100 // USER_HZ, 100 on every Linux architecture Go supports
	d := time.Duration(secs*float64(time.Second)) - time.Duration(ticks)*time.Second/clockTicks
	if d < 0 {
		d = 0 // both clocks tick in 10 ms steps
	}
	return d, nil
}
