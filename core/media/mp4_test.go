package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// Test files are built box by box.

func mbox(typ string, parts ...[]byte) []byte {
	n := 8
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 8, n)
	binary.BigEndian.PutUint32(b, uint32(n))
	copy(b[4:], typ)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u32(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func u16(vs ...uint16) []byte {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var unityMatrix = u32(0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)

// A date in 2019 (2019-03-03 21:06 UTC) as seconds since 1904.
const mp4Date2019 = 3634491967

func sampleTables(entry []byte, sizes []uint32, offset uint32) []byte {
	stsz := cat(u32(0, 0, uint32(len(sizes))), u32(sizes...))
	return mbox("stbl",
		mbox("stsd", u32(0, 1), entry),
		mbox("stts", u32(0, 1, uint32(len(sizes)), 1)),
		mbox("stsc", u32(0, 1, 1, uint32(len(sizes)), 1)),
		mbox("stsz", stsz),
		mbox("stco", u32(0, 1, offset)))
}

func mp4Trak(id uint32, handler, name string, minfHeader, stbl []byte) []byte {
	return mbox("trak",
		mbox("tkhd", u32(3, mp4Date2019, mp4Date2019+1, id, 0, 1, 0, 0), u16(0, 0, 0, 0), unityMatrix, u32(16<<16, 16<<16)),
		mbox("mdia",
			mbox("mdhd", u32(0, mp4Date2019, mp4Date2019+1, 1000, 1), u16(0x55c4, 0)),
			mbox("hdlr", u32(0, 0), []byte(handler), u32(0, 0, 0), []byte(name+"\x00")),
			mbox("minf", minfHeader,
				mbox("dinf", mbox("dref", u32(0, 1), mbox("url ", u32(1)))),
				stbl)))
}

// sampleMP4 is a movie with a video track, a GoPro-style telemetry track
// whose samples hold a marker, QuickTime user data with a location and
// the camera, and an XMP uuid box.
func sampleMP4(brand string) []byte {
	video := []byte("VIDEOFRAME-VIDEOFRAME")
	gps := []byte("MarkerGPSData-MarkerGPSData")
	compressor := make([]byte, 32)
	compressor[0] = 14
	copy(compressor[1:], "MarkerEncoder!")
	avc1 := mbox("avc1", make([]byte, 6), u16(1), make([]byte, 16), u16(16, 16), u32(0x480000, 0x480000, 0), u16(1), compressor, u16(24, 0xffff))
	gpmd := mbox("gpmd", make([]byte, 6), u16(1))
	xyz := cat(u16(18, 0x15c7), []byte("+52.5200+013.4000/"))
	build := func(videoOff, gpsOff uint32) []byte {
		return mbox("moov",
			mbox("mvhd", u32(0, mp4Date2019, mp4Date2019+1, 1000, 1, 0x10000), u16(0x100), make([]byte, 10), unityMatrix, make([]byte, 24), u32(3)),
			mp4Trak(1, "vide", "MarkerHandler", mbox("vmhd", u32(1), make([]byte, 8)), sampleTables(avc1, []uint32{uint32(len(video))}, videoOff)),
			mp4Trak(2, "meta", "GoPro MET", mbox("nmhd", u32(0)), sampleTables(gpmd, []uint32{uint32(len(gps))}, gpsOff)),
			mbox("udta",
				mbox("\xa9xyz", xyz),
				mbox("\xa9mak", u16(10, 0), []byte("MarkerMake")),
				mbox("\xa9mod", u16(11, 0), []byte("MarkerModel"))))
	}
	ftyp := mbox("ftyp", []byte(brand), u32(0x200), []byte(brand+"iso2avc1mp41"))
	xmp := mbox("uuid", []byte{0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC}, []byte("<x:xmpmeta>MarkerXmpTop</x:xmpmeta>"))
	moovLen := len(build(0, 0))
	mdatData := len(ftyp) + moovLen + len(xmp) + 8
	moov := build(uint32(mdatData), uint32(mdatData+len(video)))
	return cat(ftyp, moov, xmp, mbox("mdat", video, gps))
}

var mp4Markers = []string{"MarkerGPSData", "MarkerMake", "MarkerModel", "MarkerXmpTop", "MarkerEncoder",
	"MarkerHandler", "GoPro", "MarkerKeysMake", "MarkerKeysModel", "MarkerUdtaArtist", "MarkerXmpCreator",
	"MarkerKeysSoftware", "2019", "+52.52", "52.52", "52 deg"}

// withExiftoolMovie has exiftool add QuickTime Keys, user data and XMP.
func withExiftoolMovie(t testing.TB, in []byte, ext string) []byte {
	p := filepath.Join(t.TempDir(), "in."+ext)
	if err := os.WriteFile(p, in, 0o600); err != nil {
		t.Fatal(err)
	}
	ctExiftoolRun(t, "-q", "-overwrite_original", "-Keys:GPSCoordinates=52.52, 13.40", "-Keys:Make=MarkerKeysMake",
		"-Keys:Model=MarkerKeysModel", "-Keys:Software=MarkerKeysSoftware", "-UserData:Artist=MarkerUdtaArtist",
		"-XMP-dc:Creator=MarkerXmpCreator", "-QuickTime:CreateDate=2019:03:04 05:06:07", p)
	out, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// topBoxes lists the top-level boxes of data.
func topBoxes(t testing.TB, data []byte) []bmffBox {
	t.Helper()
	boxes, err := bmffList(bytes.NewReader(data), 0, int64(len(data)), MP4)
	if err != nil {
		t.Fatalf("box tree does not parse: %v", err)
	}
	return boxes
}

// walkBoxes calls fn for every box in the tree below the containers the
// sanitizer descends into.
func walkBoxes(t testing.TB, data []byte, fn func(path string, b bmffBox)) {
	t.Helper()
	r := bytes.NewReader(data)
	var walk func(prefix string, off, end int64)
	walk = func(prefix string, off, end int64) {
		boxes, err := bmffList(r, off, end, MP4)
		if err != nil {
			t.Fatalf("%s: %v", prefix, err)
		}
		for _, b := range boxes {
			p := prefix + "/" + b.Type
			fn(p, b)
			switch b.Type {
			case "moov", "trak", "mdia", "minf", "stbl", "udta":
				walk(p, b.Data(), b.End())
			}
		}
	}
	walk("", 0, int64(len(data)))
}

func TestMP4Oracle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, brand, ext string
		typ              Type
	}{
		{"mp4", "isom", "mp4", MP4},
		{"mov", "qt  ", "mov", MOV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := withExiftoolMovie(t, sampleMP4(tc.brand), tc.ext)
			ctMarkersPresent(t, "in."+tc.ext, in, []string{"MarkerKeysMake", "MarkerUdtaArtist", "MarkerXmpCreator", "MarkerMake", "MarkerModel", "52 deg"})
			insp, err := Inspect(bytes.NewReader(in), int64(len(in)))
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			out, rep := ctSanitize(t, in)
			if rep.Type != tc.typ {
				t.Errorf("type: got %s, want %s", rep.Type, tc.typ)
			}
			for _, r := range []Report{insp, rep} {
				ctReportHas(t, r, CatLocation, "GPS position 52.52 N 13.40 E")
				ctReportHas(t, r, CatLocation, "Telemetry track (GoPro GPMF")
				ctReportHas(t, r, CatDevice, "MarkerMake")
				ctReportHas(t, r, CatDevice, "MarkerKeysModel")
				ctReportHas(t, r, CatTime, "Created 2019-03-04")
				ctReportHas(t, r, CatSoftware, "MarkerEncoder")
				ctReportHas(t, r, CatOther, "XMP")
			}
			ctNoMarkers(t, "out."+tc.ext, out, mp4Markers)
			if len(out) != len(in) {
				t.Errorf("size changed: %d → %d (boxes must keep their sizes)", len(in), len(out))
			}

			// Same top-level layout; mdat identical but for the telemetry
			// samples, now zeros.
			ib, ob := topBoxes(t, in), topBoxes(t, out)
			if len(ib) != len(ob) {
				t.Fatalf("top-level boxes: %d → %d", len(ib), len(ob))
			}
			for i := range ib {
				if ib[i].Off != ob[i].Off || ib[i].Size != ob[i].Size {
					t.Errorf("box %d moved or resized", i)
				}
				if ib[i].Type == "mdat" {
					want := bytes.ReplaceAll(in[ib[i].Off:ib[i].End()], []byte("MarkerGPSData-MarkerGPSData"), make([]byte, 27))
					if !bytes.Equal(out[ob[i].Off:ob[i].End()], want) {
						t.Errorf("mdat differs beyond the telemetry samples")
					}
				}
			}
			// The video track still points at its frame; times are zero.
			var video, traks int
			walkBoxes(t, out, func(path string, b bmffBox) {
				d := out[b.Data():b.End()]
				switch path {
				case "/moov/trak":
					traks++
				case "/moov/mvhd", "/moov/trak/tkhd", "/moov/trak/mdia/mdhd":
					if be32(d, 4) != 0 || be32(d, 8) != 0 {
						t.Errorf("%s keeps its times", path)
					}
				case "/moov/trak/mdia/minf/stbl/stco":
					off := be32(d, 8)
					if !bytes.HasPrefix(out[off:], []byte("VIDEOFRAME")) {
						t.Errorf("chunk offset %d no longer points at the frame", off)
					}
					video++
				case "/moov/udta", "/moov/meta":
					t.Errorf("%s survives", path)
				}
			})
			if traks != 1 || video != 1 {
				t.Errorf("got %d tracks (%d with a chunk table), want the video track only", traks, video)
			}
			ctIdempotent(t, out)
		})
	}
}

