package gui

import (
	"errors"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/messenger"
)

// unlockScreen asks for the passphrase of an existing profile.
type unlockScreen struct {
	u      *UI
	pass   *widget.Entry
	button *widget.Button
	errMsg *widget.Label
	busy   *widget.ProgressBarInfinite
}

// showUnlock replaces the window's content with the unlock screen.
func (u *UI) showUnlock() {
	s := &unlockScreen{u: u}
	u.ul = s
	u.screen = "unlock"
	u.win.SetContent(s.buildUI())
	u.win.Canvas().Focus(s.pass)
}

func (s *unlockScreen) buildUI() fyne.CanvasObject {
	s.pass = widget.NewPasswordEntry()
	s.pass.SetPlaceHolder("Passphrase")
	s.pass.OnSubmitted = func(string) { s.onUnlock() }
	s.button = widget.NewButtonWithIcon("Unlock", theme.LoginIcon(), s.onUnlock)
	s.button.Importance = widget.HighImportance
	s.errMsg = dangerLabel()
	s.busy = busyBar()

	title := widget.NewLabelWithStyle("Ephemera is locked", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameHeadingText
	hint := widget.NewLabelWithStyle("Enter your passphrase to open your conversations.", fyne.TextAlignCenter, fyne.TextStyle{})
	box := container.NewVBox(logo(), title, hint, s.pass, s.button, s.busy, s.errMsg)
	return container.NewCenter(container.NewGridWrap(fyne.NewSize(360, box.MinSize().Height+40), box))
}

// onUnlock stretches the passphrase (about a second) off the Fyne
// goroutine and opens the profile.
func (s *unlockScreen) onUnlock() {
	if s.pass.Text == "" || s.pass.Disabled() {
		return
	}
	pass := []byte(s.pass.Text)
	s.pass.Disable()
	s.button.Disable()
	setDanger(s.errMsg, "")
	setBusy(s.busy, true)
	cfg := s.u.messengerConfig(pass)
	go func() {
		m, err := messenger.Open(cfg)
		clear(pass)
		openedProfile()
		s.u.do(func() { s.opened(m, err) })
	}()
}

func (s *unlockScreen) opened(m *messenger.Messenger, err error) {
	setBusy(s.busy, false)
	if err == nil {
		s.u.unlocked(m)
		return
	}
	s.pass.Enable()
	s.button.Enable()
	s.pass.SetText("")
	switch {
	case errors.Is(err, messenger.ErrWrongPassphrase):
		setDanger(s.errMsg, "Wrong passphrase. Try again.")
	case errors.Is(err, messenger.ErrDamaged):
		setDanger(s.errMsg, fmt.Sprintf("The vault file is damaged; restore a backup. Nothing was changed.\n\n%v", err))
	default:
		setDanger(s.errMsg, fmt.Sprintf("Cannot open the profile: %v", err))
	}
	s.u.win.Canvas().Focus(s.pass)
}

// logo is the app icon at a modest size, for the first screens.
func logo() fyne.CanvasObject {
	icon := canvas.NewImageFromResource(Icon)
	icon.FillMode = canvas.ImageFillContain
	icon.SetMinSize(fyne.NewSquareSize(72))
	return icon
}
