package gui

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/links"
	"github.com/ephemera-im/ephemera/core/messenger"
)

// The settings screen. Every choice is saved in the vault (m.SetSettings)
// the moment it is made, except the theme, which lives in Fyne's plain
// preferences file because it says nothing about the user. Saving runs on
// the Fyne goroutine: it is one small vault write, and doing it there keeps
// quick successive changes in order.

// choice is one option of a select or radio group.
type choice[T comparable] struct {
	label string
	value T
}

const choiceNever = -1 // the Settings value meaning "never" for durations and sizes

var (
	autoLockChoices = []choice[time.Duration]{
		{"After 1 minute", time.Minute},
		{"After 5 minutes", 5 * time.Minute},
		{"After 10 minutes", 10 * time.Minute},
		{"After 30 minutes", 30 * time.Minute},
		{"After 1 hour", time.Hour},
		{"Never", choiceNever},
	}
	clipboardChoices = []choice[time.Duration]{
		{"After 30 seconds", 30 * time.Second},
		{"After 1 minute", time.Minute},
		{"After 5 minutes", 5 * time.Minute},
		{"Never", choiceNever},
	}
	interstitialChoices = []choice[links.InterstitialPolicy]{
		{"Always", links.InterstitialAlways},
		{"For risky links only", links.InterstitialRisky},
		{"Never", links.InterstitialNever},
	}
	autoDownloadChoices = []choice[int64]{
		{"Never", choiceNever},
		{"Up to 1 MiB", 1 << 20},
		{"Up to 8 MiB", 8 << 20},
		{"Up to 32 MiB", 32 << 20},
		{"Up to 100 MiB", 100 << 20},
	}
	notifyChoices = []choice[notifyMode]{
		{"Off", notifyNone},
		{"Only that a message arrived", notifyArrived},
		{"Sender and text", notifyContent},
	}
	themeChoices = []choice[string]{
		{"System", themeSystem},
		{"Light", themeLight},
		{"Dark", themeDark},
	}
)

// notifyMode is the notification choice, two flags in Settings.
type notifyMode int

const (
	notifyArrived notifyMode = iota
	notifyNone
	notifyContent
)

func notifyModeOf(s messenger.Settings) notifyMode {
	switch {
	case s.NotifyOff:
		return notifyNone
	case s.NotifyContent:
		return notifyContent
	}
	return notifyArrived
}

func choiceLabels[T comparable](cs []choice[T]) []string {
	l := make([]string, len(cs))
	for i, c := range cs {
		l[i] = c.label
	}
	return l
}

func labelOf[T comparable](cs []choice[T], v T) string {
	for _, c := range cs {
		if c.value == v {
			return c.label
		}
	}
	return ""
}

func valueOf[T comparable](cs []choice[T], label string) (T, bool) {
	for _, c := range cs {
		if c.label == label {
			return c.value, true
		}
	}
	var zero T
	return zero, false
}

// withCurrent returns cs with an entry for v added if none has it (a value
// set elsewhere, such as by the CLI), so that the control shows the truth.
func withCurrent[T comparable](cs []choice[T], v T, label string) []choice[T] {
	if labelOf(cs, v) != "" {
		return cs
	}
	return append(cs[:len(cs):len(cs)], choice[T]{label, v})
}

// settingsScreen holds the settings controls; it lives on the Fyne
// goroutine.
type settingsScreen struct {
	win        fyne.Window
	m          *messenger.Messenger
	prefs      fyne.Preferences
	applyTheme func(mode string)

	relay     *widget.Label
	relayURL  *widget.Entry
	move      *widget.Button
	moveBusy  *widget.ProgressBarInfinite
	proxy     *widget.Entry
	proxySave *widget.Button
	isolate   *widget.Check
	oldPass   *widget.Entry
	newPass   *passphraseFields
	change    *widget.Button
	rekey     *widget.Check // re-encrypt everything under a new key
	passBusy  *widget.ProgressBarInfinite
	passNote  *widget.Label // inline problems with the form
	autoLock  *widget.Select
	capture   *widget.Check
	clipboard *widget.Select
	previews  *widget.Check
	interst   *widget.Select
	download  *widget.Select
	notify    *widget.RadioGroup
	receipts  *widget.Check
	theme     *widget.RadioGroup
	shred     *widget.Button
	shredBusy *widget.ProgressBarInfinite
	shredNote *widget.Label

	// Choices as shown, current values included.
	autoLockOpts  []choice[time.Duration]
	clipboardOpts []choice[time.Duration]
	downloadOpts  []choice[int64]

	loading bool // set while controls are filled in, so nothing is saved
	work    background
}

