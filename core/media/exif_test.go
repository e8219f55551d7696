package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"testing"

	exif "github.com/dsoprea/go-exif/v3"
	exifcommon "github.com/dsoprea/go-exif/v3/common"
)

// tiffBlock builds a big-endian TIFF block with one IFD0 holding entries
// (tag, type, count, value) and the given next-IFD offset.
func tiffBlock(next uint32, entries ...[4]uint32) []byte {
	be := binary.BigEndian
	b := []byte{'M', 'M', 0, 42, 0, 0, 0, 8}
	b = be.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = be.AppendUint16(b, uint16(e[0]))
		b = be.AppendUint16(b, uint16(e[1]))
		b = be.AppendUint32(b, e[2])
		b = be.AppendUint32(b, e[3])
	}
	return be.AppendUint32(b, next)
}

// TestExifItemsHostile feeds blocks that make go-exif loop, recurse or
// allocate without bound; each must be refused with ErrMalformed.
func TestExifItemsHostile(t *testing.T) {
	for _, tc := range []struct {
		name string
		tiff []byte
	}{
		{"IFD chain loops to itself", tiffBlock(8, [4]uint32{tagMake, 2, 4, 0x41424300})},
		{"Exif IFD points at IFD0", tiffBlock(0, [4]uint32{tagExifIFD, 4, 1, 8})},
		{"GPS IFD outside the block", tiffBlock(0, [4]uint32{tagGPSIFD, 4, 1, 1 << 30})},
		{"value count beyond the block", tiffBlock(0, [4]uint32{tagMake, 2, 1 << 31, 8})},
		{"unknown field type", tiffBlock(0, [4]uint32{tagMake, 99, 1, 0})},
		{"no TIFF header", []byte("Exif\x00\x00MM\x00*")},
		{"truncated IFD", tiffBlock(0, [4]uint32{tagMake, 2, 4, 0})[:14]},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rep Report
			o, err := exifItems(&rep, tc.tiff)
			if !errors.Is(err, ErrMalformed) || o != 0 {
				t.Errorf("got orientation %d, %v; want 0, ErrMalformed", o, err)
			}
			if len(rep.Items) == 0 {
				t.Errorf("the unreadable block is not reported")
			}
		})
	}
}

func TestExifItemsReadable(t *testing.T) {
	// Make "Acme" stored inline, Model "X100" inline, Orientation 3.
	tiff := tiffBlock(0,
		[4]uint32{tagMake, 2, 4, 0x41636d65},
		[4]uint32{tagModel, 2, 4, 0x58313030},
		[4]uint32{tagOrientation, 3, 1, 3 << 16})
	var rep Report
	o, err := exifItems(&rep, tiff)
	if err != nil || o != 3 {
		t.Fatalf("got %d, %v; want 3, nil", o, err)
	}
	if !hasItem(rep, "Camera: Acme X100") {
		t.Errorf("items %v, want the camera", rep.Items)
	}
}

// exifIdentities maps the IFD paths of exifIndexTags to go-exif's names.
var exifIdentities = map[string]*exifcommon.IfdIdentity{
	"IFD":         exifcommon.IfdStandardIfdIdentity,
	"IFD/Exif":    exifcommon.IfdExifStandardIfdIdentity,
	"IFD/GPSInfo": exifcommon.IfdGpsInfoStandardIfdIdentity,
}

// standardTagIndex is go-exif's full index, which flatExif avoids.
func standardTagIndex(t *testing.T) *exif.TagIndex {
	t.Helper()
	ti := exif.NewTagIndex()
	if err := exif.LoadStandardTags(ti); err != nil {
		t.Fatal(err)
	}
	return ti
}

// TestExifTagIndexNotStandard fails if go-exif loaded its standard tag
// list (10 ms of YAML parsing per process) into the index flatExif uses:
// it does so into an index that is empty when first used, and after that
// the index knows tags that exifIndexTags does not list.
func TestExifTagIndexNotStandard(t *testing.T) {
	if _, err := flatExif(tiffBlock(0, [4]uint32{tagMake, 2, 4, 0x41636d65}, [4]uint32{0x0100, 3, 1, 1 << 16})); err != nil {
		t.Fatal(err)
	}
	exifLib.mu.Lock()
	defer exifLib.mu.Unlock()
	for _, c := range []struct {
		ii *exifcommon.IfdIdentity
		id uint16
	}{
		{exifcommon.IfdStandardIfdIdentity, 0x0100},     // ImageWidth
		{exifcommon.IfdExifStandardIfdIdentity, 0x829a}, // ExposureTime
		{exifcommon.IfdGpsInfoStandardIfdIdentity, 0x0000},
	} {
		if it, err := exifLib.ti.Get(c.ii, c.id); !errors.Is(err, exif.ErrTagNotFound) {
			t.Errorf("index finds %v, %v in %s: the standard tags were loaded", it, err, c.ii)
		}
	}
	if it, err := exifLib.ti.GetWithName(exifcommon.IfdStandardIfdIdentity, "ImageWidth"); err == nil {
		t.Errorf("index finds %v by name: the standard tags were loaded", it)
	}
}

