package gui

import (
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/messenger"
)

// mainScreen is the unlocked window: the conversation list on the left and
// the open conversation on the right.
type mainScreen struct {
	u *UI
	m *messenger.Messenger

	contacts []messenger.Contact // every contact, most recently active first
	shown    []messenger.Contact // those matching the filter
	last     map[string]string   // contact id → last message, one line
	filter   *widget.Entry
	list     *widget.List
	status   *widget.Label // relay connections
	relays   map[string]messenger.ConnState

	reloadPending bool // see reloadSoon
	empty         fyne.CanvasObject

	conv    *conversationView // the open conversation, or nil
	drop    *dropHandler      // files dropped on the window go to conv
	picker  *timerPicker      // the last timer picker shown (tests)
	right   *fyne.Container
	content fyne.CanvasObject

	ticker chan struct{} // stops the countdown ticker
}

func newMainScreen(u *UI) *mainScreen {
	s := &mainScreen{u: u, m: u.m, last: map[string]string{}, relays: u.m.RelayStates()}
	s.content = s.buildUI()
	return s
}

func (s *mainScreen) buildUI() fyne.CanvasObject {
	s.drop = &dropHandler{win: s.u.win, send: s.m,
		contact: func() string {
			if s.conv == nil {
				return ""
			}
			return s.conv.contact.ID
		},
		opts: func() messenger.SendOptions {
			if s.conv == nil {
				return messenger.SendOptions{}
			}
			return s.conv.sendOptions()
		},
		onError: func(err error) { dialog.ShowError(err, s.u.win) },
		do:      s.u.do,
	}
	s.drop.install()
	s.filter = widget.NewEntry()
	s.filter.SetPlaceHolder("Search conversations")
	s.filter.OnChanged = func(string) { s.u.touch(); s.applyFilter() }
	s.list = widget.NewList(
		func() int { return len(s.shown) },
		func() fyne.CanvasObject { return newConvRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(s.shown) {
				c := s.shown[id]
				o.(*convRow).set(c, s.last[c.ID], s.conv != nil && s.conv.contact.ID == c.ID)
			}
		})
	s.list.OnSelected = func(id widget.ListItemID) {
		s.u.touch()
		if id < len(s.shown) {
			s.open(s.shown[id].ID)
		}
	}
	settingsBtn := widget.NewButtonWithIcon("", theme.SettingsIcon(), s.settings)
	lockBtn := widget.NewButtonWithIcon("", theme.VisibilityOffIcon(), s.u.Lock)
	settingsBtn.Importance, lockBtn.Importance = widget.LowImportance, widget.LowImportance
	toolbar := container.NewHBox(
		widget.NewButtonWithIcon("Invite", theme.ContentAddIcon(), s.invite),
		widget.NewButtonWithIcon("Add", theme.AccountIcon(), s.addContact),
		layout.NewSpacer(), settingsBtn, lockBtn)
	me := widget.NewLabelWithStyle(s.m.Pseudonym(), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	me.Truncation = fyne.TextTruncateEllipsis
	s.status = widget.NewLabel("Connecting…")
	s.status.SizeName = theme.SizeNameCaptionText
	left := container.NewBorder(container.NewVBox(me, toolbar, s.filter), s.status, nil, nil, s.list)

	inviteBtn := widget.NewButtonWithIcon("Invite a friend", theme.ContentAddIcon(), s.invite)
	inviteBtn.Importance = widget.HighImportance
	hello := widget.NewLabel("Ephemera has no phone book: you add people by exchanging an invite code. " +
		"Send yours through any channel you trust, or paste the code a friend sent you.")
	hello.Wrapping = fyne.TextWrapWord
	s.empty = container.NewCenter(container.NewGridWrap(fyne.NewSize(420, 200), container.NewVBox(
		widget.NewLabelWithStyle("No conversation open", fyne.TextAlignCenter, fyne.TextStyle{Bold: true}),
		hello, inviteBtn, widget.NewButtonWithIcon("Add a friend's code", theme.MailReplyIcon(), s.addContact))))
	s.right = container.NewStack(s.empty)

	split := container.NewHSplit(left, s.right)
	split.Offset = 0.3
	return split
}

// showStatus shows the state of the connection to the profile's relay
// (and how many other relays are reachable, if any are used).
func (s *mainScreen) showStatus(err error) {
	home := s.m.RelayURL()
	st, ok := s.relays[home]
	if !ok {
		st = messenger.StateConnecting
	}
	text := "Relay: " + statusText(st)
	if err != nil && st == messenger.StateDisconnected {
		text += " (" + err.Error() + ")"
	}
	others, up := 0, 0
	for u, s := range s.relays {
		if u != home {
			others++
			if s == messenger.StateConnected {
				up++
			}
		}
	}
	if others > 0 {
		text += fmt.Sprintf(" · other relays %d/%d connected", up, others)
	}
	s.status.SetText(text)
}

// start loads the contacts and opens the most recent conversation.
func (s *mainScreen) start() {
	s.showStatus(nil)
	s.reload()
	if len(s.contacts) > 0 {
		s.open(s.contacts[0].ID)
	}
	stop := make(chan struct{})
	s.ticker = stop
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s.u.do(func() {
					if s.ticker == stop && s.conv != nil {
						s.conv.tick()
					}
				})
			}
		}
	}()
}

