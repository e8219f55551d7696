package media

import (
	"bytes"
	"encoding/binary"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MP4 and QuickTime (MOV). Every box keeps its size and place, so the
// chunk offsets in stco/co64 stay valid without being rewritten: boxes
// that are not needed to play the file (udta, meta, uuid, previews,
// anything unknown) become free boxes of the same size filled with
// zeros, creation and modification times in mvhd, tkhd and mdhd are set
// to zero, handler and encoder names are blanked, and telemetry tracks
// (GoPro GPMF, camm, timed metadata) are freed together with their
// samples, which are overwritten with zeros in mdat. The moov box is
// edited in memory; everything else is streamed from the source, so
// memory stays bounded for files of any size.

func init() {
	for _, t := range []Type{MP4, MOV} {
		t := t
		register(t, format{
			inspect: func(r io.ReaderAt, size int64) (Report, error) {
				j := &mp4Job{t: t}
				err := j.run(r, size, nil)
				return j.rep, err
			},
			sanitize: func(r io.ReaderAt, size int64, w io.Writer) (Report, error) {
				j := &mp4Job{t: t}
				err := j.run(r, size, w)
				return j.rep, err
			},
		})
	}
}

// maxMoovSize bounds the movie box, read into memory.
const maxMoovSize = 256 << 20

// mp4TopKeep are top-level boxes copied unchanged (besides moov, which
// is edited, and free/skip, which are rewritten as zeros).
var mp4TopKeep = map[string]bool{"ftyp": true, "styp": true, "mdat": true, "moof": true,
	"mfra": true, "sidx": true, "ssix": true, "prft": true, "emsg": true, "wide": true}

// Children kept in moov, trak and mdia; everything else is freed.
var (
	mp4MoovKeep = map[string]bool{"mvhd": true, "trak": true, "mvex": true, "iods": true, "ctab": true, "clip": true}
	mp4TrakKeep = map[string]bool{"tkhd": true, "tref": true, "edts": true, "mdia": true, "tapt": true,
		"txas": true, "load": true, "imap": true, "matt": true, "kmat": true, "clip": true, "trgr": true}
	mp4MdiaKeep = map[string]bool{"mdhd": true, "hdlr": true, "minf": true, "elng": true}
)

// Sample entry types of telemetry streams.
var mp4Telemetry = map[string]string{
	"gpmd": "GoPro GPMF telemetry", "camm": "camera motion metadata", "mebx": "timed metadata",
	"mett": "timed metadata", "metx": "timed metadata", "rtmd": "Sony real-time metadata",
}

type mp4Job struct {
	t    Type
	rep  Report
	zero []span // source byte ranges to write as zeros
	// Telemetry tracks removed, by track ID, and the default sample
	// sizes of tracks (from trex), for fragmented files.
	telemetry   map[uint32]bool
	defaultSize map[uint32]uint32
}

// span is a half-open byte range.
type span struct{ start, end int64 }

// sliceReader reads a buffer that holds the source's bytes from base on.
type sliceReader struct {
	buf  []byte
	base int64
}

func (s sliceReader) ReadAt(p []byte, off int64) (int, error) {
	off -= s.base
	if off < 0 || off >= int64(len(s.buf)) {
		return 0, io.EOF
	}
	n := copy(p, s.buf[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (j *mp4Job) run(r io.ReaderAt, size int64, w io.Writer) error {
	top, err := bmffList(r, 0, size, j.t)
	if err != nil {
		return err
	}
	moovs := map[int64][]byte{}
	for _, b := range top {
		if b.Type != "moov" {
			continue
		}
		if len(moovs) > 0 {
			return malformed(j.t, "more than one moov box")
		}
		if b.Size > maxMoovSize {
			return tooLarge(j.t, "moov box of %d bytes, limit %d", b.Size, maxMoovSize)
		}
		buf := make([]byte, b.Size)
		if _, err := r.ReadAt(buf, b.Off); err != nil {
			return malformed(j.t, "moov: %v", err)
		}
		if err := j.moov(sliceReader{buf, b.Off}, buf, b); err != nil {
			return err
		}
		moovs[b.Off] = buf
	}
	if len(moovs) == 0 {
		return malformed(j.t, "no moov box")
	}
	if w == nil {
		for _, b := range top {
			if b.Type != "moov" && !mp4TopKeep[b.Type] && b.Type != "free" && b.Type != "skip" {
				j.reportBox(r, b)
			}
		}
		return nil
	}
	j.zero = mergeSpans(j.zero)
	for _, b := range top {
		var err error
		switch {
		case b.Type == "moov":
			_, err = w.Write(moovs[b.Off])
		case b.Type == "mdat":
			err = copyMdat(w, r, b, j.zero)
		case b.Type == "moof" && len(j.telemetry) > 0:
			// Fragments are edited one at a time, before the mdat that
			// holds their samples.
			if b.Size > maxMoovSize {
				return tooLarge(j.t, "moof box of %d bytes", b.Size)
			}
			buf := make([]byte, b.Size)
			if _, err := r.ReadAt(buf, b.Off); err != nil {
				return malformed(j.t, "moof: %v", err)
			}
			if err := j.moof(sliceReader{buf, b.Off}, buf, b); err != nil {
				return err
			}
			j.zero = mergeSpans(j.zero)
			_, err = w.Write(buf)
		case mp4TopKeep[b.Type]:
			err = copyZeroing(w, r, b.Off, b.End(), nil)
		case b.Type == "free" || b.Type == "skip":
			err = bmffWriteFree(w, b)
		default:
			j.reportBox(r, b)
			err = bmffWriteFree(w, b)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// moov edits the movie box held in buf in place.
func (j *mp4Job) moov(r io.ReaderAt, buf []byte, moov bmffBox) error {
	kids, err := bmffChildren(r, moov, 0, j.t)
	if err != nil {
		return err
	}
	for _, b := range kids {
		switch {
		case b.Type == "mvhd":
			if err := j.zeroTimes(buf, moov.Off, b, true); err != nil {
				return err
			}
		case b.Type == "trak":
			if err := j.trak(r, buf, moov.Off, b); err != nil {
				return err
			}
		case mp4MoovKeep[b.Type]:
		default:
			j.reportBox(r, b)
			bmffFreeInPlace(buf, b, moov.Off)
		}
	}
	if mvex, ok := bmffFind(kids, "mvex"); ok {
		return j.mvex(r, buf, moov.Off, mvex)
	}
	return nil
}

// mvex notes the default sample sizes of a fragmented file's tracks and
// frees the trex of removed telemetry tracks.
func (j *mp4Job) mvex(r io.ReaderAt, buf []byte, base int64, mvex bmffBox) error {
	kids, err := bmffChildren(r, mvex, 0, j.t)
	if err != nil {
		return err
	}
	j.defaultSize = map[uint32]uint32{}
	for _, b := range kids {
		if b.Type != "trex" {
			continue
		}
		d := buf[b.Data()-base : b.End()-base]
		if len(d) < 24 {
			return malformed(j.t, "trex too short")
		}
		id := be32(d, 4)
		j.defaultSize[id] = be32(d, 16)
		if j.telemetry[id] {
			bmffFreeInPlace(buf, b, base)
		}
	}
	return nil
}

// moof frees, in a movie fragment held in buf, the track fragments of
// removed telemetry tracks and adds their samples to j.zero.
func (j *mp4Job) moof(r io.ReaderAt, buf []byte, moof bmffBox) error {
	kids, err := bmffChildren(r, moof, 0, j.t)
	if err != nil {
		return err
	}
	for _, traf := range kids {
		if traf.Type != "traf" {
			continue
		}
		tk, err := bmffChildren(r, traf, 0, j.t)
		if err != nil {
			return err
		}
		tfhd, ok := bmffFind(tk, "tfhd")
		if !ok {
			return malformed(j.t, "traf without tfhd")
		}
		h := buf[tfhd.Data()-moof.Off : tfhd.End()-moof.Off]
		if len(h) < 8 {
			return malformed(j.t, "tfhd too short")
		}
		id, flags := be32(h, 4), be32(h, 0)&0xffffff
		if !j.telemetry[id] {
			continue
		}
		// Where the data starts: an explicit base offset, or the moof.
		dataBase, p := moof.Off, 8
		if flags&0x1 != 0 {
			dataBase, p = int64(be64(h, p)&(1<<62-1)), p+8
		}
		for _, bit := range []uint32{0x2, 0x8} { // sample description index, default duration
			if flags&bit != 0 {
				p += 4
			}
		}
		size := int64(j.defaultSize[id])
		if flags&0x10 != 0 {
			size = int64(be32(h, p))
		}
		for _, tr := range tk {
			if tr.Type != "trun" {
				continue
			}
			d := buf[tr.Data()-moof.Off : tr.End()-moof.Off]
			if len(d) < 8 {
				return malformed(j.t, "trun too short")
			}
			tf, n := be32(d, 0)&0xffffff, int(be32(d, 4))
			q := 8
			start := dataBase
			if tf&0x1 != 0 {
				start += int64(int32(be32(d, q)))
				q += 4
			}
			if tf&0x4 != 0 {
				q += 4
			}
			per := 0
			for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
				if tf&bit != 0 {
					per += 4
				}
			}
			if n < 0 || (per > 0 && n > (len(d)-q)/per) || (per == 0 && n > 1<<24) {
				return malformed(j.t, "trun sample count %d", n)
			}
			var total int64
			for k := 0; k < n; k++ {
				e := q + k*per
				if tf&0x100 != 0 {
					e += 4
				}
				if tf&0x200 != 0 {
					total += int64(be32(d, e))
				} else {
					total += size
				}
			}
			j.zero = append(j.zero, span{start, start + total})
		}
		bmffFreeInPlace(buf, traf, moof.Off)
	}
	return nil
}

func (j *mp4Job) trak(r io.ReaderAt, buf []byte, base int64, trak bmffBox) error {
	kids, err := bmffChildren(r, trak, 0, j.t)
	if err != nil {
		return err
	}
	// Look at the handler and the first sample entry first: a telemetry
	// track goes as a whole.
	var handler, entry string
	var stbl bmffBox
	var haveStbl bool
	if mdia, ok := bmffFind(kids, "mdia"); ok {
		mk, err := bmffChildren(r, mdia, 0, j.t)
		if err != nil {
			return err
		}
		if h, ok := bmffFind(mk, "hdlr"); ok && h.Size >= h.Hdr+12 {
			handler = string(buf[h.Data()-base+8 : h.Data()-base+12])
		}
		if minf, ok := bmffFind(mk, "minf"); ok {
			nk, err := bmffChildren(r, minf, 0, j.t)
			if err != nil {
				return err
			}
			if stbl, haveStbl = bmffFind(nk, "stbl"); haveStbl {
				sk, err := bmffChildren(r, stbl, 0, j.t)
				if err != nil {
					return err
				}
				if stsd, ok := bmffFind(sk, "stsd"); ok {
					entries, err := bmffChildren(r, stsd, 8, j.t)
					if err != nil {
						return err
					}
					if len(entries) > 0 {
						entry = entries[0].Type
					}
					if handler == "vide" {
						j.blankCompressorNames(buf, base, entries)
					}
				}
			}
		}
	}
	if what, ok := mp4Telemetry[entry]; ok || handler == "meta" || handler == "camm" {
		if !ok {
			what = "timed metadata"
		}
		j.rep.add(CatLocation, "Telemetry track (%s, may hold GPS positions)", what)
		if tkhd, ok := bmffFind(kids, "tkhd"); ok {
			d := buf[tkhd.Data()-base : tkhd.End()-base]
			at := 12
			if len(d) > 0 && d[0] == 1 {
				at = 20
			}
			if len(d) >= at+4 {
				if j.telemetry == nil {
					j.telemetry = map[uint32]bool{}
				}
				j.telemetry[be32(d, at)] = true
			}
		}
		if haveStbl {
			if err := j.trackSpans(r, stbl); err != nil {
				return err
			}
		}
		bmffFreeInPlace(buf, trak, base)
		return nil
	}
	for _, b := range kids {
		switch {
		case b.Type == "tkhd":
			if err := j.zeroTimes(buf, base, b, false); err != nil {
				return err
			}
		case b.Type == "mdia":
			if err := j.mdia(r, buf, base, b); err != nil {
				return err
			}
		case mp4TrakKeep[b.Type]:
		default:
			j.reportBox(r, b)
			bmffFreeInPlace(buf, b, base)
		}
	}
	return nil
}

func (j *mp4Job) mdia(r io.ReaderAt, buf []byte, base int64, mdia bmffBox) error {
	kids, err := bmffChildren(r, mdia, 0, j.t)
	if err != nil {
		return err
	}
	for _, b := range kids {
		switch {
		case b.Type == "mdhd":
			if err := j.zeroTimes(buf, base, b, false); err != nil {
				return err
			}
		case b.Type == "hdlr":
			j.blankHandlerName(buf, base, b)
		case b.Type == "minf":
			mk, err := bmffChildren(r, b, 0, j.t)
			if err != nil {
				return err
			}
			for _, m := range mk {
				if m.Type == "hdlr" {
					j.blankHandlerName(buf, base, m)
				}
			}
		case mp4MdiaKeep[b.Type]:
		default:
			j.reportBox(r, b)
			bmffFreeInPlace(buf, b, base)
		}
	}
	return nil
}

// mp4Epoch is the zero of QuickTime and MP4 times.
var mp4Epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)

// zeroTimes clears the creation and modification times of an mvhd,
// tkhd or mdhd box.
func (j *mp4Job) zeroTimes(buf []byte, base int64, b bmffBox, report bool) error {
	d := buf[b.Data()-base : b.End()-base]
	if len(d) < 4 {
		return malformed(j.t, "%s box too short", b.Type)
	}
	n := 4
	if d[0] == 1 {
		n = 8
	}
	if len(d) < 4+2*n {
		return malformed(j.t, "%s box too short", b.Type)
	}
	var created, modified uint64
	if n == 4 {
		created, modified = uint64(be32(d, 4)), uint64(be32(d, 8))
	} else {
		created, modified = be64(d, 4), be64(d, 12)
	}
	if report && created != 0 {
		j.rep.add(CatTime, "Created %s", mp4Time(created))
	}
	if report && modified != 0 {
		j.rep.add(CatTime, "Modified %s", mp4Time(modified))
	}
	if !report && (created != 0 || modified != 0) {
		j.rep.add(CatTime, "Track creation and modification times")
	}
	clear(d[4 : 4+2*n])
	return nil
}

func mp4Time(secs uint64) string {
	if secs > 1<<40 {
		return strconv.FormatUint(secs, 10)
	}
	return mp4Epoch.Add(time.Duration(secs) * time.Second).Format("2006-01-02 15:04")
}

// blankHandlerName zeroes the name in a hdlr box ("GoPro AVC", "Core
// Media Video"), which can tell the device.
func (j *mp4Job) blankHandlerName(buf []byte, base int64, b bmffBox) {
	d := buf[b.Data()-base : b.End()-base]
	if len(d) <= 24 {
		return
	}
	name := d[24:]
	if len(name) > 0 && int(name[0]) == len(name)-1 {
		name = name[1:] // QuickTime Pascal string
	}
	if s := strings.TrimRight(printable(name), " "); s != "" {
		j.rep.add(CatSoftware, "Track handler name: %s", s)
	}
	clear(d[24:])
}

// blankCompressorNames zeroes the 32-byte compressor name of visual
// sample entries.
func (j *mp4Job) blankCompressorNames(buf []byte, base int64, entries []bmffBox) {
	for _, e := range entries {
		// SampleEntry (8) + pre_defined/reserved (16) + width, height (4)
		// + resolutions (8) + reserved (4) + frame_count (2).
		const at = 8 + 16 + 4 + 8 + 4 + 2
		if e.Size-e.Hdr < at+32 {
			continue
		}
		cn := buf[e.Data()-base+at : e.Data()-base+at+32]
		n := min(int(cn[0]), 31)
		if s := printable(cn[1 : 1+n]); s != "" {
			j.rep.add(CatSoftware, "Encoder: %s", s)
		}
		clear(cn)
	}
}

// trackSpans adds the byte ranges of a track's samples to j.zero.
func (j *mp4Job) trackSpans(r io.ReaderAt, stbl bmffBox) error {
	kids, err := bmffChildren(r, stbl, 0, j.t)
	if err != nil {
		return err
	}
	read := func(typ string) ([]byte, bool, error) {
		b, ok := bmffFind(kids, typ)
		if !ok {
			return nil, false, nil
		}
		d := make([]byte, b.Size-b.Hdr)
		if _, err := r.ReadAt(d, b.Data()); err != nil {
			return nil, false, malformed(j.t, "%s: %v", typ, err)
		}
		return d, true, nil
	}
	stsz, ok1, err := read("stsz")
	if err != nil {
		return err
	}
	stsc, ok2, err := read("stsc")
	if err != nil {
		return err
	}
	var offsets []int64
	if co, ok, err := read("stco"); err != nil {
		return err
	} else if ok {
		n := int(be32(co, 4))
		if n < 0 || 8+4*n > len(co) {
			return malformed(j.t, "stco table truncated")
		}
		for i := 0; i < n; i++ {
			offsets = append(offsets, int64(be32(co, 8+4*i)))
		}
	} else if co, ok, err := read("co64"); err != nil {
		return err
	} else if ok {
		n := int(be32(co, 4))
		if n < 0 || 8+8*n > len(co) {
			return malformed(j.t, "co64 table truncated")
		}
		for i := 0; i < n; i++ {
			offsets = append(offsets, int64(be64(co, 8+8*i)&(1<<62-1)))
		}
	}
	if !ok1 || !ok2 || len(offsets) == 0 {
		return nil // no samples in this box (fragmented file)
	}
	if len(stsz) < 12 || len(stsc) < 8 {
		return malformed(j.t, "sample tables truncated")
	}
	fixed, count := int64(be32(stsz, 4)), int(be32(stsz, 8))
	if fixed == 0 && (count < 0 || 12+4*count > len(stsz)) {
		return malformed(j.t, "stsz table truncated")
	}
	nsc := int(be32(stsc, 4))
	if nsc < 0 || 8+12*nsc > len(stsc) {
		return malformed(j.t, "stsc table truncated")
	}
	// Each chunk is visited once (first chunks must increase) and each
	// sample at most once, so hostile tables cost no more than their size.
	sample, prev := 0, 0
	for e := 0; e < nsc; e++ {
		first := int(be32(stsc, 8+12*e))
		per := int(be32(stsc, 8+12*e+4))
		last := len(offsets)
		if e+1 < nsc {
			last = int(be32(stsc, 8+12*(e+1))) - 1
		}
		if first <= prev || last > len(offsets) {
			return malformed(j.t, "stsc refers to chunk %d of %d", max(first, last), len(offsets))
		}
		prev = first
		for c := first; c <= last; c++ {
			if per < 0 || per > count-sample {
				return malformed(j.t, "chunks hold more samples than stsz lists")
			}
			var n int64
			if fixed != 0 {
				n = fixed * int64(per)
			} else {
				for k := 0; k < per; k++ {
					n += int64(be32(stsz, 12+4*(sample+k)))
				}
			}
			sample += per
			j.zero = append(j.zero, span{offsets[c-1], offsets[c-1] + n})
		}
	}
	return nil
}

func mergeSpans(s []span) []span {
	sort.Slice(s, func(a, b int) bool { return s[a].start < s[b].start })
	var out []span
	for _, x := range s {
		if x.end <= x.start {
			continue
		}
		if n := len(out); n > 0 && x.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, x.end)
			continue
		}
		out = append(out, x)
	}
	return out
}

// copyMdat copies a media data box, writing zeros over the spans that
// fall inside its payload (and only there: an offset table cannot make
// the sanitizer blank a header or another box).
func copyMdat(w io.Writer, r io.ReaderAt, b bmffBox, zero []span) error {
	var in []span
	for _, z := range zero {
		if s, e := max(z.start, b.Data()), min(z.end, b.End()); s < e {
			in = append(in, span{s, e})
		}
	}
	return copyZeroing(w, r, b.Off, b.End(), in)
}

// copyZeroing copies src[start:end) to w, writing zeros over the spans.
func copyZeroing(w io.Writer, r io.ReaderAt, start, end int64, zero []span) error {
	pos := start
	i := sort.Search(len(zero), func(i int) bool { return zero[i].end > start })
	for ; i < len(zero) && zero[i].start < end; i++ {
		zs, ze := max(zero[i].start, pos), min(zero[i].end, end)
		if zs > pos {
			if _, err := io.Copy(w, io.NewSectionReader(r, pos, zs-pos)); err != nil {
				return err
			}
		}
		if _, err := io.CopyN(w, zeroReader{}, ze-zs); err != nil {
			return err
		}
		pos = ze
	}
	if pos < end {
		if _, err := io.Copy(w, io.NewSectionReader(r, pos, end-pos)); err != nil {
			return err
		}
	}
	return nil
}

// printable returns the text in b, cut at the first NUL, with
// non-printable characters left out, at most 100 bytes.
func printable(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) > 100 {
		b = b[:100]
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r != utf8.RuneError && (r >= 0x20 && r != 0x7f) {
			sb.WriteRune(r)
		}
	}
	return strings.TrimSpace(sb.String())
}

// reportBox describes a box that is being removed.
func (j *mp4Job) reportBox(r io.ReaderAt, b bmffBox) {
	switch b.Type {
	case "udta":
		j.udta(r, b)
	case "meta":
		j.meta(r, b)
	case "uuid":
		var id [16]byte
		r.ReadAt(id[:], b.Off+b.Hdr-16)
		if bytes.Equal(id[:], []byte{0xBE, 0x7A, 0xCF, 0xCB, 0x97, 0xA9, 0x42, 0xE8, 0x9C, 0x71, 0x99, 0x94, 0x91, 0xE3, 0xAF, 0xAC}) {
			j.rep.add(CatOther, "XMP")
		} else {
			j.rep.add(CatOther, "Vendor data (uuid box)")
		}
	case "pnot", "PICT":
		j.rep.add(CatThumbnail, "Preview image")
	case "XMP_":
		j.rep.add(CatOther, "XMP")
	default:
		j.rep.add(CatOther, "Unknown box %q", printable([]byte(b.Type)))
	}
}

// readPayload reads a small box's payload for the report.
func readPayload(r io.ReaderAt, b bmffBox, limit int64) []byte {
	n := min(b.Size-b.Hdr, limit)
	d := make([]byte, n)
	if _, err := r.ReadAt(d, b.Data()); err != nil && err != io.EOF {
		return nil
	}
	return d
}

// udta reports a user data box: QuickTime text atoms (©xyz, ©mak, ...)
// and iTunes-style metadata.
func (j *mp4Job) udta(r io.ReaderAt, b bmffBox) {
	kids, err := bmffChildren(r, b, 0, j.t)
	if err != nil {
		j.rep.add(CatOther, "User data")
		return
	}
	for _, k := range kids {
		switch k.Type {
		case "meta":
			j.meta(r, k)
		case "XMP_":
			j.rep.add(CatOther, "XMP")
		case "uuid":
			j.reportBox(r, k)
		default:
			d := readPayload(r, k, 4096)
			v := ""
			if len(d) >= 4 && int(binary.BigEndian.Uint16(d))+4 <= len(d) && k.Type[0] == 0xA9 {
				v = printable(d[4 : 4+int(binary.BigEndian.Uint16(d))])
			} else {
				v = printable(d)
			}
			j.item(k.Type, v)
		}
	}
}

// meta reports a metadata box: QuickTime keys/ilst or iTunes ilst.
func (j *mp4Job) meta(r io.ReaderAt, b bmffBox) {
	skip := int64(0)
	if hd := readPayload(r, b, 8); len(hd) == 8 && string(hd[4:8]) != "hdlr" {
		skip = 4 // ISO full box: version and flags first
	}
	kids, err := bmffChildren(r, b, skip, j.t)
	if err != nil {
		j.rep.add(CatOther, "Metadata box")
		return
	}
	var keys []string
	if kb, ok := bmffFind(kids, "keys"); ok {
		d := readPayload(r, kb, 1<<20)
		n := int(be32(d, 4))
		for off := 8; len(keys) < n && off+8 <= len(d); {
			sz := int(be32(d, off))
			if sz < 8 || off+sz > len(d) {
				break
			}
			keys = append(keys, string(d[off+8:off+sz]))
			off += sz
		}
	}
	il, ok := bmffFind(kids, "ilst")
	if !ok {
		j.rep.add(CatOther, "Metadata box")
		return
	}
	items, err := bmffChildren(r, il, 0, j.t)
	if err != nil {
		j.rep.add(CatOther, "Metadata box")
		return
	}
	for _, it := range items {
		name := it.Type
		if idx := int(binary.BigEndian.Uint32([]byte(it.Type))); len(keys) > 0 && idx >= 1 && idx <= len(keys) {
			name = keys[idx-1]
		}
		v := ""
		if data, err := bmffChildren(r, it, 0, j.t); err == nil {
			if db, ok := bmffFind(data, "data"); ok {
				if d := readPayload(r, db, 4096); len(d) > 8 {
					v = printable(d[8:])
				}
			}
		}
		j.item(name, v)
	}
}

// iso6709 is compiled on first use, not in every process at start-up.
var iso6709 = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([+-][0-9]+(?:\.[0-9]+)?)([+-][0-9]+(?:\.[0-9]+)?)`)
})

// item reports one metadata entry by its QuickTime or key name.
func (j *mp4Job) item(name, v string) {
	short := name
	if i := strings.LastIndex(name, "."); i >= 0 && strings.HasPrefix(name, "com.") {
		short = name[i+1:]
		if strings.HasSuffix(name, "location.ISO6709") {
			short = "ISO6709"
		}
	}
	switch short {
	case "\xa9xyz", "ISO6709":
		if m := iso6709().FindStringSubmatch(v); m != nil {
			lat, _ := strconv.ParseFloat(m[1], 64)
			lon, _ := strconv.ParseFloat(m[2], 64)
			ns, ew := "N", "E"
			if lat < 0 {
				ns, lat = "S", -lat
			}
			if lon < 0 {
				ew, lon = "W", -lon
			}
			j.rep.add(CatLocation, "GPS position %.2f %s %.2f %s", lat, ns, lon, ew)
		} else {
			j.rep.add(CatLocation, "GPS position")
		}
	case "\xa9mak", "make":
		j.rep.add(CatDevice, "Camera make: %s", v)
	case "\xa9mod", "model":
		j.rep.add(CatDevice, "Camera model: %s", v)
	case "\xa9swr", "\xa9too", "\xa9enc", "software":
		j.rep.add(CatSoftware, "Software: %s", v)
	case "\xa9day", "creationdate":
		j.rep.add(CatTime, "Date: %s", v)
	case "\xa9ART", "\xa9aut", "author", "artist":
		j.rep.add(CatAuthor, "Author: %s", v)
	case "\xa9nam", "title", "\xa9cmt", "comment", "description", "\xa9des":
		j.rep.add(CatComment, "%s: %s", strings.TrimPrefix(printable([]byte(short)), "©"), v)
	default:
		label := printable([]byte(name))
		if v != "" {
			j.rep.add(CatOther, "Metadata %s: %s", label, v)
		} else {
			j.rep.add(CatOther, "Metadata %s", label)
		}
	}
}
