package gui

import (
	"sync/atomic"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/assets"
	"github.com/ephemera-im/ephemera/core/messenger"
)

// Icon is the application icon as a Fyne resource.
var Icon fyne.Resource = fyne.NewStaticResource("icon.png", assets.Icon)

// Service is what the main window needs from the messenger;
// *messenger.RelayLink implements it.
type Service interface {
	RelayURL() string
	OnEvent(func(messenger.Event))
}

// mainWindow is the app's first screen: the app's name, the relay in use and
// the live state of the connection to it.
type mainWindow struct {
	win fyne.Window
	svc Service

	relay  *widget.Label
	status *widget.Label // "Connecting…", "Connected", "Disconnected — retrying"
	detail *widget.Label // the error behind the status, if any
	light  *canvas.Circle
	body   *fyne.Container // relaid out when detail shows or hides

	// closed is set when the window closes. Events can still arrive after
	// that, while the app shuts down (the messenger reports its own
	// closing), when fyne.Do no longer reaches a Fyne goroutine.
	closed atomic.Bool
}

// NewMainWindow makes the main window for svc and subscribes it to svc's
// events (replacing any other subscriber). Start the messenger after this,
// so that no state change is missed. It is the app's master window: closing
// it quits the app; to quit from code, close the window (not App.Quit), so
// that it stops showing events first.
func NewMainWindow(a fyne.App, svc Service) fyne.Window {
	w := newMainWindow(a, svc)
	return w.win
}

func newMainWindow(a fyne.App, svc Service) *mainWindow {
	w := &mainWindow{win: a.NewWindow("Ephemera"), svc: svc}
	w.win.SetContent(w.buildUI())
	w.win.Resize(fyne.NewSize(520, 260))
	w.win.SetMaster()
	w.win.SetOnClosed(w.onClosed)
	w.showState(messenger.StateConnecting, nil)
	svc.OnEvent(w.onEvent)
	return w
}

func (w *mainWindow) buildUI() fyne.CanvasObject {
	icon := canvas.NewImageFromResource(Icon)
	icon.FillMode = canvas.ImageFillContain
	icon.SetMinSize(fyne.NewSquareSize(64))

	title := widget.NewLabelWithStyle("Ephemera", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameHeadingText
	tagline := widget.NewLabelWithStyle("Private conversations that disappear", fyne.TextAlignLeading, fyne.TextStyle{Italic: true})

	w.relay = widget.NewLabel(w.svc.RelayURL())
	w.relay.Selectable = true
	w.relay.Truncation = fyne.TextTruncateEllipsis

	w.light = canvas.NewCircle(theme.Color(theme.ColorNameWarning))
	light := container.NewGridWrap(fyne.NewSquareSize(12), w.light)
	w.status = widget.NewLabel("")
	w.detail = widget.NewLabel("")
	w.detail.Wrapping = fyne.TextWrapWord
	w.detail.Importance = widget.DangerImportance
	w.detail.Hide()

	form := widget.NewForm(
		widget.NewFormItem("Relay", w.relay),
		widget.NewFormItem("Connection", container.NewBorder(nil, nil, container.NewCenter(light), nil, w.status)),
	)
	header := container.NewBorder(nil, nil, icon, nil,
		container.NewVBox(title, tagline))
	w.body = container.NewVBox(header, widget.NewSeparator(), form, w.detail)
	return container.NewPadded(w.body)
}

// onEvent receives messenger events on a messenger goroutine.
func (w *mainWindow) onEvent(e messenger.Event) {
	switch e := e.(type) {
	case messenger.ConnectionChanged:
		onUI(func() {
			if !w.closed.Load() {
				w.showState(e.State, e.Err)
			}
		})
	}
}

func (w *mainWindow) onClosed() { w.closed.Store(true) }

// showState shows a connection state; it runs on the Fyne goroutine. The
// last error stays visible while a new attempt is connecting, so that the
// window does not flicker between the two during retries; a connection or
// closing clears it.
func (w *mainWindow) showState(s messenger.ConnState, err error) {
	text, light := statusText(s)
	w.status.SetText(text)
	w.light.FillColor = theme.Color(light)
	w.light.Refresh()
	wasVisible := w.detail.Visible()
	switch {
	case err != nil:
		w.detail.SetText(err.Error())
		w.detail.Show()
	case s != messenger.StateConnecting:
		w.detail.SetText("")
		w.detail.Hide()
	}
	if w.detail.Visible() != wasVisible {
		w.body.Refresh()
	}
}

// statusText is the text and indicator colour shown for a state.
func statusText(s messenger.ConnState) (string, fyne.ThemeColorName) {
	switch s {
	case messenger.StateConnected:
		return "Connected", theme.ColorNameSuccess
	case messenger.StateConnecting:
		return "Connecting…", theme.ColorNameWarning
	case messenger.StateClosed:
		return "Closed", theme.ColorNameDisabled
	}
	return "Disconnected — retrying", theme.ColorNameError
}
