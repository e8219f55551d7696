package media

import (
	"encoding/binary"
	"errors"
	"testing"
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
