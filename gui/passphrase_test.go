package gui

import (
	"errors"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

func TestPassphraseStrength(t *testing.T) {
	for _, tc := range []struct {
		pass     string
		min, max int
		hint     string // part of the hint, if it matters
	}{
		{"", 0, 0, "four or more random words"},
		{"password", 0, 0, "most common"},
		{"P@ssw0rd123!", 0, 0, "most common"},
		{"qwertyuiop", 0, 0, "most common"},
		{"Tr0ub4dor&3", 0, 1, "Too short: use at least 12 characters or four random words"},
		{"aaaaaaaaaaaaaaaaaaaa", 0, 0, "Easy to guess"},
		{"abcdefghijklmnopqrst", 0, 0, "Easy to guess"},
		{"123456789012345", 0, 0, "Easy to guess"},
		{"horsehorsehorsehorse", 0, 1, "Repeating"},
		{"sunny garden", 2, 2, "another random word"},
		{"correct horse battery staple", 4, 4, "Strong"},
		{"kV9#qL2!mZ7@wR4$", 4, 4, ""},
		{"日本語のパスフレーズです", 3, 4, ""},
	} {
		score, hint := passphraseStrength(tc.pass)
		if score < tc.min || score > tc.max {
			t.Errorf("%q: score %d, want %d..%d (hint %q)", tc.pass, score, tc.min, tc.max, hint)
		}
		if !strings.Contains(hint, tc.hint) {
			t.Errorf("%q: hint %q, want it to contain %q", tc.pass, hint, tc.hint)
		}
	}
	weak, _ := passphraseStrength("password")
	strong, _ := passphraseStrength("correct horse battery staple")
	if weak >= strong {
		t.Errorf(`"password" scores %d, not below "correct horse battery staple" at %d`, weak, strong)
	}
}

func TestPassphraseFields(t *testing.T) {
	test.NewTempApp(t)
	f := newPassphraseFields()
	w := test.NewTempWindow(t, f.object())
	_ = w

	if f.strength.Value != 0 {
		t.Errorf("empty passphrase shows strength %v", f.strength.Value)
	}
	test.Type(f.pass, "password")
	weakBar := f.strength.Value
	if weakBar <= 0 || f.strength.TextFormatter() != "Very weak" {
		t.Errorf("%q: bar %v %q, want a sliver saying Very weak", f.pass.Text, weakBar, f.strength.TextFormatter())
	}
	if !strings.Contains(f.hint.Text, "common") {
		t.Errorf("%q: hint %q", f.pass.Text, f.hint.Text)
	}
	test.Type(f.confirm, "password")
	if _, err := f.value(); !errors.Is(err, errPassphraseWeak) {
		t.Errorf("weak matching passphrases: value error %v, want errPassphraseWeak", err)
	}

	f.reset()
	test.Type(f.pass, "correct horse battery staple")
	if f.strength.Value <= weakBar || f.strength.TextFormatter() != "Strong" {
		t.Errorf("strong passphrase: bar %v %q", f.strength.Value, f.strength.TextFormatter())
	}
	test.Type(f.confirm, "correct horse battery stapel")
	if _, err := f.value(); !errors.Is(err, errPassphraseMismatch) {
		t.Errorf("different confirmation: value error %v, want errPassphraseMismatch", err)
	}
	f.confirm.SetText("correct horse battery staple")
	got, err := f.value()
	if err != nil || got != "correct horse battery staple" {
		t.Errorf("value() = %q, %v; want the passphrase", got, err)
	}
}
