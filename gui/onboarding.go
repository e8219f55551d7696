package gui

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/messenger"
	"github.com/ephemera-im/ephemera/net/wsconn"
)

// Relay choices on the first screen.
const (
	relayLocal  = "On this computer (to try Ephemera out)"
	relayRemote = "A relay server"
)

// onboardingScreen creates a profile: a pseudonym, a passphrase and a
// relay. Nothing about the person is asked for.
type onboardingScreen struct {
	u         *UI
	pseudonym *widget.Entry
	pass      *passphraseFields
	relayPick *widget.RadioGroup
	relayURL  *widget.Entry
	create    *widget.Button
	errMsg    *widget.Label
	busy      *widget.ProgressBarInfinite
}

// showOnboarding replaces the window's content with the first-run screen.
func (u *UI) showOnboarding() {
	s := &onboardingScreen{u: u}
	u.ob = s
	u.screen = "onboarding"
	u.win.SetContent(s.buildUI())
	u.win.Canvas().Focus(s.pseudonym)
}

func (s *onboardingScreen) buildUI() fyne.CanvasObject {
	title := widget.NewLabelWithStyle("Welcome to Ephemera", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameHeadingText
	intro := widget.NewLabel("Private conversations that disappear. No phone number, no e-mail: " +
		"pick a name your friends will see, and a passphrase that locks everything on this computer.")
	intro.Wrapping = fyne.TextWrapWord

	s.pseudonym = widget.NewEntry()
	s.pseudonym.SetPlaceHolder("A name or nickname")
	s.pass = newPassphraseFields()
	s.relayURL = widget.NewEntry()
	s.relayURL.SetPlaceHolder("wss://relay.example.org")
	s.relayPick = widget.NewRadioGroup([]string{relayLocal, relayRemote}, func(v string) {
		if v == relayRemote {
			s.relayURL.Enable()
		} else {
			s.relayURL.Disable()
		}
	})
	s.relayPick.Required = true
	if s.u.opts.RelayURL != "" {
		s.relayURL.SetText(s.u.opts.RelayURL)
		s.relayPick.SetSelected(relayRemote)
	} else {
		s.relayPick.SetSelected(relayLocal)
	}

	s.create = widget.NewButtonWithIcon("Create my profile", theme.ConfirmIcon(), s.onCreate)
	s.create.Importance = widget.HighImportance
	s.errMsg = dangerLabel()
	s.busy = busyBar()

	items := append([]*widget.FormItem{widget.NewFormItem("Your name", s.pseudonym)}, s.pass.formItems()...)
	form := widget.NewForm(append(items, widget.NewFormItem("Relay", container.NewVBox(s.relayPick, s.relayURL)))...)
	box := container.NewVBox(container.NewBorder(nil, nil, logo(), nil, container.NewVBox(title)), intro,
		form, s.create, s.busy, s.errMsg)
	return container.NewVScroll(container.NewPadded(container.NewCenter(
		container.NewGridWrap(fyne.NewSize(520, box.MinSize().Height+60), box))))
}

// formError is a message for the person filling in a form, written as a
// sentence.
type formError string

func (e formError) Error() string { return string(e) }

// checkPseudonym says what is wrong with a pseudonym, if anything.
func checkPseudonym(name string) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return formError("Choose a name your contacts will see.")
	case utf8.RuneCountInString(name) > 64:
		return formError("That name is too long: at most 64 characters.")
	}
	return nil
}

// relay returns the relay chosen ("" for the local one).
func (s *onboardingScreen) relay() (string, error) {
	if s.relayPick.Selected != relayRemote {
		return "", nil
	}
	u, err := wsconn.NormalizeURL(strings.TrimSpace(s.relayURL.Text))
	if err != nil {
		return "", formError(fmt.Sprintf("The relay address is not valid: %v", err))
	}
	return u, nil
}

func (s *onboardingScreen) fail(err error) {
	setDanger(s.errMsg, err.Error())
}

// onCreate checks the form and creates the profile off the Fyne
// goroutine (stretching the passphrase takes about a second).
func (s *onboardingScreen) onCreate() {
	if err := checkPseudonym(s.pseudonym.Text); err != nil {
		s.fail(err)
		return
	}
	pass, err := s.pass.value()
	if err != nil {
		s.fail(err)
		return
	}
	relay, err := s.relay()
	if err != nil {
		s.fail(err)
		return
	}
	cfg := s.u.messengerConfig([]byte(pass))
	cfg.Pseudonym = strings.TrimSpace(s.pseudonym.Text)
	cfg.RelayURL = relay
	setDanger(s.errMsg, "")
	s.create.Disable()
	setBusy(s.busy, true)
	go func() {
		m, err := messenger.Create(cfg)
		clear(cfg.Passphrase)
		openedProfile()
		s.u.do(func() {
			setBusy(s.busy, false)
			if err != nil {
				s.create.Enable()
				s.fail(formError(fmt.Sprintf("Could not create the profile: %v", err)))
				return
			}
			s.u.unlocked(m)
		})
	}()
}
