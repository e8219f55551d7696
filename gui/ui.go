package gui

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"github.com/ephemera-im/ephemera/assets"
	"github.com/ephemera-im/ephemera/core/messenger"
)

// Icon is the application icon as a Fyne resource.
var Icon fyne.Resource = fyne.NewStaticResource("icon.png", assets.Icon)

// Options configure the desktop app.
type Options struct {
	// Dir is the profile folder (messenger.DefaultDir() in the app).
	Dir string
	// Messenger is an already open profile: the app skips onboarding and
	// unlock (make demo) and owns it afterwards (closing it on lock).
	Messenger *messenger.Messenger
	// RelayURL is the relay proposed on first run ("" proposes the
	// embedded local relay).
	RelayURL string
	// Title is the window title; "Ephemera" by default.
	Title string
	// Now replaces the clock (tests inject one to check auto-lock and
	// countdowns).
	Now    func() time.Time
	Logger *slog.Logger
	// InsecureTestKDF and NoSync are passed to the messenger: tests only.
	InsecureTestKDF, NoSync bool
	HTTPClient              *http.Client
	// Browse hands a URL to the system browser; fyne.App.OpenURL by
	// default (tests record it instead).
	Browse func(*url.URL) error
}

// UI is the app's window and the profile shown in it. Its methods run on
// the Fyne goroutine, except where noted.
type UI struct {
	app  fyne.App
	win  fyne.Window
	opts Options

	// m is the open profile; nil while locked.
	m    *messenger.Messenger
	sub  *messenger.Subscription
	main *mainScreen // while unlocked

	lastInput  time.Time // for auto-lock
	background bool      // the app is not in the foreground
	lockStop   chan struct{}

	// screen is the name of what the window shows: "onboarding",
	// "unlock" or "main" (for tests and the smoke test's dump).
	screen string
	ob     *onboardingScreen // while shown
	ul     *unlockScreen     // while shown

	closeOnce sync.Once

	// mu is held by every callback that comes back from a goroutine (see
	// do). On a real display they all run on the one Fyne goroutine, so
	// it is never contended; Fyne's test driver runs them on the calling
	// goroutine instead, and tests take mu to act on the window without
	// racing them.
	mu sync.Mutex
}

// do runs f on the Fyne goroutine, holding u.mu; for use from goroutines.
func (u *UI) do(f func()) {
	fyne.Do(func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		f()
	})
}

