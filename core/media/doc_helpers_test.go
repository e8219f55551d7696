package media

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Helpers shared by the container and document tests.

// ctExiftool returns exiftool's path, failing the test (never skipping)
// when it is missing.
func ctExiftool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("exiftool")
	if err != nil {
		t.Fatalf("exiftool not found (%v): run scripts/install-deps.sh test", err)
	}
	return p
}

// ctExiftoolRun runs exiftool with args and returns its standard output.
func ctExiftoolRun(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(ctExiftool(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("exiftool %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// ctExiftoolTags returns exiftool -j -a -G1 of data (written to a file
// named name) as one map, and the raw JSON.
func ctExiftoolTags(t testing.TB, name string, data []byte) (map[string]any, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out := ctExiftoolRun(t, "-j", "-a", "-G1", "-u", "-ee", p)
	var tags []map[string]any
	if err := json.Unmarshal(out, &tags); err != nil || len(tags) != 1 {
		t.Fatalf("exiftool JSON: %v (%d objects)\n%s", err, len(tags), out)
	}
	return tags[0], string(out)
}

// ctNoMarkers fails if any marker appears in the bytes or in exiftool's
// view of them (embedded streams included), or if exiftool warns about
// the file.
func ctNoMarkers(t testing.TB, name string, data []byte, markers []string) {
	t.Helper()
	tags, js := ctExiftoolTags(t, name, data)
	for k, v := range tags {
		// A sanitized file must read cleanly.
		if strings.Contains(k, "Warning") || strings.Contains(k, "Error") {
			t.Errorf("%s: exiftool reports %s: %v", name, k, v)
		}
	}
	for _, m := range markers {
		if bytes.Contains(bytes.ToLower(data), bytes.ToLower([]byte(m))) {
			t.Errorf("%s: marker %q survives in the sanitized bytes", name, m)
		}
		if strings.Contains(strings.ToLower(js), strings.ToLower(m)) {
			t.Errorf("%s: exiftool still finds %q:\n%s", name, m, js)
		}
	}
}

// ctMarkersPresent checks that the original really carried the
// markers, so a test cannot pass on an input exiftool does not read.
func ctMarkersPresent(t testing.TB, name string, data []byte, markers []string) {
	t.Helper()
	_, js := ctExiftoolTags(t, name, data)
	for _, m := range markers {
		if !strings.Contains(strings.ToLower(js), strings.ToLower(m)) {
			t.Errorf("%s: exiftool does not see marker %q in the original:\n%s", name, m, js)
		}
	}
}

// ctSanitize runs Sanitize over data.
func ctSanitize(t testing.TB, data []byte) ([]byte, Report) {
	t.Helper()
	var out bytes.Buffer
	rep, err := Sanitize(bytes.NewReader(data), int64(len(data)), &out)
	if err != nil {
		t.Fatalf("Sanitize: %v", err)
	}
	return out.Bytes(), rep
}

// ctIdempotent sanitizes out again and expects identical bytes.
func ctIdempotent(t testing.TB, out []byte) {
	t.Helper()
	again, _ := ctSanitize(t, out)
	if !bytes.Equal(again, out) {
		t.Errorf("sanitizing the sanitized file changed it: %d bytes, then %d", len(out), len(again))
	}
}

// ctReportHas fails unless rep lists an item of category c containing s.
func ctReportHas(t testing.TB, rep Report, c Category, s string) {
	t.Helper()
	for _, it := range rep.Items {
		if it.Category == c && strings.Contains(it.Label, s) {
			return
		}
	}
	t.Errorf("report lacks a %s item with %q; got %+v", c, s, rep.Items)
}

// ctZipEntry is one entry of a test archive.
type ctZipEntry struct {
	name   string
	data   string
	stored bool
}

func ctBuildZip(t testing.TB, entries []ctZipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		m := zip.Deflate
		if e.stored {
			m = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ctReadZip returns every entry of an archive, failing on any read error.
func ctReadZip(t testing.TB, data []byte) (names []string, parts map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("sanitized archive does not open: %v", err)
	}
	parts = map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(rc); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		rc.Close()
		names = append(names, f.Name)
		parts[f.Name] = b.Bytes()
	}
	return names, parts
}

func ctWantErr(t testing.TB, name string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", name, err, want)
	}
}

// ctExifJPEG encodes a small JPEG and has exiftool give it GPS, camera
// and author metadata naming the marker.
func ctExifJPEG(t testing.TB, marker string) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "in.jpg")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctExiftoolRun(t, "-q", "-overwrite_original", "-Artist="+marker, "-Make="+marker+"Make",
		"-GPSLatitude=52.52", "-GPSLatitudeRef=N", "-GPSLongitude=13.40", "-GPSLongitudeRef=E",
		"-XMP-dc:Creator="+marker+"Xmp", p)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
