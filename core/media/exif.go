package media

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	exif "github.com/dsoprea/go-exif/v3"
	exifcommon "github.com/dsoprea/go-exif/v3/common"
)

// Exif limits. go-exif follows IFD chains and child pointers without
// noticing cycles and allocates what a tag's count declares, so every
// block is first walked by tiffCheck, which enforces these.
const (
	maxExifIFDs       = 32   // IFDs in one block, all chains and children together
	maxExifIFDEntries = 1000 // entries in one IFD
	maxExifLabel      = 80   // runes of a value quoted in a report label
)

// TIFF tag ids the reports and the checker use.
const (
	tagImageDescription = 0x010e
	tagMake             = 0x010f
	tagModel            = 0x0110
	tagOrientation      = 0x0112
	tagSoftware         = 0x0131
	tagDateTime         = 0x0132
	tagArtist           = 0x013b
	tagHostComputer     = 0x013c
	tagThumbOffset      = 0x0201
	tagCopyright        = 0x8298
	tagExifIFD          = 0x8769
	tagGPSIFD           = 0x8825
	tagDateTimeOriginal = 0x9003
	tagDateTimeDigit    = 0x9004
	tagMakerNote        = 0x927c
	tagUserComment      = 0x9286
	tagXPTitle          = 0x9c9b
	tagXPComment        = 0x9c9c
	tagXPAuthor         = 0x9c9d
	tagXPKeywords       = 0x9c9e
	tagXPSubject        = 0x9c9f
	tagInteropIFD       = 0xa005
	tagImageUniqueID    = 0xa420
	tagOwnerName        = 0xa430
	tagBodySerial       = 0xa431
	tagLensMake         = 0xa433
	tagLensModel        = 0xa434
	tagLensSerial       = 0xa435
	tagDNGSerial        = 0xc62f
)

// tiffTypeSize is the size in bytes of one value of each TIFF field type;
// 0 for unknown types.
var tiffTypeSize = [...]int{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8}

// tiffInfo is what tiffCheck learns while validating a block.
type tiffInfo struct {
	order       binary.ByteOrder
	orientation int // 0 if absent or out of range
	ifds        int
	thumbnail   bool
	gps         bool // a GPS IFD holds at least one entry
	other       bool // a non-GPS IFD holds a tag describeExif does not name
}

// tiffCheck walks the IFD structure of a TIFF block and refuses anything
// go-exif would loop on or over-allocate for: cycles, too many IFDs or
// entries, unknown field types, values outside the block.
func tiffCheck(tiff []byte) (tiffInfo, error) {
	var info tiffInfo
	if len(tiff) < 8 {
		return info, malformed(Unknown, "exif: %d-byte block", len(tiff))
	}
	switch string(tiff[:4]) {
	case "II*\x00":
		info.order = binary.LittleEndian
	case "MM\x00*":
		info.order = binary.BigEndian
	default:
		return info, malformed(Unknown, "exif: no TIFF header")
	}
	type pending struct {
		off  uint32
		ifd1 bool // the IFD that follows IFD0: the thumbnail's
		ifd0 bool
		gps  bool
	}
	seen := map[uint32]bool{}
	queue := []pending{{off: info.order.Uint32(tiff[4:8]), ifd0: true}}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		off := int64(p.off)
		if seen[p.off] {
			return info, malformed(Unknown, "exif: IFD at %d visited twice", p.off)
		}
		seen[p.off] = true
		if info.ifds++; info.ifds > maxExifIFDs {
			return info, malformed(Unknown, "exif: more than %d IFDs", maxExifIFDs)
		}
		if off < 8 || off+2 > int64(len(tiff)) {
			return info, malformed(Unknown, "exif: IFD offset %d outside the %d-byte block", off, len(tiff))
		}
		n := int64(info.order.Uint16(tiff[off:]))
		if n > maxExifIFDEntries {
			return info, malformed(Unknown, "exif: IFD with %d entries", n)
		}
		end := off + 2 + 12*n
		if end+4 > int64(len(tiff)) {
			return info, malformed(Unknown, "exif: IFD at %d truncated", off)
		}
		for i := int64(0); i < n; i++ {
			e := tiff[off+2+12*i:]
			tag, typ := info.order.Uint16(e), info.order.Uint16(e[2:])
			count := uint64(info.order.Uint32(e[4:]))
			if p.gps {
				info.gps = true
			} else if !describedTags[tag] {
				info.other = true
			}
			if typ == 0 || int(typ) >= len(tiffTypeSize) {
				return info, malformed(Unknown, "exif: tag 0x%04x has unknown type %d", tag, typ)
			}
			if bytes := count * uint64(tiffTypeSize[typ]); bytes > 4 {
				voff := uint64(info.order.Uint32(e[8:]))
				if voff+bytes > uint64(len(tiff)) {
					return info, malformed(Unknown, "exif: value of tag 0x%04x outside the block", tag)
				}
			}
			switch tag {
			case tagExifIFD, tagGPSIFD, tagInteropIFD:
				if typ != 4 && typ != 13 || count != 1 {
					return info, malformed(Unknown, "exif: bad IFD pointer in tag 0x%04x", tag)
				}
				queue = append(queue, pending{off: info.order.Uint32(e[8:]), gps: tag == tagGPSIFD})
			case tagOrientation:
				if p.ifd0 && typ == 3 && count == 1 {
					if v := int(info.order.Uint16(e[8:])); v >= 1 && v <= 8 {
						info.orientation = v
					}
				}
			case tagThumbOffset:
				if p.ifd1 {
					info.thumbnail = true
				}
			}
		}
		if next := info.order.Uint32(tiff[end:]); next != 0 {
			queue = append(queue, pending{off: next, ifd1: p.ifd0, gps: p.gps})
		}
	}
	return info, nil
}

