package gui

import (
	"context"
	"fmt"
	"image/color"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/links"
	"github.com/ephemera-im/ephemera/core/messenger"
)

// pageSize is how many messages a conversation loads at a time: the
// newest page on opening, older pages as the user scrolls up.
const pageSize = 50

// maxLoaded bounds the messages a conversation holds in memory: scrolling
// far up drops the newest ones, which are read again on the way down.
const maxLoaded = 12 * pageSize

// maxThumbs bounds the decoded image thumbnails kept per conversation.
const maxThumbs = 48

// conversationView is the open conversation: its header, the messages (a
// virtualised list holding only the pages loaded so far) and the compose
// area.
type conversationView struct {
	s       *mainScreen
	contact messenger.Contact

	msgs    []messenger.Message // loaded messages, oldest first
	heights map[string]float32  // measured row heights by message id
	more    bool                // older messages exist
	newer   bool                // newer messages exist than the last loaded
	loading bool
	closed  bool
	// toBottom: scroll to the newest message once the list has a size;
	// scrolled: the list was seen scrolled down, so reaching the top
	// means the user scrolled up (and not that it was just laid out).
	toBottom, scrolled bool
	// Row heights measured while the list lays out are applied after
	// it (changing the list from inside its layout corrupts it).
	measured     map[string]float32
	flushPending bool

	name     *widget.Label
	badges   *widget.Label
	timerBtn *widget.Button
	list     *widget.List
	compose  *composeEntry
	override *widget.Select
	send     *widget.Button
	content  fyne.CanvasObject

	cards  map[string]*fileCard         // file cards by message id, for progress
	thumbs map[string]fyne.CanvasObject // decoded thumbnails by message id
	opener *linkOpener
}

func newConversationView(s *mainScreen, c messenger.Contact) *conversationView {
	v := &conversationView{s: s, contact: c, heights: map[string]float32{}, cards: map[string]*fileCard{},
		thumbs: map[string]fyne.CanvasObject{}}
	v.opener = &linkOpener{win: s.u.win, browse: s.u.opts.Browse, do: s.u.do,
		policy: func() links.InterstitialPolicy { return s.m.Settings().Interstitial },
		// "Check where this goes", on the user's explicit request only.
		resolve: checkDestination(s.m)}
	v.content = v.buildUI()
	v.setContact(c)
	return v
}

// checkDestination follows a link's redirects for "Check where this goes",
// through the profile's proxy when it has one.
func checkDestination(m *messenger.Messenger) func(ctx context.Context, rawURL string) (string, error) {
	return func(ctx context.Context, rawURL string) (string, error) {
		d, err := (&links.Fetcher{SOCKS5: m.SOCKS5()}).ResolveDestination(ctx, rawURL)
		return d.Final, err
	}
}

func (v *conversationView) buildUI() fyne.CanvasObject {
	v.name = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	v.name.SizeName = theme.SizeNameSubHeadingText
	v.name.Truncation = fyne.TextTruncateEllipsis
	v.badges = widget.NewLabel("")
	v.badges.SizeName = theme.SizeNameCaptionText
	v.timerBtn = widget.NewButtonWithIcon("", theme.HistoryIcon(), v.pickTimer)
	menu := widget.NewButtonWithIcon("", theme.MoreVerticalIcon(), nil)
	menu.OnTapped = func() { v.showMenu(menu) }
	header := container.NewBorder(nil, nil, nil, container.NewHBox(v.badges, v.timerBtn, menu), v.name)

	v.list = widget.NewList(
		func() int { return len(v.msgs) },
		func() fyne.CanvasObject { return newMsgRow(v) },
		v.updateRow)

	v.compose = newComposeEntry(v.onSend)
	v.compose.SetPlaceHolder("Write a message — Enter sends, Shift+Enter starts a new line")
	v.compose.OnChanged = func(string) { v.s.u.touch() }
	v.compose.onPaste = v.onPaste
	v.override = widget.NewSelect(timerOverrideLabels(), nil)
	v.override.SetSelected(overrideDefault)
	attach := widget.NewButtonWithIcon("", theme.ContentAddIcon(), func() { v.s.drop.chooseFile() })
	v.send = widget.NewButtonWithIcon("Send", theme.MailSendIcon(), v.onSend)
	v.send.Importance = widget.HighImportance
	// Wide enough for "Timer: default" in full.
	override := container.NewGridWrap(fyne.NewSize(170, v.override.MinSize().Height), v.override)
	bottom := container.NewBorder(nil, nil, attach, container.NewHBox(override, v.send), v.compose)
	return container.NewBorder(container.NewVBox(header, widget.NewSeparator()), bottom, nil, nil, v.list)
}

