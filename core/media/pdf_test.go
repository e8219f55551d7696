package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// buildPDF writes a PDF by hand: objects numbered from 1, a classic
// xref table and a trailer with Info and ID.
func buildPDF(objs []string, trailerExtra string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.6\n%\xe2\xe3\xcf\xd3\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n\r\n", o)
	}
	fmt.Fprintf(&b, "trailer\n<</Size %d/Root 1 0 R%s>>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailerExtra, x)
	return b.Bytes()
}

func pdfStream(dict string, data []byte) string {
	return fmt.Sprintf("<<%s/Length %d>>\nstream\n%s\nendstream", dict, len(data), data)
}

func plainJPEG(t testing.TB) []byte {
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 4)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const pdfContent = "q 100 0 0 100 50 50 cm /Im1 Do Q BT /F1 12 Tf 20 20 Td (Visible words) Tj ET"

var pdfMarkers = []string{"MarkerAuthor", "MarkerCreator", "MarkerProducer", "MarkerTitle", "MarkerSubject",
	"MarkerXmpCreator", "MarkerPiece", "MarkerCommentAuthor", "MarkerExifAuthor", "MarkerExifXmp",
	"MarkerThumbImage", "2019:03:04", "D:2019", "2019-03-04", "MarkerOrphan"}

// samplePDF is a one-page PDF with an image, a comment, page application
// data, a thumbnail, XMP on the catalog and on the page, and an Info
// dictionary; an unreferenced object is left over from an edit.
func samplePDF(t testing.TB, img []byte) []byte {
	xmp := []byte(`<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq><rdf:li>MarkerXmpCreator</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>`)
	objs := []string{
		"<</Type/Catalog/Pages 2 0 R/Metadata 7 0 R>>",
		"<</Type/Pages/Kids[3 0 R]/Count 1>>",
		"<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]/Contents 4 0 R/Resources<</XObject<</Im1 5 0 R>>/Font<</F1 10 0 R>>>>/Annots[6 0 R]/PieceInfo<</MarkerApp<</Private(MarkerPiece)/LastModified(D:20190304050607Z)>>>>/LastModified(D:20190304050607Z)/Metadata 7 0 R/Thumb 11 0 R>>",
		pdfStream("", []byte(pdfContent)),
		pdfStream("/Type/XObject/Subtype/Image/Width 8/Height 8/ColorSpace/DeviceGray/BitsPerComponent 8/Filter/DCTDecode", img),
		"<</Type/Annot/Subtype/Text/Rect[10 10 30 30]/T(MarkerCommentAuthor)/M(D:20190304050607Z)/Contents(note text stays)>>",
		pdfStream("/Type/Metadata/Subtype/XML", xmp),
		"<</Author(MarkerAuthor)/Creator(MarkerCreator)/Producer(MarkerProducer)/Title(MarkerTitle)/Subject(MarkerSubject)/CreationDate(D:20190304050607+01'00')/ModDate(D:20190304080607+01'00')>>",
		"<</Author(MarkerOrphan)>>",
		"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
		pdfStream("/Width 1/Height 1/ColorSpace/DeviceGray/BitsPerComponent 8", []byte("MarkerThumbImage")),
	}
	return buildPDF(objs, "/Info 8 0 R/ID[<00112233445566778899aabbccddeeff><00112233445566778899aabbccddeeff>]")
}

