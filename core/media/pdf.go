package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// PDF. pdfcpu parses the file (all revisions resolved, object streams
// unpacked); the sanitizer then writes a new file itself, holding only
// the objects reachable from the document catalog, renumbered in the
// order they are reached, with a classic cross-reference table and no
// Info dictionary and no file ID. Old revisions, orphaned objects and
// the Info dictionary are therefore not in the output at all; XMP
// (/Metadata), page thumbnails (/Thumb), application data (/PieceInfo,
// /LastModified) and the authors and dates of comments are removed from
// every dictionary on the way. JPEG images (DCTDecode streams) are
// sanitized by the JPEG sanitizer.
//
// pdfcpu's own writer is not used because it always adds an Info
// dictionary naming itself with the current time and a time-based file
// ID, which would make the output say when it was sanitized and differ
// from run to run.

// maxPDFSize bounds the PDFs read: pdfcpu holds the whole file in memory.
const maxPDFSize = 256 << 20

// maxPDFObjects bounds the objects written.
const maxPDFObjects = 1 << 20

func init() {
	// Never read or create a pdfcpu configuration directory in the user's
	// home: the sanitizer needs only the built-in defaults.
	// (pkg/api is not imported: its dependencies cost tens of
	// milliseconds of start-up in every process.)
	model.ConfigPath = "disable"
	register(PDF, format{inspect: inspectPDF, sanitize: sanitizePDF})
}

// Keys removed from every dictionary.
var pdfDropKeys = map[string]struct {
	cat   Category
	label string
}{
	"Metadata":     {CatOther, "XMP metadata"},
	"PieceInfo":    {CatSoftware, "Application data (PieceInfo)"},
	"LastModified": {CatTime, "Modification dates of pages or objects"},
	"Thumb":        {CatThumbnail, "Page thumbnails"},
}

// Annotation types that are not comments: their /T is a field name.
var pdfNonMarkup = map[string]bool{"Widget": true, "Link": true, "Popup": true, "Movie": true,
	"Screen": true, "PrinterMark": true, "TrapNet": true, "Watermark": true, "3D": true}

func readPDF(r io.ReaderAt, size int64) (ctx *model.Context, err error) {
	if size > maxPDFSize {
		return nil, tooLarge(PDF, "%d bytes, limit %d", size, maxPDFSize)
	}
	defer func() {
		if p := recover(); p != nil {
			ctx, err = nil, malformed(PDF, "parser failed: %v", p)
		}
	}()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	ctx, err = pdfcpu.Read(io.NewSectionReader(r, 0, size), conf)
	if errors.Is(err, pdfcpu.ErrWrongPassword) {
		return nil, fmt.Errorf("%w (PDF encrypted with a password)", &UnsupportedError{Type: PDF})
	}
	if err != nil {
		return nil, malformed(PDF, "%v", err)
	}
	if ctx.Encrypt != nil || ctx.E != nil {
		return nil, fmt.Errorf("%w (encrypted PDF)", &UnsupportedError{Type: PDF})
	}
	if ctx.Root == nil {
		return nil, malformed(PDF, "no document catalog")
	}
	if root, err := ctx.DereferenceDict(*ctx.Root); err != nil || root == nil || root["Pages"] == nil {
		return nil, malformed(PDF, "no document catalog with pages")
	}
	return ctx, nil
}

// pdfRecover turns a panic inside pdfcpu's object model (reached after
// parsing, through Dereference and the string decoders) into ErrMalformed.
func pdfRecover(err *error) {
	if p := recover(); p != nil {
		*err = malformed(PDF, "parser failed: %v", p)
	}
}

func inspectPDF(r io.ReaderAt, size int64) (rep Report, err error) {
	defer pdfRecover(&err)
	ctx, err := readPDF(r, size)
	if err != nil {
		return rep, err
	}
	w := &pdfWriter{ctx: ctx, rep: &rep, inspect: true}
	w.reportInfo()
	w.reportRevisions(r, size)
	if err := w.collect(); err != nil {
		return rep, err
	}
	return rep, nil
}

func sanitizePDF(r io.ReaderAt, size int64, dst io.Writer) (rep Report, err error) {
	defer pdfRecover(&err)
	ctx, err := readPDF(r, size)
	if err != nil {
		return rep, err
	}
	w := &pdfWriter{ctx: ctx, rep: &rep}
	w.reportInfo()
	w.reportRevisions(r, size)
	if err := w.collect(); err != nil {
		return rep, err
	}
	return rep, w.write(dst)
}

// pdfWriter collects the reachable objects and writes them anew.
type pdfWriter struct {
	ctx     *model.Context
	rep     *Report
	inspect bool
	order   []int       // old object numbers in the order reached
	newNr   map[int]int // old number → new number
	images  int
}

func pdfText(o types.Object) string {
	switch v := o.(type) {
	case types.StringLiteral:
		if s, err := types.StringLiteralToString(v); err == nil {
			return s
		}
		return string(v)
	case types.HexLiteral:
		if s, err := types.HexLiteralToString(v); err == nil {
			return s
		}
		return string(v)
	case types.Name:
		return string(v)
	case nil:
		return ""
	}
	return o.String()
}