// exifItems adds to rep what a raw Exif payload carries: tiff is the
// TIFF-structured block that follows the "Exif\x00\x00" header in a JPEG
// APP1 segment (and that HEIF Exif items and PNG eXIf chunks hold). It
// reads with github.com/dsoprea/go-exif/v3 behind a recover and size
// limits, and returns an error wrapping ErrMalformed for a block it cannot
// read; rep keeps what was read before the failure.
//
// It also returns the Exif orientation (1–8), or 0 if none is recorded.
func exifItems(rep *Report, tiff []byte) (orientation int, err error) {
	if len(tiff) > maxMetadataBlock {
		rep.add(CatOther, "Exif metadata")
		return 0, tooLarge(Unknown, "exif: %d-byte block", len(tiff))
	}
	info, err := tiffCheck(tiff)
	if err != nil {
		rep.add(CatOther, "Exif metadata (unreadable)")
		return 0, err
	}
	tags, err := flatExif(tiff)
	describeExif(rep, tags, info)
	if err != nil {
		rep.add(CatOther, "Exif metadata (partly unreadable)")
		return info.orientation, err
	}
	return info.orientation, nil
}

// GPS tag ids describeExif reads.
const (
	tagGPSLatitudeRef  = 0x0001
	tagGPSLatitude     = 0x0002
	tagGPSLongitudeRef = 0x0003
	tagGPSLongitude    = 0x0004
	tagGPSAltitude     = 0x0006
)

// describedTags are the ids, outside GPS IFDs, that describeExif turns into
// named items (or keeps, for Orientation); any other tag in a non-GPS IFD
// is reported as "Exif metadata".
var describedTags = map[uint16]bool{
	tagOrientation: true, tagMake: true, tagModel: true,
	tagBodySerial: true, tagDNGSerial: true, tagLensSerial: true, tagHostComputer: true,
	tagOwnerName: true, tagArtist: true, tagCopyright: true, tagSoftware: true,
	tagImageDescription: true, tagImageUniqueID: true, tagLensMake: true, tagLensModel: true,
	tagDateTimeOriginal: true, tagDateTimeDigit: true, tagDateTime: true,
	tagXPTitle: true, tagXPComment: true, tagXPAuthor: true, tagXPKeywords: true, tagXPSubject: true,
	tagUserComment: true, tagMakerNote: true,
}