// New makes the app's window: onboarding when opts.Dir holds no profile,
// unlock when it does, or the main screen for opts.Messenger. Show it with
// Window().ShowAndRun().
func New(a fyne.App, opts Options) *UI {
	if opts.Title == "" {
		opts.Title = "Ephemera"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Browse == nil {
		opts.Browse = a.OpenURL
	}
	u := &UI{app: a, opts: opts}
	// The event loop may start before New returns (an open profile):
	// it waits for the window to be built.
	u.mu.Lock()
	defer u.mu.Unlock()
	a.Settings().SetTheme(newTheme(a.Preferences().StringWithFallback(prefTheme, themeSystem)))
	u.win = a.NewWindow(opts.Title)
	u.win.SetIcon(Icon)
	u.win.SetMaster()
	w := a.Preferences().FloatWithFallback(prefWidth, 960)
	h := a.Preferences().FloatWithFallback(prefHeight, 640)
	u.win.Resize(fyne.NewSize(float32(max(w, 480)), float32(max(h, 360))))
	u.win.SetCloseIntercept(func() { u.Close(); u.win.Close() })
	u.installShortcuts()
	u.installTray()
	a.Lifecycle().SetOnExitedForeground(func() { u.background = true })
	a.Lifecycle().SetOnEnteredForeground(func() { u.background = false; u.touch() })
	switch {
	case opts.Messenger != nil:
		u.unlocked(opts.Messenger)
	case messenger.HasProfile(opts.Dir):
		u.showUnlock()
	default:
		u.showOnboarding()
	}
	return u
}

// Preference keys: only harmless display settings live in Fyne's plain
// preferences file, never anything about the user or their contacts.
const (
	prefTheme  = "theme"
	prefWidth  = "window.width"
	prefHeight = "window.height"
)

// Window is the app's main window.
func (u *UI) Window() fyne.Window { return u.win }

// Screen names what the window shows: "onboarding", "unlock" or "main".
func (u *UI) Screen() string { return u.screen }

// Close locks the profile (closing the messenger, which wipes its keys)
// and remembers the window size. It is idempotent; the window stays open
// (the caller closes it to quit).
func (u *UI) Close() {
	u.closeOnce.Do(func() {
		s := u.win.Canvas().Size()
		if s.Width > 0 && s.Height > 0 {
			u.app.Preferences().SetFloat(prefWidth, float64(s.Width))
			u.app.Preferences().SetFloat(prefHeight, float64(s.Height))
		}
		u.lockProfile()
	})
}

// Lock locks the profile and shows the unlock screen in place of every
// screen that showed decrypted content; the vault's keys are wiped.
func (u *UI) Lock() {
	if u.m == nil {
		return
	}
	u.lockProfile()
	u.showUnlock()
}

// lockProfile closes the messenger and drops every screen holding
// decrypted content. It calls no widget: Close runs it when the app may
// have quit and the window be gone.
func (u *UI) lockProfile() {
	if u.lockStop != nil {
		close(u.lockStop)
		u.lockStop = nil
	}
	if u.main != nil {
		u.main.close()
		u.main = nil
	}
	if u.sub != nil {
		u.sub.Close()
		u.sub = nil
	}
	if u.m != nil {
		if err := u.m.Close(); err != nil {
			u.opts.Logger.Warn("closing the profile", "err", err)
		}
		u.m = nil
	}
}

// unlocked shows the main screen for an open profile and starts the
// event loop and the auto-lock timer.
func (u *UI) unlocked(m *messenger.Messenger) {
	u.ob, u.ul = nil, nil
	u.m = m
	u.touch()
	u.sub = m.Subscribe(1024)
	u.main = newMainScreen(u)
	u.screen = "main"
	u.win.SetContent(u.main.content)
	u.main.start()
	go u.eventLoop(u.sub)
	u.startAutoLock()
	// Opening left garbage (the first pages, the relays' catch-up): give
	// it back to the system once that settles, not minutes later.
	time.AfterFunc(2*time.Second, openedProfile)
	if canHideFromCapture && u.m.Settings().HideFromCapture {
		hideFromCapture(u.win, true)
	}
}

// eventLoop hands the messenger's events to the Fyne goroutine; it runs
// until the subscription ends (on lock).
func (u *UI) eventLoop(sub *messenger.Subscription) {
	for e := range sub.Events() {
		u.do(func() {
			if u.sub == sub && u.main != nil {
				u.main.onEvent(e)
			}
		})
	}
}

// touch records user input, which postpones auto-lock.
func (u *UI) touch() { u.lastInput = u.opts.Now() }

// startAutoLock checks for idleness every few seconds while unlocked.
func (u *UI) startAutoLock() {
	stop := make(chan struct{})
	u.lockStop = stop
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				u.do(func() {
					if u.lockStop == stop {
						u.checkIdle()
					}
				})
			}
		}
	}()
}

// checkIdle locks when the user has been idle for the auto-lock time.
func (u *UI) checkIdle() {
	if u.m == nil {
		return
	}
	d := u.m.Settings().AutoLockAfter()
	if d > 0 && u.opts.Now().Sub(u.lastInput) >= d {
		u.opts.Logger.Info("auto-lock after idle time", "idle", d)
		u.Lock()
	}
}

// openedProfile runs on the goroutine that opened or created a profile:
// stretching the passphrase (64 MiB by default) left that much garbage,
// which goes back to the system now rather than minutes later.
func openedProfile() { debug.FreeOSMemory() }

