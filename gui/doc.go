// Package gui is Ephemera's desktop window layer, built with Fyne. It talks
// to core/messenger only, never to storage or net directly.
//
// One file per screen; each screen is an unexported struct holding its
// widgets and dependencies, with a constructor, a buildUI method and onX
// handlers. Messenger events arrive on a messenger goroutine and reach the
// widgets only through fyne.Do (see onUI); widget callbacks already run on
// the Fyne goroutine and touch widgets directly.
package gui

import "fyne.io/fyne/v2"

// onUI runs f on the Fyne goroutine. Call it from worker goroutines only;
// never from a widget or driver callback, which already runs there.
func onUI(f func()) { fyne.Do(f) }