// exifIndexTags is go-exif's tag index cut down to what describeExif
// reads, plus the IFD pointers it descends through. Names, IFDs and types
// are copied from the library's standard list (tags_data.go in go-exif
// v3.0.1; TestExifIndexMatchesStandard checks them), so each of these tags
// is read or skipped exactly as with the full index, and tags outside it
// are skipped unread. Universal search stays off: it would drop the type
// check. Orientation and the thumbnail come from tiffCheck, and so does
// whether other tags or GPS data are present, so they are not here.
//
// The full index is not used because go-exif builds it by parsing a YAML
// document of about 300 tags, about 10 ms per process, more than the rest of
// sanitizing a 12 MP JPEG; go-exif loads it only into an empty index.
var exifIndexTags = []exif.IndexedTag{
	{IfdPath: "IFD", Id: tagImageDescription, Name: "ImageDescription", SupportedTypes: typesASCII},
	{IfdPath: "IFD", Id: tagMake, Name: "Make", SupportedTypes: typesASCII},
	{IfdPath: "IFD", Id: tagModel, Name: "Model", SupportedTypes: typesASCII},
	{IfdPath: "IFD", Id: tagSoftware, Name: "Software", SupportedTypes: typesASCII},
	{IfdPath: "IFD", Id: tagDateTime, Name: "DateTime", SupportedTypes: typesASCII},
	{IfdPath: "IFD", Id: tagArtist, Name: "Artist", SupportedTypes: typesASCII},
	{IfdPath: "IFD", Id: tagHostComputer, Name: "HostComputer", SupportedTypes: typesASCII},
	{IfdPath: "IFD", Id: tagCopyright, Name: "Copyright", SupportedTypes: typesASCII},
	{IfdPath: "IFD", Id: tagExifIFD, Name: "ExifTag", SupportedTypes: typesLong},
	{IfdPath: "IFD", Id: tagGPSIFD, Name: "GPSTag", SupportedTypes: typesLong},
	{IfdPath: "IFD", Id: tagDateTimeOriginal, Name: "DateTimeOriginal", SupportedTypes: typesASCII},
	{IfdPath: "IFD", Id: tagXPTitle, Name: "XPTitle", SupportedTypes: typesByte},
	{IfdPath: "IFD", Id: tagXPComment, Name: "XPComment", SupportedTypes: typesByte},
	{IfdPath: "IFD", Id: tagXPAuthor, Name: "XPAuthor", SupportedTypes: typesByte},
	{IfdPath: "IFD", Id: tagXPKeywords, Name: "XPKeywords", SupportedTypes: typesByte},
	{IfdPath: "IFD", Id: tagXPSubject, Name: "XPSubject", SupportedTypes: typesByte},
	{IfdPath: "IFD", Id: tagDNGSerial, Name: "CameraSerialNumber", SupportedTypes: typesASCII},

	{IfdPath: "IFD/Exif", Id: tagDateTimeOriginal, Name: "DateTimeOriginal", SupportedTypes: typesASCII},
	{IfdPath: "IFD/Exif", Id: tagDateTimeDigit, Name: "DateTimeDigitized", SupportedTypes: typesASCII},
	{IfdPath: "IFD/Exif", Id: tagMakerNote, Name: "MakerNote", SupportedTypes: typesUndefined},
	{IfdPath: "IFD/Exif", Id: tagUserComment, Name: "UserComment", SupportedTypes: typesUndefined},
	{IfdPath: "IFD/Exif", Id: tagInteropIFD, Name: "InteroperabilityTag", SupportedTypes: typesLong},
	{IfdPath: "IFD/Exif", Id: tagImageUniqueID, Name: "ImageUniqueID", SupportedTypes: typesASCII},
	{IfdPath: "IFD/Exif", Id: tagOwnerName, Name: "CameraOwnerName", SupportedTypes: typesASCII},
	{IfdPath: "IFD/Exif", Id: tagBodySerial, Name: "BodySerialNumber", SupportedTypes: typesASCII},
	{IfdPath: "IFD/Exif", Id: tagLensMake, Name: "LensMake", SupportedTypes: typesASCII},
	{IfdPath: "IFD/Exif", Id: tagLensModel, Name: "LensModel", SupportedTypes: typesASCII},
	{IfdPath: "IFD/Exif", Id: tagLensSerial, Name: "LensSerialNumber", SupportedTypes: typesASCII},

	{IfdPath: "IFD/GPSInfo", Id: tagGPSLatitudeRef, Name: "GPSLatitudeRef", SupportedTypes: typesASCII},
	{IfdPath: "IFD/GPSInfo", Id: tagGPSLatitude, Name: "GPSLatitude", SupportedTypes: typesRational},
	{IfdPath: "IFD/GPSInfo", Id: tagGPSLongitudeRef, Name: "GPSLongitudeRef", SupportedTypes: typesASCII},
	{IfdPath: "IFD/GPSInfo", Id: tagGPSLongitude, Name: "GPSLongitude", SupportedTypes: typesRational},
	{IfdPath: "IFD/GPSInfo", Id: tagGPSAltitude, Name: "GPSAltitude", SupportedTypes: typesRational},
}

