package media

import (
	"bufio"
	"encoding/binary"
	"io"
)

// WebP is a RIFF file of chunks. The sanitizer keeps the image chunks
// (VP8, VP8L, ALPH), the extended header (VP8X, its flags recomputed),
// the animation chunks (ANIM, and ANMF with only image chunks inside)
// and an ICCP profile that iccStandard recognises. EXIF, XMP and unknown
// chunks are dropped, except that an orientation other than 1 is kept as
// an EXIF chunk holding only that tag; bytes after the RIFF are dropped.
// The RIFF size is rewritten. Chunk data is streamed, never held whole.
//
// VP8 and VP8L store 14-bit dimensions, so they cannot exceed MaxPixels;
// the VP8X canvas and ANMF frames (24-bit) are checked.

func init() {
	register(WebP, format{
		inspect: func(r io.ReaderAt, size int64) (Report, error) {
			return webpProcess(r, size, nil)
		},
		sanitize: webpProcess,
	})
}

// VP8X flags.
const (
	vp8xAnimation = 0x02
	vp8xXMP       = 0x04
	vp8xEXIF      = 0x08
	vp8xAlpha     = 0x10
	vp8xICC       = 0x20
)

// webpChunk is one chunk to write: copied from the input at off (size
// bytes), or from data when data is set; an ANMF has its kept children.
type webpChunk struct {
	fourcc   string
	off      int64
	size     int64
	data     []byte
	children []webpChunk
}

// outSize is the chunk's size field in the output.
func (c webpChunk) outSize() int64 {
	if c.fourcc != "ANMF" {
		return c.size
	}
	n := int64(16)
	for _, k := range c.children {
		n += 8 + k.outSize() + k.outSize()&1
	}
	return n
}

func webpProcess(src io.ReaderAt, size int64, dst io.Writer) (Report, error) {
	var rep Report
	head := make([]byte, 12)
	if _, err := src.ReadAt(head, 0); err != nil || size < 12 {
		return rep, malformed(WebP, "truncated header")
	}
	riffEnd := 8 + int64(binary.LittleEndian.Uint32(head[4:]))
	if riffEnd > size {
		return rep, malformed(WebP, "truncated: RIFF declares %d bytes, file has %d", riffEnd, size)
	}
	chunks, err := webpChunks(src, 12, riffEnd)
	if err != nil {
		return rep, err
	}
	if len(chunks) == 0 {
		return rep, malformed(WebP, "no chunks")
	}
	var out []webpChunk
	var vp8x []byte
	var iccName string
	orientation, images := 0, 0
	extended := chunks[0].fourcc == "VP8X"
	for i, c := range chunks {
		switch c.fourcc {
		case "VP8X":
			if i != 0 || c.size < 10 {
				return rep, malformed(WebP, "misplaced or short VP8X chunk")
			}
			vp8x, err = readSection(src, c.off, 10)
			if err != nil {
				return rep, err
			}
			w := 1 + int64(vp8x[4]) | int64(vp8x[5])<<8 | int64(vp8x[6])<<16
			h := 1 + int64(vp8x[7]) | int64(vp8x[8])<<8 | int64(vp8x[9])<<16
			if err := checkPixels(WebP, w, h); err != nil {
				return rep, err
			}
			out = append(out, webpChunk{fourcc: "VP8X", size: 10, data: vp8x})
		case "VP8 ", "VP8L", "ALPH", "ANIM":
			if !extended && (images > 0 || c.fourcc == "ALPH" || c.fourcc == "ANIM") {
				rep.add(CatOther, "WebP chunk %q", c.fourcc)
				continue
			}
			if c.fourcc != "ALPH" && c.fourcc != "ANIM" {
				images++
			}
			out = append(out, c)
		case "ANMF":
			if !extended {
				rep.add(CatOther, "WebP chunk %q", c.fourcc)
				continue
			}
			kept, err := webpFrame(&rep, src, c)
			if err != nil {
				return rep, err
			}
			images++
			out = append(out, kept)
		case "ICCP":
			if c.size > maxMetadataBlock {
				rep.add(CatProfile, "Colour profile (too large)")
				continue
			}
			p, err := readSection(src, c.off, c.size)
			if err != nil {
				return rep, err
			}
			if name, ok := iccStandard(p); ok && extended && iccName == "" {
				iccName = name
				out = append(out, c)
				rep.keep(CatProfile, "Colour profile: %s", name)
			} else {
				iccDescribe(&rep, p)
			}
		case "EXIF", "XMP ":
			if c.size > maxMetadataBlock {
				rep.add(CatOther, "%s metadata", c.fourcc)
				continue
			}
			b, err := readSection(src, c.off, c.size)
			if err != nil {
				return rep, err
			}
			if c.fourcc == "XMP " {
				xmpItems(&rep, b)
				continue
			}
			if len(b) >= 6 && string(b[:6]) == "Exif\x00\x00" { // some writers keep the JPEG header
				b = b[6:]
			}
			if o, _ := exifItems(&rep, b); o != 0 && orientation == 0 {
				orientation = o
			}
		default:
			rep.add(CatOther, "WebP chunk %q", c.fourcc)
		}
	}
	if images == 0 {
		return rep, malformed(WebP, "no image data")
	}
	if t := minimalExif(orientation); t != nil && extended {
		out = append(out, webpChunk{fourcc: "EXIF", size: int64(len(t)), data: t})
		rep.keep(CatOther, "Orientation: %s", orientationLabel(orientation))
	}
	if vp8x != nil {
		flags := vp8x[0] & (vp8xAlpha | vp8xAnimation)
		if iccName != "" {
			flags |= vp8xICC
		}
		if extended && minimalExif(orientation) != nil {
			flags |= vp8xEXIF
		}
		out[0].data = []byte{flags, 0, 0, 0, vp8x[4], vp8x[5], vp8x[6], vp8x[7], vp8x[8], vp8x[9]}
	}
	if left := size - riffEnd; left > 0 {
		rep.add(CatEmbedded, "Data after the end of the image (%s)", byteSize(left))
	}
	if dst == nil {
		return rep, nil
	}
	total := int64(4)
	for _, c := range out {
		total += 8 + c.outSize() + c.outSize()&1
	}
	if total > 1<<32-1 {
		return rep, tooLarge(WebP, "output of %d bytes", total)
	}
	w := bufio.NewWriterSize(dst, readBuffer)
	hdr := []byte("RIFF\x00\x00\x00\x00WEBP")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(total))
	w.Write(hdr)
	for _, c := range out {
		if err := webpWrite(w, src, c); err != nil {
			return rep, err
		}
	}
	return rep, w.Flush()
}