// setContact shows a contact's current state in the header.
func (v *conversationView) setContact(c messenger.Contact) {
	v.contact = c
	v.name.SetText(c.Name)
	var b []string
	if c.Verified {
		b = append(b, "✔ Verified")
	}
	if c.Pending {
		b = append(b, "Waiting for their answer")
	}
	if c.Blocked {
		b = append(b, "Blocked")
	}
	if c.KeyChanged {
		b = append(b, "⚠ Request from another identity")
	}
	if c.Refused != "" {
		b = append(b, "Invite refused: ask for a new one")
	}
	v.badges.SetText(strings.Join(b, " · "))
	if c.Timer > 0 {
		v.timerBtn.SetText(timerLabel(c.Timer, c.TimerBurn))
	} else {
		v.timerBtn.SetText("Timer off")
	}
}

// load reads the newest page and scrolls to the end.
func (v *conversationView) load() {
	h, err := v.s.m.History(v.contact.ID, 0, pageSize)
	if err != nil {
		v.s.u.opts.Logger.Warn("reading a conversation", "err", err)
		return
	}
	slices.Reverse(h)
	v.msgs = h
	v.more = len(h) == pageSize
	v.newer = false
	clear(v.heights)
	v.toBottom, v.scrolled = true, false
	v.list.Refresh()
	v.list.ScrollToBottom()
	v.markShown()
}

// loadOlder reads the page before the oldest loaded message, keeping the
// row the user looks at in place.
func (v *conversationView) loadOlder() {
	if v.loading || !v.more || len(v.msgs) == 0 {
		return
	}
	v.loading = true
	before := v.msgs[0].Seq
	id := v.contact.ID
	m := v.s.m
	go func() {
		h, err := m.History(id, before, pageSize)
		v.s.u.do(func() {
			v.loading = false
			if v.closed || err != nil {
				return
			}
			v.more = len(h) == pageSize
			if len(h) == 0 {
				return
			}
			slices.Reverse(h)
			v.msgs = append(h, v.msgs...)
			if n := len(v.msgs) - maxLoaded; n > 0 {
				v.forget(v.msgs[maxLoaded:])
				v.msgs = v.msgs[:maxLoaded:maxLoaded]
				v.newer = true
			}
			v.applyHeights()
			v.list.Refresh()
			v.list.ScrollTo(len(h))
		})
	}()
}

// loadNewer reads the messages after the newest loaded one, when older
// pages pushed them out, and drops as many of the oldest.
func (v *conversationView) loadNewer() {
	if v.loading || !v.newer || len(v.msgs) == 0 {
		return
	}
	v.loading = true
	last := v.msgs[len(v.msgs)-1].Seq
	id := v.contact.ID
	m := v.s.m
	go func() {
		h, err := historyAfter(m, id, last)
		v.s.u.do(func() {
			v.loading = false
			if v.closed || err != nil {
				return
			}
			if len(h) == 0 {
				v.newer = false
				return
			}
			v.msgs = append(v.msgs, h...)
			if n := len(v.msgs) - maxLoaded; n > 0 {
				v.forget(v.msgs[:n])
				v.msgs = slices.Clone(v.msgs[n:])
				v.more = true
				v.list.ScrollTo(maxLoaded - len(h) - 1)
			}
			v.applyHeights()
			v.list.Refresh()
		})
	}()
}

