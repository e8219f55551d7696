package gui

import (
	"image/color"
	"math"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

func sameColor(a, b color.Color) bool {
	ar, ag, ab, aa := a.RGBA()
	br, bg, bb, ba := b.RGBA()
	return ar == br && ag == bg && ab == bb && aa == ba
}

func TestThemeVariantChoice(t *testing.T) {
	def := theme.DefaultTheme()
	lightBG := def.Color(theme.ColorNameBackground, theme.VariantLight)
	darkBG := def.Color(theme.ColorNameBackground, theme.VariantDark)
	if sameColor(lightBG, darkBG) {
		t.Fatalf("default theme has one background %v for both variants", lightBG)
	}
	for _, tc := range []struct {
		mode string
		os   fyne.ThemeVariant // the variant Fyne passes in, from the OS
		want color.Color
	}{
		{themeDark, theme.VariantLight, darkBG},
		{themeDark, theme.VariantDark, darkBG},
		{themeLight, theme.VariantDark, lightBG},
		{themeLight, theme.VariantLight, lightBG},
		{themeSystem, theme.VariantDark, darkBG},
		{themeSystem, theme.VariantLight, lightBG},
		{"bogus", theme.VariantDark, darkBG}, // unknown modes follow the OS
	} {
		got := newTheme(tc.mode).Color(theme.ColorNameBackground, tc.os)
		if !sameColor(got, tc.want) {
			t.Errorf("mode %q, OS variant %d: background = %v, want %v", tc.mode, tc.os, got, tc.want)
		}
	}
}

func TestThemeForcedDarkRendersDark(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		variant fyne.ThemeVariant
	}{
		{themeDark, theme.VariantDark},
		{themeLight, theme.VariantLight},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			a := test.NewTempApp(t)
			a.Settings().SetTheme(newTheme(tc.mode))
			w := test.NewTempWindow(t, widget.NewLabel("hello"))
			w.Resize(fyne.NewSize(200, 100))
			img := w.Canvas().Capture()
			want := theme.DefaultTheme().Color(theme.ColorNameBackground, tc.variant)
			b := img.Bounds()
			got := img.At(b.Max.X-2, b.Max.Y-2)
			if !sameColor(got, want) {
				t.Errorf("window background = %v, want %v", got, want)
			}
		})
	}
}

// luminance is the WCAG 2 relative luminance of c.
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA()
	lin := func(v uint32) float64 {
		s := float64(v) / 0xffff
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

func contrast(a, b color.Color) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func TestThemeBubbleColors(t *testing.T) {
	for _, mode := range []string{themeLight, themeDark} {
		th := newTheme(mode)
		v := theme.VariantLight // ignored: the mode forces the variant
		fg := th.Color(theme.ColorNameForeground, v)
		bg := th.Color(theme.ColorNameBackground, v)
		mine := th.Color(colorNameBubbleMine, v)
		theirs := th.Color(colorNameBubbleTheirs, v)
		for name, c := range map[string]color.Color{"mine": mine, "theirs": theirs} {
			if _, _, _, a := c.RGBA(); a != 0xffff {
				t.Errorf("%s: %s bubble %v is not opaque", mode, name, c)
			}
			if got := contrast(fg, c); got < 4.5 {
				t.Errorf("%s: text on %s bubble has contrast %.2f, want >= 4.5", mode, name, got)
			}
			if sameColor(c, bg) {
				t.Errorf("%s: %s bubble is the background colour %v", mode, name, c)
			}
		}
		if sameColor(mine, theirs) {
			t.Errorf("%s: both bubbles are %v", mode, mine)
		}
	}
	// Each variant has its own bubbles: dark bubbles are darker.
	for _, name := range []fyne.ThemeColorName{colorNameBubbleMine, colorNameBubbleTheirs} {
		l := luminance(newTheme(themeLight).Color(name, theme.VariantLight))
		d := luminance(newTheme(themeDark).Color(name, theme.VariantDark))
		if d >= l {
			t.Errorf("%s: dark luminance %.3f >= light %.3f", name, d, l)
		}
	}
}

func TestThemeBubbleColorThroughApp(t *testing.T) {
	a := test.NewTempApp(t)
	a.Settings().SetTheme(newTheme(themeDark))
	r := canvas.NewRectangle(theme.Color(colorNameBubbleMine))
	if !sameColor(r.FillColor, bubbleMineDark) {
		t.Errorf("theme.Color(bubbleMine) with dark theme = %v, want %v", r.FillColor, bubbleMineDark)
	}
}

func TestThemeDelegatesToDefault(t *testing.T) {
	def := theme.DefaultTheme()
	th := newTheme(themeDark)
	for _, s := range []fyne.TextStyle{{}, {Bold: true}, {Italic: true}, {Monospace: true}, {Symbol: true}} {
		if got, want := th.Font(s), def.Font(s); got != want {
			t.Errorf("Font(%+v) = %v, want %v", s, got.Name(), want.Name())
		}
	}
	if got, want := th.Size(theme.SizeNameText), def.Size(theme.SizeNameText); got != want {
		t.Errorf("text size = %v, want %v", got, want)
	}
	if got, want := th.Icon(theme.IconNameSettings), def.Icon(theme.IconNameSettings); got.Name() != want.Name() {
		t.Errorf("settings icon = %v, want %v", got.Name(), want.Name())
	}
}
