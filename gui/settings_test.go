package gui

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/ephemera-im/ephemera/core/links"
	"github.com/ephemera-im/ephemera/core/messenger"
)

// recordingPrefs are the app's real preferences, noting every key written.
type recordingPrefs struct {
	fyne.Preferences
	written []string
}

func (p *recordingPrefs) note(key string) {
	if !slices.Contains(p.written, key) {
		p.written = append(p.written, key)
	}
}

func (p *recordingPrefs) SetBool(k string, v bool)       { p.note(k); p.Preferences.SetBool(k, v) }
func (p *recordingPrefs) SetBoolList(k string, v []bool) { p.note(k); p.Preferences.SetBoolList(k, v) }
func (p *recordingPrefs) SetFloat(k string, v float64)   { p.note(k); p.Preferences.SetFloat(k, v) }
func (p *recordingPrefs) SetFloatList(k string, v []float64) {
	p.note(k)
	p.Preferences.SetFloatList(k, v)
}
func (p *recordingPrefs) SetInt(k string, v int)       { p.note(k); p.Preferences.SetInt(k, v) }
func (p *recordingPrefs) SetIntList(k string, v []int) { p.note(k); p.Preferences.SetIntList(k, v) }
func (p *recordingPrefs) SetString(k string, v string) { p.note(k); p.Preferences.SetString(k, v) }
func (p *recordingPrefs) SetStringList(k string, v []string) {
	p.note(k)
	p.Preferences.SetStringList(k, v)
}

type settingsFixture struct {
	win    fyne.Window
	m      *messenger.Messenger
	dir    string
	s      *settingsScreen
	prefs  *recordingPrefs
	themes []string // modes passed to applyTheme
}

func newSettingsFixture(t *testing.T) *settingsFixture {
	t.Helper()
	a := test.NewTempApp(t)
	f := &settingsFixture{prefs: &recordingPrefs{Preferences: a.Preferences()}}
	f.m, f.dir = newDialogTestProfile(t, "alice", "")
	f.win = test.NewTempWindow(t, nil)
	f.s = newSettings(f.win, f.m, f.prefs, func(mode string) { f.themes = append(f.themes, mode) })
	f.win.SetContent(f.s.buildUI())
	f.win.Resize(fyne.NewSize(600, 800))
	return f
}