// newSettingsScreen builds the settings screen for the open profile m.
// prefs receives only the theme; applyTheme applies a theme mode
// ("system", "light" or "dark") to the app.
func newSettingsScreen(win fyne.Window, m *messenger.Messenger, prefs fyne.Preferences, applyTheme func(mode string)) fyne.CanvasObject {
	return newSettings(win, m, prefs, applyTheme).buildUI()
}

func newSettings(win fyne.Window, m *messenger.Messenger, prefs fyne.Preferences, applyTheme func(mode string)) *settingsScreen {
	return &settingsScreen{win: win, m: m, prefs: prefs, applyTheme: applyTheme}
}

func (s *settingsScreen) buildUI() fyne.CanvasObject {
	s.loading = true
	defer func() { s.loading = false }()
	cur := s.m.Settings()
	sections := container.NewVBox(
		s.relaysSection(),
		s.connectionSection(cur),
		s.securitySection(cur),
		s.linksSection(cur),
		s.filesSection(cur),
		s.notificationsSection(cur),
		s.privacySection(cur),
		s.appearanceSection(),
		s.storageSection(),
	)
	return container.NewVScroll(sections)
}

// explain is an explanation under a control.
func explain(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	l.Importance = widget.LowImportance
	return l
}

func busyBar() *widget.ProgressBarInfinite {
	b := widget.NewProgressBarInfinite()
	b.Stop()
	b.Hide()
	return b
}

func setBusy(b *widget.ProgressBarInfinite, busy bool) {
	if busy {
		b.Show()
		b.Start()
	} else {
		b.Stop()
		b.Hide()
	}
}

func (s *settingsScreen) relaysSection() fyne.CanvasObject {
	s.relay = widget.NewLabel(s.m.RelayURL())
	s.relay.Selectable = true
	s.relay.Wrapping = fyne.TextWrapBreak
	s.relayURL = widget.NewEntry()
	s.relayURL.SetPlaceHolder("wss://relay.example.org")
	s.relayURL.OnSubmitted = func(string) { s.onMove() }
	s.move = widget.NewButton("Move", s.onMove)
	s.moveBusy = busyBar()
	return widget.NewCard("Relays", "", container.NewVBox(
		widget.NewForm(widget.NewFormItem("Current relay", s.relay)),
		explain("Your contacts write to you through this relay. Moving gives every contact a new address of yours on "+
			"another relay and tells them through your encrypted conversations."),
		container.NewBorder(nil, nil, nil, s.move, s.relayURL),
		s.moveBusy,
	))
}

func (s *settingsScreen) onMove() {
	url := strings.TrimSpace(s.relayURL.Text)
	if url == "" {
		showErrorDialog(s.win, "Not moved", errors.New("enter the address of the relay to move to"))
		return
	}
	s.move.Disable()
	s.relayURL.Disable()
	setBusy(s.moveBusy, true)
	s.work.run(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
		defer cancel()
		return s.m.MoveRelay(ctx, url)
	}, func(err error) {
		setBusy(s.moveBusy, false)
		s.move.Enable()
		s.relayURL.Enable()
		s.relay.SetText(s.m.RelayURL())
		if err != nil {
			showErrorDialog(s.win, "Not moved", err)
			return
		}
		s.relayURL.SetText("")
		dialog.ShowInformation("Moved", "New messages now reach you through "+s.m.RelayURL()+".", s.win)
	})
}

// connectionSection holds the proxy and isolation settings, which the
// messenger applies the next time the profile is unlocked.
func (s *settingsScreen) connectionSection(cur messenger.Settings) fyne.CanvasObject {
	s.proxy = widget.NewEntry()
	s.proxy.SetPlaceHolder("127.0.0.1:9050")
	s.proxy.SetText(cur.SOCKS5)
	s.proxy.OnSubmitted = func(string) { s.onProxy() }
	s.proxySave = widget.NewButton("Save", s.onProxy)
	s.isolate = widget.NewCheck("A separate connection for each contact", s.onIsolate)
	s.isolate.SetChecked(cur.IsolateMailboxes)
	return widget.NewCard("Connection", "", container.NewVBox(
		widget.NewForm(widget.NewFormItem("SOCKS5 proxy", container.NewBorder(nil, nil, nil, s.proxySave, s.proxy))),
		explain("With a proxy such as Tor (127.0.0.1:9050 with Tor running, 127.0.0.1:9150 with Tor Browser), relays, "+
			"link previews and \"Check where this goes\" go through it, and the relay does not see your address. "+
			"Each contact then gets connections of its own, on separate Tor circuits. Leave it empty to connect directly."),
		s.isolate,
		explain("Without a proxy, separate connections keep the relay from linking your contacts by connection, but not by "+
			"your address. Changes here apply the next time you unlock."),
	))
}

