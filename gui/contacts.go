package gui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/messenger"
)

// The contact dialogs: invite, add, safety number, rename, block, delete.
// Each is a small struct holding its widgets; show* and the action
// functions build one, show it and return the Fyne dialog. Messenger
// calls that may wait on the relay or the disk run on a worker goroutine
// (see background) while the dialog shows progress.

// relayTimeout bounds a call that needs the relay, so that a dead relay
// ends in an error message instead of an endless spinner.
const relayTimeout = time.Minute

// qrSize is the side, in pixels, of the QR images shown.
const qrSize = 240

// background runs blocking work off the Fyne goroutine and hands its result
// back there. Its zero value is ready to use.
type background struct {
	pending sync.WaitGroup
}

// run calls work on a new goroutine and then done(err) on the Fyne
// goroutine. Call it on the Fyne goroutine.
func (b *background) run(work func() error, done func(error)) {
	b.pending.Add(1)
	go func() {
		err := work()
		onUI(func() {
			defer b.pending.Done()
			done(err)
		})
	}()
}

// wait returns once every run so far has called its done. Tests use it;
// it must not be called on the Fyne goroutine.
func (b *background) wait() { b.pending.Wait() }

// errorText words err for the person in front of the window.
func errorText(err error) string {
	switch {
	case errors.Is(err, messenger.ErrWrongPassphrase):
		return "The passphrase is wrong."
	case errors.Is(err, context.DeadlineExceeded):
		return "The relay did not answer in time. Check your connection and try again."
	case errors.Is(err, messenger.ErrClosed):
		return "The profile is locked."
	}
	// Drop the package names that prefix Go errors ("messenger: bad
	// invite: invite: malformed ..."); they mean nothing to a person.
	s := err.Error()
	for _, pkg := range []string{"messenger: ", "vault: ", "invite: ", "identity: "} {
		s = strings.TrimPrefix(strings.ReplaceAll(s, ": "+pkg, ": "), pkg)
	}
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[size:]
}

// showErrorDialog shows what failed ("Not renamed") and why.
func showErrorDialog(win fyne.Window, what string, err error) dialog.Dialog {
	d := dialog.NewError(errors.New(what+". "+errorText(err)), win)
	d.Show()
	return d
}

// fixedWidthLayout gives its objects a fixed width and the height the
// tallest needs at that width, so that dialogs with wrapped text keep a
// readable shape.
type fixedWidthLayout float32

