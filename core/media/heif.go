package media

import (
	"bytes"
	"encoding/binary"
	"io"
	"sort"
	"strings"
)

// HEIF (HEIC) and AVIF images. The meta box is rebuilt without the items
// a viewer does not need to show the primary image: Exif and XMP items,
// thumbnails, depth maps, HDR gain maps and every other auxiliary image
// except alpha planes. Their entries go from iinf, iloc, iref and ipma,
// and their bytes in mdat (or idat) are overwritten with zeros. The
// rebuilt meta box is followed by a free box that makes up the bytes it
// lost, so every file offset in iloc stays valid. Properties that kept
// items do not need (user descriptions, non-standard ICC profiles,
// anything unknown) become free boxes of the same size inside ipco, so
// property indices do not move; irot, imir and standard colour profiles
// stay. Image sequences (a moov box) get the MP4 treatment.

func init() {
	for _, t := range []Type{HEIC, AVIF} {
		t := t
		register(t, format{
			inspect: func(r io.ReaderAt, size int64) (Report, error) {
				j := &heifJob{t: t}
				err := j.run(r, size, nil)
				return j.rep, err
			},
			sanitize: func(r io.ReaderAt, size int64, w io.Writer) (Report, error) {
				j := &heifJob{t: t}
				err := j.run(r, size, w)
				return j.rep, err
			},
		})
	}
}

// maxHEIFMeta bounds the meta box, read into memory.
const maxHEIFMeta = 64 << 20

// Bounds on the items of one file, their extents and references; a
// phone's grid image has a few hundred items.
const (
	maxHEIFItems   = 4096
	maxHEIFExtents = 1 << 16
	maxHEIFRefs    = 1 << 14
)

// Properties kept when a kept item uses them.
var heifPropKeep = map[string]bool{
	"ispe": true, "pixi": true, "colr": true, "hvcC": true, "av1C": true, "irot": true, "imir": true,
	"clap": true, "pasp": true, "rloc": true, "auxC": true, "lsel": true, "a1op": true, "a1lx": true,
	"clli": true, "mdcv": true, "cclv": true, "amve": true, "iscl": true, "vvcC": true, "jpgC": true,
}

// Meta children kept (iinf, iloc, iref and iprp are rebuilt).
var heifMetaKeep = map[string]bool{"hdlr": true, "pitm": true, "dinf": true, "idat": true}

type heifItem struct {
	id          uint32
	typ         string
	contentType string
	kept        bool
	extents     []span // file ranges (construction method 0)
	idatExtents []span // ranges in idat (construction method 1)
}

type heifRef struct {
	typ  string
	from uint32
	to   []uint32
}

type heifAssoc struct {
	essential bool
	index     int
}

type heifJob struct {
	t   Type
	rep Report

	buf  []byte // the meta box
	base int64  // its file offset

	items   map[uint32]*heifItem
	order   []uint32 // item IDs in iinf order
	refs    []heifRef
	refIDv1 bool
	assoc   map[uint32][]heifAssoc
	props   []bmffBox // ipco children, 1-based index i is props[i-1]
	primary uint32
	zero    []span
	src     io.ReaderAt
}

