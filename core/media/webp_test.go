package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// webpBases makes lossy, lossless-with-alpha and animated WebP files with
// ImageMagick (libwebp).
func webpBases(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	png := writeFile(t, filepath.Join(dir, "src.png"), encodePNG(t, testImage(48, 32)))
	gif := writeFile(t, filepath.Join(dir, "src.gif"), testGIF(t))
	out := map[string][]byte{}
	for name, args := range map[string][]string{
		"lossy":    {png, "-quality", "80"},
		"lossless": {png, "-alpha", "set", "-channel", "A", "-evaluate", "set", "60%", "+channel", "-define", "webp:lossless=true"},
		"animated": {gif},
	} {
		p := filepath.Join(dir, name+".webp")
		run(t, "convert", append(args, p)...)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	if !bytes.Contains(out["animated"], []byte("ANMF")) {
		t.Fatal("ImageMagick did not make an animated WebP")
	}
	return out
}

// webpImageData lists the payloads of the image chunks, frames included.
func webpImageData(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	var walk func(b []byte)
	walk = func(b []byte) {
		for len(b) >= 8 {
			n := int(binary.LittleEndian.Uint32(b[4:]))
			if 8+n > len(b) {
				t.Fatalf("chunk %q overruns", b[:4])
			}
			switch string(b[:4]) {
			case "VP8 ", "VP8L", "ALPH":
				out = append(out, b[8:8+n])
			case "ANMF":
				walk(b[8+16 : 8+n])
			}
			b = b[min(len(b), 8+n+n&1):]
		}
	}
	walk(b[12:])
	return out
}

func richWebP(t *testing.T, base []byte, orientation int) []byte {
	t.Helper()
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.webp"), base)
	iccPath := writeFile(t, filepath.Join(dir, "cam.icc"), makeICC(leak+" Camera Profile", leak+" serial", cameraPrimaries))
	run(t, "exiftool", "-q", "-overwrite_original",
		"-Make="+leak+"make", "-Model="+leak+"model", "-SerialNumber="+leak+"serial", "-Software="+leak+"software",
		"-GPSLatitude=52.52", "-GPSLatitudeRef=N", "-GPSLongitude=13.40", "-GPSLongitudeRef=E",
		"-DateTimeOriginal=2026:05:01 14:03:22", "-Orientation#="+strconv.Itoa(orientation),
		"-XMP-dc:Creator="+leak+"xmpcreator", "-ICC_Profile<="+iccPath, in)
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	// An unknown chunk, and a trailer after the RIFF.
	extra := []byte("JUNK\x0b\x00\x00\x00" + leak + "junk\x00")
	b = append(b, extra...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return append(b, leak+"trailer"...)
}

func TestWebPOracle(t *testing.T) {
	for name, base := range webpBases(t) {
		t.Run(name, func(t *testing.T) {
			rich := richWebP(t, base, 1)
			dir := t.TempDir()
			richPath := writeFile(t, filepath.Join(dir, "rich.webp"), rich)
			clean, rep := sanitizeBytes(t, rich)
			cleanPath := writeFile(t, filepath.Join(dir, "clean.webp"), clean)
			both := exiftoolFieldsN(t, nil, richPath, cleanPath)
			for _, k := range []string{"IFD0:Make", "GPS:GPSLatitude", "XMP-dc:Creator", "ICC-header:ProfileClass"} {
				if _, ok := both[0][k]; !ok {
					t.Errorf("test input lacks %s; exiftool found %v", k, keys(both[0]))
				}
			}
			assertClean(t, name, both[1], clean, map[string]bool{
				"File:FileType": true, "File:FileTypeExtension": true, "File:MIMEType": true,
				"RIFF:VP8Version": true, "RIFF:ImageWidth": true, "RIFF:ImageHeight": true,
				"RIFF:HorizontalScale": true, "RIFF:VerticalScale": true, "RIFF:AlphaPreprocessing": true,
				"RIFF:AlphaFiltering": true, "RIFF:AlphaCompression": true, "RIFF:WebP_Flags": true,
				"RIFF:BackgroundColor": true, "RIFF:AnimationLoopCount": true, "RIFF:Duration": true,
				"RIFF:FrameCount": true,
			})
			if fmt.Sprint(webpImageData(t, base)) != fmt.Sprint(webpImageData(t, clean)) {
				t.Errorf("image data changed")
			}
			if name != "animated" {
				assertSamePixels(t, name, base, clean)
			}
			if got := int64(binary.LittleEndian.Uint32(clean[4:])); got != int64(len(clean)-8) {
				t.Errorf("RIFF size %d, want %d", got, len(clean)-8)
			}
			if i := bytes.Index(clean, []byte("VP8X")); i >= 0 && clean[i+8]&(vp8xEXIF|vp8xXMP|vp8xICC) != 0 {
				t.Errorf("VP8X flags 0x%02x still announce metadata", clean[i+8])
			}
			assertIdempotent(t, name, clean)
			for _, want := range []string{"GPS position 52.52 N 13.40 E", "Serial number: " + leak + "serial", "XMP",
				"Colour profile: " + leak, `WebP chunk "JUNK"`, "Data after the end of the image"} {
				if !hasItem(rep, want) {
					t.Errorf("report lacks %q; got %v", want, rep.Items)
				}
			}
		})
	}
}

func TestWebPOrientation(t *testing.T) {
	base := webpBases(t)["lossy"]
	for _, o := range []int{1, 6, 8} {
		t.Run(strconv.Itoa(o), func(t *testing.T) {
			clean, _ := sanitizeBytes(t, richWebP(t, base, o))
			fields := exiftoolFieldsN(t, []string{"-n"}, writeFile(t, filepath.Join(t.TempDir(), "c.webp"), clean))[0]
			got, ok := fields["IFD0:Orientation"]
			if o == 1 && ok || o != 1 && got != float64(o) {
				t.Errorf("orientation %v (present %v), want %d", got, ok, o)
			}
			assertIdempotent(t, "orientation", clean)
		})
	}
}

func TestWebPMalformed(t *testing.T) {
	full := webpBases(t)["lossless"]
	for _, n := range []int{12, 16, 30, len(full) - 1} {
		t.Run(fmt.Sprintf("truncated to %d", n), func(t *testing.T) {
			if _, err := Sanitize(bytes.NewReader(full[:n]), int64(n), &bytes.Buffer{}); !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
	t.Run("bomb", func(t *testing.T) {
		vp8x := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff")
		b := append(vp8x, full[12:]...)
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
		if _, err := Sanitize(bytes.NewReader(b), int64(len(b)), &bytes.Buffer{}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("got %v, want ErrTooLarge", err)
		}
	})
}