func (w fixedWidthLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	var h float32
	for _, o := range objects {
		if !o.Visible() {
			continue
		}
		// Wrapped text reports its height for the width it has: give it
		// the width first, or it answers for one line.
		if o.Size().Width != float32(w) {
			o.Resize(fyne.NewSize(float32(w), o.MinSize().Height))
		}
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(float32(w), h)
}

func (w fixedWidthLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objects {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

// withWidth lays o out at a fixed width.
func withWidth(width float32, o fyne.CanvasObject) fyne.CanvasObject {
	return container.New(fixedWidthLayout(width), o)
}

// qrImage decodes a PNG QR code in memory into an image that keeps its
// modules sharp at any scale.
func qrImage(pngBytes []byte) (*canvas.Image, error) {
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		return nil, fmt.Errorf("QR code: %w", err)
	}
	return newQRCanvas(img), nil
}

func newQRCanvas(img image.Image) *canvas.Image {
	c := canvas.NewImageFromImage(img)
	c.FillMode = canvas.ImageFillContain
	c.ScaleMode = canvas.ImageScalePixels
	c.SetMinSize(fyne.NewSquareSize(qrSize))
	return c
}

// dangerLabel is an inline error message, hidden until set.
func dangerLabel() *widget.Label {
	l := widget.NewLabel("")
	l.Wrapping = fyne.TextWrapWord
	l.Importance = widget.DangerImportance
	l.Hide()
	return l
}

func setDanger(l *widget.Label, text string) {
	l.SetText(text)
	if text == "" {
		l.Hide()
	} else {
		l.Show()
	}
}

// relayout makes a dialog take the size its content needs now, after
// parts of it were shown, hidden or filled in.
func relayout(d dialog.Dialog) {
	d.Resize(d.MinSize())
	d.Refresh()
}

// inviteDialog shows a fresh invite code of ours: the code, its QR image,
// a copy button and when it expires.
type inviteDialog struct {
	win fyne.Window
	m   *messenger.Messenger
	dlg *dialog.CustomDialog

	oneTime  *widget.Check
	renew    *widget.Button
	busy     *widget.ProgressBarInfinite
	code     *widget.Label
	qr       *fyne.Container // holds the QR image once there is one
	copyCode *widget.Button
	expires  *widget.Label
	problem  *widget.Label

	inv    messenger.Invite
	ctx    context.Context
	cancel context.CancelFunc
	work   background
}

// showInvite creates an invite and shows it in a dialog over win.
func showInvite(win fyne.Window, m *messenger.Messenger) dialog.Dialog {
	d := newInviteDialog(win, m)
	d.dlg.Show()
	d.create()
	return d.dlg
}

func newInviteDialog(win fyne.Window, m *messenger.Messenger) *inviteDialog {
	d := &inviteDialog{win: win, m: m}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.dlg = dialog.NewCustom("Invite someone", "Close", d.buildUI(), win)
	d.dlg.SetOnClosed(d.cancel)
	return d
}

func (d *inviteDialog) buildUI() fyne.CanvasObject {
	intro := widget.NewLabel("Give this code to the person you want to talk to, or let them scan the QR code. " +
		"Whoever has it can become your contact, so share it only with them.")
	intro.Wrapping = fyne.TextWrapWord
	d.oneTime = widget.NewCheck("One-time: works for one contact only", d.onOneTime)
	d.renew = widget.NewButtonWithIcon("New code", theme.ViewRefreshIcon(), d.create)
	d.busy = busyBar()
	d.code = widget.NewLabel("")
	d.code.Selectable = true
	d.code.Wrapping = fyne.TextWrapBreak
	d.code.TextStyle = fyne.TextStyle{Monospace: true}
	d.qr = container.NewCenter()
	d.copyCode = widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), d.onCopy)
	d.copyCode.Disable()
	d.expires = widget.NewLabel("")
	d.problem = dangerLabel()
	// The code is long (some 470 characters): a few lines of it scroll,
	// so that the dialog fits a small window; Copy takes all of it.
	code := container.NewVScroll(d.code)
	code.SetMinSize(fyne.NewSize(0, 96))
	body := container.NewVBox(intro, container.NewBorder(nil, nil, nil, d.renew, d.oneTime), d.busy, d.qr, code,
		container.NewBorder(nil, nil, nil, d.copyCode, d.expires), d.problem)
	return withWidth(460, body)
}

// create asks the messenger for a new invite with the chosen options.
func (d *inviteDialog) create() {
	opts := messenger.InviteOptions{OneTime: d.oneTime.Checked}
	d.oneTime.Disable()
	d.renew.Disable()
	d.copyCode.Disable()
	setBusy(d.busy, true)
	setDanger(d.problem, "")
	relayout(d.dlg)
	var inv messenger.Invite
	var qr *canvas.Image
	d.work.run(func() error {
		ctx, cancel := context.WithTimeout(d.ctx, relayTimeout)
		defer cancel()
		var err error
		if inv, err = d.m.CreateInvite(ctx, opts); err != nil {
			return err
		}
		qr, err = qrImage(inv.QR)
		return err
	}, func(err error) {
		setBusy(d.busy, false)
		d.oneTime.Enable()
		d.renew.Enable()
		if err != nil {
			if d.ctx.Err() == nil {
				setDanger(d.problem, "No invite: "+errorText(err))
				relayout(d.dlg)
			}
			return
		}
		d.show(inv, qr)
	})
}

func (d *inviteDialog) show(inv messenger.Invite, qr *canvas.Image) {
	d.inv = inv
	d.code.SetText(inv.Code)
	d.qr.Objects = []fyne.CanvasObject{qr}
	d.qr.Refresh()
	valid := "Valid until " + inv.Expires.Local().Format("Mon 2 Jan 2006, 15:04")
	if inv.OneTime {
		valid += ", for one contact"
	}
	d.expires.SetText(valid)
	d.copyCode.SetText("Copy")
	d.copyCode.Enable()
	d.onOneTime(d.oneTime.Checked)
	relayout(d.dlg)
}