func TestMP4Malformed(t *testing.T) {
	good := sampleMP4("isom")
	for n := 0; n < len(good); n += 13 {
		_, err := Sanitize(bytes.NewReader(good[:n]), int64(n), io.Discard)
		if err == nil {
			t.Errorf("cut at %d of %d: no error", n, len(good))
		} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
			t.Errorf("cut at %d: got %v, want ErrMalformed", n, err)
		}
	}
	bad := bytes.Clone(good)
	binary.BigEndian.PutUint32(bad[len(bad)-8-48:], 0xFFFFFF) // mdat claims more than the file
	ctWantErr(t, "oversized box", func() error {
		_, err := Sanitize(bytes.NewReader(bad), int64(len(bad)), io.Discard)
		return err
	}(), ErrMalformed)
	noMoov := cat(mbox("ftyp", []byte("isom"), u32(0), []byte("isom")), mbox("mdat", []byte("x")))
	_, err := Sanitize(bytes.NewReader(noMoov), int64(len(noMoov)), io.Discard)
	ctWantErr(t, "no moov", err, ErrMalformed)
}

// TestMP4LargeBoxHeader: a box written with a 64-bit size keeps that
// form when freed, so nothing moves.
func TestMP4LargeBoxHeader(t *testing.T) {
	in := sampleMP4("isom")
	extra := cat(u32(1), []byte("udta"), []byte{0, 0, 0, 0, 0, 0, 0, 24}, []byte("Marker64!"))
	extra = extra[:24]
	copy(extra[16:], "MarkerXX")
	in = append(in, extra...)
	out, _ := ctSanitize(t, in)
	if len(out) != len(in) || !bytes.Equal(out[len(out)-24:len(out)-16], cat(u32(1), []byte("free"))) || bytes.Contains(out, []byte("MarkerXX")) {
		t.Errorf("64-bit box not freed in place: % x", out[len(out)-24:])
	}
}

