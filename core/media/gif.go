package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
)

// GIF is sanitized block by block: the header, screen descriptor, colour
// tables, graphic control extensions and image data are copied; comment,
// plain-text and application extensions are dropped, except the looping
// extension (NETSCAPE2.0 or its twin ANIMEXTS1.0), which is rewritten as
// a bare NETSCAPE2.0 loop count. Bytes after the trailer are dropped.

func init() {
	register(GIF, format{
		inspect: func(r io.ReaderAt, size int64) (Report, error) {
			return gifProcess(r, size, nil)
		},
		sanitize: gifProcess,
	})
}

func gifProcess(src io.ReaderAt, size int64, dst io.Writer) (Report, error) {
	var rep Report
	fr := newFileReader(GIF, src, size)
	var w *bufio.Writer
	out := io.Writer(nopWriter{})
	if dst != nil {
		w = bufio.NewWriterSize(dst, readBuffer)
		out = w
	}
	h, err := fr.full(13)
	if err != nil {
		return rep, err
	}
	if v := string(h[:6]); v != "GIF87a" && v != "GIF89a" {
		return rep, malformed(GIF, "bad header")
	}
	if err := checkPixels(GIF, int64(binary.LittleEndian.Uint16(h[6:])), int64(binary.LittleEndian.Uint16(h[8:]))); err != nil {
		return rep, err
	}
	out.Write(h)
	if h[10]&0x80 != 0 {
		if err := fr.copyN(out, 3<<(h[10]&7+1)); err != nil {
			return rep, err
		}
	}
	for n := 0; ; n++ {
		if n > maxChunks {
			return rep, tooLarge(GIF, "more than %d blocks", maxChunks)
		}
		b, err := fr.byte()
		if err != nil {
			return rep, err
		}
		switch b {
		case 0x3b: // trailer
			out.Write([]byte{0x3b})
			if left := fr.left(); left > 0 {
				rep.add(CatEmbedded, "Data after the end of the image (%s)", byteSize(left))
			}
			if w != nil {
				return rep, w.Flush()
			}
			return rep, nil
		case 0x2c: // image descriptor
			d, err := fr.full(9)
			if err != nil {
				return rep, err
			}
			if err := checkPixels(GIF, int64(binary.LittleEndian.Uint16(d[4:])), int64(binary.LittleEndian.Uint16(d[6:]))); err != nil {
				return rep, err
			}
			out.Write([]byte{0x2c})
			out.Write(d)
			if d[8]&0x80 != 0 {
				if err := fr.copyN(out, 3<<(d[8]&7+1)); err != nil {
					return rep, err
				}
			}
			if err := fr.copyN(out, 1); err != nil { // LZW minimum code size
				return rep, err
			}
			if _, err := gifSubBlocks(fr, out, 0); err != nil {
				return rep, err
			}
		case 0x21:
			if err := gifExtension(&rep, fr, out); err != nil {
				return rep, err
			}
		default:
			return rep, malformed(GIF, "unknown block 0x%02x at byte %d", b, fr.off-1)
		}
	}
}

// gifSubBlocks copies data sub-blocks up to and including the empty one
// to w (which may be nil), and returns up to keep bytes of their content.
func gifSubBlocks(fr *fileReader, w io.Writer, keep int) ([]byte, error) {
	var data []byte
	for {
		n, err := fr.byte()
		if err != nil {
			return nil, err
		}
		if w != nil {
			w.Write([]byte{n})
		}
		if n == 0 {
			return data, nil
		}
		if len(data) < keep {
			b, err := fr.full(int(n))
			if err != nil {
				return nil, err
			}
			if w != nil {
				w.Write(b)
			}
			data = append(data, b...)
			continue
		}
		if err := fr.copyN(w, int64(n)); err != nil {
			return nil, err
		}
	}
}

func gifExtension(rep *Report, fr *fileReader, out io.Writer) error {
	label, err := fr.byte()
	if err != nil {
		return err
	}
	switch label {
	case 0xf9: // graphic control
		out.Write([]byte{0x21, 0xf9})
		_, err := gifSubBlocks(fr, out, 0)
		return err
	case 0xfe:
		text, err := gifSubBlocks(fr, nil, 4096)
		if err != nil {
			return err
		}
		if c := textLabel(text); c != "" {
			rep.add(CatComment, "Comment: %s", c)
		} else {
			rep.add(CatComment, "Comment")
		}
		return nil
	case 0x01:
		if _, err := gifSubBlocks(fr, nil, 0); err != nil {
			return err
		}
		rep.add(CatComment, "Plain text")
		return nil
	case 0xff:
	default:
		if _, err := gifSubBlocks(fr, nil, 0); err != nil {
			return err
		}
		rep.add(CatOther, "GIF extension 0x%02x", label)
		return nil
	}
	// Application extension: an 11-byte identifier block, then data
	// sub-blocks. The loop count is a first data sub-block of exactly 3
	// bytes starting with 1, as decoders read it.
	idLen, err := fr.byte()
	if err != nil {
		return err
	}
	idb, err := fr.full(int(idLen))
	if err != nil {
		return err
	}
	if idLen == 0 {
		rep.add(CatOther, "Application data")
		return nil
	}
	first, err := fr.byte()
	if err != nil {
		return err
	}
	loop := first == 3
	var body []byte
	if first != 0 {
		if body, err = fr.full(int(first)); err != nil {
			return err
		}
		rest, err := gifSubBlocks(fr, nil, maxMetadataBlock)
		if err != nil {
			return err
		}
		body = append(body, rest...)
	}
	if idLen != 11 {
		rep.add(CatOther, "Application data (%s)", textLabel(idb))
		return nil
	}
	id := string(idb)
	switch {
	case id == "NETSCAPE2.0" || id == "ANIMEXTS1.0":
		if loop && len(body) >= 3 && body[0] == 1 {
			out.Write([]byte{0x21, 0xff, 11})
			out.Write([]byte("NETSCAPE2.0"))
			out.Write([]byte{3, 1, body[1], body[2], 0})
		}
	case id == "XMP DataXMP":
		xmpItems(rep, body)
	case id == "ICCRGBG1012":
		iccDescribe(rep, body)
	case bytes.HasPrefix([]byte(id), []byte("MGK8BIM")), bytes.HasPrefix([]byte(id), []byte("MGKIPTC")):
		rep.add(CatOther, "IPTC/Photoshop metadata")
	default:
		rep.add(CatOther, "Application data (%s)", textLabel(idb[:8]))
	}
	return nil
}
