package media

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"strings"
	"time"
)

// This file rewrites ZIP-based documents (Office Open XML and
// OpenDocument). The archive is written anew, entry by entry: metadata
// parts are left out, property and comment parts are filtered, embedded
// media are sanitized with the package's own sanitizers, and everything
// else is streamed across. Entry times, extra fields and the archive
// comment are not carried over.

// Limits for ZIP documents. Declared sizes are checked before anything
// is inflated; archive/zip refuses an entry whose data runs past its
// declared size, so a lying header cannot get around them.
const (
	maxZipEntries = 20000
	// maxZipEntrySize bounds one entry's uncompressed size.
	maxZipEntrySize = 1 << 30
	// maxZipTotalSize bounds the sum of the uncompressed sizes.
	maxZipTotalSize = 2 << 30
	// maxEmbeddedInMemory bounds a compressed embedded file that has to
	// be inflated into memory to be sanitized (stored ones are read in
	// place).
	maxEmbeddedInMemory = 256 << 20
	// maxXMLPart bounds a part read into memory as a whole.
	maxXMLPart = maxMetadataBlock
	// maxDocDepth bounds documents embedded in documents.
	maxDocDepth = 2
)

// zipDosDate is 1980-01-01, the earliest date a ZIP entry can carry; every
// entry gets it so the archive says nothing about when it was made.
const zipDosDate = 1<<5 | 1

// partKind says how a document part is handled.
type partKind int

const (
	partCopy  partKind = iota // streamed unchanged
	partDrop                  // left out of the output
	partXML                   // rewritten with XML rules
	partMedia                 // an embedded file, sanitized by its own format
)

// partPlan is what a document format decides for one entry.
type partPlan struct {
	kind partKind
	// For partDrop: what the report says was removed.
	cat   Category
	label string
	// For partDrop: read the part to report its contents (custom
	// properties) before dropping it.
	describe func(j *zipJob, name string, data []byte)
	// For partXML: the rules, built once the dropped parts are known.
	rules func(j *zipJob, name string) xmlRules
}

// zipDocFormat is one family of ZIP documents.
type zipDocFormat struct {
	plan func(name string) partPlan
	// first names an entry that must come first and stored (ODF mimetype).
	first string
}

// zipJob is the state of one rewrite.
type zipJob struct {
	t       Type
	rep     *Report
	dropped map[string]bool
	depth   int
}

func (f zipDocFormat) inspect(t Type) func(io.ReaderAt, int64) (Report, error) {
	return func(r io.ReaderAt, size int64) (Report, error) {
		var rep Report
		err := f.run(t, r, size, nil, &rep, 0)
		return rep, err
	}
}

func (f zipDocFormat) sanitize(t Type) func(io.ReaderAt, int64, io.Writer) (Report, error) {
	return func(r io.ReaderAt, size int64, w io.Writer) (Report, error) {
		var rep Report
		err := f.run(t, r, size, w, &rep, 0)
		return rep, err
	}
}

