// Package assets holds the files bundled into the Ephemera binaries: for now
// the application icon. It imports nothing from Fyne, so any layer may use it;
// the GUI wraps the bytes in a fyne.Resource.
package assets

import _ "embed"

//go:generate go run ./internal/genicon -o icon.png

// Icon is the application icon, a 512×512 PNG drawn by internal/genicon.
// Callers must not modify it.
//
//go:embed icon.png
var Icon []byte
