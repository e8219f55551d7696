package media

import (
	"encoding/binary"
	"math"
	"strings"
	"unicode/utf16"
)

// ICC colour profiles are kept only when they are one of a few standard
// RGB display profiles: sRGB, Display P3 and Adobe RGB (1998). A profile
// made by a camera, a scanner or a calibration tool can identify the
// device, so anything else is dropped (the viewer then assumes sRGB).
//
// A profile is recognised by content, not by name alone: its description
// must be one of the standard names, its colorants (rXYZ, gXYZ, bXYZ)
// must match that space's primaries adapted to D50, it must be an RGB
// display profile with the XYZ connection space, it may carry only the
// tags a matrix/TRC display profile needs, and its text tags are short.
// What such a profile can still carry is its header (creator, date) and
// a short copyright line: the same for everyone who has that profile.

// maxICCProfile bounds a profile considered standard; real sRGB, Display
// P3 and Adobe RGB profiles are a few KiB.
const maxICCProfile = 64 << 10

// iccSpace is one standard colour space: the names its profiles go by
// (lower case) and its D50-adapted primaries.
type iccSpace struct {
	name  string
	descs []string
	rgb   [3][3]float64 // rXYZ, gXYZ, bXYZ
}

var iccSpaces = []iccSpace{
	{"sRGB", []string{"srgb iec61966-2.1", "srgb iec61966-2-1", "srgb iec61966-2-1 black scaled",
		"srgb iec61966-2-1 no black scaling", "srgb", "srgb built-in", "srgb profile"},
		[3][3]float64{{0.4361, 0.2225, 0.0139}, {0.3851, 0.7169, 0.0971}, {0.1431, 0.0606, 0.7141}}},
	{"Display P3", []string{"display p3", "p3 d65"},
		[3][3]float64{{0.5151, 0.2412, -0.0011}, {0.2919, 0.6922, 0.0419}, {0.1572, 0.0666, 0.7841}}},
	{"Adobe RGB (1998)", []string{"adobe rgb (1998)", "compatible with adobe rgb (1998)", "adobergb1998", "adobe rgb"},
		[3][3]float64{{0.6097, 0.3111, 0.0195}, {0.2053, 0.6257, 0.0609}, {0.1492, 0.0632, 0.7446}}},
}

// iccTagsAllowed are the tags of matrix/TRC display profiles.
var iccTagsAllowed = map[string]bool{
	"desc": true, "cprt": true, "wtpt": true, "bkpt": true, "rXYZ": true, "gXYZ": true, "bXYZ": true,
	"rTRC": true, "gTRC": true, "bTRC": true, "chad": true, "lumi": true, "meas": true, "tech": true,
	"view": true, "vued": true, "dmnd": true, "dmdd": true, "chrm": true,
}

// iccTextTags may hold text; each must stay short.
var iccTextTags = map[string]bool{"desc": true, "cprt": true, "dmnd": true, "dmdd": true, "vued": true}

const (
	iccColorantTolerance = 0.005
	maxICCText           = 200 // bytes of one text tag
)

// iccStandard reports which standard space profile p is, if any.
func iccStandard(p []byte) (name string, ok bool) {
	if len(p) < 132 || len(p) > maxICCProfile || int(binary.BigEndian.Uint32(p)) != len(p) {
		return "", false
	}
	if string(p[12:16]) != "mntr" || string(p[16:20]) != "RGB " || string(p[20:24]) != "XYZ " || string(p[36:40]) != "acsp" {
		return "", false
	}
	n := binary.BigEndian.Uint32(p[128:])
	if n > 64 || 132+12*int(n) > len(p) {
		return "", false
	}
	tags := map[string][]byte{}
	for i := 0; i < int(n); i++ {
		e := p[132+12*i:]
		sig := string(e[:4])
		off, size := uint64(binary.BigEndian.Uint32(e[4:])), uint64(binary.BigEndian.Uint32(e[8:]))
		if !iccTagsAllowed[sig] || off+size > uint64(len(p)) || size < 8 {
			return "", false
		}
		if iccTextTags[sig] && size > maxICCText+12 && sig != "desc" {
			return "", false
		}
		tags[sig] = p[off : off+size]
	}
	desc := strings.ToLower(strings.TrimSpace(iccText(tags["desc"])))
	if desc == "" || len(desc) > maxICCText {
		return "", false
	}
	for _, sp := range iccSpaces {
		named := false
		for _, d := range sp.descs {
			if desc == d {
				named = true
			}
		}
		if !named {
			continue
		}
		for i, sig := range []string{"rXYZ", "gXYZ", "bXYZ"} {
			xyz, ok := iccXYZ(tags[sig])
			if !ok {
				return "", false
			}
			for j := range 3 {
				if math.Abs(xyz[j]-sp.rgb[i][j]) > iccColorantTolerance {
					return "", false
				}
			}
		}
		return sp.name, true
	}
	return "", false
}

// iccXYZ reads an XYZType tag holding one value.
func iccXYZ(t []byte) ([3]float64, bool) {
	var v [3]float64
	if len(t) < 20 || string(t[:4]) != "XYZ " {
		return v, false
	}
	for i := range 3 {
		v[i] = float64(int32(binary.BigEndian.Uint32(t[8+4*i:]))) / 65536
	}
	return v, true
}

// iccText reads the text of a textDescriptionType (ICC v2),
// multiLocalizedUnicodeType (v4, first record) or textType tag.
func iccText(t []byte) string {
	if len(t) < 12 {
		return ""
	}
	switch string(t[:4]) {
	case "desc":
		n := binary.BigEndian.Uint32(t[8:])
		if uint64(n) > uint64(len(t)-12) {
			return ""
		}
		return strings.TrimRight(string(t[12:12+n]), "\x00")
	case "mluc":
		if len(t) < 28 || binary.BigEndian.Uint32(t[8:]) == 0 {
			return ""
		}
		l, off := uint64(binary.BigEndian.Uint32(t[20:])), uint64(binary.BigEndian.Uint32(t[24:]))
		if off+l > uint64(len(t)) || l%2 != 0 {
			return ""
		}
		u := make([]uint16, l/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(t[off+2*uint64(i):])
		}
		return strings.TrimRight(string(utf16.Decode(u)), "\x00")
	case "text":
		return strings.TrimRight(string(t[8:]), "\x00")
	}
	return ""
}

// iccDescribe adds to rep what an ICC profile that is dropped said.
func iccDescribe(rep *Report, p []byte) {
	if len(p) >= 132 {
		n := binary.BigEndian.Uint32(p[128:])
		for i := 0; i < int(min(n, 256)) && 132+12*i+12 <= len(p); i++ {
			e := p[132+12*i:]
			if string(e[:4]) != "desc" {
				continue
			}
			off, size := uint64(binary.BigEndian.Uint32(e[4:])), uint64(binary.BigEndian.Uint32(e[8:]))
			if off+size <= uint64(len(p)) {
				if d := cleanLabel(iccText(p[off : off+size])); d != "" {
					rep.add(CatProfile, "Colour profile: %s", d)
					return
				}
			}
		}
	}
	rep.add(CatProfile, "Colour profile (non-standard)")
}