func TestSettingsControlsSaveAtOnce(t *testing.T) {
	f := newSettingsFixture(t)
	s := f.s

	// The controls show the defaults of a new profile.
	for _, c := range []struct{ name, got, want string }{
		{"auto-lock", s.autoLock.Selected, "After 10 minutes"},
		{"clipboard", s.clipboard.Selected, "After 1 minute"},
		{"interstitial", s.interst.Selected, "For risky links only"},
		{"download", s.download.Selected, "Up to 32 MiB"},
		{"notify", s.notify.Selected, "Only that a message arrived"},
		{"theme", s.theme.Selected, "System"},
	} {
		if c.got != c.want {
			t.Errorf("%s shows %q, want %q", c.name, c.got, c.want)
		}
	}
	if s.previews.Checked || s.receipts.Checked {
		t.Error("link previews or read receipts shown on in a new profile")
	}
	if got, want := s.capture.Disabled(), runtime.GOOS != "windows"; got != want {
		t.Errorf("hide-from-capture disabled = %v on %s, want %v", got, runtime.GOOS, want)
	}

	for _, step := range []struct {
		name  string
		do    func()
		check func(messenger.Settings) bool
	}{
		{"auto-lock 1 hour", func() { s.autoLock.SetSelected("After 1 hour") },
			func(st messenger.Settings) bool { return st.AutoLock == time.Hour }},
		{"auto-lock never", func() { s.autoLock.SetSelected("Never") },
			func(st messenger.Settings) bool { return st.AutoLock < 0 && st.AutoLockAfter() == 0 }},
		{"clipboard 30 s", func() { s.clipboard.SetSelected("After 30 seconds") },
			func(st messenger.Settings) bool { return st.ClipboardClear == 30*time.Second }},
		{"clipboard never", func() { s.clipboard.SetSelected("Never") },
			func(st messenger.Settings) bool { return st.ClipboardClearAfter() == 0 }},
		{"link previews", func() { test.Tap(s.previews) },
			func(st messenger.Settings) bool { return st.LinkPreviews }},
		{"interstitial always", func() { s.interst.SetSelected("Always") },
			func(st messenger.Settings) bool { return st.Interstitial == links.InterstitialAlways }},
		{"interstitial never", func() { s.interst.SetSelected("Never") },
			func(st messenger.Settings) bool { return st.Interstitial == links.InterstitialNever }},
		{"download 100 MiB", func() { s.download.SetSelected("Up to 100 MiB") },
			func(st messenger.Settings) bool { return st.AutoDownloadLimit == 100<<20 }},
		{"download never", func() { s.download.SetSelected("Never") },
			func(st messenger.Settings) bool { return st.AutoDownloadLimit < 0 }},
		{"notify off", func() { s.notify.SetSelected("Off") },
			func(st messenger.Settings) bool { return st.NotifyOff && !st.NotifyContent }},
		{"notify content", func() { s.notify.SetSelected("Sender and text") },
			func(st messenger.Settings) bool { return !st.NotifyOff && st.NotifyContent }},
		{"read receipts", func() { test.Tap(s.receipts) },
			func(st messenger.Settings) bool { return st.ReadReceipts }},
	} {
		step.do()
		if st := f.m.Settings(); !step.check(st) {
			t.Errorf("%s: settings now %+v", step.name, st)
		}
	}
	if runtime.GOOS == "windows" {
		test.Tap(s.capture)
		if !f.m.Settings().HideFromCapture {
			t.Error("hide from capture not saved")
		}
	}
	// Earlier changes survive later ones (each save changes one field).
	st := f.m.Settings()
	if st.AutoLock >= 0 || !st.LinkPreviews || st.Interstitial != links.InterstitialNever || st.AutoDownloadLimit >= 0 {
		t.Errorf("a later save undid an earlier one: %+v", st)
	}
	if len(f.prefs.written) != 0 {
		t.Errorf("vault settings written to the preferences file: %q", f.prefs.written)
	}

	// They are in the vault: reopen the profile and build a new screen.
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := messenger.Open(messenger.Config{Dir: f.dir, Passphrase: []byte(dialogTestPass), InsecureTestKDF: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if got := m2.Settings(); got != st {
		t.Errorf("after reopening: %+v, want %+v", got, st)
	}
	s2 := newSettings(f.win, m2, f.prefs, nil)
	s2.buildUI()
	if s2.download.Selected != "Never" || s2.notify.Selected != "Sender and text" || !s2.receipts.Checked {
		t.Errorf("reopened screen shows download %q, notify %q, receipts %v", s2.download.Selected, s2.notify.Selected, s2.receipts.Checked)
	}
}

func TestSettingsShowsValuesSetElsewhere(t *testing.T) {
	f := newSettingsFixture(t)
	if err := f.m.SetSettings(messenger.Settings{AutoLock: 2 * time.Minute, AutoDownloadLimit: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	s := newSettings(f.win, f.m, f.prefs, nil)
	s.buildUI()
	if s.autoLock.Selected != "After 2m0s" || s.download.Selected != "Up to 3.0 MiB" {
		t.Errorf("auto-lock %q, download %q: want the stored values", s.autoLock.Selected, s.download.Selected)
	}
	if got := f.m.Settings(); got.AutoLock != 2*time.Minute {
		t.Errorf("building the screen changed the settings: %+v", got)
	}
}

func TestSettingsThemeGoesToPreferencesOnly(t *testing.T) {
	f := newSettingsFixture(t)
	before := f.m.Settings()
	f.s.theme.SetSelected("Dark")
	if got := f.prefs.String(prefTheme); got != themeDark {
		t.Errorf("preference %q = %q, want %q", prefTheme, got, themeDark)
	}
	f.s.theme.SetSelected("Light")
	if !slices.Equal(f.themes, []string{themeDark, themeLight}) {
		t.Errorf("applyTheme got %q, want dark then light", f.themes)
	}
	if !slices.Equal(f.prefs.written, []string{prefTheme}) {
		t.Errorf("preferences written: %q, want only %q", f.prefs.written, prefTheme)
	}
	if got := f.m.Settings(); got != before {
		t.Errorf("the theme changed the vault settings: %+v", got)
	}
	s := newSettings(f.win, f.m, f.prefs, nil)
	s.buildUI()
	if s.theme.Selected != "Light" {
		t.Errorf("a new screen shows theme %q, want the stored Light", s.theme.Selected)
	}
}

func TestSettingsChangePassphrase(t *testing.T) {
	f := newSettingsFixture(t)
	s := f.s
	const newPass = "violet maple quietly drums"
	open := func(pass string) error {
		m, err := messenger.Open(messenger.Config{Dir: f.dir, Passphrase: []byte(pass), InsecureTestKDF: true, NoSync: true})
		if err == nil {
			m.Close()
		}
		return err
	}

	// Problems with the form are shown inline, before anything runs.
	test.Type(s.newPass.pass, newPass)
	test.Type(s.newPass.confirm, newPass)
	test.Tap(s.change)
	if !s.passNote.Visible() || !strings.Contains(s.passNote.Text, "current passphrase") {
		t.Errorf("no old passphrase: note %q", s.passNote.Text)
	}
	test.Type(s.oldPass, "not my passphrase")
	s.newPass.confirm.SetText(newPass + "!")
	test.Tap(s.change)
	if !s.passNote.Visible() || !strings.Contains(s.passNote.Text, "differ") {
		t.Errorf("mismatch: note %q", s.passNote.Text)
	}

	// A wrong old passphrase is refused by the vault and said so.
	s.newPass.confirm.SetText(newPass)
	test.Tap(s.change)
	s.work.wait()
	if s.passNote.Visible() {
		t.Errorf("note %q left visible", s.passNote.Text)
	}
	if text := dialogText(f.win); !strings.Contains(text, "current passphrase is wrong") {
		t.Errorf("wrong old passphrase shows %q", text)
	}
	if s.change.Disabled() {
		t.Error("button left disabled")
	}

	// The right one changes it.
	s.oldPass.SetText(dialogTestPass)
	test.Tap(s.change)
	s.work.wait()
	if text := dialogText(f.win); !strings.Contains(text, "Passphrase changed") {
		t.Errorf("after the change the dialogs show %q", text)
	}
	if s.oldPass.Text != "" || s.newPass.pass.Text != "" || s.newPass.confirm.Text != "" {
		t.Error("passphrases left in the form")
	}
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := open(dialogTestPass); !errors.Is(err, messenger.ErrWrongPassphrase) {
		t.Errorf("old passphrase after the change: %v, want ErrWrongPassphrase", err)
	}
	if err := open(newPass); err != nil {
		t.Errorf("new passphrase: %v", err)
	}
}

// The re-encrypting choice re-keys the vault: the old vault.hdr with
// the old passphrase no longer opens the profile, the new one does.
func TestSettingsChangePassphraseRekey(t *testing.T) {
	f := newSettingsFixture(t)
	s := f.s
	const newPass = "violet maple quietly drums"
	hdr := filepath.Join(f.dir, "vault.hdr")
	oldHdr, err := os.ReadFile(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var tree strings.Builder
	DumpTree(&tree, f.win.Content())
	if !strings.Contains(tree.String(), "an old copy of the profile") {
		t.Error("the settings do not say what the quick change does not do")
	}
	test.Type(s.oldPass, dialogTestPass)
	test.Type(s.newPass.pass, newPass)
	test.Type(s.newPass.confirm, newPass)
	test.Tap(s.rekey)
	test.Tap(s.change)
	s.work.wait()
	if text := dialogText(f.win); !strings.Contains(text, "re-encrypted") {
		t.Errorf("after the re-key the dialogs show %q", text)
	}
	if s.rekey.Checked {
		t.Error("the choice stays checked for the next change")
	}
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	newHdr, _ := os.ReadFile(hdr)
	if err := os.WriteFile(hdr, oldHdr, 0o600); err != nil {
		t.Fatal(err)
	}
	if m, err := messenger.Open(messenger.Config{Dir: f.dir, Passphrase: []byte(dialogTestPass), InsecureTestKDF: true, NoSync: true}); err == nil {
		m.Close()
		t.Fatal("the old vault.hdr and passphrase opened the re-keyed profile")
	}
	os.WriteFile(hdr, newHdr, 0o600)
	m, err := messenger.Open(messenger.Config{Dir: f.dir, Passphrase: []byte(newPass), InsecureTestKDF: true, NoSync: true})
	if err != nil {
		t.Fatalf("new passphrase: %v", err)
	}
	m.Close()
}

func TestSettingsWrongPassphraseKeepsTheOld(t *testing.T) {
	f := newSettingsFixture(t)
	s := f.s
	s.oldPass.SetText("correct horse battery stapler")
	s.newPass.pass.SetText("violet maple quietly drums")
	s.newPass.confirm.SetText("violet maple quietly drums")
	test.Tap(s.change)
	s.work.wait()
	if text := dialogText(f.win); !strings.Contains(text, "Passphrase not changed") {
		t.Errorf("dialogs show %q, want the failure", text)
	}
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := messenger.Open(messenger.Config{Dir: f.dir, Passphrase: []byte(dialogTestPass), InsecureTestKDF: true, NoSync: true})
	if err != nil {
		t.Fatalf("the old passphrase no longer opens the profile: %v", err)
	}
	m.Close()
}

func TestSettingsMoveRelay(t *testing.T) {
	f := newSettingsFixture(t)
	s := f.s
	if s.relay.Text != f.m.RelayURL() {
		t.Errorf("relay shown %q, want %q", s.relay.Text, f.m.RelayURL())
	}
	before := f.m.RelayURL()

	test.Type(s.relayURL, "http://relay.example.org")
	test.Tap(s.move)
	s.work.wait()
	if text := dialogText(f.win); !strings.Contains(text, "Not moved") {
		t.Errorf("a bad URL shows %q", text)
	}
	if f.m.RelayURL() != before || s.relay.Text != before {
		t.Errorf("a bad URL changed the relay to %q (shown %q)", f.m.RelayURL(), s.relay.Text)
	}

	other, _ := newDialogTestProfile(t, "carol", "") // runs a second relay
	s.relayURL.SetText(other.RelayURL())
	test.Tap(s.move)
	s.work.wait()
	if got := f.m.RelayURL(); got != other.RelayURL() {
		t.Errorf("relay after moving: %q, want %q", got, other.RelayURL())
	}
	if s.relay.Text != other.RelayURL() || s.relayURL.Text != "" {
		t.Errorf("after moving the screen shows %q with %q in the entry", s.relay.Text, s.relayURL.Text)
	}
}

func TestSettingsShred(t *testing.T) {
	f := newSettingsFixture(t)
	s := f.s
	test.Tap(s.shred)
	s.work.wait()
	if !s.shredNote.Visible() || !strings.HasPrefix(s.shredNote.Text, "Done") {
		t.Errorf("after shredding: note %q (visible %v)", s.shredNote.Text, s.shredNote.Visible())
	}
	if s.shredBusy.Visible() || s.shred.Disabled() {
		t.Error("progress left running")
	}
	// The profile still works after the vault was rewritten.
	if err := f.m.SetSettings(messenger.Settings{ReadReceipts: true}); err != nil {
		t.Fatal(err)
	}
}

// socksHosts is a SOCKS5 proxy that connects nowhere: it records the host
// of each CONNECT and refuses it.
type socksHosts struct {
	ln    net.Listener
	mu    sync.Mutex
	hosts []string
}

func startSOCKSHosts(t *testing.T) *socksHosts {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &socksHosts{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *socksHosts) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 256)
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
		return
	}
	c.Write([]byte{5, 0})
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[3] != 3 {
		return
	}
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return
	}
	host := make([]byte, buf[0])
	if _, err := io.ReadFull(c, host); err != nil {
		return
	}
	p.mu.Lock()
	p.hosts = append(p.hosts, string(host))
	p.mu.Unlock()
	c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
}

func (p *socksHosts) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.hosts)
}

