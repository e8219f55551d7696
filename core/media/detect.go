package media

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"strings"
)

// sniffLen is how much of the start of a file Detect reads.
const sniffLen = 64

// Detect returns the type of the file in r (size bytes) from its content.
// It returns Unknown and an *UnsupportedError for content it does not
// recognise, and an error wrapping ErrMalformed for an empty file.
func Detect(r io.ReaderAt, size int64) (Type, error) {
	if size <= 0 {
		return Unknown, malformed(Unknown, "empty file")
	}
	head := make([]byte, min(size, sniffLen))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return Unknown, err
	}
	t := sniff(head)
	if t == ZIP {
		t = zipType(r, size)
	}
	if t == Unknown {
		return Unknown, &UnsupportedError{Type: Unknown}
	}
	return t, nil
}

// sniff classifies a file by its first bytes. ZIP containers are refined
// by zipType.
func sniff(h []byte) Type {
	switch {
	case bytes.HasPrefix(h, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG
	case bytes.HasPrefix(h, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case len(h) >= 12 && string(h[:4]) == "RIFF" && string(h[8:12]) == "WEBP":
		return WebP
	case bytes.HasPrefix(h, []byte("GIF87a")), bytes.HasPrefix(h, []byte("GIF89a")):
		return GIF
	case bytes.HasPrefix(h, []byte("II*\x00")), bytes.HasPrefix(h, []byte("MM\x00*")),
		bytes.HasPrefix(h, []byte("II+\x00")), bytes.HasPrefix(h, []byte("MM\x00+")):
		return TIFF
	case bytes.HasPrefix(h, []byte("%PDF-")):
		return PDF
	case bytes.HasPrefix(h, []byte("PK\x03\x04")):
		return ZIP
	}
	if len(h) >= 8 {
		return isoBMFFType(h)
	}
	return Unknown
}

// isoBMFFType classifies ISO base media files (HEIF, AVIF, MP4, MOV) by
// the brands of their ftyp box. QuickTime files from before ftyp existed
// start directly with one of a few top-level atoms.
func isoBMFFType(h []byte) Type {
	boxSize := binary.BigEndian.Uint32(h[:4])
	switch string(h[4:8]) {
	case "ftyp":
	case "moov", "mdat", "wide", "free", "skip", "pnot":
		return MOV
	default:
		return Unknown
	}
	if boxSize < 16 || len(h) < 12 { // a file cut inside its ftyp box
		return Unknown
	}
	end := min(int(boxSize), len(h))
	brands := []string{string(h[8:12])} // major brand
	for i := 16; i+4 <= end; i += 4 {
		brands = append(brands, string(h[i:i+4]))
	}
	has := func(names ...string) bool {
		for _, b := range brands {
			for _, n := range names {
				if b == n {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("avif", "avis"):
		return AVIF
	case has("heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"):
		return HEIC
	case brands[0] == "qt  ":
		return MOV
	case has("isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V ", "M4A ", "3gp4", "3gp5", "3gp6", "3g2a", "dash", "qt  "):
		return MP4
	}
	return Unknown
}

// zipType tells Office Open XML and OpenDocument files apart from other
// ZIP archives by their declared content.
func zipType(r io.ReaderAt, size int64) Type {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return ZIP
	}
	for _, f := range zr.File {
		if f.Name == "mimetype" && f.UncompressedSize64 < 256 {
			rc, err := f.Open()
			if err != nil {
				return ZIP
			}
			b, _ := io.ReadAll(io.LimitReader(rc, 256))
			rc.Close()
			switch Type(strings.TrimSpace(string(b))) {
			case ODT:
				return ODT
			case ODS:
				return ODS
			case ODP:
				return ODP
			}
		}
	}
	for _, f := range zr.File {
		switch {
		case strings.HasPrefix(f.Name, "word/"):
			return DOCX
		case strings.HasPrefix(f.Name, "xl/"):
			return XLSX
		case strings.HasPrefix(f.Name, "ppt/"):
			return PPTX
		}
	}
	return ZIP
}
