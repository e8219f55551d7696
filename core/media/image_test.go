package media

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"strings"
	"testing"

	_ "image/gif"
	_ "image/png"

	_ "golang.org/x/image/webp"
)

// Helpers shared by the image format tests.

// leak is the prefix of every metadata value the tests write, so that a
// byte search of the output finds any that survived.
const leak = "EPHLEAK"

// needTool fails the test (never skips) when an external tool the oracle
// tests depend on is missing.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (%v): run `scripts/install-deps.sh test` to install exiftool and ImageMagick", name, err)
	}
	return p
}

// run runs a command and fails the test with its output on error.
func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	needTool(t, name)
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// testImage is a deterministic picture with detail in every channel, so
// that any change to the coded data shows in the decoded pixels.
func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := uint32(x*7919+y*104729) * 2654435761
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8(v >> 24), 255})
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sanitizeBytes runs Sanitize on b and fails the test on error.
func sanitizeBytes(t testing.TB, b []byte) ([]byte, Report) {
	t.Helper()
	var out bytes.Buffer
	rep, err := Sanitize(bytes.NewReader(b), int64(len(b)), &out)
	if err != nil {
		t.Fatalf("Sanitize: %v", err)
	}
	return out.Bytes(), rep
}

// exiftoolFields returns what `exiftool -j -a -G1` reports for a file.
func exiftoolFields(t testing.TB, path string, extra ...string) map[string]any {
	t.Helper()
	out := run(t, "exiftool", append(append([]string{"-j", "-a", "-G1"}, extra...), path)...)
	var res []map[string]any
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
		t.Fatalf("exiftool output for %s: %v\n%s", path, err, out)
	}
	return res[0]
}

// exiftoolFieldsN runs exiftool once on several files.
func exiftoolFieldsN(t testing.TB, extra []string, paths ...string) []map[string]any {
	t.Helper()
	out := run(t, "exiftool", append(append([]string{"-j", "-a", "-G1"}, extra...), paths...)...)
	var res []map[string]any
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(paths) {
		t.Fatalf("exiftool output for %v: %v\n%s", paths, err, out)
	}
	return res
}

// structural reports whether an exiftool field describes the file's
// structure or the file system rather than metadata a user wrote or a
// device recorded.
func structural(key string, allowed map[string]bool) bool {
	group, _, _ := strings.Cut(key, ":")
	switch group {
	case "SourceFile", "ExifTool", "System", "Composite":
		return true
	}
	return allowed[key] || key == "SourceFile"
}

// structuralJPEG are the fields exiftool reports for a bare JPEG.
var structuralJPEG = map[string]bool{
	"File:FileType": true, "File:FileTypeExtension": true, "File:MIMEType": true,
	"File:ImageWidth": true, "File:ImageHeight": true, "File:EncodingProcess": true,
	"File:BitsPerSample": true, "File:ColorComponents": true, "File:YCbCrSubSampling": true,
	"JFIF:JFIFVersion": true, "JFIF:ResolutionUnit": true, "JFIF:XResolution": true, "JFIF:YResolution": true,
	"Adobe:DCTEncodeVersion": true, "Adobe:APP14Flags0": true, "Adobe:APP14Flags1": true, "Adobe:ColorTransform": true,
}

// assertClean fails for every field of fields outside allowed and for
// the leak marker in b.
func assertClean(t *testing.T, name string, fields map[string]any, b []byte, allowed map[string]bool) {
	t.Helper()
	for k, v := range fields {
		if !structural(k, allowed) {
			t.Errorf("%s: exiftool still finds %s = %v", name, k, v)
		}
	}
	if i := bytes.Index(b, []byte(leak)); i >= 0 {
		t.Errorf("%s: marker %q survives at byte %d", name, leak, i)
	}
	if i := bytes.Index(bytes.ToLower(b), bytes.ToLower([]byte(leak))); i >= 0 {
		t.Errorf("%s: marker %q (any case) survives at byte %d", name, leak, i)
	}
}

// decode decodes an image with the standard library's registered
// decoders (and x/image/webp).
func decode(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return img
}

