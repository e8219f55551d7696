package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngChunk builds one chunk.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	pngWrite(&b, typ, data)
	return b.Bytes()
}

// pngInsert puts chunks right after IHDR.
func pngInsert(p []byte, chunks ...[]byte) []byte {
	out := append([]byte{}, p[:8+25]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[8+25:]...)
}

func zlibBytes(b []byte) []byte {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	return z.Bytes()
}

// structuralPNG are the fields exiftool reports for a bare PNG.
var structuralPNG = map[string]bool{
	"File:FileType": true, "File:FileTypeExtension": true, "File:MIMEType": true,
	"PNG:ImageWidth": true, "PNG:ImageHeight": true, "PNG:BitDepth": true, "PNG:ColorType": true,
	"PNG:Compression": true, "PNG:Filter": true, "PNG:Interlace": true,
	"PNG:Gamma": true, "PNG:SRGBRendering": true, "PNG-pHYs:PixelsPerUnitX": true,
	"PNG-pHYs:PixelsPerUnitY": true, "PNG-pHYs:PixelUnits": true, "PNG:Palette": true,
	"PNG:Transparency": true,
}

// richPNG gives a PNG text chunks, Exif, XMP, a modification time and a
// non-standard ICC profile with exiftool, plus a compressed text chunk,
// an unknown chunk and a trailer after IEND.
func richPNG(t *testing.T, base []byte, orientation int) []byte {
	t.Helper()
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.png"), base)
	iccPath := writeFile(t, filepath.Join(dir, "cam.icc"), makeICC(leak+" Camera Profile", leak+" serial", cameraPrimaries))
	run(t, "exiftool", "-q", "-overwrite_original",
		"-PNG:Author="+leak+"author", "-PNG:Comment="+leak+"comment", "-PNG:Software="+leak+"software",
		"-PNG:CreationTime=2026:05:01 14:03:22", "-PNG:Title="+leak+"title", "-PNG:ModifyDate=2026:05:02 10:00:00",
		"-Make="+leak+"make", "-Model="+leak+"model", "-SerialNumber="+leak+"serial",
		"-GPSLatitude=52.52", "-GPSLatitudeRef=N", "-GPSLongitude=13.40", "-GPSLongitudeRef=E",
		"-DateTimeOriginal=2026:05:01 14:03:22", "-Orientation#="+strconv.Itoa(orientation),
		"-XMP-dc:Creator="+leak+"xmpcreator", "-ICC_Profile<="+iccPath,
		in)
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	b = pngInsert(b,
		pngChunk("zTXt", append([]byte("Description\x00\x00"), zlibBytes([]byte(leak+"ztxt"))...)),
		pngChunk("prVt", []byte(leak+"private")),
		pngChunk("tEXt", []byte("Raw profile type exif\x00"+leak+"rawexif")))
	return append(b, leak+"trailer"...)
}

func TestPNGOracle(t *testing.T) {
	imgs := map[string]image.Image{"rgba": testImage(48, 32)}
	pal := image.NewPaletted(image.Rect(0, 0, 30, 20), color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 128}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 3)
	}
	imgs["paletted"] = pal
	gray := image.NewGray16(image.Rect(0, 0, 20, 20))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 31)
	}
	imgs["gray16"] = gray
	for name, img := range imgs {
		t.Run(name, func(t *testing.T) {
			base := encodePNG(t, img)
			rich := richPNG(t, base, 1)
			dir := t.TempDir()
			richPath := writeFile(t, filepath.Join(dir, "rich.png"), rich)
			clean, rep := sanitizeBytes(t, rich)
			cleanPath := writeFile(t, filepath.Join(dir, "clean.png"), clean)
			both := exiftoolFieldsN(t, nil, richPath, cleanPath)
			for _, k := range []string{"PNG:Author", "PNG:Comment", "IFD0:Make", "GPS:GPSLatitude", "XMP-dc:Creator",
				"ICC-header:ProfileClass", "PNG:ModifyDate", "PNG:Description"} {
				if _, ok := both[0][k]; !ok {
					t.Errorf("test input lacks %s; exiftool found %v", k, keys(both[0]))
				}
			}
			assertClean(t, name, both[1], clean, structuralPNG)
			assertSamePixels(t, name, base, clean)
			assertIdempotent(t, name, clean)
			for _, want := range []string{"GPS position 52.52 N 13.40 E", "Author: " + leak + "author",
				"Serial number: " + leak + "serial", "XMP", "Modification time", "Description: " + leak + "ztxt",
				"PNG chunk prVt", "Data after the end of the image", "Colour profile: " + leak} {
				if !hasItem(rep, want) {
					t.Errorf("report lacks %q; got %v", want, rep.Items)
				}
			}
		})
	}
}