// pdfDate turns "D:20190304050607+01'00'" into "2019-03-04 05:06".
func pdfDate(s string) string {
	s = strings.TrimPrefix(s, "D:")
	if len(s) >= 12 && strings.Trim(s[:12], "0123456789") == "" {
		return s[0:4] + "-" + s[4:6] + "-" + s[6:8] + " " + s[8:10] + ":" + s[10:12]
	}
	return s
}

// reportInfo lists the Info dictionary.
func (w *pdfWriter) reportInfo() {
	if w.ctx.Info == nil {
		return
	}
	d, err := w.ctx.DereferenceDict(*w.ctx.Info)
	if err != nil || d == nil {
		w.rep.add(CatOther, "Document information dictionary")
		return
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := d[k]
		if ir, ok := v.(types.IndirectRef); ok {
			if o, err := w.ctx.Dereference(ir); err == nil {
				v = o
			}
		}
		s := pdfText(v)
		switch k {
		case "Author":
			w.rep.add(CatAuthor, "Author: %s", s)
		case "Creator":
			w.rep.add(CatSoftware, "Creator: %s", s)
		case "Producer":
			w.rep.add(CatSoftware, "Producer: %s", s)
		case "CreationDate":
			w.rep.add(CatTime, "Created %s", pdfDate(s))
		case "ModDate":
			w.rep.add(CatTime, "Modified %s", pdfDate(s))
		case "Title":
			w.rep.add(CatComment, "Title: %s", s)
		case "Subject":
			w.rep.add(CatComment, "Subject: %s", s)
		case "Keywords":
			w.rep.add(CatComment, "Keywords: %s", s)
		default:
			w.rep.add(CatOther, "Document property %s: %s", k, s)
		}
	}
}

// reportRevisions notes incremental updates: the earlier versions they
// keep are not written out.
func (w *pdfWriter) reportRevisions(r io.ReaderAt, size int64) {
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	n, match := 0, 0
	const eof = "%%EOF"
	for {
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		switch {
		case c == eof[match]:
			match++
			if match == len(eof) {
				n++
				match = 0
			}
		case c == eof[0]:
			match = 1
		default:
			match = 0
		}
	}
	if n > 1 {
		w.rep.add(CatOther, "Earlier revisions of the document (%d incremental updates)", n-1)
	}
}

// collect walks the objects reachable from the catalog, in a fixed
// order, cleaning each dictionary as it is reached.
func (w *pdfWriter) collect() error {
	w.newNr = map[int]int{}
	queue := []int{}
	visit := func(ir types.IndirectRef) {
		nr := ir.ObjectNumber.Value()
		if _, ok := w.newNr[nr]; ok {
			return
		}
		w.newNr[nr] = len(w.order) + 1
		w.order = append(w.order, nr)
		queue = append(queue, nr)
	}
	visit(*w.ctx.Root)
	for len(queue) > 0 {
		if len(w.order) > maxPDFObjects {
			return tooLarge(PDF, "more than %d objects", maxPDFObjects)
		}
		nr := queue[0]
		queue = queue[1:]
		e, ok := w.ctx.Table[nr]
		if !ok || e == nil || e.Free || e.Object == nil {
			continue
		}
		switch o := e.Object.(type) {
		case types.StreamDict:
			if err := w.cleanStream(nr, &o); err != nil {
				return err
			}
			e.Object = o
			w.refs(o.Dict, visit, 0)
		default:
			w.refs(e.Object, visit, 0)
		}
	}
	return nil
}

// refs cleans the dictionaries in o and visits the references it holds,
// in key order.
func (w *pdfWriter) refs(o types.Object, visit func(types.IndirectRef), depth int) {
	if depth > 100 {
		return
	}
	switch v := o.(type) {
	case types.IndirectRef:
		visit(v)
	case types.Dict:
		w.cleanDict(v)
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.refs(v[k], visit, depth+1)
		}
	case types.Array:
		for _, e := range v {
			w.refs(e, visit, depth+1)
		}
	}
}

// cleanDict removes metadata keys from d in place.
func (w *pdfWriter) cleanDict(d types.Dict) {
	for k, what := range pdfDropKeys {
		if _, ok := d[k]; ok {
			delete(d, k)
			w.rep.add(what.cat, "%s", what.label)
		}
	}
	if st, ok := d["Subtype"].(types.Name); ok && d["Rect"] != nil && !pdfNonMarkup[string(st)] {
		if t, ok := d["T"]; ok {
			w.rep.add(CatAuthor, "Comment author: %s", pdfText(w.deref(t)))
			delete(d, "T")
		}
		for _, k := range []string{"M", "CreationDate"} {
			if _, ok := d[k]; ok {
				delete(d, k)
				w.rep.add(CatTime, "Comment dates")
			}
		}
	}
	if names, ok := w.deref(d["Names"]).(types.Dict); ok && d["Pages"] != nil {
		if _, ok := names["EmbeddedFiles"]; ok {
			w.rep.keep(CatEmbedded, "Attached files kept as is")
		}
	}
	if t, ok := d["Type"].(types.Name); ok && t == "Filespec" && d["EF"] != nil {
		w.rep.keep(CatEmbedded, "Attached file kept as is: %s", pdfText(w.deref(d["F"])))
	}
}

