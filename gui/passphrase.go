package gui

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// The passphrase guards the vault against whoever takes the laptop, who can
// try guesses offline for as long as they like (Argon2id only slows each
// guess down). passphraseStrength is a deliberately simple estimate: it
// counts the characters' variety, discounts repeats and runs (aaaa, abcd,
// 1234) and refuses the passwords every guesser tries first. It cannot
// know that a long phrase is a quotation, so its hints push towards random
// words, which it cannot tell from a quotation either.

// minPassphraseScore is the weakest score newPassphraseFields accepts.
const minPassphraseScore = 2

var (
	errPassphraseMismatch = errors.New("the two passphrases differ")
	errPassphraseWeak     = errors.New("passphrase too weak")
)

// strengthNames names the scores 0 to 4 for the strength bar.
var strengthNames = [...]string{"Very weak", "Weak", "Fair", "Good", "Strong"}

// commonPasswords are among the most used passwords in published leaks,
// which every guesser tries first. They are compared after lowercasing,
// undoing common letter-for-digit swaps and dropping trailing digits and
// punctuation, so "P@ssw0rd123!" counts as "password".
var commonPasswords = map[string]bool{}

func init() {
	for _, p := range strings.Fields(`
		password passwd pass letmein welcome iloveyou admin administrator
		qwerty qwertyuiop qwertz azerty asdf asdfgh asdfghjkl zxcvbn
		zxcvbnm qazwsx zaqxsw zaq1zaq1 1q2w3e4r 1qaz2wsx abc abcd abcdef
		monkey dragon football baseball soccer hockey sunshine princess
		master shadow superman batman trustno hello freedom whatever
		starwars michael jennifer jordan charlie hunter ashley bailey
		login secret changeme default guest test root access flower
		summer winter spring autumn mustang cheese computer internet
		love lovely loveme killer pokemon samsung google chocolate
		ephemera`) {
		commonPasswords[p] = true
	}
}

// passphraseStrength estimates how hard p is to guess: score 0 (trivial)
// to 4 (strong), and a hint for the person typing it.
func passphraseStrength(p string) (score int, hint string) {
	n := utf8.RuneCountInString(p)
	switch {
	case n == 0:
		return 0, "Choose a passphrase: four or more random words are easy to remember and hard to guess"
	case isCommonPassword(p):
		return 0, "This is one of the most common passwords: it is guessed at once"
	}
	unit := repeatedUnit(p)
	bits := guessBits(unit)
	if unit != p {
		bits += math.Log2(float64(len(p)/len(unit)) + 1)
	}
	switch {
	case bits < 30:
		score = 0
	case bits < 50:
		score = 1
	case bits < 70:
		score = 2
	case bits < 90:
		score = 3
	default:
		score = 4
	}
	short := n < 12
	if short && score > 1 {
		score = 1
	}
	switch {
	case short:
		hint = "Too short: use at least 12 characters or four random words"
	case unit != p && utf8.RuneCountInString(unit) > 1:
		hint = "Repeating the same part adds little: use different words"
	case score < 2:
		hint = "Easy to guess: avoid runs like abcd or 1234 and repeated letters; add more words"
	case score == 2:
		hint = "Fair: another random word would make it much stronger"
	case score == 3:
		hint = "Good"
	default:
		hint = "Strong"
	}
	return score, hint
}

// isCommonPassword reports whether p is, give or take decoration, one of
// commonPasswords.
func isCommonPassword(p string) bool {
	// Digits and punctuation tacked on the end ("password123!") do not
	// make a common password any less common.
	core := strings.TrimRightFunc(p, func(r rune) bool {
		return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
	})
	core = strings.ToLower(strings.TrimSpace(core))
	if core == "" {
		return false
	}
	swapped := strings.Map(func(r rune) rune {
		if s, ok := digitSwaps[r]; ok {
			return s
		}
		return r
	}, core)
	for _, c := range []string{core, swapped} {
		if commonPasswords[c] || commonPasswords[strings.ReplaceAll(c, " ", "")] {
			return true
		}
	}
	return false
}