// historyAfter returns up to a page of the messages after seq, oldest
// first. Sequence numbers only grow, so the page before seq+pageSize+1
// holds them; where messages expired it holds fewer, and the window
// moves on until the newest message.
func historyAfter(m *messenger.Messenger, id string, seq uint64) ([]messenger.Message, error) {
	latest, err := m.History(id, 0, 1)
	if err != nil || len(latest) == 0 {
		return nil, err
	}
	for end := seq + pageSize + 1; ; end += pageSize {
		h, err := m.History(id, end, pageSize)
		if err != nil {
			return nil, err
		}
		h = slices.DeleteFunc(h, func(x messenger.Message) bool { return x.Seq <= seq })
		if len(h) > 0 || end > latest[0].Seq {
			slices.Reverse(h)
			return h, nil
		}
	}
}

// forget drops what is cached about messages no longer loaded.
func (v *conversationView) forget(ms []messenger.Message) {
	for _, m := range ms {
		delete(v.heights, m.ID)
		delete(v.cards, m.ID)
		delete(v.thumbs, m.ID)
	}
}

// applyHeights gives the list the measured heights by position.
func (v *conversationView) applyHeights() {
	for i, m := range v.msgs {
		if h, ok := v.heights[m.ID]; ok {
			v.list.SetItemHeight(i, h)
		}
	}
}

func (v *conversationView) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(v.msgs) {
		return
	}
	if v.list.GetScrollOffset() > 0 {
		v.scrolled = true
	}
	switch {
	case v.toBottom && v.list.Size().Height > 0:
		v.flushLater()
	case id < 5 && v.scrolled:
		v.loadOlder()
	case id >= len(v.msgs)-5:
		v.loadNewer()
	}
	row := o.(*msgRow)
	msg := v.msgs[id]
	row.set(msg)
	w := v.list.Size().Width
	if w <= 0 {
		return
	}
	h := row.heightFor(w - theme.Padding()*4)
	if old, ok := v.heights[msg.ID]; !ok || old != h {
		v.heights[msg.ID] = h
		if v.measured == nil {
			v.measured = map[string]float32{}
		}
		v.measured[msg.ID] = h
		v.flushLater()
	}
}

// flushLater applies measured heights and a pending scroll to the end
// once the list's current layout is over.
func (v *conversationView) flushLater() {
	if v.flushPending {
		return
	}
	v.flushPending = true
	go v.s.u.do(func() {
		v.flushPending = false
		if v.closed {
			return
		}
		if len(v.measured) > 0 {
			for i, m := range v.msgs {
				if h, ok := v.measured[m.ID]; ok {
					v.list.SetItemHeight(i, h)
				}
			}
			clear(v.measured)
		}
		if v.toBottom {
			v.toBottom = false
			v.list.ScrollToBottom()
		}
	})
}

// markShown tells the messenger the user saw the conversation (unread
// count, read receipts); burn-on-read messages start only when tapped.
func (v *conversationView) markShown() {
	var ids []string
	for _, m := range v.msgs {
		if m.From != "me" && m.BurnAfter == 0 && m.Kind != messenger.KindNotice {
			ids = append(ids, m.ID)
		}
	}
	if _, err := v.s.m.MarkShown(v.contact.ID, ids...); err != nil {
		v.s.u.opts.Logger.Warn("marking messages shown", "err", err)
	}
}

// reveal shows a burn-on-read message: its countdown starts now.
func (v *conversationView) reveal(id string) {
	v.s.u.touch()
	up, err := v.s.m.MarkShown(v.contact.ID, id)
	if err != nil {
		dialog.ShowError(err, v.s.u.win)
		return
	}
	for _, m := range up {
		v.updated(m)
	}
}

func (v *conversationView) index(id string) int {
	for i := len(v.msgs) - 1; i >= 0; i-- {
		if v.msgs[i].ID == id {
			return i
		}
	}
	return -1
}

// added appends a new message and follows it when the list was at the end.
func (v *conversationView) added(m messenger.Message) {
	if v.index(m.ID) >= 0 {
		v.updated(m)
		return
	}
	if v.newer { // the user is reading far back; it loads on the way down
		return
	}
	v.msgs = append(v.msgs, m)
	if len(v.msgs) > maxLoaded {
		v.forget(v.msgs[:1])
		v.msgs = slices.Clone(v.msgs[1:])
		v.more = true
	}
	v.list.Refresh()
	v.list.ScrollToBottom()
	if m.From != "me" && m.BurnAfter == 0 && v.s.u.focused() {
		v.s.m.MarkShown(v.contact.ID, m.ID)
	}
}