var (
	typesASCII     = []exifcommon.TagTypePrimitive{exifcommon.TypeAscii}
	typesByte      = []exifcommon.TagTypePrimitive{exifcommon.TypeByte}
	typesLong      = []exifcommon.TagTypePrimitive{exifcommon.TypeLong}
	typesRational  = []exifcommon.TagTypePrimitive{exifcommon.TypeRational}
	typesUndefined = []exifcommon.TagTypePrimitive{exifcommon.TypeUndefined}
)

// newExifTagIndex builds the index of exifIndexTags. It is never empty, so
// go-exif never loads its standard tags into it.
func newExifTagIndex() (*exif.TagIndex, error) {
	ti := exif.NewTagIndex()
	for i := range exifIndexTags {
		if err := ti.Add(&exifIndexTags[i]); err != nil {
			return nil, fmt.Errorf("exif: tag index: %v", err)
		}
	}
	return ti, nil
}

// go-exif's tag index and IFD mapping are built once. The library is not
// documented as safe for concurrent use, so blocks are read one at a time.
var exifLib struct {
	once sync.Once
	mu   sync.Mutex
	im   *exifcommon.IfdMapping
	ti   *exif.TagIndex
	err  error
}

// exifTag is one value go-exif read.
type exifTag struct {
	ifdPath string
	id      uint16
	value   any
	raw     []byte
}

// flatExif runs go-exif on a block tiffCheck accepted, turning its panics
// into errors.
func flatExif(tiff []byte) (tags []exifTag, err error) {
	exifLib.once.Do(func() {
		defer func() {
			if p := recover(); p != nil {
				exifLib.err = fmt.Errorf("exif: loading tag tables: %v", p)
			}
		}()
		exifLib.im, exifLib.err = exifcommon.NewIfdMappingWithStandard()
		if exifLib.err == nil {
			exifLib.ti, exifLib.err = newExifTagIndex()
		}
	})
	if exifLib.err != nil {
		return nil, exifLib.err
	}
	exifLib.mu.Lock()
	defer exifLib.mu.Unlock()
	return readExif(tiff, exifLib.im, exifLib.ti)
}

// readExif is flatExif with a given IFD mapping and tag index.
func readExif(tiff []byte, im *exifcommon.IfdMapping, ti *exif.TagIndex) (tags []exifTag, err error) {
	defer func() {
		if p := recover(); p != nil {
			tags, err = nil, malformed(Unknown, "exif: %v", p)
		}
	}()
	eh, err := exif.ParseExifHeader(tiff)
	if err != nil {
		return nil, malformed(Unknown, "exif: %v", err)
	}
	ie := exif.NewIfdEnumerate(im, ti, exif.NewExifReadSeekerWithBytes(tiff), eh.ByteOrder)
	visit := func(ite *exif.IfdTagEntry) error {
		raw, err := ite.GetRawBytes()
		if err != nil {
			return nil // a value it cannot read is left out
		}
		v, err := ite.Value()
		if err != nil {
			v = nil
		}
		tags = append(tags, exifTag{ifdPath: ite.IfdPath(), id: ite.TagId(), value: v, raw: raw})
		return nil
	}
	if _, err := ie.Scan(exifcommon.IfdStandardIfdIdentity, eh.FirstIfdOffset, visit, nil); err != nil {
		return tags, malformed(Unknown, "exif: %v", err)
	}
	return tags, nil
}

