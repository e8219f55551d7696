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

// segment builds a JPEG marker segment.
func segment(m byte, payload []byte) []byte {
	s := []byte{0xff, m, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
	return append(s, payload...)
}

// withComment puts a COM segment right after a JPEG's SOI.
func withComment(j []byte, c string) []byte {
	out := append([]byte{0xff, 0xd8}, segment(0xfe, []byte(c))...)
	return append(out, j[2:]...)
}

// jpegBases are the JPEGs the oracle test starts from: Go's baseline
// encoder, and ImageMagick's progressive and CMYK (Adobe APP14) output.
func jpegBases(t *testing.T) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	img := testImage(96, 64)
	baseline := encodeJPEG(t, img)
	src := writeFile(t, filepath.Join(dir, "src.jpg"), baseline)
	prog, cmyk := filepath.Join(dir, "prog.jpg"), filepath.Join(dir, "cmyk.jpg")
	run(t, "convert", src, "-strip", "-interlace", "Plane", prog)
	run(t, "convert", src, "-strip", "-colorspace", "CMYK", cmyk)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string][]byte{"baseline": baseline, "progressive": read(prog), "cmyk": read(cmyk)}
}

// richJPEG gives a JPEG every kind of metadata the sanitizer must remove:
// exiftool writes Exif (GPS, device, serial, dates, software, a
// thumbnail), XMP, IPTC, a comment and a non-standard ICC profile; then
// a JFIF thumbnail, a JFXX thumbnail, an MPF index with a secondary
// image, an APP11 block and a motion-photo video after EOI are spliced in.
func richJPEG(t *testing.T, base []byte, orientation int) []byte {
	t.Helper()
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.jpg"), base)
	thumb := withComment(encodeJPEG(t, testImage(16, 12)), leak+"thumb")
	thumbPath := writeFile(t, filepath.Join(dir, "thumb.jpg"), thumb)
	iccPath := writeFile(t, filepath.Join(dir, "cam.icc"), makeICC(leak+" Camera Profile", leak+" serial 1234", cameraPrimaries))
	run(t, "exiftool", "-q", "-overwrite_original",
		"-GPSLatitude=52.52", "-GPSLatitudeRef=N", "-GPSLongitude=13.40", "-GPSLongitudeRef=E", "-GPSAltitude=34",
		"-Make="+leak+"make", "-Model="+leak+"model", "-SerialNumber="+leak+"serial", "-LensModel="+leak+"lens",
		"-LensSerialNumber="+leak+"lensserial", "-OwnerName="+leak+"owner",
		"-DateTimeOriginal=2026:05:01 14:03:22", "-CreateDate=2026:05:01 14:03:22", "-ModifyDate=2026:05:02 10:00:00",
		"-Software="+leak+"software", "-Artist="+leak+"artist", "-Copyright="+leak+"copyright",
		"-ImageDescription="+leak+"description", "-UserComment="+leak+"usercomment",
		"-Orientation#="+strconv.Itoa(orientation),
		"-XMP-dc:Creator="+leak+"xmpcreator", "-XMP-dc:Description="+leak+"xmpdescription",
		"-XMP-xmp:CreatorTool="+leak+"creatortool", "-XMP-GCamera:MicroVideo=1",
		"-IPTC:By-line="+leak+"byline", "-IPTC:City="+leak+"city", "-IPTC:Caption-Abstract="+leak+"caption",
		"-Comment="+leak+"comment",
		"-ThumbnailImage<="+thumbPath, "-ICC_Profile<="+iccPath,
		in)
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}

	var head []byte
	head = append(head, 0xff, 0xd8)
	// JFIF with a 2×2 RGB thumbnail, then a JFXX thumbnail.
	jfif := append([]byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x02\x02"), bytes.Repeat([]byte{0x7f}, 12)...)
	head = append(head, segment(0xe0, jfif)...)
	head = append(head, segment(0xe0, append([]byte("JFXX\x00\x10"), thumb...))...)
	head = append(head, segment(0xeb, []byte("JP\x00\x00\x00\x00\x00\x01jumb"+leak+"jumbf"))...)
	head = append(head, segment(0xe3, []byte(leak+"app3"))...)

	// An MPF index pointing at a secondary image after EOI.
	mpf := []byte("MPF\x00MM\x00\x2a\x00\x00\x00\x08" +
		"\x00\x03" +
		"\xb0\x00\x00\x07\x00\x00\x00\x04" + "0100" +
		"\xb0\x01\x00\x04\x00\x00\x00\x01\x00\x00\x00\x02" +
		"\xb0\x02\x00\x07\x00\x00\x00\x20\x00\x00\x00\x32" +
		"\x00\x00\x00\x00")
	entries := make([]byte, 32)
	mpf = append(mpf, entries...)
	mpfSeg := segment(0xe2, mpf)
	rest := b[2:]
	second := withComment(encodeJPEG(t, testImage(32, 24)), leak+"mpfimage")
	video := append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x10mdat"), leak+"video"...)

	file := append(append(append([]byte{}, head...), mpfSeg...), rest...)
	tiffPos := len(head) + 4 + 4
	secondPos := len(file)
	e := mpfSeg[4+4+8+2+3*12+4:]
	binary.BigEndian.PutUint32(e[0:], 0x20030000)
	binary.BigEndian.PutUint32(e[4:], uint32(secondPos))
	binary.BigEndian.PutUint32(e[16:], 0x00020002)
	binary.BigEndian.PutUint32(e[20:], uint32(len(second)))
	binary.BigEndian.PutUint32(e[24:], uint32(secondPos-tiffPos))
	file = append(append([]byte{}, head...), mpfSeg...)
	file = append(file, rest...)
	file = append(file, second...)
	return append(file, video...)
}

