package media

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"image/jpeg"
	"io"
	"strings"
	"testing"
)

const (
	nsCP  = `xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"`
	nsW   = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	relNS = `http://schemas.openxmlformats.org/officeDocument/2006/relationships`
)

// ooxmlMarkers are planted in the test documents and must all go.
var ooxmlMarkers = []string{"MarkerAuthor", "MarkerEditor", "MarkerTitle", "MarkerSubject",
	"MarkerKeyword", "MarkerApp", "MarkerCompany", "MarkerManager", "MarkerTemplate",
	"MarkerCustomProp", "MarkerCustomValue", "MarkerThumb", "MarkerCommentAuthor", "MCAI",
	"2019-03-04", "MarkerRevAuthor", "MarkerHyperBase", "MarkerPerson", "MarkerUserID", "MarkerModernAuthor",
	"MarkerPeople", "MarkerSID", "MarkerTemplatePath"}

func corePropsXML() string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties ` + nsCP + `><dc:title>MarkerTitle</dc:title><dc:subject>MarkerSubject</dc:subject><dc:creator>MarkerAuthor</dc:creator><cp:keywords>MarkerKeyword</cp:keywords><dc:description>MarkerDescription</dc:description><cp:lastModifiedBy>MarkerEditor</cp:lastModifiedBy><cp:revision>7</cp:revision><dcterms:created xsi:type="dcterms:W3CDTF">2019-03-04T05:06:07Z</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">2019-03-04T08:06:07Z</dcterms:modified><cp:lastPrinted>2019-03-04T09:00:00Z</cp:lastPrinted><dc:language>en-GB</dc:language></cp:coreProperties>`
}

func appPropsXML(app string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"><Template>MarkerTemplate.dotm</Template><TotalTime>42</TotalTime><Pages>1</Pages><Application>` + app + `</Application><DocSecurity>0</DocSecurity><Company>MarkerCompany</Company><Manager>MarkerManager</Manager><HyperlinkBase>MarkerHyperBase</HyperlinkBase><AppVersion>16.0000</AppVersion><ScaleCrop>false</ScaleCrop></Properties>`
}

const customPropsXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"><property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="MarkerCustomProp"><vt:lpwstr>MarkerCustomValue</vt:lpwstr></property></Properties>`

