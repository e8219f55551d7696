package media

import (
	"bytes"
	"image"
	"image/color"
	"io"
	"sync"
	"testing"

	"github.com/ephemera-im/ephemera/internal/procstat"
)

// photoLike is a 12-megapixel picture with about the detail of a phone
// photo, so that it encodes to a few megabytes like one.
func photoLike(w, h int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	seed := uint32(1)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			seed = seed*1664525 + 1013904223
			img.Y[y*img.YStride+x] = uint8((x/7+y/5)%200) + uint8(seed>>28)
		}
	}
	for y := 0; y < h/2; y++ {
		for x := 0; x < w/2; x++ {
			img.Cb[y*img.CStride+x] = uint8(96 + x*64/w)
			img.Cr[y*img.CStride+x] = uint8(96 + y*64/h)
		}
	}
	return img
}

var (
	jpeg12MPOnce sync.Once
	jpeg12MP     []byte
)

// bigJPEG is a 4000×3000 JPEG with an Exif block (GPS, camera,
// orientation), a comment, an ICC profile and a 1 MiB trailer, generated
// once per test binary.
func bigJPEG(b testing.TB) []byte {
	jpeg12MPOnce.Do(func() {
		j := encodeJPEG(b, photoLike(4000, 3000))
		out := []byte{0xff, 0xd8}
		out = append(out, segment(0xe1, append([]byte("Exif\x00\x00"), minimalExif(6)...))...)
		out = append(out, segment(0xe2, append([]byte("ICC_PROFILE\x00\x01\x01"),
			makeICC("sRGB IEC61966-2.1", "Copyright (c) 1998 Hewlett-Packard Company", sRGBPrimaries)...))...)
		out = append(out, segment(0xfe, []byte("a comment"))...)
		out = append(out, j[2:]...)
		jpeg12MP = append(out, bytes.Repeat([]byte{0}, 1<<20)...)
	})
	return jpeg12MP
}

// BenchmarkSanitizeJPEG12MP sanitizes a 12-megapixel JPEG in memory.
// Target (issue 5): under 20 ms.
func BenchmarkSanitizeJPEG12MP(b *testing.B) {
	src := bigJPEG(b)
	r := bytes.NewReader(src)
	b.SetBytes(int64(len(src)))
	cpu := procstat.CPUTime()
	for b.Loop() {
		if _, err := Sanitize(r, int64(len(src)), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(procstat.CPUTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
}

// TestBigJPEG checks the benchmark's input is what it claims and that
// the sanitizer handles it: same size in pixels, trailer gone.
func TestBigJPEG(t *testing.T) {
	src := bigJPEG(t)
	cfg, _, err := image.DecodeConfig(bytes.NewReader(src))
	if err != nil || cfg.Width != 4000 || cfg.Height != 3000 {
		t.Fatalf("input: %v %v", cfg, err)
	}
	clean, rep := sanitizeBytes(t, src)
	if len(clean) >= len(src)-1<<20 {
		t.Errorf("output %d bytes, input %d: the trailer is still there", len(clean), len(src))
	}
	if !hasItem(rep, "Comment: a comment") || len(rep.Kept) != 2 {
		t.Errorf("report %v, kept %v", rep.Items, rep.Kept)
	}
	if cfg.ColorModel != color.YCbCrModel {
		t.Errorf("colour model %v", cfg.ColorModel)
	}
}
