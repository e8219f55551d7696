package gui

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/messenger"
)

// dialogTestPass is the passphrase of the profiles these tests create.
const dialogTestPass = "correct horse battery staple"

// newDialogTestProfile creates a real profile in a temporary folder; an
// empty relay runs one embedded in the process. It returns the messenger
// and the profile's folder.
func newDialogTestProfile(t *testing.T, name, relay string) (*messenger.Messenger, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	m, err := messenger.Create(messenger.Config{
		Dir: dir, Passphrase: []byte(dialogTestPass), Pseudonym: name, RelayURL: relay,
		InsecureTestKDF: true, NoSync: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, dir
}

// settleBeforeClose lets ms exchange what is in flight before the test's
// cleanup closes them, so that no batch is cut off half-way by Close
// (core/messenger's handleBatch reads a batch's result when Close ends its
// wait, while the writer may still be running the batch: a data race).
func settleBeforeClose(t *testing.T, ms ...*messenger.Messenger) {
	t.Cleanup(func() {
		for range 2 {
			for _, m := range ms {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				if err := m.Sync(ctx, 200*time.Millisecond); err != nil {
					t.Logf("%s: sync before closing: %v", m.Pseudonym(), err)
				}
				cancel()
			}
		}
	})
}

// newDialogTestWindow makes a headless app and a window big enough for the
// dialogs.
func newDialogTestWindow(t *testing.T) fyne.Window {
	t.Helper()
	test.NewTempApp(t)
	w := test.NewTempWindow(t, widget.NewLabel("main screen"))
	w.Resize(fyne.NewSize(800, 900))
	return w
}

// visibleObjects lists o and everything visible inside it, through
// containers and widget renderers.
func visibleObjects(o fyne.CanvasObject) []fyne.CanvasObject {
	if o == nil || !o.Visible() {
		return nil
	}
	out := []fyne.CanvasObject{o}
	switch o := o.(type) {
	case *fyne.Container:
		for _, c := range o.Objects {
			out = append(out, visibleObjects(c)...)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(o).Objects() {
			out = append(out, visibleObjects(c)...)
		}
	}
	return out
}

// overlayObjects lists what is visible in win's overlays (dialogs).
func overlayObjects(win fyne.Window) []fyne.CanvasObject {
	var out []fyne.CanvasObject
	for _, o := range win.Canvas().Overlays().List() {
		out = append(out, visibleObjects(o)...)
	}
	return out
}

// tapDialogButton taps the visible button labelled label in win's dialogs.
func tapDialogButton(t *testing.T, win fyne.Window, label string) {
	t.Helper()
	var seen []string
	for _, o := range overlayObjects(win) {
		if b, ok := o.(*widget.Button); ok {
			if b.Text == label {
				if b.Disabled() {
					t.Fatalf("button %q is disabled", label)
				}
				test.Tap(b)
				return
			}
			seen = append(seen, b.Text)
		}
	}
	t.Fatalf("no button %q in the dialogs; buttons: %q", label, seen)
}

// dialogText joins the text of every visible label in win's dialogs.
func dialogText(win fyne.Window) string {
	var b strings.Builder
	for _, o := range overlayObjects(win) {
		if l, ok := o.(*widget.Label); ok {
			b.WriteString(l.Text)
			b.WriteString("\n")
		}
	}
	return b.String()
}

func TestInviteDialogShowsCodeQRAndCopies(t *testing.T) {
	win := newDialogTestWindow(t)
	alice, _ := newDialogTestProfile(t, "alice", "")
	bob, _ := newDialogTestProfile(t, "bob", alice.RelayURL())
	settleBeforeClose(t, bob, alice)

	d := newInviteDialog(win, alice)
	d.dlg.Show()
	d.create()
	d.work.wait()

	if d.problem.Visible() {
		t.Fatalf("invite failed: %s", d.problem.Text)
	}
	code := d.code.Text
	if code == "" || code != d.inv.Code {
		t.Fatalf("code label = %q, invite code %q", code, d.inv.Code)
	}
	if !d.code.Selectable {
		t.Error("the code cannot be selected")
	}
	if len(d.qr.Objects) != 1 {
		t.Fatalf("QR area holds %d objects, want the image", len(d.qr.Objects))
	}
	img, ok := d.qr.Objects[0].(*canvas.Image)
	if !ok || img.Image == nil {
		t.Fatalf("QR area holds %T, want a decoded image", d.qr.Objects[0])
	}
	want, err := png.Decode(bytes.NewReader(d.inv.QR))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Image.Bounds(); got != want.Bounds() || got.Dx() == 0 {
		t.Errorf("QR image bounds %v, want the invite's %v", got, want.Bounds())
	}
	if !strings.Contains(d.expires.Text, "Valid until") || strings.Contains(d.expires.Text, "one contact") {
		t.Errorf("expiry label %q, want a reusable invite's expiry", d.expires.Text)
	}
	if !strings.Contains(dialogText(win), code) {
		t.Error("the dialog on screen does not show the code")
	}

	tapDialogButton(t, win, "Copy")
	if got := fyne.CurrentApp().Clipboard().Content(); got != code {
		t.Errorf("clipboard = %q, want the code %q", got, code)
	}

	c, err := bob.AcceptInvite(t.Context(), code)
	if err != nil {
		t.Fatalf("bob cannot accept the code the dialog showed: %v", err)
	}
	if c.Pseudonym != "alice" {
		t.Errorf("bob's new contact is %q, want alice", c.Pseudonym)
	}

	// A one-time invite replaces the code shown.
	test.Tap(d.oneTime)
	if d.renew.Importance != widget.HighImportance {
		t.Error(`ticking one-time does not highlight "New code"`)
	}
	tapDialogButton(t, win, "New code")
	d.work.wait()
	if d.renew.Importance == widget.HighImportance {
		t.Error(`"New code" still highlighted after making the code`)
	}
	if !d.inv.OneTime || d.code.Text == code || d.code.Text != d.inv.Code {
		t.Errorf("after ticking one-time: invite %+v shown as %q, first code %q", d.inv, d.code.Text, code)
	}
	if !strings.Contains(d.expires.Text, "for one contact") {
		t.Errorf("expiry label %q does not say the invite is for one contact", d.expires.Text)
	}
}

func TestAddContactDialog(t *testing.T) {
	win := newDialogTestWindow(t)
	alice, _ := newDialogTestProfile(t, "alice", "")
	bob, _ := newDialogTestProfile(t, "bob", alice.RelayURL())
	settleBeforeClose(t, bob, alice)
	var added []messenger.Contact
	d := newAddContactDialog(win, bob, func(c messenger.Contact) { added = append(added, c) })
	d.dlg.Show()

	tapDialogButton(t, win, "Add")
	d.work.wait()
	if !d.problem.Visible() || !strings.Contains(d.problem.Text, "Paste") {
		t.Errorf("empty code: problem %q (visible %v), want a request to paste one", d.problem.Text, d.problem.Visible())
	}

	test.Type(d.code, "EPH-not-a-real-invite-code")
	if d.problem.Visible() {
		t.Error("the old problem stays visible while typing")
	}
	tapDialogButton(t, win, "Add")
	d.work.wait()
	if !d.problem.Visible() || !strings.Contains(strings.ToLower(d.problem.Text), "bad invite") {
		t.Errorf("bad code: problem %q (visible %v), want the messenger's bad-invite error", d.problem.Text, d.problem.Visible())
	}
	if len(added) != 0 {
		t.Fatalf("a bad code added %v", added)
	}
	if d.add.Disabled() || d.code.Disabled() {
		t.Error("the form stays disabled after a failure")
	}

	inv, err := alice.CreateInvite(t.Context(), messenger.InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.code.SetText("\n  " + inv.Code + "  \n") // pasted with stray white space
	tapDialogButton(t, win, "Add")
	d.work.wait()
	if len(added) != 1 || added[0].Pseudonym != "alice" {
		t.Fatalf("added = %+v, want alice", added)
	}
	contacts, err := bob.Contacts()
	if err != nil {
		t.Fatal(err)
	}
	if len(contacts) != 1 || contacts[0].ID != added[0].ID {
		t.Errorf("bob's contacts = %+v, want alice", contacts)
	}
	if top := win.Canvas().Overlays().Top(); top != nil {
		t.Error("the dialog is still open after adding the contact")
	}
}

// newContactPair gives bob a contact alice through alice's invite (bob's
// side only: alice has not processed bob's answer).
func newContactPair(t *testing.T) (bob *messenger.Messenger, aliceForBob messenger.Contact) {
	t.Helper()
	alice, _ := newDialogTestProfile(t, "alice", "")
	bob, _ = newDialogTestProfile(t, "bob", alice.RelayURL())
	settleBeforeClose(t, bob, alice)
	inv, err := alice.CreateInvite(t.Context(), messenger.InviteOptions{OneTime: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := bob.AcceptInvite(t.Context(), inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	return bob, c
}

func TestSafetyNumberDialog(t *testing.T) {
	win := newDialogTestWindow(t)
	bob, alice := newContactPair(t)
	sn, err := bob.SafetyNumber(alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	var changed []messenger.Contact
	d, err := newSafetyDialog(win, bob, alice, func(c messenger.Contact) { changed = append(changed, c) })
	if err != nil {
		t.Fatal(err)
	}
	d.dlg.Show()

	lines := strings.Split(d.digits.Text, "\n")
	if len(lines) != 3 {
		t.Errorf("digits on %d lines, want 3: %q", len(lines), d.digits.Text)
	}
	if got := strings.Join(lines, " "); got != sn.String() {
		t.Errorf("digits %q, want the messenger's %q", got, sn.String())
	}
	if !strings.Contains(dialogText(win), lines[1]) {
		t.Error("the dialog on screen does not show the digits")
	}
	want, err := sn.QRCodePNG(qrSize)
	if err != nil {
		t.Fatal(err)
	}
	wantImg, _ := png.Decode(bytes.NewReader(want))
	if d.qr.Image == nil || d.qr.Image.Bounds() != wantImg.Bounds() {
		t.Fatalf("QR image %v, want the safety number's %v", d.qr.Image, wantImg.Bounds())
	}
	for y := range wantImg.Bounds().Dy() {
		for x := range wantImg.Bounds().Dx() {
			if d.qr.Image.At(x, y) != wantImg.At(x, y) {
				t.Fatalf("QR pixel (%d,%d) differs from the safety number's QR code", x, y)
			}
		}
	}

	for _, step := range []struct {
		tap      string
		verified bool
		next     string
	}{
		{"Mark as verified", true, "Remove verification"},
		{"Remove verification", false, "Mark as verified"},
	} {
		tapDialogButton(t, win, step.tap)
		d.work.wait()
		c, err := bob.FindContact(alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Verified != step.verified {
			t.Errorf("after %q: Verified = %v, want %v", step.tap, c.Verified, step.verified)
		}
		if n := len(changed); n == 0 || changed[n-1].Verified != step.verified {
			t.Errorf("after %q: changed got %+v", step.tap, changed)
		}
		if d.toggle.Text != step.next {
			t.Errorf("after %q: button says %q, want %q", step.tap, d.toggle.Text, step.next)
		}
	}
}

func TestRenameBlockDeleteDialogs(t *testing.T) {
	win := newDialogTestWindow(t)
	bob, alice := newContactPair(t)
	var changed []messenger.Contact
	onChanged := func(c messenger.Contact) { changed = append(changed, c) }

	r := newRenameAction(win, bob, alice, onChanged)
	r.dlg.Show()
	r.name.SetText("")
	test.Type(r.name, "Ally from work")
	tapDialogButton(t, win, "Rename")
	r.work.wait()
	c, err := bob.FindContact(alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Ally from work" || len(changed) != 1 || changed[0].Name != "Ally from work" {
		t.Fatalf("after renaming: contact %+v, changed %+v", c, changed)
	}

	for _, want := range []bool{true, false} {
		b := newBlockAction(win, bob, c, onChanged)
		b.dlg.Show()
		verb := map[bool]string{true: "Block", false: "Unblock"}[want]
		tapDialogButton(t, win, verb)
		b.work.wait()
		if c, err = bob.FindContact(alice.ID); err != nil {
			t.Fatal(err)
		}
		if c.Blocked != want {
			t.Errorf("after %s: Blocked = %v", verb, c.Blocked)
		}
		if last := changed[len(changed)-1]; last.Blocked != want {
			t.Errorf("after %s: changed got %+v", verb, last)
		}
	}

	var deleted []string
	onDeleted := func(id string) { deleted = append(deleted, id) }
	del := newDeleteAction(win, bob, c, onDeleted)
	del.dlg.Show()
	if text := dialogText(win); !strings.Contains(text, "whole history") {
		t.Errorf("delete dialog says %q, want a warning about the whole history", text)
	}
	tapDialogButton(t, win, "Cancel")
	del.work.wait()
	if _, err := bob.FindContact(alice.ID); err != nil || len(deleted) != 0 {
		t.Fatalf("after cancelling: %v, deleted %v", err, deleted)
	}

	del = newDeleteAction(win, bob, c, onDeleted)
	del.dlg.Show()
	tapDialogButton(t, win, "Delete")
	del.work.wait()
	contacts, err := bob.Contacts()
	if err != nil {
		t.Fatal(err)
	}
	if len(contacts) != 0 || len(deleted) != 1 || deleted[0] != alice.ID {
		t.Fatalf("after deleting: contacts %+v, deleted %v", contacts, deleted)
	}

	// An action on a contact that is gone explains why it failed.
	r = newRenameAction(win, bob, c, onChanged)
	r.dlg.Show()
	tapDialogButton(t, win, "Rename")
	r.work.wait()
	if text := dialogText(win); !strings.Contains(text, "Not renamed. Unknown contact") {
		t.Errorf("renaming a deleted contact shows %q, want an unknown-contact error", text)
	}
}

func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{messenger.ErrWrongPassphrase, "The passphrase is wrong."},
		{messenger.ErrBadInvite, "Bad invite"},
		{messenger.ErrUnknownContact, "Unknown contact"},
		{fmt.Errorf("%w: invite: malformed invite code", messenger.ErrBadInvite), "Bad invite: malformed invite code"},
	} {
		if got := errorText(tc.err); got != tc.want {
			t.Errorf("errorText(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