func (v *conversationView) updated(m messenger.Message) {
	if i := v.index(m.ID); i >= 0 {
		v.msgs[i] = m
		delete(v.heights, m.ID)
		v.list.RefreshItem(i)
	}
}

func (v *conversationView) expired(ids []string) {
	gone := map[string]bool{}
	for _, id := range ids {
		gone[id] = true
		delete(v.heights, id)
		delete(v.cards, id)
		delete(v.thumbs, id)
	}
	v.msgs = slices.DeleteFunc(v.msgs, func(m messenger.Message) bool { return gone[m.ID] })
	v.list.Refresh()
	v.applyHeights()
}

func (v *conversationView) progress(p messenger.TransferProgress) {
	if c, ok := v.cards[p.MessageID]; ok {
		c.setProgress(p.Done, p.Total)
	}
}

// tick refreshes the countdowns of visible disappearing messages.
func (v *conversationView) tick() {
	for i, m := range v.msgs {
		if !m.ExpiresAt.IsZero() {
			v.list.RefreshItem(i)
		}
	}
}

func (v *conversationView) close() {
	v.closed = true
	v.msgs, v.cards, v.thumbs, v.heights = nil, nil, nil, nil
}

// sendOptions are the per-message timer override.
func (v *conversationView) sendOptions() messenger.SendOptions {
	return overrideOptions(v.override.Selected)
}

func (v *conversationView) onSend() {
	v.s.u.touch()
	text := strings.TrimSpace(v.compose.Text)
	if text == "" {
		return
	}
	v.compose.SetText("")
	m, id, opts := v.s.m, v.contact.ID, v.sendOptions()
	runAsync(v.s.u, func(ctx context.Context) (messenger.Message, error) {
		return m.SendText(ctx, id, text, opts)
	}, func(_ messenger.Message, err error) {
		if err != nil {
			if v.compose.Text == "" { // give the text back
				v.compose.SetText(text)
			}
			dialog.ShowError(err, v.s.u.win)
		}
	})
}

// onPaste handles pasted text that names a local file (what file managers
// put on the clipboard when a file is copied): the file is offered for
// sending like a dropped one. Fyne's clipboard carries text only, so
// images copied as pixels cannot be pasted.
func (v *conversationView) onPaste(text string) bool {
	text = strings.TrimSpace(text)
	if strings.ContainsAny(text, "\n\r") {
		return false
	}
	p := text
	if u, err := url.Parse(text); err == nil && u.Scheme == "file" {
		p = u.Path
	} else if !strings.HasPrefix(text, "/") {
		return false
	}
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return false
	}
	v.s.drop.handleDrop([]string{p})
	return true
}

func (v *conversationView) showMenu(anchor fyne.CanvasObject) {
	u, m, c := v.s.u, v.s.m, v.contact
	changed := func(c messenger.Contact) { v.setContact(c); v.s.reload() }
	items := []*fyne.MenuItem{
		fyne.NewMenuItem("Safety number…", func() { showSafetyNumber(u.win, m, c, changed) }),
		fyne.NewMenuItem("Rename…", func() { renameContact(u.win, m, c, changed) }),
		fyne.NewMenuItem("Disappearing messages…", v.pickTimer),
	}
	if c.KeyChanged {
		text := "Someone calling themselves " + strconv.Quote(c.RequestPseudonym) + " asked to replace " + c.Name + "'s identity."
		if sn, err := m.RequestSafetyNumber(c.ID); err == nil {
			text += "\nTheir safety number:\n" + sn.String()
		}
		items = append(items, fyne.NewMenuItem("Accept the new safety number…", func() {
			dialog.ShowConfirm("Accept the new key?", text+"\n\nDo this only after checking this safety number with "+c.Name+
				" in person or on a call.", func(ok bool) {
				if !ok {
					return
				}
				if nc, err := m.AcceptKeyChange(c.ID); err != nil {
					dialog.ShowError(err, u.win)
				} else {
					changed(nc)
				}
			}, u.win)
		}), fyne.NewMenuItem("Decline the request", func() {
			if nc, err := m.DeclineKeyChange(c.ID); err != nil {
				dialog.ShowError(err, u.win)
			} else {
				changed(nc)
			}
		}))
	}
	block := "Block…"
	if c.Blocked {
		block = "Unblock…"
	}
	items = append(items, fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem(block, func() { confirmBlock(u.win, m, c, changed) }),
		fyne.NewMenuItem("Delete…", func() { confirmDelete(u.win, m, c, func(string) { v.s.showEmpty(); v.s.reload() }) }))
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(anchor).AddXY(0, anchor.Size().Height)
	widget.ShowPopUpMenuAtPosition(fyne.NewMenu("", items...), u.win.Canvas(), pos)
}

