package gui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// Theme modes the user can pick in Settings, saved in Fyne's preferences
// under prefTheme (ui.go).
const (
	themeSystem = "system" // follow the variant the OS reports to Fyne
	themeLight  = "light"
	themeDark   = "dark"
)

// Colour names for message bubbles, looked up with theme.Color like Fyne's
// own names.
const (
	colorNameBubbleMine   fyne.ThemeColorName = "ephemera.bubbleMine"
	colorNameBubbleTheirs fyne.ThemeColorName = "ephemera.bubbleTheirs"
)

// Bubble colours per variant. Each keeps the default theme's foreground
// readable on it (contrast at least 4.5:1, checked by the tests).
var (
	bubbleMineLight   = color.NRGBA{R: 0xd6, G: 0xe8, B: 0xff, A: 0xff} // pale blue
	bubbleMineDark    = color.NRGBA{R: 0x1d, G: 0x3b, B: 0x63, A: 0xff} // deep blue
	bubbleTheirsLight = color.NRGBA{R: 0xee, G: 0xee, B: 0xf1, A: 0xff} // light grey
	bubbleTheirsDark  = color.NRGBA{R: 0x30, G: 0x30, B: 0x36, A: 0xff} // dark grey
)

// appTheme is Fyne's default theme with a forced or OS-chosen variant and
// Ephemera's extra colour names. Fonts are the default theme's: scripts it
// lacks (CJK, Arabic, Hebrew, ...) come from the system fonts through
// Fyne's fallback, emoji from the emoji font Fyne bundles (see fonts_test.go).
//
// An appTheme is immutable and safe for concurrent use.
type appTheme struct {
	base fyne.Theme
	// variant is the variant Color always uses, or nil to use the one Fyne
	// passes in (the OS's, for themeSystem).
	variant *fyne.ThemeVariant
}

var _ fyne.Theme = (*appTheme)(nil)

// newTheme returns the theme for mode: themeSystem, themeLight or themeDark.
// Any other mode is taken as themeSystem.
func newTheme(mode string) fyne.Theme {
	t := &appTheme{base: theme.DefaultTheme()}
	var v fyne.ThemeVariant
	switch mode {
	case themeLight:
		v = theme.VariantLight
	case themeDark:
		v = theme.VariantDark
	default:
		return t
	}
	t.variant = &v
	return t
}

// Color returns the colour for name in the forced variant if there is one,
// otherwise in v.
func (t *appTheme) Color(name fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	if t.variant != nil {
		v = *t.variant
	}
	dark := v == theme.VariantDark
	switch name {
	case colorNameBubbleMine:
		if dark {
			return bubbleMineDark
		}
		return bubbleMineLight
	case colorNameBubbleTheirs:
		if dark {
			return bubbleTheirsDark
		}
		return bubbleTheirsLight
	}
	return t.base.Color(name, v)
}

func (t *appTheme) Font(s fyne.TextStyle) fyne.Resource     { return t.base.Font(s) }
func (t *appTheme) Icon(n fyne.ThemeIconName) fyne.Resource { return t.base.Icon(n) }
func (t *appTheme) Size(n fyne.ThemeSizeName) float32       { return t.base.Size(n) }
