package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"sort"
)

// JPEG is sanitized losslessly, segment by segment: the frame and scan
// headers, tables (DQT, DHT, DAC, DRI, DNL) and the entropy-coded scan
// data are copied unchanged; every APPn and COM segment is dropped except
//
//   - a JFIF APP0, rewritten with its density and without its thumbnail:
//     decoders (Go's among them) tell YCbCr from RGB by its presence, so
//     dropping it could change the colours of some files;
//   - an Adobe APP14, cut to its 12 defined bytes: it says whether a CMYK
//     or RGB file is colour-transformed;
//   - an ICC profile (APP2 ICC_PROFILE, possibly in several segments)
//     that iccStandard recognises, re-chunked;
//   - the Exif orientation, as a new APP1 holding only that tag.
//
// The output starts SOI, JFIF, Exif, ICC, then the kept segments in their
// original order, and ends at EOI: trailers (MPF secondary images,
// motion-photo videos) are dropped. Fill bytes between segments are
// dropped. Running it on its own output gives the same bytes.

func init() {
	register(JPEG, format{
		inspect: func(r io.ReaderAt, size int64) (Report, error) {
			return jpegProcess(r, size, nil)
		},
		sanitize: jpegProcess,
	})
}

// JPEG markers used by name.
const (
	mSOF0  = 0xc0
	mDHT   = 0xc4
	mJPG   = 0xc8
	mDAC   = 0xcc
	mRST0  = 0xd0
	mRST7  = 0xd7
	mSOI   = 0xd8
	mEOI   = 0xd9
	mSOS   = 0xda
	mDQT   = 0xdb
	mDNL   = 0xdc
	mDRI   = 0xdd
	mAPP0  = 0xe0
	mAPP1  = 0xe1
	mAPP2  = 0xe2
	mAPP11 = 0xeb
	mAPP13 = 0xed
	mAPP14 = 0xee
	mSOF55 = 0xf7 // JPEG-LS frame
	mLSE   = 0xf8 // JPEG-LS parameters
	mCOM   = 0xfe
	mTEM   = 0x01
)

const iccChunkMax = 65519 // 65533 payload bytes less the 14-byte ICC header

// isSOF reports whether m starts a frame (any coding process).
func isSOF(m byte) bool {
	return m >= mSOF0 && m <= 0xcf && m != mDHT && m != mJPG && m != mDAC || m == mSOF55
}

// jpegState is one pass over a JPEG file.
type jpegState struct {
	rep         Report
	fr          *fileReader
	w           *bufio.Writer // nil when inspecting
	header      [][]byte      // kept segments before the first scan, with marker and length
	headerBytes int
	jfif        []byte
	exifSeen    bool
	orientation int
	icc         map[int][]byte // ICC_PROFILE chunks by sequence number
	iccCount    int
	iccBytes    int
	iccBad      bool
	frame       bool // a SOF was seen
	scanning    bool // the header has been written, scans have begun
}

// jpegProcess inspects (dst nil) or sanitizes a JPEG file.
func jpegProcess(src io.ReaderAt, size int64, dst io.Writer) (Report, error) {
	s := &jpegState{fr: newFileReader(JPEG, src, size), icc: map[int][]byte{}}
	if dst != nil {
		s.w = bufio.NewWriterSize(dst, readBuffer)
	}
	if err := s.run(); err != nil {
		return s.rep, err
	}
	if s.w != nil {
		if err := s.w.Flush(); err != nil {
			return s.rep, err
		}
	}
	return s.rep, nil
}

func (s *jpegState) run() error {
	soi, err := s.fr.full(2)
	if err != nil {
		return err
	}
	if soi[0] != 0xff || soi[1] != mSOI {
		return malformed(JPEG, "no start-of-image marker")
	}
	for n := 0; ; n++ {
		if n > maxChunks {
			return tooLarge(JPEG, "more than %d segments", maxChunks)
		}
		m, err := s.nextMarker()
		if err != nil {
			return err
		}
		switch {
		case m == mEOI:
			if !s.scanning {
				return malformed(JPEG, "end of image before any scan")
			}
			s.write([]byte{0xff, mEOI})
			s.trailer()
			return nil
		case m == mSOI:
			return malformed(JPEG, "second start-of-image marker at byte %d", s.fr.off-2)
		case m >= mRST0 && m <= mRST7, m == mTEM:
			continue // stray standalone markers outside a scan carry nothing
		}
		lb, err := s.fr.full(2)
		if err != nil {
			return err
		}
		l := int(binary.BigEndian.Uint16(lb))
		if l < 2 {
			return malformed(JPEG, "segment 0x%02x with length %d at byte %d", m, l, s.fr.off-4)
		}
		payload, err := s.fr.full(l - 2)
		if err != nil {
			return err
		}
		if err := s.segment(m, payload); err != nil {
			return err
		}
	}
}

