package media

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"testing"
)

// rawZip builds an archive whose one extra entry declares sizes that
// need not match its data.
func rawZip(t testing.TB, base []ctZipEntry, name string, declared uint64, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range base {
		w, _ := zw.Create(e.name)
		w.Write([]byte(e.data))
	}
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(payload)
	fw.Close()
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(payload),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return buf.Bytes()
}

func docxBase() []ctZipEntry {
	return []ctZipEntry{{name: "[Content_Types].xml", data: `<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`},
		{name: "word/document.xml", data: `<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>`}}
}

func TestZipDocLimits(t *testing.T) {
	t.Parallel()
	zeros := make([]byte, 4<<20)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		// Declares more than one entry may hold: refused before inflating.
		{"declared-huge", rawZip(t, docxBase(), "word/media/big.bin", maxZipEntrySize+1, zeros), ErrTooLarge},
		// Declares 10 bytes but inflates to 4 MiB: archive/zip stops at the
		// declared size.
		{"lying-size", rawZip(t, docxBase(), "word/media/bomb.bin", 10, zeros), ErrMalformed},
		{"lying-size-xml", rawZip(t, docxBase(), "docProps/core.xml", 10, zeros), ErrMalformed},
		// Entries whose declared sizes add up past the total limit.
		{"total", func() []byte {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			for _, e := range docxBase() {
				w, _ := zw.Create(e.name)
				w.Write([]byte(e.data))
			}
			for i := 0; i < 3; i++ {
				w, _ := zw.CreateRaw(&zip.FileHeader{Name: "word/media/" + string(rune('a'+i)), Method: zip.Store, UncompressedSize64: maxZipEntrySize, CompressedSize64: 0})
				w.Write(nil)
			}
			zw.Close()
			return buf.Bytes()
		}(), ErrTooLarge},
		{"entries", func() []byte {
			es := docxBase()
			for i := 0; i <= maxZipEntries; i++ {
				es = append(es, ctZipEntry{name: "word/x" + strings.Repeat("y", i%7) + string(rune('a'+i%26)) + itoa(i)})
			}
			return ctBuildZip(t, es)
		}(), ErrTooLarge},
		{"bad-xml", ctBuildZip(t, append(docxBase(), ctZipEntry{name: "docProps/core.xml", data: "<a><b></a>"})), ErrMalformed},
		{"doctype", ctBuildZip(t, append(docxBase(), ctZipEntry{name: "docProps/app.xml", data: `<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>`})), ErrMalformed},
		{"nested-too-deep", func() []byte {
			d := ctBuildZip(t, docxBase())
			for i := 0; i < maxDocDepth+1; i++ {
				d = ctBuildZip(t, append(docxBase(), ctZipEntry{name: "word/embeddings/x.docx", data: string(d), stored: i%2 == 0}))
			}
			return d
		}(), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if typ, err := Detect(bytes.NewReader(tc.data), int64(len(tc.data))); err != nil || typ != DOCX {
				t.Fatalf("Detect: %s, %v; want DOCX", typ, err)
			}
			_, err := Sanitize(bytes.NewReader(tc.data), int64(len(tc.data)), io.Discard)
			ctWantErr(t, tc.name, err, tc.want)
			_, err = Inspect(bytes.NewReader(tc.data), int64(len(tc.data)))
			ctWantErr(t, tc.name+" (inspect)", err, tc.want)
		})
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// TestZipDocTruncated: every truncation of a document fails cleanly
// (the ZIP directory is at the end, so a cut file is not even a ZIP).
func TestZipDocTruncated(t *testing.T) {
	full := ctBuildZip(t, append(docxBase(), ctZipEntry{name: "docProps/core.xml", data: corePropsXML()}))
	for n := 0; n < len(full); n += 7 {
		_, err := zipDocs[DOCX].sanitize(DOCX)(bytes.NewReader(full[:n]), int64(n), io.Discard)
		ctWantErr(t, "truncated", err, ErrMalformed)
	}
}

// FuzzZipDoc: the output of Sanitize on any ZIP document is itself a
// document of the same type that sanitizes to identical bytes.
func FuzzZipDoc(f *testing.F) {
	f.Add(buildDOCX(f, nil))
	f.Add(buildXLSX(f))
	f.Add(buildPPTX(f))
	f.Add(buildODF(f, ODT, nil, true))
	f.Add(buildODF(f, ODS, nil, false))
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, err := Detect(bytes.NewReader(data), int64(len(data)))
		if err != nil || !isZipDoc(typ) {
			return
		}
		var out bytes.Buffer
		if _, err := Sanitize(bytes.NewReader(data), int64(len(data)), &out); err != nil {
			return
		}
		o := out.Bytes()
		if typ2, err := Detect(bytes.NewReader(o), int64(len(o))); err != nil || typ2 != typ {
			t.Fatalf("sanitized %s detected as %s (%v)", typ, typ2, err)
		}
		var again bytes.Buffer
		if _, err := Sanitize(bytes.NewReader(o), int64(len(o)), &again); err != nil {
			t.Fatalf("sanitized output does not sanitize: %v", err)
		}
		if !bytes.Equal(again.Bytes(), o) {
			t.Fatalf("not idempotent")
		}
	})
}

// TestRewriteXML covers the XML rewriter's edge cases directly.
func TestRewriteXML(t *testing.T) {
	dropB := xmlRules{element: func(anc []string, se xml.StartElement) xmlAction {
		if se.Name.Local == "b" {
			return xmlDrop
		}
		return xmlKeep
	}}
	for _, tc := range []struct{ name, in, want string }{
		{"bom", "\ufeff<?xml version=\"1.0\"?>\n<a>x</a>", "<?xml version=\"1.0\"?>\n<a>x</a>"},
		{"drop-only-child", "<a><b>secret</b></a>", "<a/>"},
		{"escapes", `<a t="&quot;&lt;&#9;">&amp;&lt;&gt;<![CDATA[<c>]]></a>`, `<a t="&quot;&lt;&#x9;">&amp;&lt;&gt;&lt;c&gt;</a>`},
		{"comments-and-pi", "<a><!-- MarkerComment --><?foo bar?>y</a>", "<a>y</a>"},
		{"prefixes-kept", `<w:a xmlns:w="urn:x" w:v="1"><w:b/><w:c/></w:a>`, `<w:a xmlns:w="urn:x" w:v="1"><w:c/></w:a>`},
	} {
		var out bytes.Buffer
		if err := rewriteXML(DOCX, tc.name, strings.NewReader(tc.in), &out, dropB); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if out.String() != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, out.String(), tc.want)
		}
		var again bytes.Buffer
		if err := rewriteXML(DOCX, tc.name, bytes.NewReader(out.Bytes()), &again, dropB); err != nil || again.String() != out.String() {
			t.Errorf("%s: rewriting the output gives %q (%v)", tc.name, again.String(), err)
		}
	}
	for _, bad := range []string{"<a>", "<a></b>", "text<a/>", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, strings.Repeat("<a>", maxXMLDepth+1)} {
		err := rewriteXML(DOCX, "bad", strings.NewReader(bad), io.Discard, dropB)
		ctWantErr(t, fmt.Sprintf("%.20q", bad), err, ErrMalformed)
	}
}
