package gui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/messenger"
)

const (
	day  = 24 * time.Hour
	week = 7 * day
)

// timerChoices are the disappearing-message timers offered, in order.
var timerChoices = []struct {
	label string
	d     time.Duration
}{
	{"Off", 0},
	{"30 seconds", 30 * time.Second},
	{"5 minutes", 5 * time.Minute},
	{"1 hour", time.Hour},
	{"1 day", day},
	{"1 week", week},
}

const timerCustom = "Custom…"

// timerPicker is the dialog that sets a conversation's timer.
type timerPicker struct {
	v      *conversationView
	choice *widget.RadioGroup
	custom *widget.Entry
	burn   *widget.Check
	errMsg *widget.Label
	dlg    dialog.Dialog
}

// pickTimer shows the timer picker for the open conversation.
func (v *conversationView) pickTimer() {
	v.s.u.touch()
	p := &timerPicker{v: v}
	opts := make([]string, 0, len(timerChoices)+1)
	for _, c := range timerChoices {
		opts = append(opts, c.label)
	}
	opts = append(opts, timerCustom)
	p.custom = widget.NewEntry()
	p.custom.SetPlaceHolder("for example 90m, 12h or 3d")
	p.custom.Disable()
	p.choice = widget.NewRadioGroup(opts, func(s string) {
		if s == timerCustom {
			p.custom.Enable()
		} else {
			p.custom.Disable()
		}
	})
	p.choice.Required = true
	p.burn = widget.NewCheck("Burn on read: count from when the message is first shown", nil)
	p.errMsg = widget.NewLabel("")
	p.errMsg.Importance = widget.DangerImportance
	p.errMsg.Hide()

	cur := v.contact.Timer
	sel := timerCustom
	for _, c := range timerChoices {
		if c.d == cur {
			sel = c.label
		}
	}
	p.choice.SetSelected(sel)
	if sel == timerCustom {
		p.custom.SetText(shortDuration(cur))
	}
	p.burn.SetChecked(v.contact.TimerBurn)

	intro := widget.NewLabel("New messages in this conversation disappear for both of you after this time. " +
		"Your contact sees the change.")
	intro.Wrapping = fyne.TextWrapWord
	content := container.NewVBox(intro, p.choice, p.custom, p.burn, p.errMsg)
	p.dlg = dialog.NewCustomConfirm("Disappearing messages", "Set", "Cancel",
		container.NewGridWrap(fyne.NewSize(400, content.MinSize().Height+40), content), p.onSet, v.s.u.win)
	p.dlg.Show()
	v.s.picker = p
}

// value is the chosen timer.
func (p *timerPicker) value() (time.Duration, error) {
	if p.choice.Selected == timerCustom {
		return parseTimer(p.custom.Text)
	}
	for _, c := range timerChoices {
		if c.label == p.choice.Selected {
			return c.d, nil
		}
	}
	return 0, errors.New("choose a timer")
}

func (p *timerPicker) onSet(ok bool) {
	if !ok {
		return
	}
	d, err := p.value()
	if err != nil {
		dialog.ShowError(err, p.v.s.u.win)
		return
	}
	burn := p.burn.Checked && d > 0
	v := p.v
	m, id := v.s.m, v.contact.ID
	runAsync(v.s.u, func(ctx context.Context) (messenger.Contact, error) {
		return m.SetTimer(ctx, id, d, burn)
	}, func(c messenger.Contact, err error) {
		if err != nil {
			dialog.ShowError(err, v.s.u.win)
			return
		}
		if !v.closed {
			v.setContact(c)
		}
	})
}

// parseTimer reads a custom timer: a number with s, m, h, d or w.
func parseTimer(s string) (time.Duration, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return 0, errors.New("enter a time such as 90m, 12h or 3d")
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': day, 'w': week}
	u, ok := unit[s[len(s)-1]]
	if !ok {
		return 0, fmt.Errorf("%q: end the time with s, m, h, d or w (seconds to weeks)", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s[:len(s)-1]))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a time such as 90m, 12h or 3d", s)
	}
	d := time.Duration(n) * u
	if d < 5*time.Second || d > 4*week || d/u != time.Duration(n) {
		return 0, errors.New("a timer must be between 5 seconds and 4 weeks")
	}
	return d, nil
}

// timerLabel describes a timer in a few characters ("5m", "1d burn").
func timerLabel(d time.Duration, burn bool) string {
	s := shortDuration(d)
	if burn {
		s += " after reading"
	}
	return s
}

// shortDuration writes a duration as its largest whole unit.
func shortDuration(d time.Duration) string {
	switch {
	case d%week == 0 && d >= week:
		return fmt.Sprintf("%dw", d/week)
	case d%day == 0 && d >= day:
		return fmt.Sprintf("%dd", d/day)
	case d%time.Hour == 0 && d >= time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0 && d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// Per-message timer overrides in the compose area.
const overrideDefault = "Timer: default"

var overrides = []struct {
	label string
	opts  messenger.SendOptions
}{
	{overrideDefault, messenger.SendOptions{}},
	{"Timer: 30 s", messenger.SendOptions{Expire: 30 * time.Second}},
	{"Timer: 5 min", messenger.SendOptions{Expire: 5 * time.Minute}},
	{"Timer: 1 h", messenger.SendOptions{Expire: time.Hour}},
	{"Timer: 1 day", messenger.SendOptions{Expire: day}},
	{"Burn 30 s after reading", messenger.SendOptions{Burn: 30 * time.Second}},
}

func timerOverrideLabels() []string {
	out := make([]string, len(overrides))
	for i, o := range overrides {
		out[i] = o.label
	}
	return out
}

func overrideOptions(label string) messenger.SendOptions {
	for _, o := range overrides {
		if o.label == label {
			return o.opts
		}
	}
	return messenger.SendOptions{}
}
