package gui

import (
	"errors"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/ephemera-im/ephemera/core/messenger"
)

// fakeService stands in for the messenger: a fixed relay URL and a way to
// emit events as the messenger's goroutine would.
type fakeService struct {
	url     string
	handler func(messenger.Event)
}

func (f *fakeService) RelayURL() string                { return f.url }
func (f *fakeService) OnEvent(h func(messenger.Event)) { f.handler = h }

// emit delivers e from another goroutine, as the messenger does, and waits
// until the handler has returned.
func (f *fakeService) emit(e messenger.Event) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.handler(e)
	}()
	<-done
}

func newTestMainWindow(t *testing.T) (*mainWindow, *fakeService) {
	t.Helper()
	a := test.NewTempApp(t)
	svc := &fakeService{url: "ws://127.0.0.1:7867/v1/ws"}
	w := newMainWindow(a, svc)
	t.Cleanup(func() {
		if !w.closed.Load() { // the test window panics when closed twice
			w.win.Close()
		}
	})
	w.win.Resize(fyne.NewSize(520, 260))
	return w, svc
}

func TestMainWindowShowsRelayAndSubscribes(t *testing.T) {
	w, svc := newTestMainWindow(t)
	if got := w.win.Title(); got != "Ephemera" {
		t.Errorf("title = %q, want Ephemera", got)
	}
	if got, want := w.relay.Text, svc.url; got != want {
		t.Errorf("relay label = %q, want %q", got, want)
	}
	if svc.handler == nil {
		t.Fatal("window did not subscribe to messenger events")
	}
	if got, want := w.status.Text, "Connecting…"; got != want {
		t.Errorf("initial status = %q, want %q", got, want)
	}
	if w.detail.Visible() {
		t.Errorf("error detail visible before any error: %q", w.detail.Text)
	}
}

func TestStatusFollowsConnectionEvents(t *testing.T) {
	w, svc := newTestMainWindow(t)
	refused := errors.New("dial tcp 127.0.0.1:7867: connect: connection refused")
	steps := []struct {
		name       string
		event      messenger.ConnectionChanged
		wantStatus string
		wantDetail string // "" means hidden
	}{
		{"connecting", messenger.ConnectionChanged{State: messenger.StateConnecting}, "Connecting…", ""},
		{"refused", messenger.ConnectionChanged{State: messenger.StateDisconnected, Err: refused}, "Disconnected — retrying", refused.Error()},
		{"retrying keeps the last error", messenger.ConnectionChanged{State: messenger.StateConnecting}, "Connecting…", refused.Error()},
		{"connected", messenger.ConnectionChanged{State: messenger.StateConnected}, "Connected", ""},
		{"dropped", messenger.ConnectionChanged{State: messenger.StateDisconnected, Err: errors.New("EOF")}, "Disconnected — retrying", "EOF"},
		{"closed", messenger.ConnectionChanged{State: messenger.StateClosed}, "Closed", ""},
	}
	for _, s := range steps {
		svc.emit(s.event)
		if got := w.status.Text; got != s.wantStatus {
			t.Errorf("%s: status = %q, want %q", s.name, got, s.wantStatus)
		}
		gotDetail := ""
		if w.detail.Visible() {
			gotDetail = w.detail.Text
		}
		if gotDetail != s.wantDetail {
			t.Errorf("%s: detail = %q, want %q", s.name, gotDetail, s.wantDetail)
		}
	}
}

// The layout of the connected and disconnected screens, as markup goldens in
// testdata/ (regenerate: delete them and run the test, then review).
func TestMainWindowRendersToMarkup(t *testing.T) {
	w, svc := newTestMainWindow(t)
	svc.emit(messenger.ConnectionChanged{State: messenger.StateConnected})
	test.AssertRendersToMarkup(t, "mainwindow_connected.xml", w.win.Canvas())
	svc.emit(messenger.ConnectionChanged{State: messenger.StateDisconnected, Err: errors.New("connection refused")})
	test.AssertRendersToMarkup(t, "mainwindow_disconnected.xml", w.win.Canvas())
}

// Events that arrive while the app shuts down must not touch the widgets.
func TestEventsAfterCloseAreIgnored(t *testing.T) {
	w, svc := newTestMainWindow(t)
	svc.emit(messenger.ConnectionChanged{State: messenger.StateConnected})
	w.win.Close()
	svc.emit(messenger.ConnectionChanged{State: messenger.StateClosed})
	if got, want := w.status.Text, "Connected"; got != want {
		t.Errorf("status after close = %q, want %q (unchanged)", got, want)
	}
}
