package media

import (
	"encoding/binary"
	"io"
)

// ISO base media file format (ISO/IEC 14496-12) boxes, shared by the
// MP4/MOV and HEIF/AVIF sanitizers. A box is a 32-bit size and a
// four-character type, with a 64-bit size when the 32-bit one is 1 and
// "to the end of the enclosing space" when it is 0; a uuid box has a
// 16-byte extended type after its header.

// bmffBox locates one box.
type bmffBox struct {
	Type string
	Off  int64 // offset of the box's first byte
	Hdr  int64 // header length, extended type included
	Size int64 // total length, header included
	// Large: the header used the 64-bit size form.
	Large bool
}

// End is the offset just past the box.
func (b bmffBox) End() int64 { return b.Off + b.Size }

// Data is the offset of the box's payload.
func (b bmffBox) Data() int64 { return b.Off + b.Hdr }

// maxBoxesPerLevel bounds the boxes listed inside one container.
const maxBoxesPerLevel = 100000

// bmffRead reads the header of the box at off, which must end by end.
func bmffRead(r io.ReaderAt, off, end int64, t Type) (bmffBox, error) {
	var h [16]byte
	if end-off < 8 {
		return bmffBox{}, malformed(t, "truncated box header at %d", off)
	}
	if _, err := r.ReadAt(h[:8], off); err != nil {
		return bmffBox{}, malformed(t, "box header at %d: %v", off, err)
	}
	b := bmffBox{Type: string(h[4:8]), Off: off, Hdr: 8, Size: int64(binary.BigEndian.Uint32(h[:4]))}
	switch b.Size {
	case 0:
		b.Size = end - off
	case 1:
		if end-off < 16 {
			return bmffBox{}, malformed(t, "truncated box header at %d", off)
		}
		if _, err := r.ReadAt(h[8:16], off+8); err != nil {
			return bmffBox{}, malformed(t, "box header at %d: %v", off, err)
		}
		large := binary.BigEndian.Uint64(h[8:16])
		if large > 1<<62 {
			return bmffBox{}, malformed(t, "box %q at %d: size %d", b.Type, off, large)
		}
		b.Size, b.Hdr, b.Large = int64(large), 16, true
	}
	if b.Type == "uuid" {
		b.Hdr += 16
	}
	if b.Size < b.Hdr || b.Size > end-off {
		return bmffBox{}, malformed(t, "box %q at %d: size %d does not fit in %d bytes", b.Type, off, b.Size, end-off)
	}
	return b, nil
}

// bmffList lists the boxes that fill [off, end).
func bmffList(r io.ReaderAt, off, end int64, t Type) ([]bmffBox, error) {
	var out []bmffBox
	for off < end {
		if len(out) >= maxBoxesPerLevel {
			return nil, tooLarge(t, "more than %d boxes in one container", maxBoxesPerLevel)
		}
		b, err := bmffRead(r, off, end, t)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		off = b.End()
	}
	return out, nil
}

// bmffChildren lists the boxes inside a container box; skip is the
// number of payload bytes before the first child (4 for full boxes, 8 for
// stsd and dref).
func bmffChildren(r io.ReaderAt, b bmffBox, skip int64, t Type) ([]bmffBox, error) {
	if b.Hdr+skip > b.Size {
		return nil, malformed(t, "box %q too short", b.Type)
	}
	return bmffList(r, b.Data()+skip, b.End(), t)
}

// bmffFind returns the first child of type typ.
func bmffFind(boxes []bmffBox, typ string) (bmffBox, bool) {
	for _, b := range boxes {
		if b.Type == typ {
			return b, true
		}
	}
	return bmffBox{}, false
}

// bmffFreeHeader returns the header of a free box of b's size, in b's
// header form (so a box written with a 64-bit size keeps it); the rest of
// b's length is padding.
func bmffFreeHeader(b bmffBox) []byte {
	if b.Large || b.Size > 0xFFFFFFFF {
		h := make([]byte, 16)
		binary.BigEndian.PutUint32(h, 1)
		copy(h[4:], "free")
		binary.BigEndian.PutUint64(h[8:], uint64(b.Size))
		return h
	}
	h := make([]byte, 8)
	binary.BigEndian.PutUint32(h, uint32(b.Size))
	copy(h[4:], "free")
	return h
}

// bmffFreeInPlace turns the box at buf[off:off+size] (a box b whose
// bytes are held in buf, at b.Off-base) into a zero-filled free box.
func bmffFreeInPlace(buf []byte, b bmffBox, base int64) {
	s := buf[b.Off-base : b.End()-base]
	clear(s)
	copy(s, bmffFreeHeader(b))
}

// zeroReader reads zeros.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// bmffWriteFree writes a zero-filled free box of b's size.
func bmffWriteFree(w io.Writer, b bmffBox) error {
	h := bmffFreeHeader(b)
	if _, err := w.Write(h); err != nil {
		return err
	}
	_, err := io.CopyN(w, zeroReader{}, b.Size-int64(len(h)))
	return err
}

// be32 and be64 read big-endian integers from a slice, returning 0 if it
// is too short (callers check lengths where it matters).
func be32(b []byte, off int) uint32 {
	if off < 0 || off+4 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint32(b[off:])
}

func be64(b []byte, off int) uint64 {
	if off < 0 || off+8 > len(b) {
		return 0
	}
	return binary.BigEndian.Uint64(b[off:])
}