// webpChunks lists the chunks between off and end.
func webpChunks(src io.ReaderAt, off, end int64) ([]webpChunk, error) {
	var chunks []webpChunk
	h := make([]byte, 8)
	for off < end {
		if len(chunks) >= maxChunks {
			return nil, tooLarge(WebP, "more than %d chunks", maxChunks)
		}
		if end-off < 8 {
			return nil, malformed(WebP, "truncated chunk header at byte %d", off)
		}
		if _, err := src.ReadAt(h, off); err != nil {
			return nil, malformed(WebP, "truncated chunk header at byte %d", off)
		}
		c := webpChunk{fourcc: string(h[:4]), off: off + 8, size: int64(binary.LittleEndian.Uint32(h[4:]))}
		if c.off+c.size > end {
			return nil, malformed(WebP, "chunk %q at byte %d runs past the end", c.fourcc, off)
		}
		chunks = append(chunks, c)
		off = min(c.off+c.size+c.size&1, end) // tolerate a missing pad byte after the last chunk
	}
	return chunks, nil
}

// webpFrame keeps an ANMF frame's image chunks.
func webpFrame(rep *Report, src io.ReaderAt, c webpChunk) (webpChunk, error) {
	if c.size < 16 {
		return c, malformed(WebP, "short ANMF chunk")
	}
	fh, err := readSection(src, c.off, 16)
	if err != nil {
		return c, err
	}
	w := 1 + int64(fh[6]) | int64(fh[7])<<8 | int64(fh[8])<<16
	h := 1 + int64(fh[9]) | int64(fh[10])<<8 | int64(fh[11])<<16
	if err := checkPixels(WebP, w, h); err != nil {
		return c, err
	}
	children, err := webpChunks(src, c.off+16, c.off+c.size)
	if err != nil {
		return c, err
	}
	kept := webpChunk{fourcc: "ANMF", data: fh}
	for _, k := range children {
		switch k.fourcc {
		case "ALPH", "VP8 ", "VP8L":
			kept.children = append(kept.children, k)
		default:
			rep.add(CatOther, "WebP chunk %q in an animation frame", k.fourcc)
		}
	}
	return kept, nil
}

// webpWrite writes one chunk, streaming its data from src.
func webpWrite(w io.Writer, src io.ReaderAt, c webpChunk) error {
	n := c.outSize()
	h := []byte(c.fourcc + "\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(h[4:], uint32(n))
	w.Write(h)
	switch {
	case c.fourcc == "ANMF":
		w.Write(c.data)
		for _, k := range c.children {
			if err := webpWrite(w, src, k); err != nil {
				return err
			}
		}
	case c.data != nil:
		w.Write(c.data)
	default:
		if _, err := io.Copy(w, io.NewSectionReader(src, c.off, c.size)); err != nil {
			return err
		}
	}
	if n&1 == 1 {
		w.Write([]byte{0})
	}
	return nil
}

// readSection reads n bytes at off; n is bounded by the caller.
func readSection(src io.ReaderAt, off, n int64) ([]byte, error) {
	b := make([]byte, n)
	if m, _ := src.ReadAt(b, off); int64(m) < n {
		return nil, malformed(WebP, "truncated at byte %d", off)
	}
	return b, nil
}
