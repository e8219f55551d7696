//go:build !windows

package gui

import "fyne.io/fyne/v2"

// hideFromCapture does nothing outside Windows: X11, Wayland and macOS
// offer applications no reliable way to refuse screen capture.
func hideFromCapture(fyne.Window, bool) {}

// canHideFromCapture says whether hideFromCapture does anything here.
const canHideFromCapture = false
