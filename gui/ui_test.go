package gui

// Tests of the app controller and its screens: onboarding, unlock,
// sending, the timer picker, burn-on-read, auto-lock, notifications. They
// drive the real core/messenger against a real relay embedded in the test
// process (alice's profile runs it; bob's profile uses it).

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/messenger"
)

// uiClock is an injectable clock: the real time plus what Add added.
type uiClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *uiClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.offset) }
func (c *uiClock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// uiHarness is a UI in a test app, with a way to act on it without racing
// the goroutines that report back to it.
type uiHarness struct {
	t       testing.TB
	u       *UI
	clock   *uiClock
	mu      sync.Mutex
	browsed []string
}

func uiNew(t testing.TB, opts Options) *uiHarness {
	t.Helper()
	h := uiNewUnmanaged(t, opts)
	t.Cleanup(func() {
		h.act(func() { h.u.Close() })
	})
	return h
}

// uiNewUnmanaged is uiNew without closing the UI at the end of the test.
func uiNewUnmanaged(t testing.TB, opts Options) *uiHarness {
	t.Helper()
	a := test.NewApp()
	h := &uiHarness{t: t, clock: &uiClock{}}
	opts.InsecureTestKDF, opts.NoSync = true, true
	if opts.Now == nil {
		opts.Now = h.clock.Now
	}
	opts.Browse = func(u *url.URL) error {
		h.mu.Lock()
		h.browsed = append(h.browsed, u.String())
		h.mu.Unlock()
		return nil
	}
	h.u = New(a, opts)
	h.act(func() { h.u.win.Resize(fyne.NewSize(900, 600)) })
	return h
}

// act runs f as if on the Fyne goroutine.
func (h *uiHarness) act(f func()) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	f()
}