// onOneTime draws attention to "New code" while the choice differs from
// the code shown. (It does not make the code itself: a check's callback
// runs before the check redraws, and work started there would race with
// that in the headless test driver.) Codes already given out stay valid
// until they expire.
func (d *inviteDialog) onOneTime(oneTime bool) {
	if d.inv.Code != "" && oneTime != d.inv.OneTime {
		d.renew.Importance = widget.HighImportance
	} else {
		d.renew.Importance = widget.MediumImportance
	}
	d.renew.Refresh()
}

func (d *inviteDialog) onCopy() {
	fyne.CurrentApp().Clipboard().SetContent(d.inv.Code)
	d.copyCode.SetText("Copied")
}

// addContactDialog accepts a pasted invite code.
type addContactDialog struct {
	win   fyne.Window
	m     *messenger.Messenger
	added func(messenger.Contact)
	dlg   *dialog.CustomDialog

	code    *widget.Entry
	add     *widget.Button
	busy    *widget.ProgressBarInfinite
	problem *widget.Label

	ctx    context.Context
	cancel context.CancelFunc
	work   background
}

// showAddContact shows a dialog to paste someone's invite code; once it is
// accepted, the dialog closes and added receives the new contact.
func showAddContact(win fyne.Window, m *messenger.Messenger, added func(messenger.Contact)) dialog.Dialog {
	d := newAddContactDialog(win, m, added)
	d.dlg.Show()
	d.win.Canvas().Focus(d.code)
	return d.dlg
}

func newAddContactDialog(win fyne.Window, m *messenger.Messenger, added func(messenger.Contact)) *addContactDialog {
	d := &addContactDialog{win: win, m: m, added: added}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.dlg = dialog.NewCustomWithoutButtons("Add a contact", d.buildUI(), win)
	cancel := widget.NewButton("Cancel", d.dlg.Hide)
	d.dlg.SetButtons([]fyne.CanvasObject{cancel, d.add})
	d.dlg.SetOnClosed(d.cancel)
	return d
}

func (d *addContactDialog) buildUI() fyne.CanvasObject {
	intro := widget.NewLabel("Paste the invite code you were given.")
	intro.Wrapping = fyne.TextWrapWord
	d.code = widget.NewMultiLineEntry()
	d.code.Wrapping = fyne.TextWrapBreak
	d.code.SetMinRowsVisible(4)
	d.code.SetPlaceHolder("Invite code")
	d.code.OnChanged = func(string) {
		if d.problem.Visible() {
			setDanger(d.problem, "")
			relayout(d.dlg)
		}
	}
	d.add = widget.NewButtonWithIcon("Add", theme.ContentAddIcon(), d.onAdd)
	d.add.Importance = widget.HighImportance
	d.busy = busyBar()
	d.problem = dangerLabel()
	body := container.NewVBox(intro, d.code, d.busy, d.problem)
	return withWidth(460, body)
}

func (d *addContactDialog) onAdd() {
	code := strings.TrimSpace(d.code.Text)
	if code == "" {
		setDanger(d.problem, "Paste an invite code first.")
		relayout(d.dlg)
		return
	}
	d.add.Disable()
	d.code.Disable()
	setBusy(d.busy, true)
	setDanger(d.problem, "")
	relayout(d.dlg)
	var c messenger.Contact
	d.work.run(func() error {
		ctx, cancel := context.WithTimeout(d.ctx, relayTimeout)
		defer cancel()
		var err error
		c, err = d.m.AcceptInvite(ctx, code)
		return err
	}, func(err error) {
		setBusy(d.busy, false)
		d.add.Enable()
		d.code.Enable()
		if err != nil {
			if d.ctx.Err() == nil {
				setDanger(d.problem, errorText(err))
			}
			relayout(d.dlg)
			return
		}
		d.dlg.Hide()
		if d.added != nil {
			d.added(c)
		}
	})
}

// safetyDialog shows the safety number shared with a contact and lets the
// user mark it as checked.
type safetyDialog struct {
	win     fyne.Window
	m       *messenger.Messenger
	c       messenger.Contact
	changed func(messenger.Contact)
	dlg     *dialog.CustomDialog

	digits *widget.Label
	qr     *canvas.Image
	status *widget.Label
	toggle *widget.Button
	work   background
}