// run inspects (w == nil) or sanitizes the document.
func (f zipDocFormat) run(t Type, r io.ReaderAt, size int64, w io.Writer, rep *Report, depth int) (err error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return malformed(t, "zip: %v", err)
	}
	if len(zr.File) > maxZipEntries {
		return tooLarge(t, "%d zip entries, limit %d", len(zr.File), maxZipEntries)
	}
	if zr.Comment != "" {
		rep.add(CatComment, "Archive comment")
	}
	var total uint64
	seen := make(map[string]bool, len(zr.File))
	plans := make([]partPlan, len(zr.File))
	j := &zipJob{t: t, rep: rep, dropped: map[string]bool{}, depth: depth}
	for i, zf := range zr.File {
		if zf.UncompressedSize64 > maxZipEntrySize {
			return tooLarge(t, "entry %q declares %d bytes, limit %d", zf.Name, zf.UncompressedSize64, int64(maxZipEntrySize))
		}
		total += zf.UncompressedSize64
		if total > maxZipTotalSize {
			return tooLarge(t, "entries declare more than %d bytes", int64(maxZipTotalSize))
		}
		if seen[zf.Name] {
			return malformed(t, "duplicate zip entry %q", zf.Name)
		}
		seen[zf.Name] = true
		if zf.Flags&0x1 != 0 {
			return &UnsupportedError{Type: t} // encrypted entries
		}
		plans[i] = f.plan(zf.Name)
		if base := path.Base(zf.Name); strings.HasPrefix(zf.Name, "__MACOSX/") || base == ".DS_Store" || base == "Thumbs.db" || base == "desktop.ini" {
			// Left behind by a file manager: Finder metadata (resource
			// forks, download origins), Windows thumbnail caches.
			plans[i] = partPlan{kind: partDrop, cat: CatOther, label: "File manager data (__MACOSX, .DS_Store, Thumbs.db)"}
		}
		if plans[i].kind == partDrop {
			j.dropped[zf.Name] = true
		}
	}

	var zw *zip.Writer
	if w != nil {
		zw = zip.NewWriter(w)
	}
	order := make([]int, 0, len(zr.File))
	if f.first != "" {
		for i, zf := range zr.File {
			if zf.Name == f.first {
				order = append(order, i)
			}
		}
	}
	for i, zf := range zr.File {
		if zf.Name != f.first || f.first == "" {
			order = append(order, i)
		}
	}
	for _, i := range order {
		zf, p := zr.File[i], plans[i]
		if err := j.entry(zf, p, zw, f.first != "" && zf.Name == f.first, r); err != nil {
			return err
		}
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// entry handles one ZIP entry.
func (j *zipJob) entry(zf *zip.File, p partPlan, zw *zip.Writer, storedFirst bool, src io.ReaderAt) error {
	switch p.kind {
	case partDrop:
		if p.describe != nil {
			data, err := j.readAll(zf, maxXMLPart)
			if err != nil {
				return err
			}
			p.describe(j, zf.Name, data)
		}
		if p.label != "" {
			j.rep.add(p.cat, "%s", p.label)
		}
		return nil
	case partXML:
		rules := p.rules(j, zf.Name)
		rc, err := zf.Open()
		if err != nil {
			return malformed(j.t, "%s: %v", zf.Name, err)
		}
		defer rc.Close()
		out := io.Discard
		if zw != nil {
			if out, err = j.create(zw, zf, zip.Deflate); err != nil {
				return err
			}
		}
		return rewriteXML(j.t, zf.Name, zipErrReader{rc, j.t, zf.Name}, out, rules)
	case partMedia:
		return j.media(zf, zw, src)
	}
	// partCopy.
	if zw == nil {
		return nil
	}
	if storedFirst {
		data, err := j.readAll(zf, 1<<10)
		if err != nil {
			return err
		}
		//lint:ignore SA1019 the legacy field sets the DOS date without adding an extended-timestamp extra field
		fh := &zip.FileHeader{Name: zf.Name, Method: zip.Store, ModifiedDate: zipDosDate,
			CRC32: crc32.ChecksumIEEE(data), CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data))}
		out, err := zw.CreateRaw(fh)
		if err != nil {
			return err
		}
		_, err = out.Write(data)
		return err
	}
	rc, err := zf.Open()
	if err != nil {
		return malformed(j.t, "%s: %v", zf.Name, err)
	}
	defer rc.Close()
	out, err := j.create(zw, zf, zf.Method)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, zipErrReader{rc, j.t, zf.Name}); err != nil {
		return err
	}
	return nil
}

// create starts an output entry with a fixed date and no extra fields.
func (j *zipJob) create(zw *zip.Writer, zf *zip.File, method uint16) (io.Writer, error) {
	if method != zip.Store {
		method = zip.Deflate
	}
	if strings.HasSuffix(zf.Name, "/") {
		method = zip.Store
	}
	//lint:ignore SA1019 the legacy field sets the DOS date without adding an extended-timestamp extra field
	return zw.CreateHeader(&zip.FileHeader{Name: zf.Name, Method: method, ModifiedDate: zipDosDate})
}

// readAll reads a whole entry of at most limit bytes.
func (j *zipJob) readAll(zf *zip.File, limit int64) ([]byte, error) {
	if zf.UncompressedSize64 > uint64(limit) {
		return nil, tooLarge(j.t, "%s: %d bytes, limit %d", zf.Name, zf.UncompressedSize64, limit)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, malformed(j.t, "%s: %v", zf.Name, err)
	}
	defer rc.Close()
	// The declared size is checked above and enforced by archive/zip,
	// which fails a read past it.
	data := make([]byte, zf.UncompressedSize64)
	if _, err := io.ReadFull(zipErrReader{rc, j.t, zf.Name}, data); err != nil {
		if !errors.Is(err, ErrMalformed) {
			err = malformed(j.t, "%s: %v", zf.Name, err)
		}
		return nil, err
	}
	if n, err := rc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return nil, malformed(j.t, "%s: data past its declared size", zf.Name)
	}
	return data, nil
}