func (s *settingsScreen) onProxy() {
	addr := strings.TrimSpace(s.proxy.Text)
	if addr == s.m.Settings().SOCKS5 {
		return
	}
	cur := s.m.Settings()
	cur.SOCKS5 = addr
	if err := s.m.SetSettings(cur); err != nil {
		showErrorDialog(s.win, "Proxy not saved", err)
		return
	}
	s.proxy.SetText(addr)
	dialog.ShowInformation("Proxy saved", "The proxy setting applies the next time you unlock.", s.win)
}

func (s *settingsScreen) onIsolate(on bool) {
	s.save(func(st *messenger.Settings) { st.IsolateMailboxes = on })
}

func (s *settingsScreen) securitySection(cur messenger.Settings) fyne.CanvasObject {
	s.oldPass = widget.NewPasswordEntry()
	s.oldPass.SetPlaceHolder("Current passphrase")
	s.newPass = newPassphraseFields()
	s.change = widget.NewButton("Change passphrase", s.onChangePassphrase)
	s.rekey = widget.NewCheck("Also re-encrypt everything with a new key", nil)
	s.passBusy = busyBar()
	s.passNote = dangerLabel()
	passForm := widget.NewForm(widget.NewFormItem("Current", s.oldPass))
	for _, it := range s.newPass.formItems() {
		if it.Text == "Passphrase" {
			it.Text = "New"
		}
		passForm.AppendItem(it)
	}

	s.autoLockOpts = withCurrent(autoLockChoices, normDuration(cur.AutoLock, messenger.DefaultAutoLock), "After "+cur.AutoLock.String())
	s.autoLock = widget.NewSelect(choiceLabels(s.autoLockOpts), s.onAutoLock)
	s.autoLock.SetSelected(labelOf(s.autoLockOpts, normDuration(cur.AutoLock, messenger.DefaultAutoLock)))

	s.capture = widget.NewCheck("Hide the window from screen capture and screen sharing", s.onCapture)
	s.capture.SetChecked(cur.HideFromCapture)
	captureNote := explain("Other programs, including screen-sharing tools, see a blank window instead of your conversations.")
	if runtime.GOOS != "windows" {
		s.capture.Disable()
		captureNote = explain("Only available on Windows: this system offers programs no reliable way to refuse screen capture.")
	}

	s.clipboardOpts = withCurrent(clipboardChoices, normDuration(cur.ClipboardClear, messenger.DefaultClipboardClear), "After "+cur.ClipboardClear.String())
	s.clipboard = widget.NewSelect(choiceLabels(s.clipboardOpts), s.onClipboard)
	s.clipboard.SetSelected(labelOf(s.clipboardOpts, normDuration(cur.ClipboardClear, messenger.DefaultClipboardClear)))

	return widget.NewCard("Security", "", container.NewVBox(
		widget.NewLabelWithStyle("Passphrase", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		passForm,
		s.rekey,
		explain("Without re-encrypting, the change is quick but keeps the key that locks your data: an old copy of the profile (a backup, or its vault.hdr file) still opens with the old passphrase. Re-encrypting takes longer and makes old copies useless with it."),
		container.NewHBox(s.change),
		s.passBusy,
		s.passNote,
		widget.NewSeparator(),
		widget.NewForm(
			widget.NewFormItem("Lock automatically", s.autoLock),
			widget.NewFormItem("Clear copied text", s.clipboard),
		),
		explain("Locking wipes the keys from memory; the passphrase opens the app again. Copied message text is removed from the clipboard after the chosen time."),
		s.capture,
		captureNote,
	))
}

// normDuration maps a Settings duration to the value its choices use:
// 0 means the default, any negative value choiceNever.
func normDuration(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return choiceNever
	}
	return d
}

