package media

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A minimal HEIF file built box by box: a primary image with an irot, an
// nclx colr and a non-standard ICC profile; an Exif item; an XMP item; a
// thumbnail; a depth map; an alpha plane; a user description property.

const heifPrimaryData = "PRIMARY-HEVC-DATA-PRIMARY-HEVC-DATA"

func infe(id uint16, typ, name, contentType string) []byte {
	p := cat(u32(2<<24), u16(id, 0), []byte(typ), []byte(name+"\x00"))
	if typ == "mime" {
		p = append(p, []byte(contentType+"\x00")...)
	}
	return mbox("infe", p)
}

func iref(typ string, from uint16, to ...uint16) []byte {
	return mbox(typ, u16(from, uint16(len(to))), u16(to...))
}

// tiffMake is a big-endian TIFF block with one Make entry.
func tiffMake(make string) []byte {
	s := []byte(make + "\x00")
	return cat([]byte("MM\x00*"), u32(8), u16(1), u16(0x10f, 2), u32(uint32(len(s)), 26), u32(0), s)
}

func sampleHEIF(brand string, icc []byte) []byte {
	exif := cat(u32(6), []byte("Exif\x00\x00"), tiffMake("MarkerExifMake"))
	xmp := []byte(`<x:xmpmeta xmlns:x="adobe:ns:meta/">MarkerXmpItem</x:xmpmeta>`)
	data := [][]byte{[]byte(heifPrimaryData), exif, xmp, []byte("MarkerThumbData"), []byte("MarkerDepthData"), []byte("ALPHA-PLANE")}
	ipco := mbox("ipco",
		mbox("hvcC", []byte{1, 2, 3, 4}),                                                  // 1
		mbox("ispe", u32(0, 64, 48)),                                                      // 2
		mbox("colr", []byte("nclx"), u16(1, 13, 1), []byte{0x80}),                         // 3
		mbox("irot", []byte{1}),                                                           // 4
		mbox("colr", []byte("prof"), icc),                                                 // 5
		mbox("auxC", u32(0), []byte("urn:com:apple:photo:2018:aux:portraitdepth\x00")),    // 6
		mbox("auxC", u32(0), []byte("urn:mpeg:mpegB:cicp:systems:auxiliary:alpha\x00")),   // 7
		mbox("udes", u32(0), []byte("en\x00MarkerName\x00MarkerDescription\x00tags\x00")), // 8
	)
	ipma := mbox("ipma", u32(0, 4),
		u16(1), []byte{6, 0x81, 2, 3, 0x84, 5, 8},
		u16(4), []byte{2, 0x81, 2},
		u16(5), []byte{3, 0x81, 2, 6},
		u16(6), []byte{3, 0x81, 2, 7})
	build := func(mdatData uint32) []byte {
		var locs [][]byte
		off := mdatData
		for i, d := range data {
			locs = append(locs, cat(u16(uint16(i+1), 0, 1), u32(off, uint32(len(d)))))
			off += uint32(len(d))
		}
		return mbox("meta", u32(0),
			mbox("hdlr", u32(0, 0), []byte("pict"), u32(0, 0, 0), []byte("MarkerHdlr\x00")),
			mbox("pitm", u32(0), u16(1)),
			mbox("iinf", u32(0), u16(6),
				infe(1, "hvc1", "", ""), infe(2, "Exif", "", ""), infe(3, "mime", "XMP", "application/rdf+xml"),
				infe(4, "hvc1", "", ""), infe(5, "hvc1", "", ""), infe(6, "hvc1", "", "")),
			mbox("iref", u32(0), iref("thmb", 4, 1), iref("cdsc", 2, 1), iref("cdsc", 3, 1), iref("auxl", 5, 1), iref("auxl", 6, 1)),
			mbox("iprp", ipco, ipma),
			mbox("iloc", u32(0), []byte{0x44, 0x00}, u16(uint16(len(data))), bytes.Join(locs, nil)))
	}
	ftyp := mbox("ftyp", []byte(brand), u32(0), []byte("mif1"+brand))
	metaLen := len(build(0))
	meta := build(uint32(len(ftyp) + metaLen + 8))
	return cat(ftyp, meta, mbox("mdat", bytes.Join(data, nil)))
}

// nonStandardICC is a small profile that names a device.
func nonStandardICC() []byte {
	p := make([]byte, 160)
	copy(p[4:], "MarkerCMM")
	copy(p[12:], "mntrRGB XYZ ")
	copy(p[36:], "acsp")
	copy(p[128:], []byte{0, 0, 0, 0})
	copy(p[132:], "MarkerICCDevice")
	p[3] = 160
	return p
}

var heifMarkers = []string{"MarkerExifMake", "MarkerXmpItem", "MarkerThumbData", "MarkerDepthData",
	"MarkerDescription", "MarkerName", "MarkerICCDevice", "MarkerHdlr", "MarkerCMM", "portraitdepth", "MarkerExiftool"}

// heifItems parses an output's items with the package's own reader.
func heifItems(t testing.TB, data []byte, typ Type) *heifJob {
	t.Helper()
	j := &heifJob{t: typ}
	if err := j.run(bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatalf("sanitized file does not parse: %v", err)
	}
	return j
}