// messengerConfig is the profile configuration for a passphrase.
func (u *UI) messengerConfig(pass []byte) messenger.Config {
	return messenger.Config{Dir: u.opts.Dir, Passphrase: pass, Now: u.opts.Now, Logger: u.opts.Logger,
		InsecureTestKDF: u.opts.InsecureTestKDF, NoSync: u.opts.NoSync, HTTPClient: u.opts.HTTPClient}
}

// installShortcuts registers the window's keyboard shortcuts: Ctrl+I a
// new invite, Ctrl+L lock, Ctrl+PageDown/PageUp the next and previous
// conversation, Ctrl+K the compose field, Ctrl+, the settings.
func (u *UI) installShortcuts() {
	add := func(k fyne.KeyName, mod fyne.KeyModifier, f func(*mainScreen)) {
		u.win.Canvas().AddShortcut(&desktop.CustomShortcut{KeyName: k, Modifier: mod}, func(fyne.Shortcut) {
			u.touch()
			if u.main != nil {
				f(u.main)
			}
		})
	}
	add(fyne.KeyI, fyne.KeyModifierShortcutDefault, func(s *mainScreen) { s.invite() })
	add(fyne.KeyL, fyne.KeyModifierShortcutDefault, func(*mainScreen) { u.Lock() })
	add(fyne.KeyPageDown, fyne.KeyModifierShortcutDefault, func(s *mainScreen) { s.selectRelative(1) })
	add(fyne.KeyPageUp, fyne.KeyModifierShortcutDefault, func(s *mainScreen) { s.selectRelative(-1) })
	add(fyne.KeyK, fyne.KeyModifierShortcutDefault, func(s *mainScreen) { s.focusCompose() })
	add(fyne.KeyComma, fyne.KeyModifierShortcutDefault, func(s *mainScreen) { s.settings() })
	// Keys typed while nothing has the focus count as input too.
	u.win.Canvas().SetOnTypedKey(func(*fyne.KeyEvent) { u.touch() })
	u.win.Canvas().SetOnTypedRune(func(rune) { u.touch() })
}

// trayAvailable says whether a system tray can be used. On Linux the tray
// speaks D-Bus, and Fyne's tray library crashes on quit when no session
// bus was reachable, so without one there is no tray.
func trayAvailable() bool {
	if runtime.GOOS != "linux" && runtime.GOOS != "freebsd" && runtime.GOOS != "openbsd" && runtime.GOOS != "netbsd" {
		return true
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return true
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "bus")); err == nil {
			return true
		}
	}
	return false
}

// installTray puts a menu in the system tray where there is one.
func (u *UI) installTray() {
	d, ok := u.app.(desktop.App)
	if !ok || !trayAvailable() {
		return
	}
	d.SetSystemTrayIcon(Icon)
	d.SetSystemTrayMenu(fyne.NewMenu("Ephemera",
		fyne.NewMenuItem("Show", func() { u.win.Show(); u.win.RequestFocus() }),
		fyne.NewMenuItem("Lock", u.Lock),
	)) // Fyne adds Quit.
}

// notify tells the user a message arrived: only that, unless the user
// chose to see the sender and the text.
func (u *UI) notify(from, text string) {
	if u.m == nil {
		return
	}
	s := u.m.Settings()
	if s.NotifyOff {
		return
	}
	n := fyne.NewNotification("Ephemera", "New message")
	if s.NotifyContent {
		n = fyne.NewNotification(from, text)
	}
	u.app.SendNotification(n)
}

// runAsync runs f off the Fyne goroutine and then done on it.
func runAsync[T any](u *UI, f func(context.Context) (T, error), done func(T, error)) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		v, err := f(ctx)
		u.do(func() { done(v, err) })
	}()
}

// onUI runs f on the Fyne goroutine. Call it from worker goroutines only;
// never from a widget or driver callback, which already runs there.
func onUI(f func()) { fyne.Do(f) }
