package main

// The same first-frame probe and process clock as gui/firstframe.go (see
// the comments there), repeated so that this binary links Fyne only.
// probe_test.go checks that the two agree.

import (
	"bytes"
	"errors"
	"image"
	"os"
	"strconv"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/widget"
)

// firstFrameProbe: a one-pixel transparent raster whose generator the
// painter calls when it first draws the window.
func firstFrameProbe(report func()) fyne.CanvasObject {
	p := &probe{}
	p.raster = canvas.NewRaster(func(w, h int) image.Image {
		p.once.Do(report)
		return image.NewNRGBA(image.Rect(0, 0, max(w, 1), max(h, 1)))
	})
	p.ExtendBaseWidget(p)
	return p
}

type probe struct {
	widget.BaseWidget
	raster *canvas.Raster
	once   sync.Once
}

func (p *probe) CreateRenderer() fyne.WidgetRenderer {
	return &probeRenderer{[]fyne.CanvasObject{p.raster}}
}

type probeRenderer struct{ objects []fyne.CanvasObject }

func (r *probeRenderer) Layout(fyne.Size) {
	r.objects[0].Move(fyne.NewPos(0, 0))
	r.objects[0].Resize(fyne.NewSquareSize(1))
}
func (r *probeRenderer) MinSize() fyne.Size           { return fyne.Size{} }
func (r *probeRenderer) Refresh()                     {}
func (r *probeRenderer) Objects() []fyne.CanvasObject { return r.objects }
func (r *probeRenderer) Destroy()                     {}

var loaded = time.Now()

// sinceProcessStart: /proc/uptime minus the start time in /proc/self/stat
// (field 22, clock ticks since boot).
func sinceProcessStart() time.Duration {
	if d, err := procAge(); err == nil {
		return d
	}
	return time.Since(loaded)
}

func procAge() (time.Duration, error) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	uptime, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/self/stat")
	}
	fields := bytes.Fields(stat[i+1:])
	up := bytes.Fields(uptime)
	if len(fields) < 20 || len(up) == 0 {
		return 0, errors.New("short /proc/self/stat or /proc/uptime")
	}
	ticks, err := strconv.ParseUint(string(fields[22-3]), 10, 64)
	if err != nil {
		return 0, err
	}
	secs, err := strconv.ParseFloat(string(up[0]), 64)
	if err != nil {
		return 0, err
	}
	return max(0, time.Duration(secs*float64(time.Second))-time.Duration(ticks)*time.Second/100), nil
}
