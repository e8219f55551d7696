package media

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"io"
	"strings"
)

// PNG is sanitized chunk by chunk, in order, by allowlist: the chunks a
// viewer needs (pngKeep) are copied with their CRCs checked; iCCP is kept
// when iccStandard recognises the profile, renamed to the space's name;
// an eXIf chunk is replaced by one holding only the orientation when that
// is not 1 (browsers apply it); everything else, bytes after IEND
// included, is dropped. cICP (coding-independent code points, 4 bytes)
// is kept beside the listed chunks: an HDR image shows wrongly without
// it, and it holds no personal data.

func init() {
	register(PNG, format{
		inspect: func(r io.ReaderAt, size int64) (Report, error) {
			return pngProcess(r, size, nil)
		},
		sanitize: pngProcess,
	})
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// pngKeep are the chunks copied as they are.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true, "tRNS": true, "gAMA": true, "cHRM": true,
	"sRGB": true, "pHYs": true, "acTL": true, "fcTL": true, "fdAT": true, "cICP": true,
}

// pngTextKeys maps well-known text chunk keywords to report categories.
var pngTextKeys = map[string]Category{
	"title": CatComment, "description": CatComment, "comment": CatComment, "disclaimer": CatComment,
	"warning": CatComment, "author": CatAuthor, "copyright": CatAuthor, "software": CatSoftware,
	"source": CatDevice, "creation time": CatTime, "date:create": CatTime, "date:modify": CatTime,
	"date:timestamp": CatTime,
}

// maxPNGText bounds a text chunk read for the report; longer ones are
// skipped unread.
const maxPNGText = 1 << 20

func pngProcess(src io.ReaderAt, size int64, dst io.Writer) (Report, error) {
	var rep Report
	fr := newFileReader(PNG, src, size)
	var w *bufio.Writer
	out := io.Writer(nopWriter{})
	if dst != nil {
		w = bufio.NewWriterSize(dst, readBuffer)
		out = w
	}
	sig, err := fr.full(8)
	if err != nil {
		return rep, err
	}
	if !bytes.Equal(sig, pngSignature) {
		return rep, malformed(PNG, "bad signature")
	}
	out.Write(sig)
	for n := 0; ; n++ {
		if n > maxChunks {
			return rep, tooLarge(PNG, "more than %d chunks", maxChunks)
		}
		h, err := fr.full(8)
		if err != nil {
			return rep, err
		}
		length := binary.BigEndian.Uint32(h)
		typ := string(h[4:])
		if length > 1<<31-1 {
			return rep, malformed(PNG, "chunk %q of %d bytes", typ, length)
		}
		for _, c := range h[4:] {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return rep, malformed(PNG, "bad chunk type %q at byte %d", typ, fr.off-8)
			}
		}
		if n == 0 && typ != "IHDR" {
			return rep, malformed(PNG, "first chunk is %q, not IHDR", typ)
		}
		switch {
		case typ == "IHDR":
			if n != 0 || length != 13 {
				return rep, malformed(PNG, "bad IHDR")
			}
			data, err := pngChunkData(fr, h, length)
			if err != nil {
				return rep, err
			}
			if err := checkPixels(PNG, int64(binary.BigEndian.Uint32(data)), int64(binary.BigEndian.Uint32(data[4:]))); err != nil {
				return rep, err
			}
			pngWrite(out, typ, data)
		case pngKeep[typ]:
			crc := crc32.NewIEEE()
			crc.Write(h[4:])
			out.Write(h)
			if err := fr.copyN(io.MultiWriter(out, crc), int64(length)); err != nil {
				return rep, err
			}
			sum, err := fr.full(4)
			if err != nil {
				return rep, err
			}
			if binary.BigEndian.Uint32(sum) != crc.Sum32() {
				return rep, malformed(PNG, "bad CRC in chunk %q at byte %d", typ, fr.off-int64(length)-12)
			}
			out.Write(sum)
			if typ == "IEND" {
				if left := fr.left(); left > 0 {
					rep.add(CatEmbedded, "Data after the end of the image (%s)", byteSize(left))
				}
				if w != nil {
					return rep, w.Flush()
				}
				return rep, nil
			}
		case (typ == "iCCP" || typ == "eXIf") && length <= maxMetadataBlock,
			(typ == "tEXt" || typ == "zTXt" || typ == "iTXt") && length <= maxPNGText:
			data, err := pngChunkData(fr, h, length)
			if err != nil {
				return rep, err
			}
			switch typ {
			case "iCCP":
				pngICC(&rep, out, data)
			case "eXIf":
				o, _ := exifItems(&rep, data)
				if t := minimalExif(o); t != nil {
					pngWrite(out, "eXIf", t)
					rep.keep(CatOther, "Orientation: %s", orientationLabel(o))
				}
			default:
				pngText(&rep, typ, data)
			}
		default:
			if err := fr.copyN(nil, int64(length)+4); err != nil {
				return rep, err
			}
			switch typ {
			case "tIME":
				rep.add(CatTime, "Modification time")
			case "tEXt", "zTXt", "iTXt":
				rep.add(CatOther, "Text")
			case "iCCP":
				rep.add(CatProfile, "Colour profile (too large)")
			case "eXIf":
				rep.add(CatOther, "Exif metadata (too large)")
			case "caBX":
				rep.add(CatOther, "Content credentials (C2PA)")
			default:
				rep.add(CatOther, "PNG chunk %s", typ)
			}
		}
	}
}

