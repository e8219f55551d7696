package media

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"
)

const odfNS = `xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:config="urn:oasis:names:tc:opendocument:xmlns:config:1.0" office:version="1.3"`

var odfMarkers = []string{"MarkerGenerator", "MarkerInitialCreator", "MarkerCreator", "MarkerTitle",
	"MarkerSubject", "MarkerKeyword", "MarkerUserProp", "MarkerUserValue", "MarkerTemplate",
	"MarkerPrinter", "MarkerAnnotator", "MarkerThumb", "2019-03-04", "MarkerPrintedBy"}

func buildODF(t testing.TB, mime Type, extra []ctZipEntry, mimetypeFirst bool) []byte {
	mimetype := ctZipEntry{name: "mimetype", data: string(mime), stored: true}
	entries := []ctZipEntry{
		{name: "META-INF/manifest.xml", data: `<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" manifest:media-type="` + string(mime) + `"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="settings.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png" manifest:media-type="image/png"/></manifest:manifest>`},
		{name: "content.xml", data: `<?xml version="1.0" encoding="UTF-8"?>
<office:document-content ` + odfNS + `><office:body><office:text><text:p>Visible text<office:annotation><dc:creator>MarkerAnnotator</dc:creator><dc:date>2019-03-04T10:00:00</dc:date><meta:creator-initials>MA</meta:creator-initials><text:p>Annotation text stays</text:p></office:annotation></text:p></office:text></office:body></office:document-content>`},
		{name: "meta.xml", data: `<?xml version="1.0" encoding="UTF-8"?>
<office:document-meta ` + odfNS + `><office:meta><meta:generator>MarkerGenerator/7.5</meta:generator><dc:title>MarkerTitle</dc:title><dc:subject>MarkerSubject</dc:subject><meta:keyword>MarkerKeyword</meta:keyword><meta:initial-creator>MarkerInitialCreator</meta:initial-creator><dc:creator>MarkerCreator</dc:creator><meta:printed-by>MarkerPrintedBy</meta:printed-by><meta:creation-date>2019-03-04T05:06:07</meta:creation-date><dc:date>2019-03-04T08:06:07</dc:date><meta:template xlink:type="simple" xlink:href="MarkerTemplate.ott" xlink:title="t"/><meta:editing-cycles>9</meta:editing-cycles><meta:editing-duration>PT1H</meta:editing-duration><meta:user-defined meta:name="MarkerUserProp">MarkerUserValue</meta:user-defined><dc:language>de-DE</dc:language><meta:document-statistic meta:page-count="1"/></office:meta></office:document-meta>`},
		{name: "settings.xml", data: `<?xml version="1.0" encoding="UTF-8"?>
<office:document-settings ` + odfNS + `><office:settings><config:config-item-set config:name="ooo:configuration-settings"><config:config-item config:name="PrinterName" config:type="string">MarkerPrinter</config:config-item><config:config-item config:name="AddParaTableSpacing" config:type="boolean">true</config:config-item></config:config-item-set></office:settings></office:document-settings>`},
		{name: "Thumbnails/thumbnail.png", data: "\x89PNG\r\n\x1a\nMarkerThumb"},
	}
	if mimetypeFirst {
		entries = append([]ctZipEntry{mimetype}, entries...)
	} else {
		entries = append(entries, mimetype)
	}
	return ctBuildZip(t, append(entries, extra...))
}

func TestODFOracle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		ext   string
		typ   Type
		first bool
	}{
		{"odt", "odt", ODT, true},
		{"ods", "ods", ODS, true},
		{"odp-mimetype-last", "odp", ODP, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := buildODF(t, tc.typ, nil, tc.first)
			if tc.first {
				ctMarkersPresent(t, "in."+tc.ext, in, []string{"MarkerGenerator", "MarkerInitialCreator", "MarkerCreator", "MarkerTitle", "MarkerUserProp"})
			}
			out, rep := ctSanitize(t, in)
			if rep.Type != tc.typ {
				t.Fatalf("type: got %s, want %s", rep.Type, tc.typ)
			}
			ctReportHas(t, rep, CatSoftware, "MarkerGenerator")
			ctReportHas(t, rep, CatAuthor, "Author: MarkerInitialCreator")
			ctReportHas(t, rep, CatAuthor, "Author: MarkerCreator")
			ctReportHas(t, rep, CatAuthor, "Comment author: MarkerAnnotator")
			ctReportHas(t, rep, CatTime, "Created 2019-03-04")
			ctReportHas(t, rep, CatOther, "Template: MarkerTemplate.ott")
			ctReportHas(t, rep, CatOther, "Custom property: MarkerUserProp = MarkerUserValue")
			ctReportHas(t, rep, CatDevice, "Printer: MarkerPrinter")
			ctReportHas(t, rep, CatThumbnail, "Thumbnail")
			ctNoMarkers(t, "out."+tc.ext, out, odfMarkers)

			// mimetype first, stored, without extra field: bytes 30.. read
			// "mimetype" then the type, as file(1) and the spec expect.
			if want := "mimetype" + string(tc.typ); len(out) < 38+len(tc.typ) || string(out[30:38+len(tc.typ)]) != want {
				t.Errorf("mimetype is not the first stored entry: %q", out[:min(len(out), 90)])
			}
			zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
			if err != nil {
				t.Fatal(err)
			}
			if zr.File[0].Name != "mimetype" || zr.File[0].Method != zip.Store {
				t.Errorf("first entry %s method %d", zr.File[0].Name, zr.File[0].Method)
			}
			_, parts := ctReadZip(t, out)
			for _, p := range []string{"content.xml", "meta.xml", "settings.xml", "META-INF/manifest.xml"} {
				if err := ctWellFormed(parts[p]); err != nil || len(parts[p]) == 0 {
					t.Errorf("%s: %v", p, err)
				}
			}
			if _, ok := parts["Thumbnails/thumbnail.png"]; ok {
				t.Error("thumbnail survived")
			}
			if m := string(parts["META-INF/manifest.xml"]); strings.Contains(m, "Thumbnails") || !strings.Contains(m, `manifest:full-path="content.xml"`) {
				t.Errorf("manifest not filtered right:\n%s", m)
			}
			if c := string(parts["content.xml"]); !strings.Contains(c, "Annotation text stays") || !strings.Contains(c, "Visible text") {
				t.Errorf("content lost text:\n%s", c)
			}
			if m := string(parts["meta.xml"]); !strings.Contains(m, "<dc:language>de-DE</dc:language>") || !strings.Contains(m, "document-statistic") {
				t.Errorf("meta.xml lost harmless elements:\n%s", m)
			}
			if s := string(parts["settings.xml"]); !strings.Contains(s, "AddParaTableSpacing") {
				t.Errorf("settings.xml lost settings:\n%s", s)
			}
			ctIdempotent(t, out)
		})
	}
}

// TestODFEmbeddedJPEG: pictures in an OpenDocument file go through the
// JPEG sanitizer (passes once the JPEG format is registered).
func TestODFEmbeddedJPEG(t *testing.T) {
	t.Parallel()
	img := ctExifJPEG(t, "MarkerEmbedded")
	in := buildODF(t, ODT, []ctZipEntry{{name: "Pictures/1.jpg", data: string(img)}}, true)
	out, rep := ctSanitize(t, in)
	ctReportHas(t, rep, CatLocation, "Pictures/1.jpg")
	ctNoMarkers(t, "out.odt", out, append(odfMarkers, "MarkerEmbedded"))
	ctIdempotent(t, out)
}