func (s *settingsScreen) onChangePassphrase() {
	setDanger(s.passNote, "")
	old := s.oldPass.Text
	if old == "" {
		setDanger(s.passNote, "Enter your current passphrase.")
		return
	}
	newPass, err := s.newPass.value()
	if err != nil {
		setDanger(s.passNote, errorText(err)+".")
		return
	}
	s.change.Disable()
	setBusy(s.passBusy, true)
	rekey := s.rekey.Checked
	s.work.run(func() error {
		if rekey {
			return s.m.ChangePassphraseRekey([]byte(old), []byte(newPass))
		}
		return s.m.ChangePassphrase([]byte(old), []byte(newPass))
	}, func(err error) {
		setBusy(s.passBusy, false)
		s.change.Enable()
		if err != nil {
			if errors.Is(err, messenger.ErrWrongPassphrase) {
				err = errors.New("the current passphrase is wrong")
			}
			showErrorDialog(s.win, "Passphrase not changed", err)
			return
		}
		s.oldPass.SetText("")
		s.newPass.reset()
		s.rekey.SetChecked(false)
		msg := "From now on, unlock Ephemera with the new passphrase."
		if rekey {
			msg += " Everything was re-encrypted with a new key: old copies of the profile no longer open with the old passphrase."
		}
		dialog.ShowInformation("Passphrase changed", msg, s.win)
	})
}

func (s *settingsScreen) linksSection(cur messenger.Settings) fyne.CanvasObject {
	s.previews = widget.NewCheck("Send link previews", s.onPreviews)
	s.previews.SetChecked(cur.LinkPreviews)
	s.interst = widget.NewSelect(choiceLabels(interstitialChoices), s.onInterstitial)
	s.interst.SetSelected(labelOf(interstitialChoices, cur.Interstitial))
	return widget.NewCard("Links", "", container.NewVBox(
		s.previews,
		explain("To make a preview, Ephemera fetches the page from your computer when you send a link: the site learns your "+
			"address (or your proxy's) and the time. Your contact receives the preview and does not fetch anything."),
		widget.NewForm(widget.NewFormItem("Check a link before opening it", s.interst)),
		explain("The check shows where a link really goes and why it may be risky, before your browser opens it."),
	))
}

func (s *settingsScreen) filesSection(cur messenger.Settings) fyne.CanvasObject {
	limit := cur.AutoDownloadLimit
	switch {
	case limit == 0:
		limit = messenger.DefaultAutoDownloadLimit
	case limit < 0:
		limit = choiceNever
	}
	s.downloadOpts = withCurrent(autoDownloadChoices, limit, fmt.Sprintf("Up to %.1f MiB", float64(limit)/(1<<20)))
	s.download = widget.NewSelect(choiceLabels(s.downloadOpts), s.onDownload)
	s.download.SetSelected(labelOf(s.downloadOpts, limit))
	return widget.NewCard("Files", "", container.NewVBox(
		widget.NewForm(widget.NewFormItem("Download automatically", s.download)),
		explain("Larger files wait until you ask for them."),
	))
}

func (s *settingsScreen) notificationsSection(cur messenger.Settings) fyne.CanvasObject {
	s.notify = widget.NewRadioGroup(choiceLabels(notifyChoices), s.onNotify)
	s.notify.Required = true
	s.notify.SetSelected(labelOf(notifyChoices, notifyModeOf(cur)))
	return widget.NewCard("Notifications", "", container.NewVBox(
		s.notify,
		explain("Notifications can be seen on a locked screen and are kept by the system; showing the sender and text reveals them there."),
	))
}

func (s *settingsScreen) privacySection(cur messenger.Settings) fyne.CanvasObject {
	s.receipts = widget.NewCheck("Send read receipts", s.onReceipts)
	s.receipts.SetChecked(cur.ReadReceipts)
	return widget.NewCard("Privacy", "", container.NewVBox(
		s.receipts,
		explain("Contacts see when you have read their messages. Delivery is always confirmed."),
	))
}

func (s *settingsScreen) appearanceSection() fyne.CanvasObject {
	s.theme = widget.NewRadioGroup(choiceLabels(themeChoices), s.onTheme)
	s.theme.Horizontal = true
	s.theme.Required = true
	mode := s.prefs.StringWithFallback(prefTheme, themeSystem)
	if labelOf(themeChoices, mode) == "" {
		mode = themeSystem
	}
	s.theme.SetSelected(labelOf(themeChoices, mode))
	return widget.NewCard("Appearance", "", widget.NewForm(widget.NewFormItem("Theme", s.theme)))
}