// commonParts are the package parts every OOXML test document has.
func commonParts(main, mainType string) []ctZipEntry {
	return []ctZipEntry{
		{name: "[Content_Types].xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="jpeg" ContentType="image/jpeg"/><Default Extension="png" ContentType="image/png"/><Override PartName="/` + main + `" ContentType="` + mainType + `"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/><Override PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/></Types>`},
		{name: "_rels/.rels", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="` + relNS + `/officeDocument" Target="` + main + `"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId3" Type="` + relNS + `/extended-properties" Target="docProps/app.xml"/><Relationship Id="rId4" Type="` + relNS + `/custom-properties" Target="/docProps/custom.xml"/><Relationship Id="rId5" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail" Target="docProps/thumbnail.jpeg"/></Relationships>`},
		{name: "docProps/core.xml", data: corePropsXML()},
		{name: "docProps/app.xml", data: appPropsXML("MarkerApp")},
		{name: "docProps/custom.xml", data: customPropsXML},
		{name: "docProps/thumbnail.jpeg", data: "\xff\xd8\xff\xe0MarkerThumb"},
	}
}

func buildDOCX(t testing.TB, media []ctZipEntry) []byte {
	entries := commonParts("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")
	entries = append(entries,
		ctZipEntry{name: "word/document.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document ` + nsW + `><w:body><w:p><w:commentRangeStart w:id="0"/><w:r><w:t xml:space="preserve">Hello &amp; welcome</w:t></w:r><w:commentRangeEnd w:id="0"/><w:r><w:commentReference w:id="0"/></w:r><w:ins w:id="1" w:author="MarkerRevAuthor" w:date="2019-03-04T10:00:00Z"><w:r><w:t>inserted</w:t></w:r></w:ins></w:p><w:sectPr/></w:body></w:document>`},
		ctZipEntry{name: "word/_rels/document.xml.rels", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="` + relNS + `/comments" Target="comments.xml"/><Relationship Id="rId2" Type="` + relNS + `/image" Target="media/image1.jpeg"/><Relationship Id="rId3" Type="` + relNS + `/hyperlink" Target="https://example.org/" TargetMode="External"/></Relationships>`},
		ctZipEntry{name: "word/comments.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:comments ` + nsW + `><w:comment w:id="0" w:author="MarkerCommentAuthor" w:date="2019-03-04T11:00:00Z" w:initials="MCAI"><w:p><w:r><w:t>Comment text stays</w:t></w:r></w:p></w:comment></w:comments>`},
		ctZipEntry{name: "word/people.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w15:people xmlns:w15="http://schemas.microsoft.com/office/word/2012/wordml"><w15:person w15:author="MarkerPeople"><w15:presenceInfo w15:providerId="AD" w15:userId="S-1-5-21-MarkerSID"/></w15:person></w15:people>`},
		ctZipEntry{name: "word/settings.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:settings ` + nsW + `><w:attachedTemplate r:id="rId1"/><w:defaultTabStop w:val="720"/></w:settings>`},
		ctZipEntry{name: "word/_rels/settings.xml.rels", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="` + relNS + `/attachedTemplate" Target="file:///C:/Users/MarkerTemplatePath/Normal.dotm" TargetMode="External"/></Relationships>`},
	)
	return ctBuildZip(t, append(entries, media...))
}

func buildXLSX(t testing.TB) []byte {
	entries := commonParts("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
	entries = append(entries,
		ctZipEntry{name: "xl/workbook.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="` + relNS + `"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		ctZipEntry{name: "xl/worksheets/sheet1.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>cell</t></is></c></row></sheetData></worksheet>`},
		ctZipEntry{name: "xl/comments1.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<comments xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><authors><author>MarkerCommentAuthor</author></authors><commentList><comment ref="A1" authorId="0"><text><r><t>note</t></r></text></comment></commentList></comments>`},
		ctZipEntry{name: "xl/persons/person.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<personList xmlns="http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"><person displayName="MarkerPerson" id="{00000000-0000-0000-0000-000000000001}" userId="MarkerUserID@example.org" providerId="AD"/></personList>`},
		ctZipEntry{name: "xl/threadedComments/threadedComment1.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<ThreadedComments xmlns="http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"><threadedComment ref="A1" dT="2019-03-04T10:00:00.00" personId="{00000000-0000-0000-0000-000000000001}" id="{00000000-0000-0000-0000-000000000002}"><text>thread text</text></threadedComment></ThreadedComments>`},
	)
	return ctBuildZip(t, entries)
}

func buildPPTX(t testing.TB) []byte {
	entries := commonParts("ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml")
	entries = append(entries,
		ctZipEntry{name: "ppt/presentation.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>`},
		ctZipEntry{name: "ppt/commentAuthors.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p:cmAuthorLst xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cmAuthor id="1" name="MarkerCommentAuthor" initials="MCAI" lastIdx="1" clrIdx="0"/></p:cmAuthorLst>`},
		ctZipEntry{name: "ppt/authors.xml", data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<p188:authorLst xmlns:p188="http://schemas.microsoft.com/office/powerpoint/2018/8/main"><p188:author id="{00000000-0000-0000-0000-000000000003}" name="MarkerModernAuthor" initials="MMA" userId="MarkerUserID@example.org" providerId="AD"/></p188:authorLst>`},
	)
	return ctBuildZip(t, entries)
}

func TestOOXMLOracle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		ext   string
		typ   Type
		build func(testing.TB) []byte
		parts []string // parts that must survive
	}{
		{"docx", "docx", DOCX, func(t testing.TB) []byte { return buildDOCX(t, nil) }, []string{"word/document.xml", "word/comments.xml", "word/_rels/document.xml.rels"}},
		{"xlsx", "xlsx", XLSX, buildXLSX, []string{"xl/workbook.xml", "xl/worksheets/sheet1.xml", "xl/comments1.xml"}},
		{"pptx", "pptx", PPTX, buildPPTX, []string{"ppt/presentation.xml", "ppt/commentAuthors.xml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.build(t)
			ctMarkersPresent(t, "in."+tc.ext, in, []string{"MarkerAuthor", "MarkerEditor", "MarkerTitle", "MarkerApp", "MarkerCompany", "MarkerCustomProp"})
			insp, err := Inspect(bytes.NewReader(in), int64(len(in)))
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			out, rep := ctSanitize(t, in)
			if rep.Type != tc.typ {
				t.Errorf("type: got %s, want %s", rep.Type, tc.typ)
			}
			for _, r := range []Report{insp, rep} {
				ctReportHas(t, r, CatAuthor, "MarkerAuthor")
				ctReportHas(t, r, CatAuthor, "MarkerEditor")
				ctReportHas(t, r, CatAuthor, "MarkerCompany")
				ctReportHas(t, r, CatTime, "Created 2019-03-04 05:06")
				ctReportHas(t, r, CatSoftware, "MarkerApp")
				ctReportHas(t, r, CatComment, "MarkerTitle")
				ctReportHas(t, r, CatThumbnail, "Thumbnail")
				ctReportHas(t, r, CatOther, "MarkerCustomProp = MarkerCustomValue")
				ctReportHas(t, r, CatAuthor, "Comment author: MarkerCommentAuthor")
			}
			ctNoMarkers(t, "out."+tc.ext, out, ooxmlMarkers)

			names, parts := ctReadZip(t, out)
			for _, p := range tc.parts {
				if _, ok := parts[p]; !ok {
					t.Errorf("part %s missing after sanitizing; have %v", p, names)
				}
			}
			for _, p := range []string{"docProps/custom.xml", "docProps/thumbnail.jpeg"} {
				if _, ok := parts[p]; ok {
					t.Errorf("part %s survived", p)
				}
			}
			for name, data := range parts {
				if strings.HasSuffix(name, ".xml") || strings.HasSuffix(name, ".rels") {
					if err := ctWellFormed(data); err != nil {
						t.Errorf("%s is not well-formed: %v\n%s", name, err, data)
					}
				}
			}
			if s := string(parts["_rels/.rels"]); strings.Contains(s, "custom.xml") || strings.Contains(s, "thumbnail") || !strings.Contains(s, "core.xml") {
				t.Errorf("_rels/.rels not filtered right:\n%s", s)
			}
			if s := string(parts["[Content_Types].xml"]); strings.Contains(s, "custom.xml") || !strings.Contains(s, "/docProps/core.xml") {
				t.Errorf("[Content_Types].xml not filtered right:\n%s", s)
			}
			if s := string(parts["docProps/core.xml"]); !strings.Contains(s, "<dc:language>en-GB</dc:language>") || strings.Contains(s, "creator") {
				t.Errorf("core.xml: got\n%s", s)
			}
			ctIdempotent(t, out)
		})
	}
}

// TestDOCXContentKept checks the text and structure a reader needs survive.
func TestDOCXContentKept(t *testing.T) {
	out, _ := ctSanitize(t, buildDOCX(t, nil))
	_, parts := ctReadZip(t, out)
	doc := string(parts["word/document.xml"])
	for _, want := range []string{`<w:t xml:space="preserve">Hello &amp; welcome</w:t>`, `<w:ins w:id="1" w:author="">`, `<w:commentReference w:id="0"/>`, "inserted"} {
		if !strings.Contains(doc, want) {
			t.Errorf("document.xml lacks %q:\n%s", want, doc)
		}
	}
	com := string(parts["word/comments.xml"])
	if !strings.Contains(com, `<w:comment w:id="0" w:author="">`) || !strings.Contains(com, "Comment text stays") {
		t.Errorf("comments.xml: got\n%s", com)
	}
	if st := string(parts["word/settings.xml"]); strings.Contains(st, "attachedTemplate") || !strings.Contains(st, `<w:defaultTabStop w:val="720"/>`) {
		t.Errorf("settings.xml: got\n%s", st)
	}
	if p := string(parts["word/people.xml"]); !strings.Contains(p, `<w15:person w15:author=""/>`) {
		t.Errorf("people.xml: got\n%s", p)
	}
	rels := string(parts["word/_rels/document.xml.rels"])
	if !strings.Contains(rels, "https://example.org/") || !strings.Contains(rels, "comments.xml") {
		t.Errorf("document rels lost a relationship:\n%s", rels)
	}
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if !f.Modified.IsZero() && f.Modified.Year() != 1980 {
			t.Errorf("%s: modification time %v kept", f.Name, f.Modified)
		}
		if len(f.Extra) != 0 {
			t.Errorf("%s: extra field kept", f.Name)
		}
	}
}

// TestDOCXEmbeddedJPEG: images in a document are sanitized by the JPEG
// sanitizer (passes once the JPEG format is registered).
func TestDOCXEmbeddedJPEG(t *testing.T) {
	t.Parallel()
	img := ctExifJPEG(t, "MarkerEmbedded")
	in := buildDOCX(t, []ctZipEntry{{name: "word/media/image1.jpeg", data: string(img)}, {name: "word/media/stored.jpeg", data: string(img), stored: true}})
	out, rep := ctSanitize(t, in)
	if len(rep.Kept) > 0 {
		for _, k := range rep.Kept {
			if strings.Contains(k.Label, "kept as is") {
				t.Errorf("embedded JPEG not sanitized: %s", k.Label)
			}
		}
	}
	ctReportHas(t, rep, CatLocation, "word/media/image1.jpeg")
	_, parts := ctReadZip(t, out)
	for _, name := range []string{"word/media/image1.jpeg", "word/media/stored.jpeg"} {
		got := parts[name]
		if _, err := jpeg.Decode(bytes.NewReader(got)); err != nil {
			t.Errorf("%s does not decode after sanitizing: %v", name, err)
		}
		ctNoMarkers(t, "img.jpg", got, []string{"MarkerEmbedded"})
	}
	ctNoMarkers(t, "out.docx", out, append(ooxmlMarkers, "MarkerEmbedded"))
	ctIdempotent(t, out)
}

// TestOOXMLEmbeddedUnsupportedKept: a file of a type that cannot be
// sanitized stays, and the report says so.
func TestOOXMLEmbeddedUnsupportedKept(t *testing.T) {
	in := buildDOCX(t, []ctZipEntry{{name: "word/media/image2.emf", data: "\x01\x00\x00\x00 not sniffable"}})
	out, rep := ctSanitize(t, in)
	found := false
	for _, k := range rep.Kept {
		if k.Category == CatEmbedded && strings.Contains(k.Label, "word/media/image2.emf") {
			found = true
		}
	}
	if !found {
		t.Errorf("report does not mention the kept file: %+v", rep.Kept)
	}
	_, parts := ctReadZip(t, out)
	if string(parts["word/media/image2.emf"]) != "\x01\x00\x00\x00 not sniffable" {
		t.Errorf("unsupported embedded file changed")
	}
}

// TestOOXMLNestedDocument: a document embedded in a document is
// sanitized too.
func TestOOXMLNestedDocument(t *testing.T) {
	t.Parallel()
	inner := buildXLSX(t)
	in := buildDOCX(t, []ctZipEntry{{name: "word/embeddings/Microsoft_Excel_Worksheet.xlsx", data: string(inner)}})
	out, rep := ctSanitize(t, in)
	ctReportHas(t, rep, CatAuthor, "word/embeddings/Microsoft_Excel_Worksheet.xlsx: Author: MarkerAuthor")
	_, parts := ctReadZip(t, out)
	nested := parts["word/embeddings/Microsoft_Excel_Worksheet.xlsx"]
	if _, p := ctReadZip(t, nested); p["xl/workbook.xml"] == nil {
		t.Errorf("nested workbook lost its parts")
	}
	ctNoMarkers(t, "out.docx", out, ooxmlMarkers)
}

func ctWellFormed(data []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(data))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// TestZipDocFileManagerJunk: Finder and Explorer leftovers are dropped.
func TestZipDocFileManagerJunk(t *testing.T) {
	in := buildDOCX(t, []ctZipEntry{{name: "__MACOSX/word/._document.xml", data: "MarkerWhereFrom"},
		{name: "word/.DS_Store", data: "MarkerDSStore"}, {name: "Thumbs.db", data: "MarkerThumbsDB"}})
	out, rep := ctSanitize(t, in)
	ctReportHas(t, rep, CatOther, "File manager data")
	names, _ := ctReadZip(t, out)
	for _, n := range names {
		if strings.Contains(n, "MACOSX") || strings.Contains(n, "DS_Store") || strings.Contains(n, "Thumbs") {
			t.Errorf("%s survives", n)
		}
	}
	for _, m := range []string{"MarkerWhereFrom", "MarkerDSStore", "MarkerThumbsDB"} {
		if bytes.Contains(out, []byte(m)) {
			t.Errorf("%s survives", m)
		}
	}
}