// onLink opens a link through the interstitial policy.
func (v *conversationView) onLink(rawURL, shown string) {
	v.s.u.touch()
	v.opener.open(rawURL, shown)
}

// fileActions are the buttons of a file card.
func (v *conversationView) fileActions() fileActions {
	u, m := v.s.u, v.s.m
	return fileActions{
		save: func(id string) {
			i := v.index(id)
			if i < 0 || v.msgs[i].File == nil {
				return
			}
			saveFileDialog(u.win, v.msgs[i].File.Name, func(path string) error { return m.SaveFile(id, path) })
		},
		download: func(id string) {
			go func() {
				if err := m.Download(id); err != nil {
					u.do(func() { dialog.ShowError(err, u.win) })
				}
			}()
		},
		cancel: func(id string) {
			go func() {
				if err := m.CancelTransfer(id); err != nil {
					u.do(func() { dialog.ShowError(err, u.win) })
				}
			}()
		},
	}
}

// thumbLoaded keeps a file card's decoded thumbnail (a few of them) and
// measures the row again, now taller.
func (v *conversationView) thumbLoaded(id string, thumb fyne.CanvasObject) {
	if v.closed {
		return
	}
	if len(v.thumbs) >= maxThumbs {
		clear(v.thumbs)
	}
	v.thumbs[id] = thumb
	delete(v.heights, id)
	if i := v.index(id); i >= 0 {
		v.list.RefreshItem(i)
	}
}

// copyText puts a message's text on the clipboard and clears it after the
// user's chosen time, unless something else was copied meanwhile.
func (v *conversationView) copyText(text string) {
	cb := v.s.u.app.Clipboard()
	cb.SetContent(text)
	d := v.s.m.Settings().ClipboardClearAfter()
	if d <= 0 {
		return
	}
	time.AfterFunc(d, func() {
		v.s.u.do(func() {
			if cb.Content() == text {
				cb.SetContent("")
			}
		})
	})
}

// msgRow is one row of the message list: a bubble aligned to the sender's
// side, or a centred notice.
type msgRow struct {
	widget.BaseWidget
	v      *conversationView
	msg    messenger.Message
	bg     *canvas.Rectangle
	body   *fyne.Container
	meta   *widget.Label
	bubble *fyne.Container
}

func newMsgRow(v *conversationView) *msgRow {
	r := &msgRow{v: v, bg: canvas.NewRectangle(color.Transparent), body: container.NewVBox(),
		meta: widget.NewLabel("")}
	r.bg.CornerRadius = theme.InputRadiusSize() * 2
	r.meta.SizeName = theme.SizeNameCaptionText
	r.bubble = container.NewStack(r.bg, container.NewPadded(container.NewVBox(r.body, r.meta)))
	r.ExtendBaseWidget(r)
	return r
}

func (r *msgRow) CreateRenderer() fyne.WidgetRenderer {
	return &msgRowRenderer{r: r}
}

// set shows a message in the row.
func (r *msgRow) set(m messenger.Message) {
	same := r.msg.ID == m.ID && r.msg.State == m.State && r.msg.ExpiresAt.Equal(m.ExpiresAt) &&
		r.msg.File != nil == (m.File != nil) && (m.File == nil || r.msg.File.Have == m.File.Have)
	r.msg = m
	r.meta.SetText(r.metaText())
	if same {
		return
	}
	mine := m.From == "me"
	switch {
	case m.Kind == messenger.KindNotice:
		r.bg.FillColor = color.Transparent
	case mine:
		r.bg.FillColor = theme.Color(colorNameBubbleMine)
	default:
		r.bg.FillColor = theme.Color(colorNameBubbleTheirs)
	}
	r.bg.Refresh()
	r.body.Objects = r.contents()
	r.body.Refresh()
}

