package main

import (
	"image"
	"image/draw"
	"image/png"
	"os"
	"testing"
)

// The committed icon must be what the generator draws, so the two cannot
// drift apart. Pixels are compared, not bytes: PNG encoders may differ
// between Go releases.
func TestCommittedIconMatchesGenerator(t *testing.T) {
	f, err := os.Open("../../icon.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	committed := image.NewNRGBA(img.Bounds())
	draw.Draw(committed, committed.Rect, img, img.Bounds().Min, draw.Src)

	want := Draw(img.Bounds().Dx())
	if committed.Rect != want.Rect {
		t.Fatalf("committed icon bounds %v, generator draws %v", committed.Rect, want.Rect)
	}
	for i := range want.Pix {
		if committed.Pix[i] != want.Pix[i] {
			px := i / 4
			t.Fatalf("pixel (%d,%d) differs from the generator's output; run go generate ./assets",
				px%want.Rect.Dx(), px/want.Rect.Dx())
		}
	}
}