func TestSettingsProxyAndIsolation(t *testing.T) {
	f := newSettingsFixture(t)
	s := f.s
	if s.proxy.Text != "" || s.isolate.Checked {
		t.Fatalf("a new profile shows proxy %q, isolation %v", s.proxy.Text, s.isolate.Checked)
	}
	proxy := startSOCKSHosts(t)

	s.proxy.SetText("tor")
	test.Tap(s.proxySave)
	if got := f.m.Settings().SOCKS5; got != "" {
		t.Errorf("a bad proxy address was saved: %q", got)
	}
	addr := proxy.ln.Addr().String()
	s.proxy.SetText(" " + addr + " ")
	test.Tap(s.proxySave)
	test.Tap(s.isolate)
	if st := f.m.Settings(); st.SOCKS5 != addr || !st.IsolateMailboxes {
		t.Fatalf("settings after saving: proxy %q, isolation %v", st.SOCKS5, st.IsolateMailboxes)
	}
	if len(f.prefs.written) != 0 {
		t.Errorf("connection settings written to the preferences file: %q", f.prefs.written)
	}

	// At the next unlock the profile uses the proxy, "Check where this
	// goes" included.
	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := messenger.Open(messenger.Config{Dir: f.dir, Passphrase: []byte(dialogTestPass), InsecureTestKDF: true, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.SOCKS5() != addr {
		t.Fatalf("reopened profile uses proxy %q, want %q", m.SOCKS5(), addr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := checkDestination(m)(ctx, "https://check.example.org/path"); err == nil {
		t.Error("the check succeeded through a proxy that refuses everything")
	}
	if seen := proxy.seen(); !slices.Contains(seen, "check.example.org") {
		t.Errorf("the check did not go through the proxy; it saw %q", seen)
	}
	s2 := newSettings(f.win, m, f.prefs, func(string) {})
	f.win.SetContent(s2.buildUI())
	if s2.proxy.Text != addr || !s2.isolate.Checked {
		t.Errorf("reopened settings show proxy %q, isolation %v", s2.proxy.Text, s2.isolate.Checked)
	}
}