// exifKey keys tags for describeExif.
type exifKey struct {
	gps bool
	id  uint16
}

// describeExif turns tags into readable report items. Whether there is
// GPS data or other metadata comes from info: the index go-exif reads
// with holds only the tags named here.
func describeExif(rep *Report, tags []exifTag, info tiffInfo) {
	vals := map[exifKey]exifTag{}
	for _, t := range tags {
		k := exifKey{strings.HasSuffix(t.ifdPath, "GPSInfo"), t.id}
		if _, dup := vals[k]; !dup {
			vals[k] = t
		}
	}
	str := func(id uint16) string {
		t, ok := vals[exifKey{false, id}]
		if !ok {
			return ""
		}
		switch v := t.value.(type) {
		case string:
			return cleanLabel(v)
		case []byte:
			return cleanLabel(string(v))
		}
		return ""
	}

	if info.gps {
		if pos := gpsPosition(vals); pos != "" {
			rep.add(CatLocation, "GPS position %s", pos)
		} else {
			rep.add(CatLocation, "GPS data")
		}
		if alt, ok := rationalValue(vals[exifKey{true, tagGPSAltitude}].value); ok {
			rep.add(CatLocation, "GPS altitude %.0f m", alt)
		}
	}
	mk, model := str(tagMake), str(tagModel)
	switch {
	case mk != "" && model != "" && !strings.HasPrefix(strings.ToLower(model), strings.ToLower(mk)):
		rep.add(CatDevice, "Camera: %s %s", mk, model)
	case model != "":
		rep.add(CatDevice, "Camera: %s", model)
	case mk != "":
		rep.add(CatDevice, "Camera: %s", mk)
	}
	for _, s := range []struct {
		id    uint16
		cat   Category
		label string
	}{
		{tagBodySerial, CatDevice, "Serial number"},
		{tagDNGSerial, CatDevice, "Serial number"},
		{tagLensSerial, CatDevice, "Lens serial number"},
		{tagHostComputer, CatDevice, "Computer"},
		{tagOwnerName, CatAuthor, "Owner"},
		{tagArtist, CatAuthor, "Author"},
		{tagCopyright, CatAuthor, "Copyright"},
		{tagSoftware, CatSoftware, "Software"},
		{tagImageDescription, CatComment, "Description"},
		{tagImageUniqueID, CatDevice, "Unique image ID"},
	} {
		if v := str(s.id); v != "" {
			rep.add(s.cat, "%s: %s", s.label, v)
		}
	}
	lm, lmodel := str(tagLensMake), str(tagLensModel)
	if lens := strings.TrimSpace(lm + " " + lmodel); lens != "" {
		rep.add(CatDevice, "Lens: %s", lens)
	}
	for _, d := range []struct {
		id    uint16
		label string
	}{{tagDateTimeOriginal, "Taken"}, {tagDateTimeDigit, "Digitized"}, {tagDateTime, "Modified"}} {
		if v := str(d.id); v != "" {
			rep.add(CatTime, "%s %s", d.label, exifDate(v))
		}
	}
	for _, x := range []struct {
		id    uint16
		cat   Category
		label string
	}{{tagXPTitle, CatComment, "Title"}, {tagXPComment, CatComment, "Comment"}, {tagXPAuthor, CatAuthor, "Author"},
		{tagXPKeywords, CatComment, "Keywords"}, {tagXPSubject, CatComment, "Subject"}} {
		if t, ok := vals[exifKey{false, x.id}]; ok {
			if v := ucs2(t.raw); v != "" {
				rep.add(x.cat, "%s: %s", x.label, v)
			}
		}
	}
	if t, ok := vals[exifKey{false, tagUserComment}]; ok {
		if v := userComment(t.raw); v != "" {
			rep.add(CatComment, "Comment: %s", v)
		}
	}
	if _, ok := vals[exifKey{false, tagMakerNote}]; ok {
		rep.add(CatDevice, "Maker notes (camera-specific data)")
	}
	if info.thumbnail {
		rep.add(CatThumbnail, "Thumbnail")
	}
	if info.other {
		rep.add(CatOther, "Exif metadata")
	}
}