func (j *heifJob) run(r io.ReaderAt, size int64, w io.Writer) error {
	j.src = r
	top, err := bmffList(r, 0, size, j.t)
	if err != nil {
		return err
	}
	meta, ok := bmffFind(top, "meta")
	if !ok {
		return malformed(j.t, "no meta box")
	}
	if meta.Size > maxHEIFMeta {
		return tooLarge(j.t, "meta box of %d bytes, limit %d", meta.Size, maxHEIFMeta)
	}
	j.buf = make([]byte, meta.Size)
	if _, err := r.ReadAt(j.buf, meta.Off); err != nil {
		return malformed(j.t, "meta: %v", err)
	}
	j.base = meta.Off
	newMeta, err := j.meta(meta)
	if err != nil {
		return err
	}
	pad := meta.Size - int64(len(newMeta))
	if pad != 0 && pad < 8 {
		return malformed(j.t, "meta box cannot be rebuilt in place")
	}

	moovs := map[int64][]byte{}
	mj := &mp4Job{t: j.t}
	for _, b := range top {
		switch {
		case b.Type == "moov":
			if b.Size > maxMoovSize {
				return tooLarge(j.t, "moov box of %d bytes", b.Size)
			}
			buf := make([]byte, b.Size)
			if _, err := r.ReadAt(buf, b.Off); err != nil {
				return malformed(j.t, "moov: %v", err)
			}
			if err := mj.moov(sliceReader{buf, b.Off}, buf, b); err != nil {
				return err
			}
			moovs[b.Off] = buf
		case b.Type == "meta" && b.Off != meta.Off:
			return malformed(j.t, "more than one meta box")
		case b.Type == "ftyp" || b.Type == "mdat" || b.Type == "free" || b.Type == "skip" || b.Type == "meta":
		default:
			mj.reportBox(r, b)
		}
	}
	for _, it := range mj.rep.Items {
		j.rep.add(it.Category, "%s", it.Label)
	}
	if w == nil {
		return nil
	}
	zero := mergeSpans(append(j.zero, mj.zero...))
	for _, b := range top {
		var err error
		switch b.Type {
		case "meta":
			if _, err = w.Write(newMeta); err == nil && pad > 0 {
				err = bmffWriteFree(w, bmffBox{Type: "free", Size: pad, Hdr: 8})
			}
		case "moov":
			_, err = w.Write(moovs[b.Off])
		case "ftyp":
			err = copyZeroing(w, r, b.Off, b.End(), nil)
		case "mdat":
			err = copyMdat(w, r, b, zero)
		default:
			err = bmffWriteFree(w, b)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (j *heifJob) rd() io.ReaderAt { return sliceReader{j.buf, j.base} }

// payload returns the payload of b after skip bytes (nil if it is shorter).
func (j *heifJob) payload(b bmffBox, skip int64) []byte {
	if b.Hdr+skip > b.Size {
		return nil
	}
	return j.buf[b.Data()-j.base+skip : b.End()-j.base]
}

// meta parses the meta box, decides what stays and returns the new box.
func (j *heifJob) meta(meta bmffBox) ([]byte, error) {
	kids, err := bmffChildren(j.rd(), meta, 4, j.t)
	if err != nil {
		return nil, err
	}
	j.items = map[uint32]*heifItem{}
	j.assoc = map[uint32][]heifAssoc{}
	var iloc, iref, iprp, idat bmffBox
	var haveIloc, haveIref, haveIprp, haveIdat, havePitm bool
	for _, b := range kids {
		switch b.Type {
		case "hdlr":
			p := j.payload(b, 0)
			if len(p) < 12 || string(p[8:12]) != "pict" {
				return nil, malformed(j.t, "meta handler is not pict")
			}
			if len(p) > 24 {
				if s := printable(p[24:]); s != "" {
					j.rep.add(CatSoftware, "Handler name: %s", s)
				}
				clear(p[24:])
			}
		case "pitm":
			p := j.payload(b, 0)
			switch {
			case len(p) >= 6 && p[0] == 0:
				j.primary = uint32(binary.BigEndian.Uint16(p[4:]))
			case len(p) >= 8:
				j.primary = binary.BigEndian.Uint32(p[4:])
			default:
				return nil, malformed(j.t, "pitm too short")
			}
			havePitm = true
		case "iinf":
			if err := j.iinf(b); err != nil {
				return nil, err
			}
		case "iloc":
			iloc, haveIloc = b, true
		case "iref":
			iref, haveIref = b, true
		case "iprp":
			iprp, haveIprp = b, true
		case "idat":
			idat, haveIdat = b, true
		}
	}
	if !havePitm || j.items[j.primary] == nil {
		return nil, malformed(j.t, "no primary item")
	}
	if !haveIloc {
		return nil, malformed(j.t, "no iloc box")
	}
	if haveIref {
		if err := j.parseIref(iref); err != nil {
			return nil, err
		}
	}
	if haveIprp {
		if err := j.parseIprp(iprp); err != nil {
			return nil, err
		}
	}
	// iloc is parsed before deciding (for extents) and rebuilt after.
	if _, err := j.iloc(iloc, true); err != nil {
		return nil, err
	}
	j.decide()
	newIloc, err := j.iloc(iloc, false)
	if err != nil {
		return nil, err
	}
	j.cleanProps()
	if haveIdat {
		d := j.payload(idat, 0)
		for _, it := range j.items {
			if it.kept {
				continue
			}
			for _, s := range it.idatExtents {
				if s.start >= 0 && s.end <= int64(len(d)) && s.start < s.end {
					clear(d[s.start:s.end])
				}
			}
		}
	}
	var body [][]byte
	for _, b := range kids {
		switch b.Type {
		case "iinf":
			body = append(body, j.newIinf(b))
		case "iloc":
			body = append(body, newIloc)
		case "iref":
			if r := j.newIref(b); r != nil {
				body = append(body, r)
			}
		case "iprp":
			body = append(body, j.newIprp(b))
		default:
			if heifMetaKeep[b.Type] {
				body = append(body, j.buf[b.Off-j.base:b.End()-j.base])
			} else {
				j.rep.add(CatOther, "Metadata box %q", printable([]byte(b.Type)))
			}
		}
	}
	return makeBox("meta", j.buf[meta.Hdr:meta.Hdr+4], bytes.Join(body, nil)), nil
}

// makeBox builds a box with an 8-byte header from its parts.
func makeBox(typ string, parts ...[]byte) []byte {
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

func (j *heifJob) iinf(b bmffBox) error {
	p := j.payload(b, 0)
	if len(p) < 6 {
		return malformed(j.t, "iinf too short")
	}
	skip := int64(6)
	if p[0] != 0 {
		skip = 8
	}
	infes, err := bmffChildren(j.rd(), b, skip, j.t)
	if err != nil {
		return err
	}
	if len(infes) > maxHEIFItems {
		return tooLarge(j.t, "%d items", len(infes))
	}
	for _, e := range infes {
		if e.Type != "infe" {
			continue
		}
		d := j.payload(e, 0)
		if len(d) < 4 || d[0] < 2 {
			return malformed(j.t, "infe version %d not supported", d[0])
		}
		var it heifItem
		rest := d[4:]
		if d[0] == 2 {
			if len(rest) < 8 {
				return malformed(j.t, "infe too short")
			}
			it.id, rest = uint32(binary.BigEndian.Uint16(rest)), rest[2:]
		} else {
			if len(rest) < 10 {
				return malformed(j.t, "infe too short")
			}
			it.id, rest = binary.BigEndian.Uint32(rest), rest[4:]
		}
		it.typ, rest = string(rest[2:6]), rest[6:]
		if it.typ == "mime" {
			if i := bytes.IndexByte(rest, 0); i >= 0 {
				rest = rest[i+1:]
				if k := bytes.IndexByte(rest, 0); k >= 0 {
					it.contentType = string(rest[:k])
				} else {
					it.contentType = string(rest)
				}
			}
		}
		if j.items[it.id] != nil {
			return malformed(j.t, "item %d listed twice", it.id)
		}
		j.items[it.id] = &it
		j.order = append(j.order, it.id)
	}
	return nil
}

func (j *heifJob) parseIref(b bmffBox) error {
	p := j.payload(b, 0)
	if len(p) < 4 {
		return malformed(j.t, "iref too short")
	}
	j.refIDv1 = p[0] != 0
	refs, err := bmffChildren(j.rd(), b, 4, j.t)
	if err != nil {
		return err
	}
	w := 2
	if j.refIDv1 {
		w = 4
	}
	id := func(d []byte) uint32 {
		if w == 2 {
			return uint32(binary.BigEndian.Uint16(d))
		}
		return binary.BigEndian.Uint32(d)
	}
	for _, rb := range refs {
		d := j.payload(rb, 0)
		if len(d) < w+2 {
			return malformed(j.t, "iref entry too short")
		}
		if len(j.refs) >= maxHEIFRefs {
			return tooLarge(j.t, "more than %d item references", maxHEIFRefs)
		}
		ref := heifRef{typ: rb.Type, from: id(d)}
		n := int(binary.BigEndian.Uint16(d[w:]))
		d = d[w+2:]
		if len(d) < n*w {
			return malformed(j.t, "iref entry truncated")
		}
		for i := 0; i < n; i++ {
			ref.to = append(ref.to, id(d[i*w:]))
		}
		j.refs = append(j.refs, ref)
	}
	return nil
}

func (j *heifJob) parseIprp(b bmffBox) error {
	kids, err := bmffChildren(j.rd(), b, 0, j.t)
	if err != nil {
		return err
	}
	for _, k := range kids {
		switch k.Type {
		case "ipco":
			if j.props, err = bmffChildren(j.rd(), k, 0, j.t); err != nil {
				return err
			}
		case "ipma":
			d := j.payload(k, 0)
			if len(d) < 8 {
				return malformed(j.t, "ipma too short")
			}
			v, flags := d[0], d[3]
			n := int(binary.BigEndian.Uint32(d[4:]))
			d = d[8:]
			for e := 0; e < n; e++ {
				var id uint32
				if v < 1 {
					if len(d) < 3 {
						return malformed(j.t, "ipma truncated")
					}
					id, d = uint32(binary.BigEndian.Uint16(d)), d[2:]
				} else {
					if len(d) < 5 {
						return malformed(j.t, "ipma truncated")
					}
					id, d = binary.BigEndian.Uint32(d), d[4:]
				}
				cnt := int(d[0])
				d = d[1:]
				for a := 0; a < cnt; a++ {
					var as heifAssoc
					if flags&1 != 0 {
						if len(d) < 2 {
							return malformed(j.t, "ipma truncated")
						}
						x := binary.BigEndian.Uint16(d)
						as, d = heifAssoc{x&0x8000 != 0, int(x & 0x7fff)}, d[2:]
					} else {
						if len(d) < 1 {
							return malformed(j.t, "ipma truncated")
						}
						as, d = heifAssoc{d[0]&0x80 != 0, int(d[0] & 0x7f)}, d[1:]
					}
					j.assoc[id] = append(j.assoc[id], as)
				}
			}
		}
	}
	return nil
}

// prop returns the property box with 1-based index i.
func (j *heifJob) prop(i int) (bmffBox, bool) {
	if i < 1 || i > len(j.props) {
		return bmffBox{}, false
	}
	return j.props[i-1], true
}

// auxType returns the auxC type of an item, if any.
func (j *heifJob) auxType(id uint32) string {
	for _, a := range j.assoc[id] {
		if p, ok := j.prop(a.index); ok && p.Type == "auxC" {
			d := j.payload(p, 4)
			if i := bytes.IndexByte(d, 0); i >= 0 {
				d = d[:i]
			}
			return string(d)
		}
	}
	return ""
}

func isAlpha(aux string) bool {
	return strings.HasSuffix(aux, ":alpha") || aux == "urn:mpeg:hevc:2015:auxid:1"
}

// decide marks the items needed to show the primary image as kept and
// reports the others.
func (j *heifJob) decide() {
	from := map[uint32][]int{}
	for i, r := range j.refs {
		from[r.from] = append(from[r.from], i)
	}
	var keep func(id uint32)
	keep = func(id uint32) {
		it := j.items[id]
		if it == nil || it.kept {
			return
		}
		it.kept = true
		for _, i := range from[id] {
			if r := j.refs[i]; r.typ == "dimg" || r.typ == "base" {
				for _, to := range r.to {
					keep(to)
				}
			}
		}
	}
	keep(j.primary)
	// Alpha planes of kept images.
	for changed := true; changed; {
		changed = false
		for _, r := range j.refs {
			if r.typ != "auxl" || j.items[r.from] == nil || j.items[r.from].kept || !isAlpha(j.auxType(r.from)) {
				continue
			}
			for _, to := range r.to {
				if j.items[to] != nil && j.items[to].kept {
					keep(r.from)
					changed = true
					break
				}
			}
		}
	}
	var keptSpans []span
	for _, it := range j.items {
		if it.kept {
			keptSpans = append(keptSpans, it.extents...)
		}
	}
	keptSpans = mergeSpans(keptSpans)
	thumbs := map[uint32]bool{}
	for _, r := range j.refs {
		if r.typ == "thmb" {
			thumbs[r.from] = true
		}
	}
	for _, id := range j.order {
		it := j.items[id]
		if it.kept {
			continue
		}
		switch {
		case it.typ == "Exif":
			j.reportExif(it)
		case it.typ == "mime" && strings.Contains(it.contentType, "rdf+xml"):
			j.rep.add(CatOther, "XMP")
		case it.typ == "mime" || it.typ == "uri ":
			j.rep.add(CatOther, "Metadata item (%s)", printable([]byte(it.contentType)))
		case thumbs[id]:
			j.rep.add(CatThumbnail, "Thumbnail")
		case j.auxType(id) != "":
			aux := j.auxType(id)
			switch {
			case strings.Contains(aux, "depth"):
				j.rep.add(CatEmbedded, "Depth map")
			case strings.Contains(aux, "gainmap"):
				j.rep.add(CatEmbedded, "HDR gain map")
			default:
				j.rep.add(CatEmbedded, "Auxiliary image (%s)", printable([]byte(aux)))
			}
		default:
			j.rep.add(CatEmbedded, "Secondary image or item (%s)", printable([]byte(it.typ)))
		}
		// Zero its data unless a kept item shares it.
		for _, s := range it.extents {
			if !overlaps(keptSpans, s) {
				j.zero = append(j.zero, s)
			}
		}
	}
}

// overlaps reports whether s overlaps any of the sorted, merged spans.
func overlaps(sorted []span, s span) bool {
	i := sort.Search(len(sorted), func(i int) bool { return sorted[i].end > s.start })
	return i < len(sorted) && sorted[i].start < s.end
}

// reportExif lists what an Exif item holds, through the shared Exif
// reader.
func (j *heifJob) reportExif(it *heifItem) {
	j.rep.add(CatOther, "Exif")
	var data []byte
	// Read only small items: the payload is in the file, reached through
	// the extents recorded by iloc.
	total := int64(0)
	for _, s := range it.extents {
		total += s.end - s.start
	}
	if total <= 0 || total > maxMetadataBlock || j.src == nil {
		return
	}
	for _, s := range it.extents {
		d := make([]byte, s.end-s.start)
		if _, err := j.src.ReadAt(d, s.start); err != nil && err != io.EOF {
			return
		}
		data = append(data, d...)
	}
	if len(data) < 4 {
		return
	}
	off := int(binary.BigEndian.Uint32(data))
	if off < 0 || 4+off > len(data) {
		return
	}
	tiff := data[4+off:]
	tiff = bytes.TrimPrefix(tiff, []byte("Exif\x00\x00"))
	_, _ = exifItems(&j.rep, tiff)
}

// iloc parses the item locations (collect) or returns the box rebuilt
// without the entries of removed items.
func (j *heifJob) iloc(b bmffBox, collect bool) ([]byte, error) {
	d := j.payload(b, 0)
	if len(d) < 6 {
		return nil, malformed(j.t, "iloc too short")
	}
	v := d[0]
	if v > 2 {
		return nil, malformed(j.t, "iloc version %d", v)
	}
	offSize, lenSize := int(d[4]>>4), int(d[4]&15)
	baseSize, idxSize := int(d[5]>>4), int(d[5]&15)
	if v == 0 {
		idxSize = 0
	}
	for _, s := range []int{offSize, lenSize, baseSize, idxSize} {
		if s != 0 && s != 4 && s != 8 {
			return nil, malformed(j.t, "iloc field size %d", s)
		}
	}
	p := 6
	var count int
	if v < 2 {
		if len(d) < p+2 {
			return nil, malformed(j.t, "iloc truncated")
		}
		count, p = int(binary.BigEndian.Uint16(d[p:])), p+2
	} else {
		if len(d) < p+4 {
			return nil, malformed(j.t, "iloc truncated")
		}
		count, p = int(binary.BigEndian.Uint32(d[p:])), p+4
	}
	if count > maxHEIFItems {
		return nil, tooLarge(j.t, "%d item locations", count)
	}
	head := p
	field := func(n int) (uint64, error) {
		if len(d) < p+n {
			return 0, malformed(j.t, "iloc truncated")
		}
		var x uint64
		switch n {
		case 2:
			x = uint64(binary.BigEndian.Uint16(d[p:]))
		case 4:
			x = uint64(binary.BigEndian.Uint32(d[p:]))
		case 8:
			x = binary.BigEndian.Uint64(d[p:])
		}
		p += n
		return x, nil
	}
	var kept [][]byte
	keptCount, extents := 0, 0
	for e := 0; e < count; e++ {
		start := p
		idw := 2
		if v == 2 {
			idw = 4
		}
		id64, err := field(idw)
		if err != nil {
			return nil, err
		}
		id := uint32(id64)
		method := uint64(0)
		if v >= 1 {
			if method, err = field(2); err != nil {
				return nil, err
			}
			method &= 15
		}
		if _, err := field(2); err != nil { // data_reference_index
			return nil, err
		}
		base, err := field(baseSize)
		if err != nil {
			return nil, err
		}
		n, err := field(2)
		if err != nil {
			return nil, err
		}
		if extents += int(n); extents > maxHEIFExtents {
			return nil, tooLarge(j.t, "more than %d item extents", maxHEIFExtents)
		}
		it := j.items[id]
		for x := 0; x < int(n); x++ {
			if _, err := field(idxSize); err != nil {
				return nil, err
			}
			off, err := field(offSize)
			if err != nil {
				return nil, err
			}
			ln, err := field(lenSize)
			if err != nil {
				return nil, err
			}
			if collect && it != nil && ln > 0 && base+off < 1<<62 && ln < 1<<62 {
				s := span{int64(base + off), int64(base + off + ln)}
				switch method {
				case 0:
					it.extents = append(it.extents, s)
				case 1:
					it.idatExtents = append(it.idatExtents, s)
				}
			}
		}
		if it == nil || it.kept {
			// Entries of items without an infe stay; only listed items
			// that were removed lose theirs.
			kept = append(kept, d[start:p])
			keptCount++
		}
	}
	if collect {
		return nil, nil
	}
	out := bytes.Clone(d[:head])
	if v < 2 {
		binary.BigEndian.PutUint16(out[head-2:], uint16(keptCount))
	} else {
		binary.BigEndian.PutUint32(out[head-4:], uint32(keptCount))
	}
	return makeBox("iloc", out, bytes.Join(kept, nil), d[p:]), nil
}

func (j *heifJob) newIinf(b bmffBox) []byte {
	p := j.payload(b, 0)
	skip := 6
	if p[0] != 0 {
		skip = 8
	}
	head := bytes.Clone(p[:skip])
	infes, _ := bmffChildren(j.rd(), b, int64(skip), j.t)
	var body [][]byte
	n := 0
	for _, e := range infes {
		if e.Type != "infe" {
			continue
		}
		d := j.payload(e, 0)
		var id uint32
		if d[0] == 2 {
			id = uint32(binary.BigEndian.Uint16(d[4:]))
		} else {
			id = binary.BigEndian.Uint32(d[4:])
		}
		if j.items[id].kept {
			body = append(body, j.buf[e.Off-j.base:e.End()-j.base])
			n++
		}
	}
	if skip == 6 {
		binary.BigEndian.PutUint16(head[4:], uint16(n))
	} else {
		binary.BigEndian.PutUint32(head[4:], uint32(n))
	}
	return makeBox("iinf", head, bytes.Join(body, nil))
}

func (j *heifJob) removed(id uint32) bool {
	it := j.items[id]
	return it != nil && !it.kept
}

func (j *heifJob) newIref(b bmffBox) []byte {
	head := bytes.Clone(j.payload(b, 0)[:4])
	var body [][]byte
	put := func(x uint32) []byte {
		if j.refIDv1 {
			return binary.BigEndian.AppendUint32(nil, x)
		}
		return binary.BigEndian.AppendUint16(nil, uint16(x))
	}
	for _, r := range j.refs {
		if j.removed(r.from) {
			continue
		}
		var to [][]byte
		for _, x := range r.to {
			if !j.removed(x) {
				to = append(to, put(x))
			}
		}
		if len(to) == 0 {
			continue
		}
		body = append(body, makeBox(r.typ, put(r.from), binary.BigEndian.AppendUint16(nil, uint16(len(to))), bytes.Join(to, nil)))
	}
	if len(body) == 0 {
		return nil
	}
	return makeBox("iref", head, bytes.Join(body, nil))
}

// cleanProps frees, in place, the properties no kept item may use.
func (j *heifJob) cleanProps() {
	use := map[int]bool{}
	ids := make([]uint32, 0, len(j.assoc))
	for id := range j.assoc {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	for _, id := range ids {
		if it := j.items[id]; it == nil || !it.kept {
			continue
		}
		for _, a := range j.assoc[id] {
			p, ok := j.prop(a.index)
			if !ok || p.Type == "free" {
				continue
			}
			if j.propAllowed(p) {
				use[a.index] = true
			}
		}
	}
	for i, p := range j.props {
		if use[i+1] || p.Type == "free" || p.Type == "skip" {
			continue
		}
		if p.Type == "udes" {
			j.rep.add(CatComment, "Image description")
		}
		bmffFreeInPlace(j.buf, p, j.base)
	}
}

// propAllowed reports whether a property stays, noting what it keeps or
// why it goes.
func (j *heifJob) propAllowed(p bmffBox) bool {
	if !heifPropKeep[p.Type] {
		if p.Type != "udes" {
			j.rep.add(CatOther, "Image property %q", printable([]byte(p.Type)))
		}
		return false
	}
	d := j.payload(p, 0)
	switch p.Type {
	case "colr":
		if len(d) < 4 {
			return false
		}
		switch string(d[:4]) {
		case "nclx", "nclc":
			return true
		case "prof", "rICC":
			if name, ok := iccStandard(d[4:]); ok {
				j.rep.keep(CatProfile, "Colour profile: %s", name)
				return true
			}
			iccDescribe(&j.rep, d[4:]) // says what the profile was
			return false
		}
		return false
	case "irot":
		if len(d) >= 1 && d[0]&3 != 0 {
			j.rep.keep(CatOther, "Orientation: rotated %d°", int(d[0]&3)*90)
		}
	case "imir":
		j.rep.keep(CatOther, "Orientation: mirrored")
	}
	return true
}

func (j *heifJob) newIprp(b bmffBox) []byte {
	kids, _ := bmffChildren(j.rd(), b, 0, j.t)
	var body [][]byte
	for _, k := range kids {
		switch k.Type {
		case "ipco":
			body = append(body, j.buf[k.Off-j.base:k.End()-j.base])
		case "ipma":
			body = append(body, j.newIpma(k))
		}
	}
	return makeBox("iprp", body...)
}

// newIpma drops the entries of removed items; associations with freed
// properties stay (indices must not move) but lose their essential flag.
func (j *heifJob) newIpma(b bmffBox) []byte {
	d := j.payload(b, 0)
	v, flags := d[0], d[3]
	n := int(binary.BigEndian.Uint32(d[4:]))
	out := bytes.Clone(d[:8])
	p := 8
	kept := 0
	for e := 0; e < n; e++ {
		start := p
		var id uint32
		if v < 1 {
			id, p = uint32(binary.BigEndian.Uint16(d[p:])), p+2
		} else {
			id, p = binary.BigEndian.Uint32(d[p:]), p+4
		}
		cnt := int(d[p])
		p++
		w := 1
		if flags&1 != 0 {
			w = 2
		}
		entry := bytes.Clone(d[start : p+cnt*w])
		for a := 0; a < cnt; a++ {
			at := p + a*w - start
			var idx int
			if w == 2 {
				idx = int(binary.BigEndian.Uint16(entry[at:]) & 0x7fff)
			} else {
				idx = int(entry[at] & 0x7f)
			}
			if pb, ok := j.prop(idx); !ok || pb.Type == "free" || isFreed(j.buf, pb, j.base) {
				entry[at] &= 0x7f
			}
		}
		p += cnt * w
		if j.removed(id) {
			continue
		}
		out = append(out, entry...)
		kept++
	}
	binary.BigEndian.PutUint32(out[4:], uint32(kept))
	return makeBox("ipma", out)
}

// isFreed reports whether the box b has been turned into a free box in buf.
func isFreed(buf []byte, b bmffBox, base int64) bool {
	return string(buf[b.Off-base+4:b.Off-base+8]) == "free"
}