// contents are the widgets showing a message's body.
func (r *msgRow) contents() []fyne.CanvasObject {
	m, v := r.msg, r.v
	switch {
	case m.Kind == messenger.KindNotice:
		l := widget.NewLabelWithStyle(m.Text, fyne.TextAlignCenter, fyne.TextStyle{Italic: true})
		l.Wrapping = fyne.TextWrapWord
		return []fyne.CanvasObject{l}
	case m.From != "me" && m.BurnAfter > 0 && m.ExpiresAt.IsZero():
		id := m.ID
		b := widget.NewButtonWithIcon(fmt.Sprintf("Burn-on-read message — show it (it disappears %s later)",
			shortDuration(m.BurnAfter)), theme.VisibilityIcon(), func() { v.reveal(id) })
		return []fyne.CanvasObject{b}
	case m.Kind == messenger.KindFile && m.File != nil:
		card := newFileCard(m, v.fileActions())
		if fc, ok := card.(*fileCard); ok {
			v.cards[m.ID] = fc
			// Images show a thumbnail, decoded in memory (never to a
			// temporary file) off the Fyne goroutine, and kept.
			if t, ok := v.thumbs[m.ID]; ok {
				fc.setThumb(t)
			} else {
				id, msgr := m.ID, v.s.m
				fc.onThumb = v.thumbLoaded
				fc.loadThumb(func() (io.ReadCloser, error) {
					a, _, err := msgr.OpenFile(id)
					return a, err
				}, v.s.u.do)
			}
		}
		return []fyne.CanvasObject{card}
	}
	rt := linkText(m.Text, v.onLink)
	if rightToLeft(m.Text) {
		alignTrailing(rt)
	}
	out := []fyne.CanvasObject{rt}
	for _, l := range links.Extract(m.Text) {
		if vd := links.Analyze(l.URL, l.Text); vd.Risk > links.RiskNone {
			out = append(out, newRiskBadge(vd))
		}
	}
	for _, p := range m.Previews {
		out = append(out, newLinkCard(p, links.Analyze(p.URL, ""), func(u string) { v.onLink(u, "") }))
	}
	return out
}

// metaText is the line under a bubble: time, delivery state and the
// countdown of a disappearing message.
func (r *msgRow) metaText() string {
	m := r.msg
	if m.Kind == messenger.KindNotice {
		return ""
	}
	parts := []string{m.SentAt.Local().Format("15:04")}
	if m.From == "me" {
		parts = append(parts, stateLabel(m.State))
	}
	if !m.ExpiresAt.IsZero() {
		left := m.ExpiresAt.Sub(r.v.s.u.opts.Now())
		parts = append(parts, "⏱ "+countdown(left))
	}
	return strings.Join(parts, " · ")
}

// heightFor is the row's height at a width.
func (r *msgRow) heightFor(w float32) float32 {
	bw := bubbleWidth(w, r.msg)
	r.bubble.Resize(fyne.NewSize(bw, r.bubble.MinSize().Height))
	return r.bubble.MinSize().Height + theme.Padding()
}

// TappedSecondary offers to copy a message's text.
func (r *msgRow) TappedSecondary(e *fyne.PointEvent) {
	if r.msg.Kind != messenger.KindText || (r.msg.BurnAfter > 0 && r.msg.ExpiresAt.IsZero() && r.msg.From != "me") {
		return
	}
	text := r.msg.Text
	menu := fyne.NewMenu("", fyne.NewMenuItem("Copy text", func() { r.v.copyText(text) }))
	widget.ShowPopUpMenuAtPosition(menu, r.v.s.u.win.Canvas(), e.AbsolutePosition)
}

var _ fyne.SecondaryTappable = (*msgRow)(nil)