// showSafetyNumber shows the safety number shared with c; marking it
// verified (or not) passes the updated contact to changed.
func showSafetyNumber(win fyne.Window, m *messenger.Messenger, c messenger.Contact, changed func(messenger.Contact)) dialog.Dialog {
	d, err := newSafetyDialog(win, m, c, changed)
	if err != nil {
		return showErrorDialog(win, "No safety number", err)
	}
	d.dlg.Show()
	return d.dlg
}

func newSafetyDialog(win fyne.Window, m *messenger.Messenger, c messenger.Contact, changed func(messenger.Contact)) (*safetyDialog, error) {
	sn, err := m.SafetyNumber(c.ID)
	if err != nil {
		return nil, err
	}
	qrPNG, err := sn.QRCodePNG(qrSize)
	if err != nil {
		return nil, err
	}
	d := &safetyDialog{win: win, m: m, c: c, changed: changed}
	if d.qr, err = qrImage(qrPNG); err != nil {
		return nil, err
	}
	// Three lines of four groups, as identity.SafetyNumber.Groups suggests.
	groups := sn.Groups()
	var lines []string
	for i := 0; i < len(groups); i += 4 {
		lines = append(lines, strings.Join(groups[i:min(i+4, len(groups))], " "))
	}
	d.digits = widget.NewLabelWithStyle(strings.Join(lines, "\n"), fyne.TextAlignCenter, fyne.TextStyle{Monospace: true})
	d.digits.Selectable = true
	d.digits.SizeName = theme.SizeNameSubHeadingText

	intro := widget.NewLabel(fmt.Sprintf("Compare these digits with the ones %s sees, in person or on a call you trust, "+
		"or scan each other's code. If they match, nobody is between you.", c.Name))
	intro.Wrapping = fyne.TextWrapWord
	d.status = widget.NewLabel("")
	d.status.Alignment = fyne.TextAlignCenter
	d.toggle = widget.NewButton("", d.onToggle)
	d.showVerified()
	body := container.NewVBox(intro, d.digits, container.NewCenter(d.qr), d.status, container.NewCenter(d.toggle))
	d.dlg = dialog.NewCustom("Safety number with "+c.Name, "Close", withWidth(460, body), win)
	return d, nil
}

func (d *safetyDialog) showVerified() {
	if d.c.Verified {
		d.status.SetText("✔ Verified")
		d.status.Importance = widget.SuccessImportance
		d.toggle.SetText("Remove verification")
		d.toggle.Importance = widget.MediumImportance
	} else {
		d.status.SetText("Not verified yet")
		d.status.Importance = widget.MediumImportance
		d.toggle.SetText("Mark as verified")
		d.toggle.Importance = widget.HighImportance
	}
	d.status.Refresh()
	d.toggle.Refresh()
}

func (d *safetyDialog) onToggle() {
	want := !d.c.Verified
	d.toggle.Disable()
	var c messenger.Contact
	d.work.run(func() error {
		var err error
		c, err = d.m.SetVerified(d.c.ID, want)
		return err
	}, func(err error) {
		d.toggle.Enable()
		if err != nil {
			showErrorDialog(d.win, "Verification not changed", err)
			return
		}
		d.c = c
		d.showVerified()
		if d.changed != nil {
			d.changed(c)
		}
	})
}

// contactAction is a confirmed change to one contact: rename, block or
// delete.
type contactAction struct {
	win  fyne.Window
	m    *messenger.Messenger
	c    messenger.Contact
	dlg  dialog.Dialog
	name *widget.Entry // the new name, for renaming
	work background
}

// renameContact asks for the name to show for c and passes the renamed
// contact to changed.
func renameContact(win fyne.Window, m *messenger.Messenger, c messenger.Contact, changed func(messenger.Contact)) dialog.Dialog {
	a := newRenameAction(win, m, c, changed)
	a.dlg.Show()
	win.Canvas().Focus(a.name)
	return a.dlg
}

