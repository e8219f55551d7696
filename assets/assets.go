// Package assets holds the files bundled into the Ephemera binaries: for now
// the application icon. It imports nothing from Fyne, so any layer may use it;
// the GUI wraps the bytes in a fyne.Resource.
//
// The icons/ folder holds the same icon drawn at the sizes the platforms ask
// for, used by the packaging scripts rather than embedded: NxN.png for the
// freedesktop hicolor theme (16 to 512 pixels) and ephemera.ico (16 to 256
// pixels) for the Windows executable's icon resource.
package assets

import _ "embed"

//go:generate go run ./internal/genicon -o icon.png -icons icons

// Icon is the application icon, a 512×512 PNG drawn by internal/genicon.
// Callers must not modify it.
//
//go:embed icon.png
var Icon []byte
