package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// iptcDatasets are the IPTC record-2 datasets worth naming in a report.
var iptcDatasets = map[byte]struct {
	cat   Category
	label string
}{
	5:   {CatComment, "Title"},
	25:  {CatComment, "Keywords"},
	55:  {CatTime, "Created"},
	65:  {CatSoftware, "Software"},
	80:  {CatAuthor, "Author"},
	90:  {CatLocation, "City"},
	92:  {CatLocation, "Sublocation"},
	95:  {CatLocation, "Province"},
	101: {CatLocation, "Country"},
	105: {CatComment, "Headline"},
	116: {CatAuthor, "Copyright"},
	120: {CatComment, "Caption"},
	122: {CatAuthor, "Writer"},
}

// iptcItems adds to rep the IPTC datasets of a Photoshop APP13 payload
// ("Photoshop 3.0\0" then image resource blocks). It reads what it can
// and ignores the rest: the segment is dropped either way.
func iptcItems(rep *Report, p []byte) {
	p, ok := bytes.CutPrefix(p, []byte("Photoshop 3.0\x00"))
	if !ok {
		return
	}
	for len(p) >= 12 && string(p[:4]) == "8BIM" {
		id := binary.BigEndian.Uint16(p[4:])
		nameLen := int(p[6])
		off := 6 + (1+nameLen+1)&^1 // Pascal string padded to even length
		if off+4 > len(p) {
			return
		}
		size := int(binary.BigEndian.Uint32(p[off:]))
		off += 4
		if size < 0 || size > len(p)-off {
			return
		}
		if id == 0x0404 {
			iptcRecords(rep, p[off:off+size])
		}
		off += (size + 1) &^ 1
		if off > len(p) {
			return
		}
		p = p[off:]
	}
}

func iptcRecords(rep *Report, b []byte) {
	for len(b) >= 5 && b[0] == 0x1c {
		rec, ds, n := b[1], b[2], int(binary.BigEndian.Uint16(b[3:]))
		if n&0x8000 != 0 || 5+n > len(b) {
			return
		}
		if d, ok := iptcDatasets[ds]; ok && rec == 2 {
			if v := textLabel(b[5 : 5+n]); v != "" {
				rep.add(d.cat, "%s: %s", d.label, v)
			}
		}
		b = b[5+n:]
	}
}

// byteSize formats a byte count for a label.
func byteSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}