// bubbleWidth is the width of a message's bubble in a row of width w.
func bubbleWidth(w float32, m messenger.Message) float32 {
	if m.Kind == messenger.KindNotice {
		return w
	}
	return max(w*0.75, min(w, 240))
}

type msgRowRenderer struct{ r *msgRow }

func (rr *msgRowRenderer) Layout(s fyne.Size) {
	r := rr.r
	bw := bubbleWidth(s.Width, r.msg)
	r.bubble.Resize(fyne.NewSize(bw, s.Height-theme.Padding()))
	x := float32(0)
	if r.msg.From == "me" {
		x = s.Width - bw
	} else if r.msg.Kind == messenger.KindNotice {
		x = (s.Width - bw) / 2
	}
	r.bubble.Move(fyne.NewPos(x, 0))
}

func (rr *msgRowRenderer) MinSize() fyne.Size {
	m := rr.r.bubble.MinSize()
	return fyne.NewSize(m.Width, m.Height+theme.Padding())
}
func (rr *msgRowRenderer) Refresh()                     { rr.r.bubble.Refresh() }
func (rr *msgRowRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{rr.r.bubble} }
func (rr *msgRowRenderer) Destroy()                     {}

// rightToLeft says whether text starts, in its first letter with a strong
// direction, in a right-to-left script (its paragraph direction, as the
// Unicode bidi algorithm's rules P2 and P3 find it).
func rightToLeft(text string) bool {
	for _, r := range text {
		switch {
		case unicode.In(r, unicode.Hebrew, unicode.Arabic, unicode.Syriac, unicode.Thaana, unicode.Nko,
			unicode.Samaritan, unicode.Mandaic, unicode.Adlam):
			return true
		case unicode.IsLetter(r):
			return false
		}
	}
	return false
}

// alignTrailing aligns every paragraph of rich text to the right: Fyne
// draws a right-to-left run in the right order, but always left-aligned.
func alignTrailing(rt *widget.RichText) {
	for _, seg := range rt.Segments {
		switch s := seg.(type) {
		case *widget.TextSegment:
			s.Style.Alignment = fyne.TextAlignTrailing
		case *widget.HyperlinkSegment:
			s.Alignment = fyne.TextAlignTrailing
		}
	}
	rt.Refresh()
}

// stateLabel is a delivery state in words.
func stateLabel(s messenger.State) string {
	switch s {
	case messenger.StateQueued:
		return "sending…"
	}
	return string(s)
}

// countdown formats the time left of a disappearing message.
func countdown(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// composeEntry is the message field: Enter sends, Shift+Enter starts a new
// line.
type composeEntry struct {
	widget.Entry
	submit  func()
	onPaste func(string) bool
	shift   bool
}

func newComposeEntry(submit func()) *composeEntry {
	e := &composeEntry{submit: submit}
	e.MultiLine = true
	e.Wrapping = fyne.TextWrapWord
	e.SetMinRowsVisible(2)
	e.ExtendBaseWidget(e)
	return e
}

// KeyDown and KeyUp follow the Shift keys.
func (e *composeEntry) KeyDown(k *fyne.KeyEvent) {
	if k.Name == desktop.KeyShiftLeft || k.Name == desktop.KeyShiftRight {
		e.shift = true
	}
	e.Entry.KeyDown(k)
}

func (e *composeEntry) KeyUp(k *fyne.KeyEvent) {
	if k.Name == desktop.KeyShiftLeft || k.Name == desktop.KeyShiftRight {
		e.shift = false
	}
	e.Entry.KeyUp(k)
}

// TypedKey sends on Enter without Shift.
func (e *composeEntry) TypedKey(k *fyne.KeyEvent) {
	if (k.Name == fyne.KeyReturn || k.Name == fyne.KeyEnter) && !e.shift {
		e.submit()
		return
	}
	e.Entry.TypedKey(k)
}

// TypedShortcut lets a pasted file name become an attachment.
func (e *composeEntry) TypedShortcut(s fyne.Shortcut) {
	if p, ok := s.(*fyne.ShortcutPaste); ok && e.onPaste != nil && p.Clipboard != nil {
		if e.onPaste(p.Clipboard.Content()) {
			return
		}
	}
	e.Entry.TypedShortcut(s)
}
