//go:build windows

package gui

import (
	"syscall"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver"
)

// Window display affinities (SetWindowDisplayAffinity, Windows 10 2004+).
const (
	wdaNone               = 0x0
	wdaExcludeFromCapture = 0x11
)

var setWindowDisplayAffinity = syscall.NewLazyDLL("user32.dll").NewProc("SetWindowDisplayAffinity")

// hideFromCapture asks Windows to leave the window out of screenshots,
// screen recordings and screen sharing (or to show it again).
func hideFromCapture(w fyne.Window, hide bool) {
	nw, ok := w.(driver.NativeWindow)
	if !ok {
		return
	}
	nw.RunNative(func(ctx any) {
		wc, ok := ctx.(driver.WindowsWindowContext)
		if !ok || wc.HWND == 0 {
			return
		}
		aff := uintptr(wdaNone)
		if hide {
			aff = wdaExcludeFromCapture
		}
		setWindowDisplayAffinity.Call(wc.HWND, aff)
	})
}

// canHideFromCapture says whether hideFromCapture does anything here.
const canHideFromCapture = true