func (s *settingsScreen) storageSection() fyne.CanvasObject {
	s.shred = widget.NewButton("Shred now", s.onShred)
	s.shredBusy = busyBar()
	s.shredNote = widget.NewLabel("")
	s.shredNote.Wrapping = fyne.TextWrapWord
	s.shredNote.Hide()
	return widget.NewCard("Storage", "", container.NewVBox(
		explain("Deletes what has expired at once and rewrites the vault into a fresh file, so that space freed by deleted "+
			"messages no longer holds old encrypted data. SSDs and copy-on-write file systems may still keep old copies "+
			"out of reach of any program until they reuse the space."),
		container.NewHBox(s.shred),
		s.shredBusy,
		s.shredNote,
	))
}

func (s *settingsScreen) onShred() {
	s.shred.Disable()
	s.shredNote.Hide()
	setBusy(s.shredBusy, true)
	s.work.run(s.m.Shred, func(err error) {
		setBusy(s.shredBusy, false)
		s.shred.Enable()
		if err != nil {
			showErrorDialog(s.win, "Not shredded", err)
			return
		}
		s.shredNote.SetText("Done: the vault was rewritten at " + time.Now().Format("15:04") + ".")
		s.shredNote.Show()
	})
}

// save changes one field of the stored settings and saves them; on
// failure it says so and shows the stored values again.
func (s *settingsScreen) save(change func(*messenger.Settings)) {
	if s.loading {
		return
	}
	cur := s.m.Settings()
	change(&cur)
	if err := s.m.SetSettings(cur); err != nil {
		showErrorDialog(s.win, "Setting not saved", err)
		s.reload()
	}
}

// reload shows the stored settings in the controls.
func (s *settingsScreen) reload() {
	s.loading = true
	defer func() { s.loading = false }()
	cur := s.m.Settings()
	s.autoLock.SetSelected(labelOf(s.autoLockOpts, normDuration(cur.AutoLock, messenger.DefaultAutoLock)))
	s.capture.SetChecked(cur.HideFromCapture)
	s.clipboard.SetSelected(labelOf(s.clipboardOpts, normDuration(cur.ClipboardClear, messenger.DefaultClipboardClear)))
	s.previews.SetChecked(cur.LinkPreviews)
	s.interst.SetSelected(labelOf(interstitialChoices, cur.Interstitial))
	limit := cur.AutoDownloadLimit
	if limit == 0 {
		limit = messenger.DefaultAutoDownloadLimit
	} else if limit < 0 {
		limit = choiceNever
	}
	s.download.SetSelected(labelOf(s.downloadOpts, limit))
	s.notify.SetSelected(labelOf(notifyChoices, notifyModeOf(cur)))
	s.receipts.SetChecked(cur.ReadReceipts)
	s.proxy.SetText(cur.SOCKS5)
	s.isolate.SetChecked(cur.IsolateMailboxes)
}

func (s *settingsScreen) onAutoLock(label string) {
	if d, ok := valueOf(s.autoLockOpts, label); ok {
		s.save(func(st *messenger.Settings) { st.AutoLock = d })
	}
}

func (s *settingsScreen) onCapture(on bool) {
	s.save(func(st *messenger.Settings) { st.HideFromCapture = on })
}

func (s *settingsScreen) onClipboard(label string) {
	if d, ok := valueOf(s.clipboardOpts, label); ok {
		s.save(func(st *messenger.Settings) { st.ClipboardClear = d })
	}
}

func (s *settingsScreen) onPreviews(on bool) {
	s.save(func(st *messenger.Settings) { st.LinkPreviews = on })
}

func (s *settingsScreen) onInterstitial(label string) {
	if p, ok := valueOf(interstitialChoices, label); ok {
		s.save(func(st *messenger.Settings) { st.Interstitial = p })
	}
}

func (s *settingsScreen) onDownload(label string) {
	if n, ok := valueOf(s.downloadOpts, label); ok {
		s.save(func(st *messenger.Settings) { st.AutoDownloadLimit = n })
	}
}

func (s *settingsScreen) onNotify(label string) {
	if n, ok := valueOf(notifyChoices, label); ok {
		s.save(func(st *messenger.Settings) {
			st.NotifyOff = n == notifyNone
			st.NotifyContent = n == notifyContent
		})
	}
}

func (s *settingsScreen) onReceipts(on bool) {
	s.save(func(st *messenger.Settings) { st.ReadReceipts = on })
}

// onTheme stores the theme in the preferences, choiceNever in the vault: it must
// apply before the vault is unlocked.
func (s *settingsScreen) onTheme(label string) {
	mode, ok := valueOf(themeChoices, label)
	if !ok || s.loading {
		return
	}
	s.prefs.SetString(prefTheme, mode)
	if s.applyTheme != nil {
		s.applyTheme(mode)
	}
}
