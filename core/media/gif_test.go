package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color/palette"
	"image/gif"
	"os"
	"path/filepath"
	"testing"
)

// testGIF is a three-frame animation that loops twice.
func testGIF(t testing.TB) []byte {
	t.Helper()
	g := &gif.GIF{LoopCount: 2}
	src := testImage(40, 30)
	for i := 0; i < 3; i++ {
		p := image.NewPaletted(image.Rect(0, 0, 40, 30), palette.Plan9)
		for y := 0; y < 30; y++ {
			for x := 0; x < 40; x++ {
				p.Set(x, y, src.At((x+i*5)%40, y))
			}
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, 10*(i+1))
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gifInsertBeforeFirstImage splices blocks in before the first frame's
// graphic control extension.
func gifInsertBeforeFirstImage(t *testing.T, g []byte, blocks ...[]byte) []byte {
	t.Helper()
	i := bytes.Index(g, []byte{0x21, 0xf9})
	if i < 0 {
		t.Fatal("no graphic control extension")
	}
	out := append([]byte{}, g[:i]...)
	for _, b := range blocks {
		out = append(out, b...)
	}
	return append(out, g[i:]...)
}

// gifBlocks wraps data as GIF sub-blocks.
func gifBlocks(data []byte) []byte {
	var out []byte
	for len(data) > 0 {
		n := min(255, len(data))
		out = append(out, byte(n))
		out = append(out, data[:n]...)
		data = data[n:]
	}
	return append(out, 0)
}

func TestGIFOracle(t *testing.T) {
	base := testGIF(t)
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.gif"), base)
	run(t, "exiftool", "-q", "-overwrite_original", "-Comment="+leak+"comment", "-XMP-dc:Creator="+leak+"xmpcreator",
		"-XMP-tiff:Make="+leak+"make", in)
	rich, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	rich = gifInsertBeforeFirstImage(t, rich,
		append([]byte{0x21, 0x01}, gifBlocks([]byte("\x00\x00\x00\x00\x10\x00\x10\x00\x08\x08\x01\x00"+leak+"plaintext"))...),
		append([]byte{0x21, 0xff}, gifBlocks([]byte("EPHEMERA1.0"))...),
		append([]byte{0x21, 0xff, 11}, append([]byte("ACMECORP1.0"), gifBlocks([]byte(leak+"appdata"))...)...),
		append([]byte{0x21, 0xfe}, gifBlocks([]byte(leak+"comment2"))...))
	rich = append(rich, leak+"trailer"...)
	richPath := writeFile(t, filepath.Join(dir, "rich.gif"), rich)
	clean, rep := sanitizeBytes(t, rich)
	cleanPath := writeFile(t, filepath.Join(dir, "clean.gif"), clean)
	both := exiftoolFieldsN(t, nil, richPath, cleanPath)
	for _, k := range []string{"File:Comment", "XMP-dc:Creator", "XMP-tiff:Make"} {
		if _, ok := both[0][k]; !ok {
			t.Errorf("test input lacks %s; exiftool found %v", k, keys(both[0]))
		}
	}
	assertClean(t, "gif", both[1], clean, map[string]bool{
		"File:FileType": true, "File:FileTypeExtension": true, "File:MIMEType": true,
		"GIF:GIFVersion": true, "GIF:ImageWidth": true, "GIF:ImageHeight": true, "GIF:HasColorMap": true,
		"GIF:ColorResolutionDepth": true, "GIF:BitsPerPixel": true, "GIF:BackgroundColor": true,
		"GIF:AnimationIterations": true, "GIF:FrameCount": true, "GIF:Duration": true, "GIF:PixelAspectRatio": true,
	})
	if got := both[1]["GIF:AnimationIterations"]; got != both[0]["GIF:AnimationIterations"] || got == nil {
		t.Errorf("loop count: got %v, want %v", got, both[0]["GIF:AnimationIterations"])
	}
	for _, want := range []string{"Comment: " + leak + "comment", "Comment: " + leak + "comment2", "Plain text", "XMP",
		"Application data (ACMECORP)", "Data after the end of the image"} {
		if !hasItem(rep, want) {
			t.Errorf("report lacks %q; got %v", want, rep.Items)
		}
	}
	a, err1 := gif.DecodeAll(bytes.NewReader(base))
	b, err2 := gif.DecodeAll(bytes.NewReader(clean))
	if err1 != nil || err2 != nil {
		t.Fatalf("decode: %v, %v", err1, err2)
	}
	if len(a.Image) != len(b.Image) || a.LoopCount != b.LoopCount || fmt.Sprint(a.Delay) != fmt.Sprint(b.Delay) {
		t.Errorf("animation: got %d frames, loop %d, delays %v; want %d, %d, %v",
			len(b.Image), b.LoopCount, b.Delay, len(a.Image), a.LoopCount, a.Delay)
	}
	for i := range min(len(a.Image), len(b.Image)) {
		if ok, where := samePixels(a.Image[i], b.Image[i]); !ok {
			t.Errorf("frame %d differs at %s", i, where)
		}
	}
	assertIdempotent(t, "gif", clean)
}

func TestGIFMalformed(t *testing.T) {
	full := testGIF(t)
	for _, n := range []int{6, 12, 20, 800, len(full) - 1} {
		t.Run(fmt.Sprintf("truncated to %d", n), func(t *testing.T) {
			if _, err := Sanitize(bytes.NewReader(full[:n]), int64(n), &bytes.Buffer{}); !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
	t.Run("bomb", func(t *testing.T) {
		b := append([]byte{}, full...)
		i := bytes.IndexByte(b[13+768:], 0x2c) + 13 + 768
		b[i+5], b[i+6], b[i+7], b[i+8] = 0xff, 0xff, 0xff, 0xff
		b[6], b[7], b[8], b[9] = 0xff, 0xff, 0xff, 0xff
		if _, err := Sanitize(bytes.NewReader(b), int64(len(b)), &bytes.Buffer{}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("got %v, want ErrTooLarge", err)
		}
	})
}