func TestHEIFOracle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		brand, ext string
		typ        Type
	}{{"heic", "heic", HEIC}, {"avif", "avif", AVIF}} {
		t.Run(tc.ext, func(t *testing.T) {
			in := sampleHEIF(tc.brand, nonStandardICC())
			// exiftool can add to an existing HEIF file (not create one).
			p := filepath.Join(t.TempDir(), "in."+tc.ext)
			if err := os.WriteFile(p, in, 0o600); err != nil {
				t.Fatal(err)
			}
			ctExiftoolRun(t, "-q", "-overwrite_original", "-XMP-dc:Creator=MarkerExiftool", p)
			in, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			ctMarkersPresent(t, "in."+tc.ext, in, []string{"MarkerExifMake", "MarkerExiftool"})

			insp, err := Inspect(bytes.NewReader(in), int64(len(in)))
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			out, rep := ctSanitize(t, in)
			if rep.Type != tc.typ {
				t.Errorf("type: got %s, want %s", rep.Type, tc.typ)
			}
			for _, r := range []Report{insp, rep} {
				ctReportHas(t, r, CatOther, "Exif")
				ctReportHas(t, r, CatOther, "XMP")
				ctReportHas(t, r, CatThumbnail, "Thumbnail")
				ctReportHas(t, r, CatEmbedded, "Depth map")
				ctReportHas(t, r, CatProfile, "Colour profile")
				ctReportHas(t, r, CatDevice, "MarkerExifMake") // read by exifItems
				ctReportHas(t, r, CatComment, "Image description")
			}
			keptRot := false
			for _, k := range rep.Kept {
				keptRot = keptRot || k.Label == "Orientation: rotated 90°"
			}
			if !keptRot {
				t.Errorf("report does not keep the rotation: %+v", rep.Kept)
			}
			ctNoMarkers(t, "out."+tc.ext, out, heifMarkers)
			if len(out) != len(in) {
				t.Errorf("size changed: %d → %d", len(in), len(out))
			}

			j := heifItems(t, out, tc.typ)
			ids := j.order
			if len(ids) != 2 || j.items[1] == nil || j.items[6] == nil || j.primary != 1 {
				t.Fatalf("items after sanitizing: %v (primary %d), want the primary 1 and its alpha plane 6", ids, j.primary)
			}
			for _, r := range j.refs {
				if r.typ != "auxl" || r.from != 6 {
					t.Errorf("reference %s from %d survives", r.typ, r.from)
				}
			}
			prim := j.items[1].extents
			if len(prim) != 1 || string(out[prim[0].start:prim[0].end]) != heifPrimaryData {
				t.Errorf("primary item data changed or moved: %v", prim)
			}
			var props []string
			for _, a := range j.assoc[1] {
				pb, _ := j.prop(a.index)
				props = append(props, pb.Type)
			}
			if got := strings.Join(props, ","); got != "hvcC,ispe,colr,irot,free,free" {
				t.Errorf("primary's properties: got %s, want hvcC,ispe,colr,irot,free,free", got)
			}
			ctIdempotent(t, out)
		})
	}
}

func TestHEIFMalformed(t *testing.T) {
	good := sampleHEIF("heic", nonStandardICC())
	for n := 0; n < len(good); n += 11 {
		_, err := Sanitize(bytes.NewReader(good[:n]), int64(n), io.Discard)
		if err == nil {
			t.Errorf("cut at %d of %d: no error", n, len(good))
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
			t.Errorf("cut at %d: got %v, want ErrMalformed", n, err)
		}
	}
	noPrimary := bytes.Replace(good, cat(mbox("pitm", u32(0), u16(1))), cat(mbox("pitm", u32(0), u16(9))), 1)
	_, err := Sanitize(bytes.NewReader(noPrimary), int64(len(noPrimary)), io.Discard)
	ctWantErr(t, "missing primary", err, ErrMalformed)
}

// FuzzHEIF: Sanitize either fails cleanly or writes a file of the same
// size that sanitizes to identical bytes.
func FuzzHEIF(f *testing.F) {
	f.Add(sampleHEIF("heic", nonStandardICC()))
	f.Add(sampleHEIF("avif", nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, err := Detect(bytes.NewReader(data), int64(len(data)))
		if err != nil || (typ != HEIC && typ != AVIF) {
			return
		}
		var out bytes.Buffer
		if _, err := Sanitize(bytes.NewReader(data), int64(len(data)), &out); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if out.Len() != len(data) {
			t.Fatalf("size changed: %d → %d", len(data), out.Len())
		}
		var again bytes.Buffer
		if _, err := Sanitize(bytes.NewReader(out.Bytes()), int64(out.Len()), &again); err != nil {
			t.Fatalf("sanitized output does not sanitize: %v", err)
		}
		if !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatal("not idempotent")
		}
	})
}

// TestTIFFStaysUnsupported: TIFF and the raw formats built on it are
// refused with their type named, never passed through.
func TestTIFFStaysUnsupported(t *testing.T) {
	for _, in := range [][]byte{tiffMake("MarkerTIFF"), cat([]byte("II*\x00"), u32(0x08000000), make([]byte, 16))} {
		_, err := Sanitize(bytes.NewReader(in), int64(len(in)), io.Discard)
		var ue *UnsupportedError
		if !errors.As(err, &ue) || ue.Type != TIFF {
			t.Errorf("got %v, want an UnsupportedError for %s", err, TIFF)
		}
	}
}