// pngChunkData reads a chunk's data and checks its CRC.
func pngChunkData(fr *fileReader, h []byte, length uint32) ([]byte, error) {
	b, err := fr.full(int(length) + 4)
	if err != nil {
		return nil, err
	}
	data := b[:length]
	crc := crc32.NewIEEE()
	crc.Write(h[4:])
	crc.Write(data)
	if binary.BigEndian.Uint32(b[length:]) != crc.Sum32() {
		return nil, malformed(PNG, "bad CRC in chunk %q", h[4:])
	}
	return data, nil
}

// pngWrite writes one chunk with its CRC.
func pngWrite(w io.Writer, typ string, data []byte) {
	b := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(b, uint32(len(data)))
	copy(b[4:], typ)
	b = append(b, data...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
	w.Write(b)
}

// pngICC keeps a standard profile (as an iCCP chunk named after its
// space) and reports any other.
func pngICC(rep *Report, w io.Writer, data []byte) {
	name, rest, ok := bytes.Cut(data, []byte{0})
	if !ok || len(rest) < 1 || rest[0] != 0 || len(name) == 0 || len(name) > 79 {
		rep.add(CatProfile, "Colour profile (malformed)")
		return
	}
	zr, err := zlib.NewReader(bytes.NewReader(rest[1:]))
	if err != nil {
		rep.add(CatProfile, "Colour profile (malformed)")
		return
	}
	profile, err := io.ReadAll(io.LimitReader(zr, maxICCProfile+1))
	if err != nil {
		rep.add(CatProfile, "Colour profile (malformed)")
		return
	}
	if space, ok := iccStandard(profile); ok {
		pngWrite(w, "iCCP", append(append([]byte(space), 0), rest...))
		rep.keep(CatProfile, "Colour profile: %s", space)
		return
	}
	iccDescribe(rep, profile)
}

// pngText reports a tEXt, zTXt or iTXt chunk.
func pngText(rep *Report, typ string, data []byte) {
	key, rest, _ := bytes.Cut(data, []byte{0})
	var text []byte
	switch typ {
	case "tEXt":
		text = rest
	case "zTXt":
		if len(rest) > 0 {
			text = inflateLimited(rest[1:])
		}
	case "iTXt":
		if len(rest) >= 2 {
			compressed := rest[0] == 1
			_, r2, _ := bytes.Cut(rest[2:], []byte{0}) // language
			_, r3, _ := bytes.Cut(r2, []byte{0})       // translated keyword
			text = r3
			if compressed {
				text = inflateLimited(r3)
			}
		}
	}
	k := textLabel(key)
	lk := strings.ToLower(k)
	switch {
	case lk == "xml:com.adobe.xmp":
		xmpItems(rep, text)
	case strings.HasPrefix(lk, "raw profile type exif"), strings.HasPrefix(lk, "raw profile type app1"):
		rep.add(CatOther, "Exif metadata (in a text chunk)")
	case strings.HasPrefix(lk, "raw profile type iptc"), strings.HasPrefix(lk, "raw profile type 8bim"):
		rep.add(CatOther, "IPTC/Photoshop metadata")
	case strings.HasPrefix(lk, "raw profile type"):
		rep.add(CatOther, "Embedded profile: %s", k)
	default:
		cat, ok := pngTextKeys[lk]
		if !ok {
			cat = CatOther
		}
		if v := textLabel(text); v != "" {
			rep.add(cat, "%s: %s", k, v)
		} else {
			rep.add(cat, "%s", k)
		}
	}
}

// inflateLimited decompresses zlib data for a report, up to a small
// bound; errors give what was read.
func inflateLimited(b []byte) []byte {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	out, _ := io.ReadAll(io.LimitReader(zr, 64<<10))
	return out
}