// TestJPEGOracle sanitizes richly tagged baseline, progressive and CMYK
// JPEGs and asks exiftool what is left: only structural fields, no
// marker string in the bytes, the same pixels, and the same bytes again
// when sanitized twice.
func TestJPEGOracle(t *testing.T) {
	for name, base := range jpegBases(t) {
		t.Run(name, func(t *testing.T) {
			rich := richJPEG(t, base, 1)
			dir := t.TempDir()
			richPath := writeFile(t, filepath.Join(dir, "rich.jpg"), rich)

			// The input really carries what the test claims.
			before := exiftoolFields(t, richPath)
			for _, k := range []string{"GPS:GPSLatitude", "IFD0:Make", "ExifIFD:SerialNumber", "IFD1:ThumbnailImage",
				"XMP-dc:Creator", "IPTC:By-line", "File:Comment", "ICC-header:ProfileClass", "MPF0:NumberOfImages",
				"JFIF:ThumbnailTIFF", "JFXX:ThumbnailImage"} {
				if _, ok := before[k]; !ok {
					t.Errorf("test input lacks %s; exiftool found %v", k, keys(before))
				}
			}

			clean, rep := sanitizeBytes(t, rich)
			cleanPath := writeFile(t, filepath.Join(dir, "clean.jpg"), clean)
			assertClean(t, name, exiftoolFields(t, cleanPath), clean, structuralJPEG)
			assertSamePixels(t, name, base, clean)
			assertIdempotent(t, name, clean)

			for _, want := range []string{"GPS position 52.52 N 13.40 E", "Camera: " + leak + "make " + leak + "model",
				"Serial number: " + leak + "serial", "Taken 2026-05-01 14:03", "Software: " + leak + "software",
				"Thumbnail", "XMP", "Comment: " + leak + "comment", "Secondary images (MPF)", "Embedded image after the image",
				"Colour profile: " + leak + " Camera Profile", "Author: " + leak + "byline", "Motion photo video"} {
				if !hasItem(rep, want) {
					t.Errorf("report lacks %q; got %v", want, rep.Items)
				}
			}
			if len(rep.Kept) != 0 {
				t.Errorf("kept %v, want nothing", rep.Kept)
			}
		})
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestJPEGOrientation checks that each of the eight orientations is shown
// the same after sanitizing: exiftool reads the same value, which the
// rebuilt Exif carries alone.
func TestJPEGOrientation(t *testing.T) {
	base := encodeJPEG(t, testImage(40, 24))
	rich := richJPEG(t, base, 1)
	for o := 1; o <= 8; o++ {
		t.Run(strconv.Itoa(o), func(t *testing.T) {
			dir := t.TempDir()
			richPath := writeFile(t, filepath.Join(dir, "rich.jpg"), rich)
			run(t, "exiftool", "-q", "-overwrite_original", "-Orientation#="+strconv.Itoa(o), richPath)
			in, err := os.ReadFile(richPath)
			if err != nil {
				t.Fatal(err)
			}
			clean, rep := sanitizeBytes(t, in)
			cleanPath := writeFile(t, filepath.Join(dir, "clean.jpg"), clean)
			both := exiftoolFieldsN(t, []string{"-n"}, richPath, cleanPath)
			if got := both[0]["IFD0:Orientation"]; got != float64(o) {
				t.Fatalf("input orientation: got %v, want %d", got, o)
			}
			fields := both[1]
			got, ok := fields["IFD0:Orientation"]
			switch {
			case o == 1 && ok:
				t.Errorf("orientation 1: output has an Orientation tag (%v), want none", got)
			case o != 1 && got != float64(o):
				t.Errorf("orientation: got %v, want %d", got, o)
			}
			allowed := map[string]bool{"IFD0:Orientation": true, "File:ExifByteOrder": true}
			for k := range structuralJPEG {
				allowed[k] = true
			}
			assertClean(t, "orientation", fields, clean, allowed)
			var orep Report
			var exifSeen int
			walkJPEGSegments(t, clean, func(m byte, p []byte) {
				if m == 0xe1 {
					exifSeen++
					got, err := exifItems(&orep, p[6:])
					if err != nil || got != o {
						t.Errorf("rebuilt Exif: orientation %d, %v; want %d", got, err, o)
					}
				}
			})
			if want := map[bool]int{true: 0, false: 1}[o == 1]; exifSeen != want {
				t.Errorf("%d Exif segments, want %d", exifSeen, want)
			}
			if len(orep.Items) != 0 {
				t.Errorf("rebuilt Exif carries %v", orep.Items)
			}
			if o != 1 && (len(rep.Kept) != 1 || rep.Kept[0].Label != "Orientation: "+orientationLabel(o)) {
				t.Errorf("kept %v, want the orientation", rep.Kept)
			}
			assertSamePixels(t, "orientation", base, clean)
			assertIdempotent(t, "orientation", clean)
		})
	}
}

// walkJPEGSegments calls f for each marker segment before the first scan.
func walkJPEGSegments(t *testing.T, b []byte, f func(m byte, payload []byte)) {
	t.Helper()
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			t.Fatalf("no marker at %d", i)
		}
		m, l := b[i+1], int(binary.BigEndian.Uint16(b[i+2:]))
		f(m, b[i+4:i+2+l])
		if m == 0xda {
			return
		}
		i += 2 + l
	}
}