// nextMarker skips to the next marker and returns its code. Bytes that are
// not a marker, and fill bytes, are skipped as libjpeg and Go do.
func (s *jpegState) nextMarker() (byte, error) {
	for {
		b, err := s.fr.byte()
		if err != nil {
			if s.scanning {
				return 0, malformed(JPEG, "truncated: no end-of-image marker")
			}
			return 0, err
		}
		if b != 0xff {
			continue
		}
		for b == 0xff {
			if b, err = s.fr.byte(); err != nil {
				return 0, err
			}
		}
		if b != 0 {
			return b, nil
		}
	}
}

func (s *jpegState) write(b []byte) {
	if s.w != nil {
		s.w.Write(b) // errors surface at Flush
	}
}

// keep emits a segment: buffered before the first scan, written after.
func (s *jpegState) keep(m byte, payload []byte) error {
	seg := make([]byte, 4+len(payload))
	seg[0], seg[1] = 0xff, m
	binary.BigEndian.PutUint16(seg[2:], uint16(2+len(payload)))
	copy(seg[4:], payload)
	if s.scanning {
		s.write(seg)
		return nil
	}
	s.headerBytes += len(seg)
	if s.headerBytes > maxKeptHeader {
		return tooLarge(JPEG, "more than %d bytes of tables before the first scan", maxKeptHeader)
	}
	s.header = append(s.header, seg)
	return nil
}

func (s *jpegState) segment(m byte, p []byte) error {
	switch {
	case isSOF(m):
		if len(p) < 6 {
			return malformed(JPEG, "frame header of %d bytes", len(p))
		}
		h, w := int64(binary.BigEndian.Uint16(p[1:])), int64(binary.BigEndian.Uint16(p[3:]))
		if err := checkPixels(JPEG, w, h); err != nil {
			return err
		}
		s.frame = true
		return s.keep(m, p)
	case m == mDHT, m == mDQT, m == mDRI, m == mDAC, m == mDNL, m == mLSE:
		return s.keep(m, p)
	case m == mSOS:
		if !s.frame {
			return malformed(JPEG, "scan before frame header")
		}
		if len(p) < 1 || len(p) != 4+2*int(p[0]) {
			return malformed(JPEG, "scan header of %d bytes", len(p))
		}
		if !s.scanning {
			s.writeHeader()
		}
		if err := s.keep(m, p); err != nil {
			return err
		}
		return s.scan()
	case m == mAPP0:
		return s.app0(p)
	case m == mAPP1:
		s.app1(p)
	case m == mAPP2:
		s.app2(p)
	case m == mAPP11:
		s.rep.add(CatOther, "JUMBF data, e.g. content credentials (APP11)")
	case m == mAPP13:
		s.rep.add(CatOther, "IPTC/Photoshop metadata")
		iptcItems(&s.rep, p)
	case m == mAPP14:
		if len(p) >= 12 && string(p[:5]) == "Adobe" {
			return s.keep(m, p[:12])
		}
		s.rep.add(CatOther, "APP14 block")
	case m == mCOM:
		if c := textLabel(p); c != "" {
			s.rep.add(CatComment, "Comment: %s", c)
		} else {
			s.rep.add(CatComment, "Comment")
		}
	case m > mAPP0 && m <= 0xef:
		s.rep.add(CatOther, "APP%d block", m-mAPP0)
	default:
		s.rep.add(CatOther, "Unknown segment 0x%02x", m)
	}
	return nil
}

func (s *jpegState) app0(p []byte) error {
	switch {
	case bytes.HasPrefix(p, []byte("JFIF\x00")):
		if len(p) >= 14 && int(p[12])*int(p[13]) > 0 {
			s.rep.add(CatThumbnail, "Thumbnail (JFIF)")
		}
		if s.jfif == nil {
			units, xd, yd := byte(0), []byte{0, 1}, []byte{0, 1}
			if len(p) >= 12 {
				units, xd, yd = p[7], p[8:10], p[10:12]
			}
			s.jfif = append([]byte("JFIF\x00\x01\x01"), units, xd[0], xd[1], yd[0], yd[1], 0, 0)
			if s.scanning {
				// Rare, but decoders note JFIF wherever it is: keep it
				// in place rather than change how colours are read.
				return s.keep(mAPP0, s.jfif)
			}
		}
	case bytes.HasPrefix(p, []byte("JFXX\x00")):
		s.rep.add(CatThumbnail, "Thumbnail (JFXX)")
	default:
		s.rep.add(CatOther, "APP0 block")
	}
	return nil
}

func (s *jpegState) app1(p []byte) {
	switch {
	case len(p) >= 6 && string(p[:4]) == "Exif" && p[4] == 0:
		if s.exifSeen || s.scanning {
			s.rep.add(CatOther, "Exif metadata")
			exifItems(&s.rep, p[6:])
			return
		}
		s.exifSeen = true
		o, _ := exifItems(&s.rep, p[6:])
		s.orientation = o
	case bytes.HasPrefix(p, []byte("http://ns.adobe.com/xap/1.0/\x00")),
		bytes.HasPrefix(p, []byte("http://ns.adobe.com/xmp/extension/\x00")):
		xmpItems(&s.rep, p)
	default:
		s.rep.add(CatOther, "APP1 block")
	}
}