// withExiftoolUpdate has exiftool add Info and XMP metadata, which it
// writes as an incremental update.
func withExiftoolUpdate(t testing.TB, in []byte) []byte {
	p := filepath.Join(t.TempDir(), "in.pdf")
	if err := os.WriteFile(p, in, 0o600); err != nil {
		t.Fatal(err)
	}
	ctExiftoolRun(t, "-q", "-overwrite_original", "-PDF:Author=MarkerExifAuthor", "-XMP-dc:Creator=MarkerExifXmp",
		"-PDF:Keywords=MarkerKeyword", p)
	out, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pdfcpuRead parses and validates data strictly.
func pdfcpuRead(t testing.TB, data []byte) *model.Context {
	t.Helper()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationStrict
	ctx, err := api.ReadContext(bytes.NewReader(data), conf)
	if err != nil {
		t.Fatalf("pdfcpu cannot read the sanitized PDF: %v", err)
	}
	if err := api.ValidateContext(ctx); err != nil {
		t.Fatalf("sanitized PDF does not validate: %v", err)
	}
	return ctx
}

func TestPDFOracle(t *testing.T) {
	t.Parallel()
	img := plainJPEG(t)
	in := withExiftoolUpdate(t, samplePDF(t, img))
	ctMarkersPresent(t, "in.pdf", in, []string{"MarkerExifAuthor", "MarkerExifXmp", "MarkerCreator", "MarkerProducer", "MarkerTitle"})
	if !bytes.Contains(in, []byte("MarkerAuthor")) {
		t.Fatal("the incremental update should have left the old author in the bytes")
	}
	insp, err := Inspect(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	out, rep := ctSanitize(t, in)
	for _, r := range []Report{insp, rep} {
		ctReportHas(t, r, CatAuthor, "Author: MarkerExifAuthor")
		ctReportHas(t, r, CatSoftware, "Creator: MarkerCreator")
		ctReportHas(t, r, CatSoftware, "Producer: MarkerProducer")
		ctReportHas(t, r, CatTime, "Created 2019-03-04 05:06")
		ctReportHas(t, r, CatComment, "Title: MarkerTitle")
		ctReportHas(t, r, CatOther, "XMP metadata")
		ctReportHas(t, r, CatAuthor, "Comment author: MarkerCommentAuthor")
		ctReportHas(t, r, CatThumbnail, "Page thumbnails")
		ctReportHas(t, r, CatOther, "incremental update")
	}
	ctNoMarkers(t, "out.pdf", out, append(pdfMarkers, "MarkerKeyword"))
	if bytes.Contains(out, []byte("/Info")) || bytes.Contains(out, []byte("/Metadata")) || bytes.Contains(out, []byte("/ID")) {
		t.Errorf("Info, Metadata or ID survive:\n%s", out)
	}
	if n := bytes.Count(out, []byte("%%EOF")); n != 1 {
		t.Errorf("%d %%%%EOF markers: not a single fresh revision", n)
	}

	ctx := pdfcpuRead(t, out)
	if ctx.PageCount != 1 {
		t.Errorf("page count: got %d, want 1", ctx.PageCount)
	}
	if ctx.Info != nil {
		t.Errorf("pdfcpu finds an Info dictionary")
	}
	// The page content and the image survive byte for byte (the image
	// has no metadata to remove).
	var foundContent, foundImage bool
	for _, e := range ctx.Table {
		sd, ok := e.Object.(types.StreamDict)
		if !ok {
			continue
		}
		if bytes.Equal(sd.Raw, []byte(pdfContent)) {
			foundContent = true
		}
		if f, _ := sd.Dict["Filter"].(types.Name); f == "DCTDecode" {
			foundImage = true
			if _, err := jpeg.Decode(bytes.NewReader(sd.Raw)); err != nil {
				t.Errorf("image stream does not decode: %v", err)
			}
		}
	}
	if !foundContent || !foundImage {
		t.Errorf("content stream kept: %v, image kept: %v", foundContent, foundImage)
	}
	if !bytes.Contains(out, []byte("note text stays")) {
		t.Errorf("comment text lost")
	}
	ctIdempotent(t, out)
}

// TestPDFEmbeddedJPEG: JPEG streams go through the JPEG sanitizer
// (passes once the JPEG format is registered).
func TestPDFEmbeddedJPEG(t *testing.T) {
	t.Parallel()
	in := samplePDF(t, ctExifJPEG(t, "MarkerEmbedded"))
	out, rep := ctSanitize(t, in)
	ctReportHas(t, rep, CatLocation, "Image 1")
	ctNoMarkers(t, "out.pdf", out, append(pdfMarkers, "MarkerEmbedded"))
	pdfcpuRead(t, out)
	ctIdempotent(t, out)
}

func TestPDFErrors(t *testing.T) {
	good := samplePDF(t, plainJPEG(t))
	sanitizePDFBytes := func(b []byte) error {
		_, err := Sanitize(bytes.NewReader(b), int64(len(b)), io.Discard)
		return err
	}
	t.Run("garbage", func(t *testing.T) {
		ctWantErr(t, "garbage", sanitizePDFBytes([]byte("%PDF-1.4\nnothing here at all\n")), ErrMalformed)
	})
	t.Run("no-catalog", func(t *testing.T) {
		ctWantErr(t, "no-catalog", sanitizePDFBytes(buildPDF([]string{"<</Type/Font>>"}, "")), ErrMalformed)
	})
	t.Run("truncated", func(t *testing.T) {
		// pdfcpu repairs some truncated files; whatever it accepts must
		// come out as a valid, sanitized PDF, and the rest fail cleanly.
		for n := 5; n < len(good); n += len(good) / 23 {
			var out bytes.Buffer
			_, err := Sanitize(bytes.NewReader(good[:n]), int64(n), &out)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("cut at %d: got %v, want ErrMalformed", n, err)
				}
				continue
			}
			if bytes.Contains(out.Bytes(), []byte("MarkerAuthor")) {
				t.Errorf("cut at %d: author survives", n)
			}
		}
	})
	t.Run("encrypted", func(t *testing.T) {
		conf := model.NewAESConfiguration("user", "owner", 256)
		var enc bytes.Buffer
		if err := api.Encrypt(bytes.NewReader(good), &enc, conf); err != nil {
			t.Fatalf("encrypting the sample: %v", err)
		}
		err := sanitizePDFBytes(enc.Bytes())
		var ue *UnsupportedError
		if !errors.As(err, &ue) || ue.Type != PDF {
			t.Errorf("encrypted: got %v, want an UnsupportedError for PDF", err)
		}
	})
	t.Run("too-large", func(t *testing.T) {
		_, err := sanitizePDF(bytes.NewReader(good), maxPDFSize+1, io.Discard)
		ctWantErr(t, "too-large", err, ErrTooLarge)
	})
}

// FuzzPDF: Sanitize either fails cleanly or writes a PDF that sanitizes
// to identical bytes.
func FuzzPDF(f *testing.F) {
	f.Add(samplePDF(f, plainJPEG(f)))
	f.Add(buildPDF([]string{"<</Type/Catalog/Pages 2 0 R>>", "<</Type/Pages/Kids[]/Count 0>>"}, ""))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !strings.HasPrefix(string(data), "%PDF-") {
			return
		}
		var out bytes.Buffer
		if _, err := Sanitize(bytes.NewReader(data), int64(len(data)), &out); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		var again bytes.Buffer
		if _, err := Sanitize(bytes.NewReader(out.Bytes()), int64(out.Len()), &again); err != nil {
			t.Fatalf("sanitized output does not sanitize: %v\n%q", err, out.Bytes())
		}
		if !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatalf("not idempotent:\n%q\n%q", out.Bytes(), again.Bytes())
		}
	})
}