// TestPNGOrientation: the orientation of an eXIf chunk survives alone.
func TestPNGOrientation(t *testing.T) {
	base := encodePNG(t, testImage(20, 10))
	for o := 1; o <= 8; o++ {
		t.Run(strconv.Itoa(o), func(t *testing.T) {
			rich := richPNG(t, base, o)
			clean, rep := sanitizeBytes(t, rich)
			dir := t.TempDir()
			both := exiftoolFieldsN(t, []string{"-n"}, writeFile(t, filepath.Join(dir, "rich.png"), rich), writeFile(t, filepath.Join(dir, "clean.png"), clean))
			if got := both[0]["IFD0:Orientation"]; got != float64(o) {
				t.Fatalf("input orientation %v, want %d", got, o)
			}
			got, ok := both[1]["IFD0:Orientation"]
			if o == 1 && ok || o != 1 && got != float64(o) {
				t.Errorf("output orientation %v (present %v), want %d", got, ok, o)
			}
			if o != 1 && !bytes.Contains(clean, []byte("eXIf")) {
				t.Errorf("no eXIf chunk in output")
			}
			if o != 1 && len(rep.Kept) != 1 {
				t.Errorf("kept %v, want the orientation", rep.Kept)
			}
			assertSamePixels(t, "orientation", base, clean)
			assertIdempotent(t, "orientation", clean)
		})
	}
}

func TestPNGStandardICC(t *testing.T) {
	base := encodePNG(t, testImage(8, 8))
	profile := makeICC("sRGB IEC61966-2.1", "Copyright (c) 1998 Hewlett-Packard Company", sRGBPrimaries)
	in := pngInsert(base, pngChunk("iCCP", append([]byte("My "+leak+" Profile\x00\x00"), zlibBytes(profile)...)))
	clean, rep := sanitizeBytes(t, in)
	if len(rep.Kept) != 1 || rep.Kept[0].Label != "Colour profile: sRGB" {
		t.Errorf("kept %v, want the sRGB profile", rep.Kept)
	}
	i := bytes.Index(clean, []byte("iCCPsRGB\x00\x00"))
	if i < 0 {
		t.Fatalf("no iCCP chunk named sRGB in the output")
	}
	if bytes.Contains(clean, []byte(leak)) {
		t.Errorf("the profile's original name survives")
	}
	assertSamePixels(t, "icc", base, clean)
	assertIdempotent(t, "icc", clean)
}

func TestPNGMalformed(t *testing.T) {
	full := encodePNG(t, testImage(16, 16))
	for _, n := range []int{9, 20, 33, 40, len(full) - 12, len(full) - 1} {
		t.Run(fmt.Sprintf("truncated to %d", n), func(t *testing.T) {
			_, err := Sanitize(bytes.NewReader(full[:n]), int64(n), &bytes.Buffer{})
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
	t.Run("bad CRC", func(t *testing.T) {
		b := append([]byte{}, full...)
		b[len(b)-20] ^= 1 // inside the last IDAT
		if _, err := Sanitize(bytes.NewReader(b), int64(len(b)), &bytes.Buffer{}); !errors.Is(err, ErrMalformed) {
			t.Errorf("got %v, want ErrMalformed", err)
		}
	})
	t.Run("bomb", func(t *testing.T) {
		b := append([]byte{}, full...)
		binary.BigEndian.PutUint32(b[16:], 100000)
		binary.BigEndian.PutUint32(b[20:], 100000)
		binary.BigEndian.PutUint32(b[29:], crc32IEEE(b[12:29]))
		if _, err := Sanitize(bytes.NewReader(b), int64(len(b)), &bytes.Buffer{}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("got %v, want ErrTooLarge", err)
		}
	})
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