// samePixels reports the first pixel where a and b differ.
func samePixels(a, b image.Image) (bool, string) {
	if a.Bounds() != b.Bounds() {
		return false, "bounds " + a.Bounds().String() + " vs " + b.Bounds().String()
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBA64Model.Convert(a.At(x, y)) != color.RGBA64Model.Convert(b.At(x, y)) {
				return false, image.Pt(x, y).String()
			}
		}
	}
	return true, ""
}

func assertSamePixels(t *testing.T, name string, orig, clean []byte) {
	t.Helper()
	if ok, where := samePixels(decode(t, orig), decode(t, clean)); !ok {
		t.Errorf("%s: decoded pixels differ at %s", name, where)
	}
}

// assertIdempotent sanitizes clean again and wants the same bytes.
func assertIdempotent(t *testing.T, name string, clean []byte) {
	t.Helper()
	again, rep := sanitizeBytes(t, clean)
	if !bytes.Equal(again, clean) {
		t.Errorf("%s: sanitizing the sanitized file changed it (%d → %d bytes)", name, len(clean), len(again))
	}
	if !rep.Empty() {
		t.Errorf("%s: sanitizing the sanitized file removed %v, want nothing", name, rep.Items)
	}
}

// Primaries (D50) of standard spaces and of a made-up camera space.
var (
	sRGBPrimaries   = [3][3]float64{{0.4361, 0.2225, 0.0139}, {0.3851, 0.7169, 0.0971}, {0.1431, 0.0606, 0.7141}}
	cameraPrimaries = [3][3]float64{{0.55, 0.30, 0.02}, {0.30, 0.65, 0.10}, {0.12, 0.05, 0.70}}
)

// makeICC builds a small matrix/TRC RGB display profile (ICC v2).
func makeICC(desc, copyright string, prim [3][3]float64) []byte {
	be := binary.BigEndian
	xyz := func(v [3]float64) []byte {
		b := make([]byte, 20)
		copy(b, "XYZ ")
		for i, f := range v {
			be.PutUint32(b[8+4*i:], uint32(int32(f*65536+0.5)))
		}
		return b
	}
	descTag := make([]byte, 12)
	copy(descTag, "desc")
	be.PutUint32(descTag[8:], uint32(len(desc)+1))
	descTag = append(descTag, desc...)
	descTag = append(descTag, 0)
	descTag = append(descTag, make([]byte, 4+4+2+1+67)...)
	curv := []byte{'c', 'u', 'r', 'v', 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0x33, 0, 0}
	text := append([]byte("text\x00\x00\x00\x00"), copyright+"\x00"...)
	tags := []struct {
		sig  string
		data []byte
	}{
		{"desc", descTag}, {"cprt", text}, {"wtpt", xyz([3]float64{0.9642, 1, 0.8249})},
		{"rXYZ", xyz(prim[0])}, {"gXYZ", xyz(prim[1])}, {"bXYZ", xyz(prim[2])},
		{"rTRC", curv}, {"gTRC", curv}, {"bTRC", curv},
	}
	p := make([]byte, 128+4+12*len(tags))
	copy(p[4:], "none")
	be.PutUint32(p[8:], 0x02100000)
	copy(p[12:], "mntrRGB XYZ ")
	copy(p[36:], "acsp")
	copy(p[68:], xyz([3]float64{0.9642, 1, 0.8249})[8:])
	be.PutUint32(p[128:], uint32(len(tags)))
	for i, tg := range tags {
		for len(p)%4 != 0 {
			p = append(p, 0)
		}
		e := p[132+12*i:]
		copy(e, tg.sig)
		be.PutUint32(e[4:], uint32(len(p)))
		be.PutUint32(e[8:], uint32(len(tg.data)))
		p = append(p, tg.data...)
	}
	for len(p)%4 != 0 {
		p = append(p, 0)
	}
	be.PutUint32(p, uint32(len(p)))
	return p
}

// hasItem reports whether rep lists an item whose label contains s.
func hasItem(rep Report, s string) bool {
	for _, it := range rep.Items {
		if strings.Contains(it.Label, s) {
			return true
		}
	}
	return false
}