func newRenameAction(win fyne.Window, m *messenger.Messenger, c messenger.Contact, changed func(messenger.Contact)) *contactAction {
	a := &contactAction{win: win, m: m, c: c}
	a.name = widget.NewEntry()
	a.name.SetText(c.Name)
	a.name.SetPlaceHolder(c.Pseudonym)
	help := widget.NewLabel(fmt.Sprintf("Only you see this name. Leave it empty to use the one they chose: %s.", c.Pseudonym))
	help.Wrapping = fyne.TextWrapWord
	a.dlg = dialog.NewForm("Rename "+c.Name, "Rename", "Cancel", []*widget.FormItem{
		widget.NewFormItem("Name", a.name),
		widget.NewFormItem("", help),
	}, func(ok bool) {
		if !ok {
			return
		}
		alias := strings.TrimSpace(a.name.Text)
		if alias == c.Pseudonym {
			alias = ""
		}
		a.apply("Not renamed", func() (messenger.Contact, error) { return m.RenameContact(c.ID, alias) }, changed)
	}, win)
	a.dlg.Resize(fyne.NewSize(420, a.dlg.MinSize().Height))
	return a
}

// confirmBlock asks before blocking c (or unblocking, if c is blocked) and
// passes the changed contact to changed.
func confirmBlock(win fyne.Window, m *messenger.Messenger, c messenger.Contact, changed func(messenger.Contact)) dialog.Dialog {
	a := newBlockAction(win, m, c, changed)
	a.dlg.Show()
	return a.dlg
}

func newBlockAction(win fyne.Window, m *messenger.Messenger, c messenger.Contact, changed func(messenger.Contact)) *contactAction {
	a := &contactAction{win: win, m: m, c: c}
	block := !c.Blocked
	title, msg, verb := "Block "+c.Name+"?",
		fmt.Sprintf("Nothing you write will be sent to %s, and what they send will be dropped without telling them. You can unblock them later.", c.Name),
		"Block"
	if !block {
		title, msg, verb = "Unblock "+c.Name+"?",
			fmt.Sprintf("Messages to and from %s will flow again. What they sent while blocked is gone.", c.Name),
			"Unblock"
	}
	d := dialog.NewConfirm(title, msg, func(ok bool) {
		if ok {
			a.apply("Not "+strings.ToLower(verb)+"ed", func() (messenger.Contact, error) { return m.BlockContact(c.ID, block) }, changed)
		}
	}, win)
	d.SetConfirmText(verb)
	d.SetDismissText("Cancel")
	if block {
		d.SetConfirmImportance(widget.DangerImportance)
	}
	a.dlg = d
	return a
}

// confirmDelete asks before deleting c with the whole history, then passes
// its id to deleted.
func confirmDelete(win fyne.Window, m *messenger.Messenger, c messenger.Contact, deleted func(id string)) dialog.Dialog {
	a := newDeleteAction(win, m, c, deleted)
	a.dlg.Show()
	return a.dlg
}

func newDeleteAction(win fyne.Window, m *messenger.Messenger, c messenger.Contact, deleted func(id string)) *contactAction {
	a := &contactAction{win: win, m: m, c: c}
	d := dialog.NewConfirm("Delete "+c.Name+"?",
		fmt.Sprintf("This deletes %s and your whole history with them from this device: every message and file is destroyed "+
			"and cannot be recovered. To talk again, one of you will need a new invite.", c.Name),
		func(ok bool) {
			if !ok {
				return
			}
			a.apply("Not deleted", func() (messenger.Contact, error) { return c, m.DeleteContact(c.ID) }, func(messenger.Contact) {
				if deleted != nil {
					deleted(c.ID)
				}
			})
		}, win)
	d.SetConfirmText("Delete")
	d.SetDismissText("Cancel")
	d.SetConfirmImportance(widget.DangerImportance)
	a.dlg = d
	return a
}

// apply runs change in the background and hands the result to done, or
// shows why it failed.
func (a *contactAction) apply(failed string, change func() (messenger.Contact, error), done func(messenger.Contact)) {
	var c messenger.Contact
	a.work.run(func() error {
		var err error
		c, err = change()
		return err
	}, func(err error) {
		if err != nil {
			showErrorDialog(a.win, failed, err)
			return
		}
		if done != nil {
			done(c)
		}
	})
}