// gpsPosition formats GPSLatitude/Longitude with their references.
func gpsPosition(vals map[exifKey]exifTag) string {
	lat, ok1 := dmsValue(vals[exifKey{true, tagGPSLatitude}].value)
	lon, ok2 := dmsValue(vals[exifKey{true, tagGPSLongitude}].value)
	if !ok1 || !ok2 {
		return ""
	}
	ref := func(id uint16, def string) string {
		if s, ok := vals[exifKey{true, id}].value.(string); ok && (s == "N" || s == "S" || s == "E" || s == "W") {
			return s
		}
		return def
	}
	return fmt.Sprintf("%.2f %s %.2f %s", lat, ref(tagGPSLatitudeRef, "N"), lon, ref(tagGPSLongitudeRef, "E"))
}

// dmsValue reads degrees, minutes and seconds as decimal degrees.
func dmsValue(v any) (float64, bool) {
	rs, ok := v.([]exifcommon.Rational)
	if !ok || len(rs) != 3 {
		return 0, false
	}
	var d float64
	for i, r := range rs {
		if r.Denominator == 0 {
			return 0, false
		}
		d += float64(r.Numerator) / float64(r.Denominator) / math.Pow(60, float64(i))
	}
	return d, true
}

func rationalValue(v any) (float64, bool) {
	rs, ok := v.([]exifcommon.Rational)
	if !ok || len(rs) != 1 || rs[0].Denominator == 0 {
		return 0, false
	}
	return float64(rs[0].Numerator) / float64(rs[0].Denominator), true
}

// exifDate turns "2026:05:01 14:03:22" into "2026-05-01 14:03".
func exifDate(s string) string {
	if len(s) >= 16 && s[4] == ':' && s[7] == ':' && s[10] == ' ' {
		return s[:4] + "-" + s[5:7] + "-" + s[8:10] + " " + s[11:16]
	}
	return s
}

// userComment decodes an Exif UserComment: an 8-byte character code then
// the text.
func userComment(b []byte) string {
	if len(b) < 8 {
		return ""
	}
	code, text := string(b[:8]), b[8:]
	if strings.HasPrefix(code, "UNICODE") {
		return ucs2(text)
	}
	return cleanLabel(string(text))
}

// ucs2 decodes the little-endian UCS-2 of the Windows XP tags.
func ucs2(b []byte) string {
	var sb strings.Builder
	for i := 0; i+1 < len(b); i += 2 {
		r := rune(binary.LittleEndian.Uint16(b[i:]))
		if r == 0 {
			break
		}
		sb.WriteRune(r)
	}
	return cleanLabel(sb.String())
}

// cleanLabel makes an untrusted string fit for a one-line label: valid
// UTF-8, no control characters, trimmed and shortened.
func cleanLabel(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			if r == '\n' || r == '\t' || r == '\r' {
				return ' '
			}
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxExifLabel {
		s = string([]rune(s)[:maxExifLabel-1]) + "…"
	}
	return s
}

// minimalExif returns a TIFF block holding only the Orientation tag, or
// nil when the orientation is 1 (or unknown) and nothing needs keeping.
func minimalExif(orientation int) []byte {
	if orientation < 2 || orientation > 8 {
		return nil
	}
	b := []byte{'M', 'M', 0, 42, 0, 0, 0, 8, // header, IFD0 at 8
		0, 1, // one entry
		0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, byte(orientation), 0, 0, // Orientation SHORT 1
		0, 0, 0, 0} // no next IFD
	return b
}

// orientationLabel describes what an orientation does to the stored
// pixels when shown.
func orientationLabel(o int) string {
	return [...]string{"", "normal", "mirrored", "rotated 180°", "mirrored vertically",
		"mirrored and rotated 90°", "rotated 90°", "mirrored and rotated 270°", "rotated 270°"}[o]
}