// TestExifIndexMatchesStandard checks that exifIndexTags copies go-exif's
// standard entries (so go-exif reads or skips these tags as it would with
// the full index) and leaves out no IFD where a tag the report reads is
// standard.
func TestExifIndexMatchesStandard(t *testing.T) {
	std := standardTagIndex(t)
	ours := map[string]map[uint16]bool{}
	for _, it := range exifIndexTags {
		ii, ok := exifIdentities[it.IfdPath]
		if !ok {
			t.Errorf("%s: unknown IFD path", it.String())
			continue
		}
		if ours[it.IfdPath] == nil {
			ours[it.IfdPath] = map[uint16]bool{}
		}
		ours[it.IfdPath][it.Id] = true
		want, err := std.Get(ii, it.Id)
		if err != nil {
			t.Errorf("%s: not standard: %v", it.String(), err)
			continue
		}
		if it.Name != want.Name || !slices.Equal(it.SupportedTypes, want.SupportedTypes) {
			t.Errorf("%s: got %s %v, want %s %v", it.String(), it.Name, it.SupportedTypes, want.Name, want.SupportedTypes)
		}
	}
	read := map[string][]uint16{
		"IFD/GPSInfo": {tagGPSLatitudeRef, tagGPSLatitude, tagGPSLongitudeRef, tagGPSLongitude, tagGPSAltitude},
	}
	for id := range describedTags {
		if id != tagOrientation { // tiffCheck reads it
			read["IFD"] = append(read["IFD"], id)
			read["IFD/Exif"] = append(read["IFD/Exif"], id)
		}
	}
	read["IFD"] = append(read["IFD"], tagExifIFD, tagGPSIFD)
	read["IFD/Exif"] = append(read["IFD/Exif"], tagInteropIFD)
	for path, ids := range read {
		for _, id := range ids {
			if _, err := std.Get(exifIdentities[path], id); err == nil && !ours[path][id] {
				t.Errorf("tag 0x%04x is standard in %s but not in exifIndexTags", id, path)
			}
		}
	}
}

// TestExifReportSameAsStandardIndex reads blocks with the cut-down index
// and with go-exif's full one: the reports must be the same.
func TestExifReportSameAsStandardIndex(t *testing.T) {
	blocks := map[string][]byte{
		"Make as BYTE (skipped by both)": tiffBlock(0, [4]uint32{tagMake, 1, 4, 0x41636d65}),
		"ImageWidth and Make":            tiffBlock(0, [4]uint32{0x0100, 3, 1, 1 << 16}, [4]uint32{tagMake, 2, 4, 0x41636d65}),
	}
	for _, o := range []int{1, 6} {
		walkJPEGSegments(t, richJPEG(t, encodeJPEG(t, testImage(32, 24)), o), func(m byte, p []byte) {
			if m == 0xe1 && bytes.HasPrefix(p, []byte("Exif\x00\x00")) {
				blocks["exiftool, orientation "+strconv.Itoa(o)] = p[6:]
			}
		})
	}
	if len(blocks) != 4 {
		t.Fatalf("%d blocks, want 4", len(blocks))
	}
	im, err := exifcommon.NewIfdMappingWithStandard()
	if err != nil {
		t.Fatal(err)
	}
	std := standardTagIndex(t)
	ours, err := newExifTagIndex()
	if err != nil {
		t.Fatal(err)
	}
	for name, tiff := range blocks {
		t.Run(name, func(t *testing.T) {
			info, err := tiffCheck(tiff)
			if err != nil {
				t.Fatal(err)
			}
			var got, want Report
			tags, gotErr := readExif(tiff, im, ours)
			describeExif(&got, tags, info)
			tags, wantErr := readExif(tiff, im, std)
			describeExif(&want, tags, info)
			if (gotErr == nil) != (wantErr == nil) || !slices.Equal(got.Items, want.Items) {
				t.Errorf("got %v, %v; want %v, %v", got.Items, gotErr, want.Items, wantErr)
			}
		})
	}
}

// TestExifItemsFromWalk checks what the report takes from tiffCheck's walk
// rather than from go-exif: tags the index leaves out still show as
// "Exif metadata", and a GPS IFD as GPS data.
func TestExifItemsFromWalk(t *testing.T) {
	be := binary.BigEndian
	// IFD0 with one pointer at 26, then a child IFD at 26 with one entry.
	withChild := func(ptr uint16, tag uint16) []byte {
		b := tiffBlock(0, [4]uint32{uint32(ptr), 4, 1, 26})
		b = be.AppendUint16(b, 1)
		b = be.AppendUint16(b, tag)
		b = be.AppendUint16(b, 3)
		b = be.AppendUint32(b, 1)
		b = be.AppendUint32(b, 0)
		return be.AppendUint32(b, 0)
	}
	for _, tc := range []struct {
		name string
		tiff []byte
		want []Item
	}{
		{"only Orientation", minimalExif(6), nil},
		{"ExposureTime in the Exif IFD", withChild(tagExifIFD, 0x829a), []Item{{CatOther, "Exif metadata"}}},
		{"unknown tag in IFD0", tiffBlock(0, [4]uint32{0xfe00, 3, 1, 0}), []Item{{CatOther, "Exif metadata"}}},
		{"GPSVersionID only", withChild(tagGPSIFD, 0x0000), []Item{{CatLocation, "GPS data"}, {CatOther, "Exif metadata"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rep Report
			if _, err := exifItems(&rep, tc.tiff); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rep.Items, tc.want) {
				t.Errorf("got %v, want %v", rep.Items, tc.want)
			}
		})
	}
}
