// Package gui is Ephemera's desktop window layer, built with Fyne. It talks
// to core/messenger (and core/links and core/media for what they show),
// never to storage or net directly. It does not import Fyne's app package
// (only main.go does), so its tests run headless with Fyne's test driver
// and CGO_ENABLED=0.
//
// UI (ui.go) owns the window and the open profile and switches between the
// screens: onboarding (first run), unlock, and the main screen
// (mainscreen.go: the conversation list; conversation.go: the open
// conversation). Dialogs live with their subject: contacts.go, settings.go,
// timer.go, files.go (drops, the sanitizer's report, file cards),
// links.go (link badges, previews, the interstitial).
//
// One file per screen; each screen is an unexported struct holding its
// widgets and dependencies, with a constructor, a buildUI method and onX
// handlers. Messenger events arrive on a messenger goroutine and reach the
// widgets only through UI.do (fyne.Do holding UI.mu); widget callbacks
// already run on the Fyne goroutine and touch widgets directly.
//
// Auto-lock counts as input what the app sees: typing in its fields,
// shortcuts, keys pressed with no field focused, choosing a conversation,
// sending. Fyne offers no window-wide pointer hook, so moving the mouse or
// scrolling alone does not postpone the lock.
//
// Nothing personal leaves the vault: Fyne's preferences file holds only the
// theme and the window size; images are decoded in memory, never written
// to temporary files; notifications carry no content unless the user asks.
package gui