func (w *pdfWriter) deref(o types.Object) types.Object {
	if ir, ok := o.(types.IndirectRef); ok {
		if v, err := w.ctx.Dereference(ir); err == nil {
			return v
		}
		return nil
	}
	return o
}

// cleanStream fixes a stream's length and sanitizes JPEG images.
func (w *pdfWriter) cleanStream(nr int, sd *types.StreamDict) error {
	if t, ok := sd.Dict["Type"].(types.Name); ok && t == "Metadata" {
		// Reached by some other key than /Metadata: empty it.
		w.rep.add(CatOther, "XMP metadata")
		sd.Raw = nil
		delete(sd.Dict, "Filter")
		delete(sd.Dict, "DecodeParms")
	}
	filter := w.deref(sd.Dict["Filter"])
	if a, ok := filter.(types.Array); ok && len(a) == 1 {
		filter = a[0]
	}
	if f, ok := filter.(types.Name); ok && f == "DCTDecode" && len(sd.Raw) > 0 {
		w.images++
		if err := w.sanitizeJPEG(sd); err != nil {
			return fmt.Errorf("image in object %d: %w", nr, err)
		}
	}
	sd.Dict["Length"] = types.Integer(len(sd.Raw))
	return nil
}

func (w *pdfWriter) sanitizeJPEG(sd *types.StreamDict) error {
	f, ok := formats[JPEG]
	if !ok || f.sanitize == nil {
		w.rep.keep(CatEmbedded, "JPEG images kept as is (no JPEG sanitizer)")
		return nil
	}
	var sub Report
	var err error
	label := fmt.Sprintf("Image %d", w.images)
	if w.inspect {
		sub, err = f.inspect(bytes.NewReader(sd.Raw), int64(len(sd.Raw)))
	} else {
		var out bytes.Buffer
		sub, err = f.sanitize(bytes.NewReader(sd.Raw), int64(len(sd.Raw)), &out)
		if err == nil {
			sd.Raw = out.Bytes()
		}
	}
	if err != nil {
		return err
	}
	for _, it := range sub.Items {
		w.rep.add(it.Category, "%s: %s", label, it.Label)
	}
	for _, it := range sub.Kept {
		w.rep.keep(it.Category, "%s: %s", label, it.Label)
	}
	return nil
}

// renumber deep-copies o with references to the new object numbers;
// references to objects not written become null.
func (w *pdfWriter) renumber(o types.Object) types.Object {
	switch v := o.(type) {
	case types.IndirectRef:
		if n, ok := w.newNr[v.ObjectNumber.Value()]; ok {
			return *types.NewIndirectRef(n, 0)
		}
		return nil
	case types.Dict:
		d := make(types.Dict, len(v))
		for k, e := range v {
			d[k] = w.renumber(e)
		}
		return d
	case types.Array:
		a := make(types.Array, len(v))
		for i, e := range v {
			a[i] = w.renumber(e)
		}
		return a
	}
	return o
}

func pdfObjectString(o types.Object) string {
	if o == nil {
		return "null"
	}
	return o.PDFString()
}

// write writes the collected objects as a new file.
func (w *pdfWriter) write(dst io.Writer) error {
	cw := &countWriter{w: bufio.NewWriterSize(dst, 64<<10)}
	version := "1.7"
	if v := w.ctx.HeaderVersion; v != nil {
		version = v.String()
	}
	fmt.Fprintf(cw, "%%PDF-%s\n%%\xe2\xe3\xcf\xd3\n", version)
	offsets := make([]int64, len(w.order)+1)
	for i, nr := range w.order {
		offsets[i+1] = cw.n
		fmt.Fprintf(cw, "%d 0 obj\n", i+1)
		var obj types.Object
		if e, ok := w.ctx.Table[nr]; ok && e != nil && !e.Free {
			obj = e.Object
		}
		switch o := obj.(type) {
		case types.StreamDict:
			d := w.renumber(o.Dict).(types.Dict)
			io.WriteString(cw, d.PDFString())
			io.WriteString(cw, "\nstream\n")
			cw.Write(o.Raw)
			io.WriteString(cw, "\nendstream")
		default:
			io.WriteString(cw, pdfObjectString(w.renumber(obj)))
		}
		io.WriteString(cw, "\nendobj\n")
	}
	xref := cw.n
	fmt.Fprintf(cw, "xref\n0 %d\n0000000000 65535 f\r\n", len(offsets))
	for _, off := range offsets[1:] {
		fmt.Fprintf(cw, "%010d 00000 n\r\n", off)
	}
	fmt.Fprintf(cw, "trailer\n<</Root 1 0 R/Size %d>>\nstartxref\n%d\n%%%%EOF\n", len(offsets), xref)
	if cw.err != nil {
		return cw.err
	}
	return cw.w.Flush()
}

type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}