// media sanitizes (or inspects) an embedded file with its own format.
// Files of a type the package cannot sanitize are kept as they are and
// listed in the report's Kept items, so nothing passes silently.
func (j *zipJob) media(zf *zip.File, zw *zip.Writer, src io.ReaderAt) error {
	var (
		r    io.ReaderAt
		size = int64(zf.UncompressedSize64)
	)
	if zf.Method == zip.Store && zf.CompressedSize64 == zf.UncompressedSize64 {
		off, err := zf.DataOffset()
		if err != nil {
			return malformed(j.t, "%s: %v", zf.Name, err)
		}
		r = io.NewSectionReader(src, off, size)
		if zw == nil {
			// Trust but verify: the checksum of a stored entry is checked
			// only when it is read through archive/zip.
			if err := j.verify(zf); err != nil {
				return err
			}
		}
	} else {
		data, err := j.readAll(zf, maxEmbeddedInMemory)
		if err != nil {
			return err
		}
		r, size = bytes.NewReader(data), int64(len(data))
	}
	if size == 0 {
		return j.copyBytes(zf, zw, r, size)
	}
	t, err := Detect(r, size)
	var sub Report
	switch {
	case err == nil && isZipDoc(t):
		if j.depth+1 > maxDocDepth {
			return tooLarge(j.t, "%s: documents nested deeper than %d", zf.Name, maxDocDepth)
		}
		var out io.Writer
		if zw != nil {
			if out, err = j.create(zw, zf, zf.Method); err != nil {
				return err
			}
		}
		if err := zipDocs[t].run(t, r, size, out, &sub, j.depth+1); err != nil {
			return fmt.Errorf("%s: %w", zf.Name, err)
		}
	case err == nil && formats[t].sanitize != nil:
		if zw == nil {
			sub, err = formats[t].inspect(r, size)
		} else {
			var out io.Writer
			if out, err = j.create(zw, zf, zf.Method); err != nil {
				return err
			}
			sub, err = formats[t].sanitize(r, size, out)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", zf.Name, err)
		}
	default:
		if err != nil && !errors.Is(err, ErrUnsupported) {
			return fmt.Errorf("%s: %w", zf.Name, err)
		}
		j.rep.keep(CatEmbedded, "Embedded file kept as is (%s): %s", t, zf.Name)
		return j.copyBytes(zf, zw, r, size)
	}
	for _, it := range sub.Items {
		j.rep.add(it.Category, "%s: %s", zf.Name, it.Label)
	}
	for _, it := range sub.Kept {
		j.rep.keep(it.Category, "%s: %s", zf.Name, it.Label)
	}
	return nil
}

// verify reads an entry through archive/zip, which checks its CRC.
func (j *zipJob) verify(zf *zip.File) error {
	rc, err := zf.Open()
	if err != nil {
		return malformed(j.t, "%s: %v", zf.Name, err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, zipErrReader{rc, j.t, zf.Name})
	return err
}

func (j *zipJob) copyBytes(zf *zip.File, zw *zip.Writer, r io.ReaderAt, size int64) error {
	if zw == nil {
		return nil
	}
	out, err := j.create(zw, zf, zf.Method)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(r, 0, size))
	return err
}

// zipErrReader turns archive/zip's read errors (bad checksum, data past
// the declared size, corrupt deflate stream) into ErrMalformed.
type zipErrReader struct {
	r    io.Reader
	t    Type
	name string
}

func (z zipErrReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		err = malformed(z.t, "%s: %v", z.name, err)
	}
	return n, err
}

// zipDocs maps the ZIP document types to their formats, for documents
// embedded in documents.
var zipDocs = map[Type]zipDocFormat{}

func isZipDoc(t Type) bool { _, ok := zipDocs[t]; return ok }

func registerZipDoc(f zipDocFormat, types ...Type) {
	for _, t := range types {
		zipDocs[t] = f
		register(t, format{inspect: f.inspect(t), sanitize: f.sanitize(t)})
	}
}

// resolvePart resolves a relative reference from the part named from
// (a ZIP entry name) to a ZIP entry name.
func resolvePart(fromDir, target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return strings.TrimPrefix(path.Join("/", fromDir, target), "/")
}

// propLabel turns a removed property element into a report line.
func propLabel(rep *Report, local, text string, se xml.StartElement) {
	v := text
	if h, ok := attrValue(se, "href"); ok && v == "" {
		v = h
	}
	if n, ok := attrValue(se, "name"); ok && local == "user-defined" {
		v = n + " = " + text
	}
	show := func(c Category, what string) {
		if v == "" {
			rep.add(c, "%s", what)
		} else {
			rep.add(c, "%s: %s", what, v)
		}
	}
	when := func(what string) {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
			if tm, err := time.Parse(layout, v); err == nil {
				rep.add(CatTime, "%s %s", what, tm.UTC().Format("2006-01-02 15:04"))
				return
			}
		}
		show(CatTime, what)
	}
	switch local {
	case "creator", "initial-creator":
		show(CatAuthor, "Author")
	case "lastModifiedBy":
		show(CatAuthor, "Last modified by")
	case "printed-by":
		show(CatAuthor, "Printed by")
	case "Company":
		show(CatAuthor, "Company")
	case "Manager":
		show(CatAuthor, "Manager")
	case "created", "creation-date":
		when("Created")
	case "modified", "date":
		when("Modified")
	case "lastPrinted", "print-date":
		when("Printed")
	case "TotalTime", "editing-duration":
		show(CatTime, "Editing time")
	case "Application", "generator":
		show(CatSoftware, "Software")
	case "AppVersion":
		show(CatSoftware, "Software version")
	case "title":
		show(CatComment, "Title")
	case "subject":
		show(CatComment, "Subject")
	case "description":
		show(CatComment, "Description")
	case "keywords", "keyword":
		show(CatComment, "Keywords")
	case "category":
		show(CatComment, "Category")
	case "revision", "editing-cycles":
		show(CatOther, "Revision")
	case "Template", "template":
		show(CatOther, "Template")
	case "user-defined":
		show(CatOther, "Custom property")
	case "HyperlinkBase":
		show(CatOther, "Hyperlink base")
	default:
		show(CatOther, "Document property "+local)
	}
}
