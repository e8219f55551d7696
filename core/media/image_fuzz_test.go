package media

import (
	"bytes"
	"errors"
	"image"
	"image/gif"
	"testing"
)

// Fuzz targets for the image parsers. The property: Sanitize either fails
// with one of the package's errors, or its output is accepted again by
// our parser (sanitizing it succeeds, removes nothing and changes no
// byte) and, when the standard decoder accepts the input, by that
// decoder too, with the same pixels. Seeds are generated files.

// fuzzMaxPixels keeps decoding in the fuzz targets cheap.
const fuzzMaxPixels = 1 << 16

func checkSanitizeProperty(t *testing.T, in []byte, want Type) {
	if _, err := Inspect(bytes.NewReader(in), int64(len(in))); err != nil && !isOurError(err) {
		t.Fatalf("Inspect: error %v wraps none of the package's sentinels", err)
	}
	var out bytes.Buffer
	_, err := Sanitize(bytes.NewReader(in), int64(len(in)), &out)
	if err != nil {
		if !isOurError(err) {
			t.Fatalf("Sanitize: error %v wraps none of the package's sentinels", err)
		}
		return
	}
	clean := out.Bytes()
	if typ, err := Detect(bytes.NewReader(clean), int64(len(clean))); err != nil || typ != want {
		t.Fatalf("output detected as %v, %v; want %v", typ, err, want)
	}
	var again bytes.Buffer
	rep, err := Sanitize(bytes.NewReader(clean), int64(len(clean)), &again)
	if err != nil {
		t.Fatalf("sanitizing the output: %v", err)
	}
	if !bytes.Equal(again.Bytes(), clean) {
		t.Fatalf("sanitizing the output changed it (%d → %d bytes)", len(clean), again.Len())
	}
	if !rep.Empty() {
		t.Fatalf("sanitizing the output removed %v", rep.Items)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(in))
	if err != nil || cfg.Width*cfg.Height > fuzzMaxPixels {
		return
	}
	a, _, err := image.Decode(bytes.NewReader(in))
	if err != nil {
		return
	}
	b, _, err := image.Decode(bytes.NewReader(clean))
	if err != nil {
		t.Fatalf("the standard decoder accepts the input but not the output: %v", err)
	}
	if ok, where := samePixels(a, b); !ok {
		t.Fatalf("decoded pixels differ at %s", where)
	}
	if want == GIF {
		ga, err1 := gif.DecodeAll(bytes.NewReader(in))
		gb, err2 := gif.DecodeAll(bytes.NewReader(clean))
		if err1 == nil && (err2 != nil || len(ga.Image) != len(gb.Image)) {
			t.Fatalf("GIF frames: input %d, output %d (%v)", len(ga.Image), len(gb.Image), err2)
		}
	}
}

func isOurError(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnsupported)
}

// jpegSeeds are JPEGs with the segments the sanitizer handles, made
// without external tools.
func jpegSeeds(t testing.TB) [][]byte {
	base := encodeJPEG(t, testImage(24, 16))
	gray := encodeJPEG(t, image.NewGray(image.Rect(0, 0, 8, 8)))
	exifSeg := segment(0xe1, append([]byte("Exif\x00\x00"), minimalExif(6)...))
	icc := makeICC("sRGB IEC61966-2.1", "c", sRGBPrimaries)
	iccSeg := segment(0xe2, append([]byte("ICC_PROFILE\x00\x01\x01"), icc...))
	splice := func(j []byte, segs ...[]byte) []byte {
		out := []byte{0xff, 0xd8}
		for _, s := range segs {
			out = append(out, s...)
		}
		return append(out, j[2:]...)
	}
	return [][]byte{
		base, gray,
		splice(base, segment(0xe0, []byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x00\x00")), exifSeg, iccSeg),
		splice(base, segment(0xe0, []byte("JFXX\x00\x10\xff\xd8\xff\xd9")), segment(0xfe, []byte("hello")),
			segment(0xee, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01")), segment(0xe2, []byte("MPF\x00MM\x00*"))),
		append(append([]byte{}, base...), "trailer"...),
	}
}

func pngSeeds(t testing.TB) [][]byte {
	base := encodePNG(t, testImage(12, 8))
	return [][]byte{
		base,
		pngInsert(base, pngChunk("tEXt", []byte("Comment\x00hi")), pngChunk("eXIf", minimalExif(3)),
			pngChunk("iCCP", append([]byte("x\x00\x00"), zlibBytes(makeICC("sRGB", "c", sRGBPrimaries))...)),
			pngChunk("gAMA", []byte{0, 0, 0xb1, 0x8f})),
		append(append([]byte{}, base...), "trailer"...),
	}
}

func FuzzJPEG(f *testing.F) {
	for _, s := range jpegSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkSanitizeProperty(t, in, JPEG) })
}

func FuzzPNG(f *testing.F) {
	for _, s := range pngSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkSanitizeProperty(t, in, PNG) })
}

func FuzzGIF(f *testing.F) {
	base := testGIF(f)
	f.Add(base)
	i := bytes.Index(base, []byte{0x21, 0xf9})
	with := append(append(append([]byte{}, base[:i]...), 0x21, 0xfe, 2, 'h', 'i', 0), base[i:]...)
	f.Add(with)
	f.Fuzz(func(t *testing.T, in []byte) { checkSanitizeProperty(t, in, GIF) })
}

func FuzzWebP(f *testing.F) {
	// A lossless 1×1 image and the same in an extended file with
	// metadata; libwebp-made files are added by the tests' corpus.
	vp8l := []byte("VP8L\x0a\x00\x00\x00\x2f\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	simple := append([]byte("RIFF\x16\x00\x00\x00WEBP"), vp8l...)
	f.Add(simple)
	ext := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	ext = append(ext, vp8l...)
	ext = append(ext, "EXIF"...)
	ext = append(ext, byte(len(minimalExif(6))), 0, 0, 0)
	ext = append(ext, minimalExif(6)...)
	ext = append(ext, "XMP \x04\x00\x00\x00<x/>"...)
	ext[4] = byte(len(ext) - 8)
	f.Add(ext)
	f.Fuzz(func(t *testing.T, in []byte) { checkSanitizeProperty(t, in, WebP) })
}

// FuzzExifItems runs go-exif through our wrapper on any block: it must
// not panic or hang, must return a valid orientation, and its errors
// must wrap the package's sentinels.
func FuzzExifItems(f *testing.F) {
	for o := 1; o <= 8; o++ {
		f.Add(minimalExif(o))
	}
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x01\x00\x0f\x01\x02\x00\x06\x00\x00\x00\x1a\x00\x00\x00\x00\x00\x00\x00Apple\x00"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\x00\x01\x87\x69\x00\x04\x00\x00\x00\x01\x00\x00\x00\x08\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, tiff []byte) {
		var rep Report
		o, err := exifItems(&rep, tiff)
		if o < 0 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		if err != nil && !isOurError(err) {
			t.Fatalf("error %v wraps none of the package's sentinels", err)
		}
		if err == nil {
			// The rebuilt block for that orientation says the same and
			// nothing else.
			var r2 Report
			o2, err := exifItems(&r2, minimalExif(o))
			if minimalExif(o) != nil && (err != nil || o2 != o || len(r2.Items) != 0) {
				t.Fatalf("minimal Exif for %d reads as %d, %v, %v", o, o2, err, r2.Items)
			}
		}
	})
}