// FuzzMP4: Sanitize either fails cleanly or writes a file of the same
// size that sanitizes to identical bytes.
func FuzzMP4(f *testing.F) {
	f.Add(sampleMP4("isom"))
	f.Add(sampleMP4("qt  "))
	f.Fuzz(func(t *testing.T, data []byte) {
		typ, err := Detect(bytes.NewReader(data), int64(len(data)))
		if err != nil || (typ != MP4 && typ != MOV) {
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

// TestMP4FragmentedTelemetry: in a fragmented file the telemetry track's
// trex and track fragments are freed and its samples zeroed.
func TestMP4FragmentedTelemetry(t *testing.T) {
	video, gps := []byte("FRAGMENT-VIDEO-SAMPLE"), []byte("MarkerFragGPS-MarkerFragGPS")
	emptyStbl := func(entry []byte) []byte {
		return mbox("stbl", mbox("stsd", u32(0, 1), entry), mbox("stts", u32(0, 0)), mbox("stsc", u32(0, 0)),
			mbox("stsz", u32(0, 0, 0)), mbox("stco", u32(0, 0)))
	}
	avc1 := mbox("avc1", make([]byte, 6), u16(1), make([]byte, 16), u16(16, 16), u32(0x480000, 0x480000, 0), u16(1), make([]byte, 32), u16(24, 0xffff))
	moov := mbox("moov",
		mbox("mvhd", u32(0, 0, 0, 1000, 0, 0x10000), u16(0x100), make([]byte, 10), unityMatrix, make([]byte, 24), u32(3)),
		mp4Trak(1, "vide", "", mbox("vmhd", u32(1), make([]byte, 8)), emptyStbl(avc1)),
		mp4Trak(2, "meta", "", mbox("nmhd", u32(0)), emptyStbl(mbox("gpmd", make([]byte, 6), u16(1)))),
		mbox("mvex", mbox("trex", u32(0, 1, 1, 1, 0, 0)), mbox("trex", u32(0, 2, 1, 1, 0, 0))))
	moof := func(off uint32) []byte {
		return mbox("moof", mbox("mfhd", u32(0, 1)),
			mbox("traf", mbox("tfhd", u32(0x20000, 1)), mbox("trun", u32(0x201, 1, off, uint32(len(video))))),
			mbox("traf", mbox("tfhd", u32(0x20000, 2)), mbox("trun", u32(0x201, 1, off+uint32(len(video)), uint32(len(gps))))))
	}
	ftyp := mbox("ftyp", []byte("iso6"), u32(0), []byte("iso6dash"))
	mf := moof(uint32(len(moof(0)) + 8))
	in := cat(ftyp, moov, mf, mbox("mdat", video, gps))

	out, rep := ctSanitize(t, in)
	ctReportHas(t, rep, CatLocation, "Telemetry track (GoPro GPMF")
	if len(out) != len(in) {
		t.Fatalf("size changed: %d → %d", len(in), len(out))
	}
	if bytes.Contains(out, []byte("MarkerFragGPS")) {
		t.Error("telemetry samples survive")
	}
	if !bytes.Contains(out, video) {
		t.Error("video sample lost")
	}
	var trafs, trexs int
	for _, b := range topBoxes(t, out) {
		kids, err := bmffChildren(bytes.NewReader(out), b, 0, MP4)
		if b.Type != "moof" && b.Type != "moov" || err != nil {
			continue
		}
		for _, k := range kids {
			if k.Type == "traf" {
				trafs++
			}
			if k.Type == "mvex" {
				ks, _ := bmffChildren(bytes.NewReader(out), k, 0, MP4)
				for _, x := range ks {
					if x.Type == "trex" {
						trexs++
					}
				}
			}
		}
	}
	if trafs != 1 || trexs != 1 {
		t.Errorf("got %d track fragments and %d trex, want the video track's only", trafs, trexs)
	}
	ctIdempotent(t, out)
}

// TestMP4Version1AndCo64: 64-bit times are cleared and 64-bit chunk
// offsets lead to the telemetry samples.
func TestMP4Version1AndCo64(t *testing.T) {
	gps := []byte("MarkerCo64GPS")
	build := func(off uint64) []byte {
		stbl := mbox("stbl", mbox("stsd", u32(0, 1), mbox("gpmd", make([]byte, 6), u16(1))),
			mbox("stts", u32(0, 1, 1, 1)), mbox("stsc", u32(0, 1, 1, 1, 1)),
			mbox("stsz", u32(0, uint32(len(gps)), 1)), mbox("co64", u32(0, 1, uint32(off>>32), uint32(off))))
		return mbox("moov",
			mbox("mvhd", u32(1<<24, 0, mp4Date2019, 0, mp4Date2019, 1000, 0, 1, 0x10000), u16(0x100), make([]byte, 10), unityMatrix, make([]byte, 24), u32(2)),
			mp4Trak(1, "meta", "", mbox("nmhd", u32(0)), stbl))
	}
	ftyp := mbox("ftyp", []byte("isom"), u32(0), []byte("isom"))
	moov := build(uint64(len(ftyp) + len(build(0)) + 8))
	in := cat(ftyp, moov, mbox("mdat", gps))
	out, rep := ctSanitize(t, in)
	ctReportHas(t, rep, CatTime, "Created 2019-03-03 21:06")
	if bytes.Contains(out, gps) {
		t.Error("telemetry samples survive")
	}
	mvhd := bytes.Index(out, []byte("mvhd"))
	if mvhd < 0 || !bytes.Equal(out[mvhd+8:mvhd+24], make([]byte, 16)) {
		t.Errorf("64-bit times not cleared: % x", out[mvhd+8:mvhd+24])
	}
	ctIdempotent(t, out)
}
