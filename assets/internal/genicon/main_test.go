package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// The committed icons must be what the generator draws, so they cannot
// drift apart. Pixels are compared, not bytes: PNG encoders may differ
// between Go releases.
func TestCommittedIconMatchesGenerator(t *testing.T) {
	checkPNG(t, "../../icon.png", 512)
}

func TestCommittedSizesMatchGenerator(t *testing.T) {
	for _, n := range hicolorSizes {
		name := fmt.Sprintf("%dx%d.png", n, n)
		t.Run(name, func(t *testing.T) { checkPNG(t, filepath.Join("../../icons", name), n) })
	}
}

func checkPNG(t *testing.T, name string, size int) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Dx(); got != size || img.Bounds().Dy() != size {
		t.Fatalf("%s is %v, want %dx%d", name, img.Bounds(), size, size)
	}
	comparePixels(t, name, img, Draw(size))
}

func comparePixels(t *testing.T, name string, img image.Image, want *image.NRGBA) {
	t.Helper()
	got := image.NewNRGBA(img.Bounds())
	draw.Draw(got, got.Rect, img, img.Bounds().Min, draw.Src)
	if got.Rect != want.Rect {
		t.Fatalf("%s: bounds %v, generator draws %v", name, got.Rect, want.Rect)
	}
	for i := range want.Pix {
		if got.Pix[i] != want.Pix[i] {
			px := i / 4
			t.Fatalf("%s: pixel (%d,%d) differs from the generator's output; run go generate ./assets",
				name, px%want.Rect.Dx(), px/want.Rect.Dx())
		}
	}
}

// TestCommittedICO reads the committed .ico as Windows would: the header,
// one directory entry per size, each pointing at a PNG of that size whose
// pixels are the generator's.
func TestCommittedICO(t *testing.T) {
	data, err := os.ReadFile("../../icons/ephemera.ico")
	if err != nil {
		t.Fatal(err)
	}
	checkICO(t, data, icoSizes)
}

func TestEncodeICORejectsOversize(t *testing.T) {
	if _, err := encodeICO([]int{16, 512}); err == nil {
		t.Error("encodeICO accepted a 512-pixel entry; ICO entries stop at 256")
	}
}

func checkICO(t *testing.T, data []byte, sizes []int) {
	t.Helper()
	le := binary.LittleEndian
	if len(data) < 6 || le.Uint16(data[0:]) != 0 || le.Uint16(data[2:]) != 1 {
		t.Fatalf("not an icon file: header % x", data[:min(6, len(data))])
	}
	if got := int(le.Uint16(data[4:])); got != len(sizes) {
		t.Fatalf("got %d images, want %d", got, len(sizes))
	}
	for i, n := range sizes {
		e := data[6+16*i : 6+16*(i+1)]
		dim := int(e[0])
		if dim == 0 {
			dim = 256
		}
		if dim != n || int(e[1]) != int(e[0]) {
			t.Errorf("entry %d: %dx%d, want %dx%d", i, e[0], e[1], n, n)
			continue
		}
		if planes, bpp := le.Uint16(e[4:]), le.Uint16(e[6:]); planes != 1 || bpp != 32 {
			t.Errorf("entry %d: planes %d, bpp %d; want 1, 32", i, planes, bpp)
		}
		size, off := le.Uint32(e[8:]), le.Uint32(e[12:])
		if uint64(off)+uint64(size) > uint64(len(data)) {
			t.Fatalf("entry %d: data at %d+%d runs past the file's %d bytes", i, off, size, len(data))
		}
		img, err := png.Decode(bytes.NewReader(data[off : off+size]))
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		comparePixels(t, fmt.Sprintf("ico entry %dx%d", n, n), img, Draw(n))
	}
}
