// Package media finds and removes metadata from files before they leave
// the machine: where and when a photo was taken, the device and its serial
// number, editing software, authors, stale thumbnails, embedded videos.
//
// Every file sent through Ephemera passes Sanitize, whether it was shared
// as an image or attached "as a file". The type is detected from the
// content, never from the name. Sanitizers work by allowlist: what a
// viewer needs to show the file is kept and everything else (unknown
// segments, chunks and boxes included) is dropped. A type that cannot be
// sanitized gives an error matching ErrUnsupported that names the
// detected type; the caller decides whether to ask the user to send it
// as is. Nothing is ever passed through silently.
//
// Inspect lists what a file carries without changing it, grouped into
// readable items ("GPS position 52.52 N 13.40 E", "Camera: Apple iPhone
// 15"). Sanitize returns the same kind of report listing what it removed.
//
// Decoders of outside bytes have size limits: declared dimensions and
// sizes are checked before anything is decoded, so decompression bombs
// are refused with ErrTooLarge, and malformed or truncated input gives
// ErrMalformed, never a panic.
//
// Each format lives in its own file and registers itself with register
// from an init function.
package media

import (
	"errors"
	"fmt"
	"io"
	"sort"
)

// Type is a detected file type, as a MIME type.
type Type string

// The types Detect recognises.
const (
	JPEG Type = "image/jpeg"
	PNG  Type = "image/png"
	WebP Type = "image/webp"
	GIF  Type = "image/gif"
	HEIC Type = "image/heic"
	AVIF Type = "image/avif"
	TIFF Type = "image/tiff" // TIFF and raw formats built on it (DNG, CR2, NEF)

	PDF  Type = "application/pdf"
	DOCX Type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	XLSX Type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	PPTX Type = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	ODT  Type = "application/vnd.oasis.opendocument.text"
	ODS  Type = "application/vnd.oasis.opendocument.spreadsheet"
	ODP  Type = "application/vnd.oasis.opendocument.presentation"
	ZIP  Type = "application/zip" // a ZIP that is neither OOXML nor OpenDocument

	MP4 Type = "video/mp4"
	MOV Type = "video/quicktime"

	Unknown Type = "application/octet-stream"
)

// Category groups report items for display.
type Category string

// Report item categories.
const (
	CatLocation  Category = "location"  // GPS and place names
	CatDevice    Category = "device"    // camera make, model, serial numbers, lens
	CatTime      Category = "time"      // capture, creation and modification dates
	CatSoftware  Category = "software"  // editing and producing software
	CatAuthor    Category = "author"    // authors, editors, company, comment authors
	CatThumbnail Category = "thumbnail" // preview images of the original
	CatEmbedded  Category = "embedded"  // embedded videos, secondary images, trailers
	CatComment   Category = "comment"   // comments, descriptions, titles, keywords
	CatProfile   Category = "profile"   // non-standard colour profiles
	CatOther     Category = "other"     // XMP, IPTC and unknown blocks
)

// Item is one thing a file carries, in words a user understands.
type Item struct {
	Category Category `json:"category"`
	// Label is the readable line, e.g. "GPS position 52.52 N 13.40 E".
	Label string `json:"label"`
}

// Report describes a file: its type and the metadata found (by Inspect)
// or removed (by Sanitize). Kept lists what was deliberately preserved,
// such as "Orientation: rotated 90°" or "Colour profile: sRGB".
type Report struct {
	Type  Type   `json:"type"`
	Items []Item `json:"items"`
	Kept  []Item `json:"kept,omitempty"`
}

// Empty reports whether the file carried nothing to remove.
func (r Report) Empty() bool { return len(r.Items) == 0 }

// add appends an item unless an identical one is already listed.
func (r *Report) add(c Category, format string, a ...any) {
	it := Item{Category: c, Label: fmt.Sprintf(format, a...)}
	for _, have := range r.Items {
		if have == it {
			return
		}
	}
	r.Items = append(r.Items, it)
}