// digitSwaps undo the usual letter-for-digit-or-symbol swaps (p@ssw0rd).
var digitSwaps = map[rune]rune{'0': 'o', '1': 'i', '!': 'i', '3': 'e', '4': 'a', '@': 'a', '5': 's', '$': 's', '7': 't'}

// repeatedUnit returns the shortest s such that p is s repeated.
func repeatedUnit(p string) string {
	for size := 1; size <= len(p)/2; size++ {
		if len(p)%size == 0 && strings.Repeat(p[:size], len(p)/size) == p {
			return p[:size]
		}
	}
	return p
}

// guessBits estimates the bits of guessing p takes: log2 of the alphabet
// its character classes span for each character, but only one bit for a
// character that repeats or continues a run from the one before.
func guessBits(p string) float64 {
	var lower, upper, digit, symbol, other bool
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case r < utf8.RuneSelf:
			symbol = true
		default:
			other = true
		}
	}
	pool := 0
	for _, c := range []struct {
		has  bool
		size int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {symbol, 33}, {other, 100}} {
		if c.has {
			pool += c.size
		}
	}
	perChar := math.Log2(float64(max(pool, 2)))
	var bits float64
	var prev rune
	for i, r := range p {
		r = unicode.ToLower(r)
		if d := r - prev; i > 0 && d >= -1 && d <= 1 {
			bits++
		} else {
			bits += perChar
		}
		prev = r
	}
	return bits
}

// passphraseFields are a new passphrase, its confirmation and a strength
// bar that follows the typing. Onboarding and the passphrase change use
// them; the zero value is not usable, make one with newPassphraseFields.
// Use it on the Fyne goroutine only.
type passphraseFields struct {
	pass     *widget.Entry
	confirm  *widget.Entry
	strength *widget.ProgressBar
	hint     *widget.Label

	score int
}

func newPassphraseFields() *passphraseFields {
	f := &passphraseFields{
		pass:     widget.NewPasswordEntry(),
		confirm:  widget.NewPasswordEntry(),
		strength: widget.NewProgressBar(),
		hint:     widget.NewLabel(""),
	}
	f.pass.SetPlaceHolder("Four or more random words")
	f.confirm.SetPlaceHolder("Type it again")
	f.strength.Max = float64(len(strengthNames) - 1)
	f.strength.TextFormatter = f.strengthText
	f.hint.Wrapping = fyne.TextWrapWord
	f.pass.OnChanged = f.onChanged
	f.onChanged("")
	return f
}

// formItems lays the fields out as rows of a widget.Form.
func (f *passphraseFields) formItems() []*widget.FormItem {
	return []*widget.FormItem{
		widget.NewFormItem("Passphrase", f.pass),
		widget.NewFormItem("Strength", container.NewVBox(f.strength, f.hint)),
		widget.NewFormItem("Confirm", f.confirm),
	}
}

// object returns the fields as a form of their own.
func (f *passphraseFields) object() fyne.CanvasObject {
	return widget.NewForm(f.formItems()...)
}

func (f *passphraseFields) strengthText() string {
	if f.pass.Text == "" {
		return ""
	}
	return strengthNames[f.score]
}

func (f *passphraseFields) onChanged(p string) {
	var hint string
	f.score, hint = passphraseStrength(p)
	f.hint.SetText(hint)
	if p != "" && f.score < minPassphraseScore {
		f.hint.Importance = widget.WarningImportance
	} else {
		f.hint.Importance = widget.MediumImportance
	}
	f.hint.Refresh()
	if p == "" {
		f.strength.SetValue(0)
	} else {
		// A sliver even at score 0, so the bar visibly reacts.
		f.strength.SetValue(max(float64(f.score), 0.25))
	}
}

// value returns the new passphrase, or an error for the person when the
// two entries differ or the passphrase is too weak.
func (f *passphraseFields) value() (string, error) {
	p := f.pass.Text
	if score, hint := passphraseStrength(p); score < minPassphraseScore {
		return "", fmt.Errorf("%w — %s", errPassphraseWeak, hint)
	}
	if f.confirm.Text != p {
		return "", errPassphraseMismatch
	}
	return p, nil
}

// reset empties both entries.
func (f *passphraseFields) reset() {
	f.pass.SetText("")
	f.confirm.SetText("")
}