func (s *jpegState) app2(p []byte) {
	switch {
	case bytes.HasPrefix(p, []byte("ICC_PROFILE\x00")) && len(p) >= 14:
		seq, n := int(p[12]), int(p[13])
		if s.scanning || s.iccBad {
			s.rep.add(CatProfile, "Colour profile after the image data")
			return
		}
		if seq == 0 || seq > n || (s.iccCount != 0 && n != s.iccCount) || s.icc[seq] != nil {
			s.iccBad = true
			s.rep.add(CatProfile, "Colour profile (malformed)")
			return
		}
		s.iccCount = n
		s.iccBytes += len(p) - 14
		if s.iccBytes > maxMetadataBlock {
			s.iccBad = true
			s.rep.add(CatProfile, "Colour profile (too large)")
			return
		}
		s.icc[seq] = p[14:]
	case bytes.HasPrefix(p, []byte("MPF\x00")):
		s.rep.add(CatEmbedded, "Secondary images (MPF)")
	case bytes.HasPrefix(p, []byte("FPXR\x00")):
		s.rep.add(CatOther, "FlashPix data")
	default:
		s.rep.add(CatOther, "APP2 block")
	}
}

// writeHeader writes SOI, the rebuilt JFIF, Exif and ICC segments, and
// the segments kept so far, before the first scan.
func (s *jpegState) writeHeader() {
	s.scanning = true
	s.write([]byte{0xff, mSOI})
	seg := func(m byte, p []byte) {
		s.write([]byte{0xff, m, byte((len(p) + 2) >> 8), byte(len(p) + 2)})
		s.write(p)
	}
	if s.jfif != nil {
		seg(mAPP0, s.jfif)
	}
	if t := minimalExif(s.orientation); t != nil {
		seg(mAPP1, append([]byte("Exif\x00\x00"), t...))
		s.rep.keep(CatOther, "Orientation: %s", orientationLabel(s.orientation))
	}
	if profile := s.iccProfile(); profile != nil {
		if name, ok := iccStandard(profile); ok {
			s.rep.keep(CatProfile, "Colour profile: %s", name)
			n := (len(profile) + iccChunkMax - 1) / iccChunkMax
			for i := 0; i < n; i++ {
				chunk := profile[i*iccChunkMax : min(len(profile), (i+1)*iccChunkMax)]
				p := append([]byte("ICC_PROFILE\x00"), byte(i+1), byte(n))
				seg(mAPP2, append(p, chunk...))
			}
		} else {
			iccDescribe(&s.rep, profile)
		}
	}
	for _, h := range s.header {
		s.write(h)
	}
	s.header = nil
}

// iccProfile assembles the ICC chunks, or returns nil (reporting why)
// when there are none or they do not make a whole profile.
func (s *jpegState) iccProfile() []byte {
	if len(s.icc) == 0 {
		return nil
	}
	if s.iccBad || len(s.icc) != s.iccCount {
		s.rep.add(CatProfile, "Colour profile (incomplete)")
		return nil
	}
	seqs := make([]int, 0, len(s.icc))
	for k := range s.icc {
		seqs = append(seqs, k)
	}
	sort.Ints(seqs)
	var p []byte
	for _, k := range seqs {
		p = append(p, s.icc[k]...)
	}
	return p
}

// scan copies entropy-coded data up to the next marker that is not a
// restart marker or a stuffed zero, leaving that marker unread.
func (s *jpegState) scan() error {
	for {
		buf, err := s.fr.peek()
		if err != nil {
			return malformed(JPEG, "truncated scan data: no end-of-image marker")
		}
		i := bytes.IndexByte(buf, 0xff)
		if i < 0 {
			s.write(buf)
			s.fr.discard(len(buf))
			continue
		}
		s.write(buf[:i])
		s.fr.discard(i)
		two, err := s.fr.br.Peek(2)
		if err != nil {
			return malformed(JPEG, "truncated scan data: no end-of-image marker")
		}
		switch b := two[1]; {
		case b == 0 || b >= mRST0 && b <= mRST7:
			s.write(two)
			s.fr.discard(2)
		case b == 0xff:
			s.fr.discard(1) // fill byte
		default:
			return nil
		}
	}
}

// trailer reports what follows EOI.
func (s *jpegState) trailer() {
	n := s.fr.left()
	if n <= 0 {
		return
	}
	head, _ := s.fr.br.Peek(int(min(n, 256)))
	switch {
	case bytes.Contains(head, []byte("ftyp")):
		s.rep.add(CatEmbedded, "Embedded video after the image (%s)", byteSize(n))
	case bytes.HasPrefix(head, []byte{0xff, mSOI, 0xff}):
		s.rep.add(CatEmbedded, "Embedded image after the image (%s)", byteSize(n))
	default:
		s.rep.add(CatEmbedded, "Data after the end of the image (%s)", byteSize(n))
	}
}