// waitFor polls cond (under the UI's lock) for up to 20 seconds.
func (h *uiHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		h.act(func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; window shows:\n%s", what, h.dump())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dump is the text the window shows, overlays (dialogs) included.
func (h *uiHarness) dump() string {
	var b strings.Builder
	c := h.u.win.Canvas()
	DumpTree(&b, c.Content())
	for _, o := range c.Overlays().List() {
		DumpTree(&b, o)
	}
	return b.String()
}

func (h *uiHarness) shows(s string) bool { return strings.Contains(h.dump(), s) }

// uiProfile creates a profile; relay "" runs an embedded relay.
func uiProfile(t testing.TB, name, relay string) (*messenger.Messenger, messenger.Config) {
	t.Helper()
	return uiProfileIn(t, t.TempDir(), name, relay)
}

// uiProfileIn creates a profile in dir.
func uiProfileIn(t testing.TB, dir, name, relay string) (*messenger.Messenger, messenger.Config) {
	t.Helper()
	cfg := messenger.Config{Dir: dir, Passphrase: []byte(name + " has a long passphrase"), Pseudonym: name,
		RelayURL: relay, InsecureTestKDF: true, NoSync: true}
	m, err := messenger.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, cfg
}

// uiPair makes alice (running the relay) and bob, who know each other.
func uiPair(t testing.TB) (alice, bob *messenger.Messenger) {
	t.Helper()
	alice, bob = uiPairIn(t, t.TempDir(), t.TempDir())
	t.Cleanup(func() { alice.Close(); bob.Close() })
	return alice, bob
}

// uiPairUnmanaged is uiPair in folders that outlive the test, without
// closing the profiles at the end (for a benchmark's shared profile).
func uiPairUnmanaged(t testing.TB) (alice, bob *messenger.Messenger) {
	return uiPairIn(t, uiDir(t), uiDir(t))
}

// uiPairIn is uiPair with the profiles in the given folders.
func uiPairIn(t testing.TB, dirA, dirB string) (alice, bob *messenger.Messenger) {
	t.Helper()
	alice, _ = uiProfileIn(t, dirA, "alice", "")
	bob, _ = uiProfileIn(t, dirB, "bob", alice.RelayURL())
	uiConnect(t, alice, bob)
	return alice, bob
}

// uiDir is a new folder that outlives the test (a benchmark's shared
// profile, left in the temporary folder).
func uiDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "ephemera-gui-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// uiConnect makes a and b contacts of each other through an invite.
func uiConnect(t testing.TB, a, b *messenger.Messenger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inv, err := a.CreateInvite(ctx, messenger.InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AcceptInvite(ctx, inv.Code); err != nil {
		t.Fatal(err)
	}
	for {
		if err := a.Sync(ctx, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := b.Sync(ctx, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		ca, _ := a.FindContact(b.Pseudonym())
		cb, _ := b.FindContact(a.Pseudonym())
		if ca.ID != "" && cb.ID != "" && !ca.Pending && !cb.Pending {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("contacts did not pair")
		}
	}
}

// uiWaitMessage waits for a message at m whose text contains s.
func uiWaitMessage(t *testing.T, m *messenger.Messenger, contact, s string) messenger.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h, err := m.History(contact, 0, 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range h {
			if strings.Contains(msg.Text, s) {
				return msg
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("%s never received a message with %q", m.Pseudonym(), s)
	return messenger.Message{}
}

func TestOnboardingCreatesProfile(t *testing.T) {
	dir := t.TempDir()
	h := uiNew(t, Options{Dir: dir})
	if got := h.u.Screen(); got != "onboarding" {
		t.Fatalf("empty folder shows %q, want onboarding", got)
	}
	s := h.u.ob
	// No name: a clear error, nothing created.
	h.act(func() { test.Tap(s.create) })
	if !s.errMsg.Visible() || !strings.Contains(s.errMsg.Text, "name") {
		t.Errorf("no name gives error %q (visible %v)", s.errMsg.Text, s.errMsg.Visible())
	}
	// Passphrases that differ.
	h.act(func() {
		test.Type(s.pseudonym, "Zoë")
		test.Type(s.pass.pass, "violet tractor mango seventeen")
		test.Type(s.pass.confirm, "violet tractor mango seventeen!")
		test.Tap(s.create)
	})
	if !s.errMsg.Visible() || !strings.Contains(s.errMsg.Text, "differ") {
		t.Errorf("mismatched passphrases give error %q", s.errMsg.Text)
	}
	// A relay address that is not one.
	h.act(func() {
		s.pass.confirm.SetText("violet tractor mango seventeen")
		s.relayPick.SetSelected(relayRemote)
		s.relayURL.SetText("ftp://example.org")
		test.Tap(s.create)
	})
	if !s.errMsg.Visible() || !strings.Contains(s.errMsg.Text, "relay") {
		t.Errorf("bad relay gives error %q", s.errMsg.Text)
	}
	if messenger.HasProfile(dir) {
		t.Fatal("a profile was created from an invalid form")
	}
	h.act(func() {
		s.relayPick.SetSelected(relayLocal)
		test.Tap(s.create)
	})
	h.waitFor("the main screen", func() bool { return h.u.Screen() == "main" })
	if !messenger.HasProfile(dir) {
		t.Fatal("no profile on disk after onboarding")
	}
	h.act(func() {
		if got := h.u.m.Pseudonym(); got != "Zoë" {
			t.Errorf("pseudonym = %q", got)
		}
		if !h.shows("Invite a friend") {
			t.Errorf("main screen of a new profile does not offer an invite:\n%s", h.dump())
		}
	})
}

func TestUnlockWrongThenRightPassphrase(t *testing.T) {
	m, cfg := uiProfile(t, "carol", "ws://127.0.0.1:1/v1/ws")
	m.Close()
	h := uiNew(t, Options{Dir: cfg.Dir})
	if got := h.u.Screen(); got != "unlock" {
		t.Fatalf("profile folder shows %q, want unlock", got)
	}
	s := h.u.ul
	if h.u.win.Canvas().Focused() != s.pass {
		t.Error("the passphrase entry does not have the focus")
	}
	h.act(func() {
		test.Type(s.pass, "not the passphrase")
		s.pass.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	h.waitFor("the wrong-passphrase message", func() bool { return s.errMsg.Visible() })
	h.act(func() {
		if !strings.Contains(s.errMsg.Text, "Wrong passphrase") || h.u.Screen() != "unlock" {
			t.Errorf("wrong passphrase: screen %q, message %q", h.u.Screen(), s.errMsg.Text)
		}
		if s.pass.Text != "" || s.pass.Disabled() {
			t.Errorf("entry after a wrong passphrase: text %q, disabled %v", s.pass.Text, s.pass.Disabled())
		}
		test.Type(s.pass, string(cfg.Passphrase))
		test.Tap(s.button)
	})
	h.waitFor("the main screen", func() bool { return h.u.Screen() == "main" })
	h.act(func() {
		if h.u.m == nil || h.u.m.Pseudonym() != "carol" {
			t.Error("unlocked the wrong profile")
		}
	})
}

// A damaged vault.db is a clear message on the unlock screen, naming the
// file and saying to restore a backup, and the file is left as it was.
func TestUnlockDamagedVault(t *testing.T) {
	m, cfg := uiProfile(t, "dora", "ws://127.0.0.1:1/v1/ws")
	m.Close()
	path := filepath.Join(cfg.Dir, "vault.db")
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every page but the two meta pages: the root and all below it.
	for i := 2 * os.Getpagesize(); i < len(db); i++ {
		db[i] = 0x5a
	}
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	h := uiNew(t, Options{Dir: cfg.Dir})
	s := h.u.ul
	h.act(func() {
		test.Type(s.pass, string(cfg.Passphrase))
		test.Tap(s.button)
	})
	h.waitFor("the error message", func() bool { return s.errMsg.Visible() })
	h.act(func() {
		if !strings.Contains(s.errMsg.Text, "The vault file is damaged; restore a backup") || !strings.Contains(s.errMsg.Text, "vault.db") {
			t.Errorf("damaged vault.db: message %q", s.errMsg.Text)
		}
		if h.u.Screen() != "unlock" {
			t.Errorf("screen %q, want unlock", h.u.Screen())
		}
	})
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, db) {
		t.Errorf("the damaged vault.db was changed (%v)", err)
	}
}

func TestSendMessageAndComposeKeys(t *testing.T) {
	alice, bob := uiPair(t)
	h := uiNew(t, Options{Messenger: alice})
	var v *conversationView
	h.act(func() { v = h.u.main.conv })
	if v == nil || v.contact.Name != "bob" {
		t.Fatal("the most recent conversation is not open")
	}
	// Shift+Enter breaks the line; Enter sends.
	h.act(func() {
		h.u.win.Canvas().Focus(v.compose)
		test.Type(v.compose, "Hello Bob,")
		v.compose.KeyDown(&fyne.KeyEvent{Name: "LeftShift"})
		v.compose.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
		v.compose.KeyUp(&fyne.KeyEvent{Name: "LeftShift"})
		test.Type(v.compose, "lunch at noon?")
	})
	h.act(func() {
		if got := v.compose.Text; got != "Hello Bob,\nlunch at noon?" {
			t.Errorf("compose after Shift+Enter = %q", got)
		}
		v.compose.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	})
	aliceAtBob, _ := bob.FindContact("alice")
	got := uiWaitMessage(t, bob, aliceAtBob.ID, "lunch at noon?")
	if got.Text != "Hello Bob,\nlunch at noon?" {
		t.Errorf("bob received %q", got.Text)
	}
	h.waitFor("alice's bubble", func() bool { return h.shows("lunch at noon?") && v.compose.Text == "" })

	// bob answers; the open conversation shows it.
	if _, err := bob.SendText(context.Background(), aliceAtBob.ID, "Noon works, see you", messenger.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("bob's answer", func() bool { return h.shows("Noon works, see you") })
}

func TestTimerPickerSetsConversationTimer(t *testing.T) {
	alice, bob := uiPair(t)
	h := uiNew(t, Options{Messenger: alice})
	var v *conversationView
	h.act(func() {
		v = h.u.main.conv
		if v.timerBtn.Text != "Timer off" {
			t.Errorf("timer button = %q, want Timer off", v.timerBtn.Text)
		}
		test.Tap(v.timerBtn)
	})
	p := h.u.main.picker
	if p == nil {
		t.Fatal("no timer picker")
	}
	h.act(func() {
		p.choice.SetSelected("5 minutes")
		p.onSet(true)
	})
	h.waitFor("the header to show 5m", func() bool { return v.timerBtn.Text == "5m" })
	c, _ := alice.FindContact("bob")
	if c.Timer != 5*time.Minute || c.TimerBurn {
		t.Errorf("alice's timer = %v burn %v", c.Timer, c.TimerBurn)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cb, _ := bob.FindContact("alice")
		if cb.Timer == 5*time.Minute {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's side never got the timer: %v", cb.Timer)
		}
		time.Sleep(30 * time.Millisecond)
	}
	// A custom timer that is not one is refused with a message.
	h.act(func() {
		test.Tap(v.timerBtn)
		p = h.u.main.picker
		p.choice.SetSelected(timerCustom)
		p.custom.SetText("soon")
		if _, err := p.value(); err == nil {
			t.Error("custom timer \"soon\" accepted")
		}
		p.custom.SetText("90m")
		if d, err := p.value(); err != nil || d != 90*time.Minute {
			t.Errorf("custom 90m = %v, %v", d, err)
		}
	})
	// A new message gets the timer and shows a countdown.
	h.act(func() {
		test.Type(v.compose, "this one disappears")
		test.Tap(v.send)
	})
	h.waitFor("the countdown", func() bool { return h.shows("this one disappears") && (h.shows("⏱ 5m 00s") || h.shows("⏱ 4m 59s")) })
}

func TestBurnOnReadHiddenUntilShown(t *testing.T) {
	alice, bob := uiPair(t)
	h := uiNew(t, Options{Messenger: alice})
	aliceAtBob, _ := bob.FindContact("alice")
	if _, err := bob.SendText(context.Background(), aliceAtBob.ID, "secret meeting place",
		messenger.SendOptions{Burn: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the hidden message", func() bool { return h.shows("Burn-on-read message") })
	var btn *widget.Button
	h.act(func() {
		if h.shows("secret meeting place") {
			t.Error("burn-on-read text shown before it was tapped")
		}
		for _, o := range uiAll(h.u.win.Canvas().Content()) {
			if b, ok := o.(*widget.Button); ok && strings.HasPrefix(b.Text, "Burn-on-read message") {
				btn = b
			}
		}
	})
	if btn == nil {
		t.Fatal("no button to show the message")
	}
	h.act(func() { test.Tap(btn) })
	h.waitFor("the revealed text with a countdown", func() bool {
		return h.shows("secret meeting place") && (h.shows("⏱ 30s") || h.shows("⏱ 29s"))
	})
	h.act(func() { h.clock.Add(10 * time.Second); h.u.main.conv.tick() })
	h.waitFor("the countdown to move", func() bool { return h.shows("⏱ 20s") || h.shows("⏱ 19s") })
}

func TestAutoLockAfterIdleAndShortcut(t *testing.T) {
	alice, cfg := uiProfile(t, "dora", "ws://127.0.0.1:1/v1/ws")
	alice.Close()
	h := uiNew(t, Options{Dir: cfg.Dir})
	h.act(func() {
		test.Type(h.u.ul.pass, string(cfg.Passphrase))
		test.Tap(h.u.ul.button)
	})
	h.waitFor("the main screen", func() bool { return h.u.Screen() == "main" })
	h.act(func() {
		h.clock.Add(messenger.DefaultAutoLock - time.Second)
		h.u.checkIdle()
		if h.u.Screen() != "main" {
			t.Fatal("locked before the idle time")
		}
		test.Type(h.u.main.filter, "d") // input postpones the lock
		h.clock.Add(2 * time.Second)
		h.u.checkIdle()
		if h.u.Screen() != "main" {
			t.Fatal("input did not postpone the lock")
		}
		h.clock.Add(messenger.DefaultAutoLock)
		h.u.checkIdle()
		if h.u.Screen() != "unlock" || h.u.m != nil || h.u.main != nil {
			t.Fatalf("after the idle time: screen %q, messenger open %v", h.u.Screen(), h.u.m != nil)
		}
		if h.shows("dora") {
			t.Errorf("locked window still shows the profile:\n%s", h.dump())
		}
		test.Type(h.u.ul.pass, string(cfg.Passphrase))
		test.Tap(h.u.ul.button)
	})
	h.waitFor("the main screen again", func() bool { return h.u.Screen() == "main" })
	// Ctrl+L locks.
	h.act(func() { uiShortcut(h.u.win, fyne.KeyL) })
	h.act(func() {
		if h.u.Screen() != "unlock" || h.u.m != nil {
			t.Errorf("Ctrl+L: screen %q", h.u.Screen())
		}
	})
}

// uiShortcut types Ctrl (Cmd on macOS) + key on the window's canvas.
func uiShortcut(w fyne.Window, key fyne.KeyName) {
	w.Canvas().(fyne.Shortcutable).TypedShortcut(&desktop.CustomShortcut{KeyName: key, Modifier: fyne.KeyModifierShortcutDefault})
}

// uiAll lists every object under o, overlays not included.
func uiAll(o fyne.CanvasObject) []fyne.CanvasObject {
	out := []fyne.CanvasObject{o}
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			out = append(out, uiAll(c)...)
		}
	case fyne.Widget:
		r := test.WidgetRenderer(x)
		for _, c := range r.Objects() {
			out = append(out, uiAll(c)...)
		}
	}
	return out
}