// TestJPEGStandardICC keeps a standard sRGB profile, split over several
// APP2 segments, and drops one that only claims the name.
func TestJPEGStandardICC(t *testing.T) {
	base := encodeJPEG(t, testImage(32, 32))
	for _, tc := range []struct {
		name    string
		profile []byte
		chunk   int
		kept    bool
	}{
		{"sRGB one segment", makeICC("sRGB IEC61966-2.1", "Copyright (c) 1998 Hewlett-Packard Company", sRGBPrimaries), 65519, true},
		{"sRGB three segments", makeICC("sRGB IEC61966-2.1", "Copyright (c) 1998 Hewlett-Packard Company", sRGBPrimaries), 200, true},
		{"named sRGB, other primaries", makeICC("sRGB IEC61966-2.1", "x", cameraPrimaries), 65519, false},
		{"camera", makeICC("Camera", "x", cameraPrimaries), 65519, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte{0xff, 0xd8}
			n := (len(tc.profile) + tc.chunk - 1) / tc.chunk
			for i := 0; i < n; i++ {
				c := tc.profile[i*tc.chunk : min(len(tc.profile), (i+1)*tc.chunk)]
				in = append(in, segment(0xe2, append([]byte{'I', 'C', 'C', '_', 'P', 'R', 'O', 'F', 'I', 'L', 'E', 0, byte(i + 1), byte(n)}, c...))...)
			}
			in = append(in, base[2:]...)
			clean, rep := sanitizeBytes(t, in)
			var got []byte
			walkJPEGSegments(t, clean, func(m byte, p []byte) {
				if m == 0xe2 {
					got = append(got, p[14:]...)
				}
			})
			if tc.kept != bytes.Equal(got, tc.profile) {
				t.Errorf("profile kept: %v, want %v (report %v, kept %v)", !tc.kept, tc.kept, rep.Items, rep.Kept)
			}
			if tc.kept && (len(rep.Kept) != 1 || rep.Kept[0].Label != "Colour profile: sRGB") {
				t.Errorf("kept %v, want the sRGB profile", rep.Kept)
			}
			if !tc.kept && !hasItem(rep, "Colour profile") {
				t.Errorf("report %v does not name the dropped profile", rep.Items)
			}
			assertSamePixels(t, tc.name, base, clean)
			assertIdempotent(t, tc.name, clean)
		})
	}
}

// TestJPEGMalformed: truncations give ErrMalformed, huge dimensions
// ErrTooLarge, and nothing panics.
func TestJPEGMalformed(t *testing.T) {
	full := encodeJPEG(t, testImage(16, 16))
	for _, n := range []int{3, 4, 10, 100, len(full) / 2, len(full) - 2, len(full) - 1} {
		t.Run(fmt.Sprintf("truncated to %d", n), func(t *testing.T) {
			var out bytes.Buffer
			_, err := Sanitize(bytes.NewReader(full[:n]), int64(n), &out)
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
			if _, err := Inspect(bytes.NewReader(full[:n]), int64(n)); !errors.Is(err, ErrMalformed) {
				t.Errorf("Inspect: got %v, want ErrMalformed", err)
			}
		})
	}
	t.Run("bomb", func(t *testing.T) {
		b := append([]byte{}, full...)
		walkJPEGSegments(t, b, func(m byte, p []byte) {
			if m == 0xc0 {
				binary.BigEndian.PutUint16(p[1:], 65000)
				binary.BigEndian.PutUint16(p[3:], 65000)
			}
		})
		_, err := Sanitize(bytes.NewReader(b), int64(len(b)), &bytes.Buffer{})
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("got %v, want ErrTooLarge", err)
		}
	})
}
