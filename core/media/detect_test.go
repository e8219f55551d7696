package media

import (
	"archive/zip"
	"bytes"
	"errors"
	"testing"
)

func TestSniff(t *testing.T) {
	ftyp := func(major string, compat ...string) []byte {
		b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
		b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
		for _, c := range compat {
			b = append(b, c...)
		}
		return append(b, "\x00\x00\x00\x08mdat"...)
	}
	for _, tc := range []struct {
		name string
		head []byte
		want Type
	}{
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0}, JPEG},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), PNG},
		{"webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), WebP},
		{"gif", []byte("GIF89a\x01\x00"), GIF},
		{"tiff", []byte("II*\x00\x08\x00"), TIFF},
		{"pdf", []byte("%PDF-1.7\n"), PDF},
		{"heic", ftyp("heic", "mif1", "heic"), HEIC},
		{"heif mif1", ftyp("mif1", "mif1"), HEIC},
		{"avif", ftyp("avif", "mif1", "avif"), AVIF},
		{"mp4", ftyp("isom", "isom", "mp41"), MP4},
		{"mov", ftyp("qt  ", "qt  "), MOV},
		{"old mov", []byte("\x00\x00\x00\x08wide\x00\x00\x00\x08mdat"), MOV},
		{"text", []byte("hello, world"), Unknown},
		{"short", []byte{0xFF}, Unknown},
	} {
		if got := sniff(tc.head); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestDetectZip(t *testing.T) {
	mk := func(files map[string]string) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		// mimetype first, as OpenDocument requires.
		if m, ok := files["mimetype"]; ok {
			w, _ := zw.Create("mimetype")
			w.Write([]byte(m))
		}
		for name, body := range files {
			if name == "mimetype" {
				continue
			}
			w, _ := zw.Create(name)
			w.Write([]byte(body))
		}
		zw.Close()
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  Type
	}{
		{"docx", map[string]string{"[Content_Types].xml": "", "word/document.xml": ""}, DOCX},
		{"xlsx", map[string]string{"[Content_Types].xml": "", "xl/workbook.xml": ""}, XLSX},
		{"pptx", map[string]string{"[Content_Types].xml": "", "ppt/presentation.xml": ""}, PPTX},
		{"odt", map[string]string{"mimetype": string(ODT), "content.xml": ""}, ODT},
		{"ods", map[string]string{"mimetype": string(ODS), "content.xml": ""}, ODS},
		{"odp", map[string]string{"mimetype": string(ODP), "content.xml": ""}, ODP},
		{"plain zip", map[string]string{"a.txt": "x"}, ZIP},
	} {
		b := mk(tc.files)
		got, err := Detect(bytes.NewReader(b), int64(len(b)))
		if err != nil || got != tc.want {
			t.Errorf("%s: got %s, %v, want %s", tc.name, got, err, tc.want)
		}
	}
}

func TestDetectUnknown(t *testing.T) {
	b := []byte("just some text")
	got, err := Detect(bytes.NewReader(b), int64(len(b)))
	var ue *UnsupportedError
	if got != Unknown || !errors.As(err, &ue) || !errors.Is(err, ErrUnsupported) {
		t.Fatalf("got %s, %v; want Unknown and an UnsupportedError", got, err)
	}
	if _, err := Detect(bytes.NewReader(nil), 0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty file: got %v, want ErrMalformed", err)
	}
}