// close stops the screen's timers and drops decrypted content.
func (s *mainScreen) close() {
	if s.ticker != nil {
		close(s.ticker)
		s.ticker = nil
	}
	if s.conv != nil {
		s.conv.close()
		s.conv = nil
	}
	s.contacts, s.shown, s.last = nil, nil, nil
}

// reload reads the contacts again (after EventsDropped too).
func (s *mainScreen) reload() {
	cs, err := s.m.Contacts()
	if err != nil {
		s.u.opts.Logger.Warn("listing contacts", "err", err)
		return
	}
	s.contacts = cs
	for _, c := range cs {
		if _, ok := s.last[c.ID]; !ok {
			s.last[c.ID] = s.lastLine(c.ID)
		}
	}
	s.applyFilter()
}

// reloadSoon reloads the contacts (their order and unread counts) once
// for a burst of messages rather than once for each.
func (s *mainScreen) reloadSoon() {
	if s.reloadPending {
		return
	}
	s.reloadPending = true
	time.AfterFunc(100*time.Millisecond, func() {
		s.u.do(func() {
			s.reloadPending = false
			if s.u.main == s {
				s.reload()
			}
		})
	})
}

// lastLine is the newest message of a conversation as one line.
func (s *mainScreen) lastLine(id string) string {
	h, err := s.m.History(id, 0, 1)
	if err != nil || len(h) == 0 {
		return ""
	}
	return summary(h[0])
}

// summary is a message as one short line for the conversation list.
func summary(m messenger.Message) string {
	var t string
	switch {
	case m.BurnAfter > 0 && m.ExpiresAt.IsZero() && m.From != "me":
		t = "Burn-on-read message"
	case m.Kind == messenger.KindFile && m.File != nil:
		t = "File: " + m.File.Name
	default:
		t = strings.Join(strings.Fields(m.Text), " ")
	}
	if m.From == "me" && m.Kind != messenger.KindNotice {
		t = "You: " + t
	}
	if r := []rune(t); len(r) > 80 {
		t = string(r[:80]) + "…"
	}
	return t
}

func (s *mainScreen) applyFilter() {
	q := strings.ToLower(strings.TrimSpace(s.filter.Text))
	s.shown = s.shown[:0]
	for _, c := range s.contacts {
		if q == "" || strings.Contains(strings.ToLower(c.Name), q) || strings.Contains(strings.ToLower(c.Pseudonym), q) {
			s.shown = append(s.shown, c)
		}
	}
	s.list.Refresh()
}

// open shows a conversation.
func (s *mainScreen) open(id string) {
	if s.conv != nil && s.conv.contact.ID == id {
		return
	}
	c, err := s.m.FindContact(id)
	if err != nil {
		return
	}
	if s.conv != nil {
		s.conv.close()
	}
	s.conv = newConversationView(s, c)
	s.right.Objects = []fyne.CanvasObject{s.conv.content}
	s.right.Refresh()
	s.conv.load()
	for i, sc := range s.shown {
		if sc.ID == id {
			s.list.Select(i)
			break
		}
	}
	s.list.Refresh()
}

// showEmpty closes the conversation pane.
func (s *mainScreen) showEmpty() {
	if s.conv != nil {
		s.conv.close()
		s.conv = nil
	}
	s.right.Objects = []fyne.CanvasObject{s.empty}
	s.right.Refresh()
	s.list.UnselectAll()
}

// selectRelative opens the next (+1) or previous (-1) conversation.
func (s *mainScreen) selectRelative(d int) {
	if len(s.shown) == 0 {
		return
	}
	i := 0
	if s.conv != nil {
		for j, c := range s.shown {
			if c.ID == s.conv.contact.ID {
				i = (j + d + len(s.shown)) % len(s.shown)
			}
		}
	}
	s.open(s.shown[i].ID)
}

func (s *mainScreen) focusCompose() {
	if s.conv != nil {
		s.u.win.Canvas().Focus(s.conv.compose)
	}
}

func (s *mainScreen) invite() { showInvite(s.u.win, s.m) }

func (s *mainScreen) addContact() {
	showAddContact(s.u.win, s.m, func(c messenger.Contact) {
		s.reload()
		s.open(c.ID)
	})
}