// keep records something deliberately preserved.
func (r *Report) keep(c Category, format string, a ...any) {
	it := Item{Category: c, Label: fmt.Sprintf(format, a...)}
	for _, have := range r.Kept {
		if have == it {
			return
		}
	}
	r.Kept = append(r.Kept, it)
}

// sortItems orders items by category, keeping insertion order within one.
func (r *Report) sortItems() {
	order := map[Category]int{CatLocation: 0, CatDevice: 1, CatTime: 2, CatAuthor: 3,
		CatSoftware: 4, CatThumbnail: 5, CatEmbedded: 6, CatComment: 7, CatProfile: 8, CatOther: 9}
	sort.SliceStable(r.Items, func(i, j int) bool { return order[r.Items[i].Category] < order[r.Items[j].Category] })
}

// Errors. Errors from Inspect and Sanitize wrap one of these.
var (
	// ErrUnsupported: the type was detected but cannot be sanitized (or
	// was not recognised at all). Use errors.As with *UnsupportedError for
	// the type.
	ErrUnsupported = errors.New("media: unsupported file type")
	// ErrMalformed: the file is truncated or does not follow its format.
	ErrMalformed = errors.New("media: malformed file")
	// ErrTooLarge: a declared size or dimension is beyond the limits.
	ErrTooLarge = errors.New("media: file exceeds limits")
)

// UnsupportedError names the detected type of a file that cannot be
// sanitized. It matches ErrUnsupported with errors.Is.
type UnsupportedError struct{ Type Type }

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("media: cannot sanitize files of type %s", e.Type)
}

func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// malformed returns an error wrapping ErrMalformed.
func malformed(t Type, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, t, fmt.Sprintf(format, a...))
}

// tooLarge returns an error wrapping ErrTooLarge.
func tooLarge(t Type, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrTooLarge, t, fmt.Sprintf(format, a...))
}

// Limits that apply to every format.
const (
	// MaxFileSize is the largest file Sanitize accepts.
	MaxFileSize = 4 << 30
	// MaxPixels bounds declared image dimensions (width × height), so a
	// decoder never allocates for a decompression bomb.
	MaxPixels = 256 << 20
	// maxMetadataBlock bounds a single metadata block read into memory
	// (an Exif segment, an XMP packet, a document properties part).
	maxMetadataBlock = 16 << 20
)

// format is one file type's inspector and sanitizer.
type format struct {
	inspect  func(r io.ReaderAt, size int64) (Report, error)
	sanitize func(src io.ReaderAt, size int64, dst io.Writer) (Report, error)
}

var formats = map[Type]format{}

// register installs a format's functions; called from init functions.
func register(t Type, f format) {
	if _, dup := formats[t]; dup {
		panic("media: format registered twice: " + string(t))
	}
	formats[t] = f
}

// Inspect detects r's type and lists the metadata it carries, without
// changing anything. r holds size bytes.
func Inspect(r io.ReaderAt, size int64) (Report, error) {
	t, err := Detect(r, size)
	if err != nil {
		return Report{Type: t}, err
	}
	f, ok := formats[t]
	if !ok || f.inspect == nil {
		return Report{Type: t}, &UnsupportedError{Type: t}
	}
	rep, err := f.inspect(r, size)
	rep.Type = t
	rep.sortItems()
	return rep, err
}

// Sanitize detects src's type and writes to dst a copy without metadata,
// returning what was removed. src holds size bytes. On error, dst may
// hold a partial copy that must be discarded.
func Sanitize(src io.ReaderAt, size int64, dst io.Writer) (Report, error) {
	if size > MaxFileSize {
		return Report{}, tooLarge(Unknown, "%d bytes, limit %d", size, int64(MaxFileSize))
	}
	t, err := Detect(src, size)
	if err != nil {
		return Report{Type: t}, err
	}
	f, ok := formats[t]
	if !ok || f.sanitize == nil {
		return Report{Type: t}, &UnsupportedError{Type: t}
	}
	rep, err := f.sanitize(src, size, dst)
	rep.Type = t
	rep.sortItems()
	return rep, err
}