func (s *mainScreen) settings() {
	screen := newSettingsScreen(s.u.win, s.m, s.u.app.Preferences(), func(mode string) {
		s.u.app.Settings().SetTheme(newTheme(mode))
	})
	d := dialog.NewCustom("Settings", "Close", container.NewGridWrap(fyne.NewSize(560, 480), screen), s.u.win)
	d.SetOnClosed(func() {
		if s.u.m != nil {
			hideFromCapture(s.u.win, s.u.m.Settings().HideFromCapture)
		}
	})
	d.Show()
}

// onEvent applies a messenger event; it runs on the Fyne goroutine.
func (s *mainScreen) onEvent(e messenger.Event) {
	switch e := e.(type) {
	case messenger.RelayChanged:
		s.relays[e.Relay] = e.State
		s.showStatus(e.Err)
	case messenger.ContactChanged:
		s.reload()
		if s.conv != nil && s.conv.contact.ID == e.Contact.ID {
			s.conv.setContact(e.Contact)
		}
	case messenger.ContactRemoved:
		delete(s.last, e.ID)
		if s.conv != nil && s.conv.contact.ID == e.ID {
			s.showEmpty()
		}
		s.reload()
	case messenger.MessageAdded:
		msg := e.Message
		s.last[msg.Conversation] = summary(msg)
		open := s.conv != nil && s.conv.contact.ID == msg.Conversation
		if open {
			s.conv.added(msg)
		}
		if msg.From != "me" && msg.Kind != messenger.KindNotice && (!open || !s.u.focused()) {
			name := msg.Conversation
			if c, err := s.m.FindContact(msg.Conversation); err == nil {
				name = c.Name
			}
			s.u.notify(name, summary(msg))
		}
		s.reloadSoon()
	case messenger.MessageUpdated:
		if s.conv != nil && s.conv.contact.ID == e.Message.Conversation {
			s.conv.updated(e.Message)
		}
	case messenger.MessagesExpired:
		if s.conv != nil && s.conv.contact.ID == e.Conversation {
			s.conv.expired(e.IDs)
		}
		s.last[e.Conversation] = s.lastLine(e.Conversation)
		s.list.Refresh()
	case messenger.TransferProgress:
		if s.conv != nil {
			s.conv.progress(e)
		}
	case messenger.EventsDropped:
		s.last = map[string]string{}
		s.reload()
		if s.conv != nil {
			s.conv.load()
		}
	}
}

// focused says whether the app is in the foreground (Fyne reports the
// app's, not a window's, focus changes; true until it reports one).
func (u *UI) focused() bool { return !u.background }

// statusText describes a connection state.
func statusText(s messenger.ConnState) string {
	switch s {
	case messenger.StateConnected:
		return "Connected"
	case messenger.StateConnecting:
		return "Connecting…"
	case messenger.StateClosed:
		return "Closed"
	}
	return "Disconnected — retrying"
}

// convRow is one line of the conversation list.
type convRow struct {
	widget.BaseWidget
	name, last, badges *widget.Label
	unread             *widget.Label
}

func newConvRow() *convRow {
	r := &convRow{name: widget.NewLabel(""), last: widget.NewLabel(""), badges: widget.NewLabel(""),
		unread: widget.NewLabel("")}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.last.Truncation = fyne.TextTruncateEllipsis
	r.last.SizeName = theme.SizeNameCaptionText
	r.badges.SizeName = theme.SizeNameCaptionText
	r.unread.Importance = widget.HighImportance
	r.unread.TextStyle.Bold = true
	r.ExtendBaseWidget(r)
	return r
}

func (r *convRow) set(c messenger.Contact, last string, open bool) {
	r.name.SetText(c.Name)
	r.name.TextStyle.Bold = c.Unread > 0
	r.name.Refresh()
	r.last.SetText(last)
	var b []string
	if c.Verified {
		b = append(b, "✔ verified")
	}
	if c.Timer > 0 {
		b = append(b, "⏱ "+timerLabel(c.Timer, c.TimerBurn))
	}
	if c.Pending {
		b = append(b, "waiting for answer")
	}
	if c.Blocked {
		b = append(b, "blocked")
	}
	if c.KeyChanged {
		b = append(b, "⚠ identity request")
	}
	if c.Refused != "" {
		b = append(b, "invite refused")
	}
	r.badges.SetText(strings.Join(b, " · "))
	if c.Unread > 0 && !open {
		r.unread.SetText(fmt.Sprint(c.Unread))
		r.unread.Show()
	} else {
		r.unread.Hide()
	}
}

func (r *convRow) CreateRenderer() fyne.WidgetRenderer {
	top := container.NewBorder(nil, nil, nil, container.NewHBox(r.badges, r.unread), r.name)
	return widget.NewSimpleRenderer(container.NewVBox(top, r.last))
}
