package gui

// Files in a conversation: what happens when the user drops a file on the
// window or picks one with the attach button (the sanitizer's "before
// sending" dialog), and how a file message is shown (a card with its size,
// type, a thumbnail for images, Save or Download, and transfer progress).
//
// Nothing decrypted or cleaned is written to a temporary file: the preview of
// a cleaned image is sanitized into memory and decoded there, thumbnails are
// decoded from a reader the caller opens on the vault, and saving goes
// straight from the vault to the path the user chose.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders for previews and thumbnails
	_ "image/jpeg"
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"

	"github.com/ephemera-im/ephemera/core/media"
	"github.com/ephemera-im/ephemera/core/messenger"
)

const (
	// maxPreviewFile is the largest image the "before sending" dialog
	// sanitizes into memory to preview; larger ones are sent without a
	// preview (they are still cleaned by SendFile).
	maxPreviewFile = 50 << 20
	// maxDecodePixels bounds the images decoded for previews and
	// thumbnails, checked from the header before anything is allocated.
	maxDecodePixels = 40_000_000
	// hiDPI is how many pixels a preview keeps per Fyne unit, so that it
	// stays sharp on high-density screens without holding the full image.
	hiDPI = 2
)

// previewSize is the largest the cleaned image is shown in the dialog.
var previewSize = fyne.NewSize(320, 240)

// fileSender sends a file to a contact; *messenger.Messenger implements it.
type fileSender interface {
	SendFile(ctx context.Context, contact, path string, opts messenger.FileOptions) (messenger.Message, media.Report, error)
}

var _ fileSender = (*messenger.Messenger)(nil)

// dropHandler takes the files dropped on the window or chosen with the attach
// button to the open conversation, after the user has seen what the sanitizer
// will remove. Files are handled one at a time, each with its own dialog;
// files dropped while a dialog is open wait their turn.
//
// Its methods run on the Fyne goroutine, except the inspection of a file and
// SendFile, which run on goroutines of their own. The fields are set once
// before install; contact, opts and onError are called on the Fyne goroutine.
type dropHandler struct {
	win  fyne.Window
	send fileSender
	// contact returns the open conversation's contact id, "" if none.
	contact func() string
	// opts returns the compose area's per-message timer override; nil
	// means none.
	opts func() messenger.SendOptions
	// onError receives SendFile's errors; nil shows them in a dialog.
	onError func(error)
	// do runs a worker's result on the Fyne goroutine (UI.do); nil
	// means onUI.
	do func(func())

	// Owned by the Fyne goroutine.
	queue []droppedFile // waiting for their dialog
	busy  bool          // a file is being inspected or its dialog shown

	// work counts inspections and sends in flight, so that tests can
	// wait for them.
	work sync.WaitGroup
}

// droppedFile is one path dropped on a conversation.
type droppedFile struct {
	path    string
	contact string // the conversation open when it was dropped
}

// install makes the window hand dropped files to d.
func (d *dropHandler) install() {
	d.win.SetOnDropped(d.onDropped)
}

// onDropped is the window's drop callback: it runs on the Fyne goroutine.
// Only local files can be sent; other URIs (from a browser, say) are
// refused with a message.
func (d *dropHandler) onDropped(_ fyne.Position, uris []fyne.URI) {
	var paths []string
	var others []string
	for _, u := range uris {
		if u == nil {
			continue
		}
		if u.Scheme() != "file" {
			others = append(others, u.String())
			continue
		}
		paths = append(paths, u.Path())
	}
	if len(others) > 0 {
		dialog.ShowInformation("Only files can be sent",
			"Only files from this computer can be dropped here.\nNot sent: "+displayName(strings.Join(others, ", ")), d.win)
	}
	d.handleDrop(paths)
}

// chooseFile is the attach button's action: Fyne's file open dialog, whose
// choice goes through handleDrop like a dropped file.
func (d *dropHandler) chooseFile() {
	dialog.NewFileOpen(d.onChosen, d.win).Show()
}

// onChosen receives the file open dialog's choice; rc is nil on cancel.
func (d *dropHandler) onChosen(rc fyne.URIReadCloser, err error) {
	if err != nil {
		d.reportError(err)
		return
	}
	if rc == nil {
		return
	}
	u := rc.URI()
	rc.Close() // only the path is needed: SendFile opens the file itself
	d.onDropped(fyne.Position{}, []fyne.URI{u})
}

// handleDrop queues paths for the open conversation and starts on the first
// unless a file is already being handled.
func (d *dropHandler) handleDrop(paths []string) {
	if len(paths) == 0 {
		return
	}
	contact := ""
	if d.contact != nil {
		contact = d.contact()
	}
	if contact == "" {
		dialog.ShowInformation("No conversation open",
			"Open a conversation first, then drop the file on the window again.", d.win)
		return
	}
	for _, p := range paths {
		d.queue = append(d.queue, droppedFile{path: p, contact: contact})
	}
	if !d.busy {
		d.next()
	}
}

// next inspects the next queued file on a worker goroutine and shows its
// dialog when done; it runs on the Fyne goroutine.
func (d *dropHandler) next() {
	if len(d.queue) == 0 {
		d.busy = false
		return
	}
	f := d.queue[0]
	d.queue = d.queue[1:]
	d.busy = true
	d.work.Add(1)
	go func() {
		defer d.work.Done()
		in := inspectFile(f.path)
		d.onUI(func() { d.showInspection(f, in) })
	}()
}

// inspection is what inspectFile found out about a dropped path.
type inspection struct {
	name        string // base name, cleaned for display
	size        int64
	folder      bool
	typ         media.Type
	report      media.Report
	unsupported bool        // the sanitizer cannot clean this type
	err         error       // the file cannot be read or is malformed
	preview     image.Image // the cleaned image, scaled down; nil if none
	previewErr  error       // why there is no preview of an image
}

// inspectFile opens path, detects its type and lists its metadata, and for
// an image of up to maxPreviewFile bytes sanitizes it into memory and decodes
// the result for the preview. It runs on a worker goroutine.
func inspectFile(path string) inspection {
	in := inspection{name: displayName(filepath.Base(path))}
	// Stat before opening: opening a named pipe would block.
	st, err := os.Stat(path)
	if err != nil {
		in.err = err
		return in
	}
	if st.IsDir() {
		in.folder = true
		return in
	}
	if !st.Mode().IsRegular() {
		in.err = fmt.Errorf("%s is not a regular file", in.name)
		return in
	}
	f, err := os.Open(path)
	if err != nil {
		in.err = err
		return in
	}
	defer f.Close()
	in.size = st.Size()
	typ, derr := media.Detect(f, in.size)
	in.typ = typ
	var ue *media.UnsupportedError
	if errors.As(derr, &ue) {
		in.typ = ue.Type
	}
	rep, err := media.Inspect(f, in.size)
	in.report = rep
	switch {
	case errors.Is(err, media.ErrUnsupported):
		in.unsupported = true
		if errors.As(err, &ue) {
			in.typ = ue.Type
		}
		return in
	case err != nil:
		in.err = err
		return in
	}
	if rep.Type != "" {
		in.typ = rep.Type
	}
	if isImage(in.typ) {
		in.preview, in.previewErr = cleanPreview(f, in.size)
	}
	return in
}

// cleanPreview sanitizes an image into memory and decodes the cleaned bytes,
// scaled to fit the preview: what the contact will see, never written to disk.
func cleanPreview(f io.ReaderAt, size int64) (image.Image, error) {
	if size > maxPreviewFile {
		return nil, fmt.Errorf("no preview for images over %s", formatSize(maxPreviewFile))
	}
	var clean bytes.Buffer
	clean.Grow(int(size))
	if _, err := media.Sanitize(f, size, &clean); err != nil {
		return nil, err
	}
	img, _, err := decodeBounded(&clean, pixelBox(previewSize))
	return img, err
}

// showInspection shows the dialog for an inspected file; it runs on the
// Fyne goroutine.
func (d *dropHandler) showInspection(f droppedFile, in inspection) {
	var dlg *dialog.CustomDialog
	decided := false
	act := func(send, asIs bool) func() {
		return func() {
			if decided {
				return
			}
			decided = true
			if send {
				d.sendFile(f, asIs)
			}
			dlg.Hide()
		}
	}
	closeBtn := func(text string) *widget.Button { return widget.NewButton(text, act(false, false)) }

	var buttons []fyne.CanvasObject
	switch {
	case in.folder:
		dlg = dialog.NewCustomWithoutButtons("Folders cannot be sent",
			wrapped(fmt.Sprintf("“%s” is a folder. Drop or attach the files inside it one by one.", in.name)), d.win)
		buttons = []fyne.CanvasObject{closeBtn("OK")}
	case in.err != nil:
		dlg = dialog.NewCustomWithoutButtons("Cannot send this file",
			wrapped(fmt.Sprintf("“%s” cannot be sent: %v", in.name, in.err)), d.win)
		buttons = []fyne.CanvasObject{closeBtn("OK")}
	case in.unsupported:
		dlg = dialog.NewCustomWithoutButtons("This file cannot be cleaned", unsupportedContent(in), d.win)
		asIs := widget.NewButtonWithIcon("Send as is", theme.WarningIcon(), act(true, true))
		asIs.Importance = widget.WarningImportance
		buttons = []fyne.CanvasObject{closeBtn("Cancel"), asIs}
	default:
		dlg = dialog.NewCustomWithoutButtons("Before sending", inspectionContent(in), d.win)
		send := widget.NewButtonWithIcon("Send", theme.MailSendIcon(), act(true, false))
		send.Importance = widget.HighImportance
		buttons = []fyne.CanvasObject{closeBtn("Cancel"), send}
	}
	dlg.SetButtons(buttons)
	dlg.SetOnClosed(d.next)
	dlg.Show()
}

// sendFile sends f on a worker goroutine; errors go to onError on the Fyne
// goroutine. The timer override is the one set when the user confirms.
func (d *dropHandler) sendFile(f droppedFile, asIs bool) {
	opts := messenger.FileOptions{AsIs: asIs}
	if d.opts != nil {
		opts.SendOptions = d.opts()
	}
	d.work.Add(1)
	go func() {
		defer d.work.Done()
		if _, _, err := d.send.SendFile(context.Background(), f.contact, f.path, opts); err != nil {
			d.onUI(func() { d.reportError(err) })
		}
	}()
}

func (d *dropHandler) onUI(f func()) {
	if d.do != nil {
		d.do(f)
		return
	}
	onUI(f)
}

// reportError hands err to onError, or shows it; on the Fyne goroutine.
func (d *dropHandler) reportError(err error) {
	if d.onError != nil {
		d.onError(err)
		return
	}
	dialog.ShowError(err, d.win)
}

// inspectionContent is the body of the "before sending" dialog: the file,
// what will be removed by category, what is kept, and the cleaned image.
func inspectionContent(in inspection) fyne.CanvasObject {
	name := widget.NewLabelWithStyle(in.name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	name.Truncation = fyne.TextTruncateEllipsis
	info := widget.NewLabel(typeName(in.typ) + " · " + formatSize(in.size))

	list := container.NewVBox()
	if len(in.report.Items) == 0 {
		list.Add(wrapped("Nothing to remove: the file carries no location, device, dates or other metadata."))
	} else {
		list.Add(heading("Will be removed"))
		for _, g := range groupItems(in.report.Items) {
			list.Add(subheading(categoryName(g.cat)))
			for _, it := range g.items {
				list.Add(bullet(it.Label))
			}
		}
	}
	if len(in.report.Kept) > 0 {
		list.Add(heading("Kept"))
		for _, it := range in.report.Kept {
			list.Add(bullet(it.Label))
		}
	}
	scroll := container.NewVScroll(list)
	scroll.SetMinSize(fyne.NewSize(360, 180))

	top := container.NewVBox(name, info, widget.NewSeparator())
	var right fyne.CanvasObject
	switch {
	case in.preview != nil:
		img := canvas.NewImageFromImage(in.preview)
		img.FillMode = canvas.ImageFillContain
		img.ScaleMode = canvas.ImageScaleSmooth
		img.SetMinSize(fitSize(in.preview.Bounds().Dx(), in.preview.Bounds().Dy(), previewSize, hiDPI))
		caption := widget.NewLabelWithStyle("As your contact will see it", fyne.TextAlignCenter, fyne.TextStyle{Italic: true})
		right = container.NewVBox(container.NewCenter(img), caption)
	case isImage(in.typ):
		msg := "No preview for this image type."
		if in.previewErr != nil {
			msg = "No preview: " + in.previewErr.Error()
		}
		right = wrappedMax(msg, 200)
	}
	if right == nil {
		return container.NewBorder(top, nil, nil, nil, scroll)
	}
	return container.NewBorder(top, nil, nil, container.NewPadded(right), scroll)
}

// unsupportedContent is the body of the dialog for a type the sanitizer
// cannot clean.
func unsupportedContent(in inspection) fyne.CanvasObject {
	name := widget.NewLabelWithStyle(in.name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	name.Truncation = fyne.TextTruncateEllipsis
	what := typeName(in.typ)
	if what != string(in.typ) && in.typ != "" {
		what += " (" + string(in.typ) + ")"
	}
	info := widget.NewLabel(what + " · " + formatSize(in.size))
	warn := wrappedMax("Ephemera cannot remove metadata from files of this type, "+
		"so it may reveal where, when or on what device it was made, or who made it. "+
		"Send it only if you are sure it holds nothing you would not share.", 360)
	return container.NewVBox(name, info, warn)
}

// itemGroup is the items of one category, for display.
type itemGroup struct {
	cat   media.Category
	items []media.Item
}

// categoryOrder is the order categories are listed in: what matters most
// to a user first.
var categoryOrder = []media.Category{
	media.CatLocation, media.CatDevice, media.CatTime, media.CatAuthor, media.CatSoftware,
	media.CatComment, media.CatThumbnail, media.CatEmbedded, media.CatProfile, media.CatOther,
}

// groupItems groups items by category in categoryOrder; categories it does
// not know come last, in order of appearance.
func groupItems(items []media.Item) []itemGroup {
	rank := func(c media.Category) int {
		for i, k := range categoryOrder {
			if k == c {
				return i
			}
		}
		return len(categoryOrder)
	}
	var groups []itemGroup
	for _, it := range items {
		i := 0
		for i < len(groups) && groups[i].cat != it.Category {
			i++
		}
		if i == len(groups) {
			groups = append(groups, itemGroup{cat: it.Category})
		}
		groups[i].items = append(groups[i].items, it)
	}
	// A stable insertion sort: there are at most a dozen groups.
	for i := 1; i < len(groups); i++ {
		for j := i; j > 0 && rank(groups[j].cat) < rank(groups[j-1].cat); j-- {
			groups[j], groups[j-1] = groups[j-1], groups[j]
		}
	}
	return groups
}

// categoryName is a category's heading in the dialog.
func categoryName(c media.Category) string {
	switch c {
	case media.CatLocation:
		return "Location"
	case media.CatDevice:
		return "Device"
	case media.CatTime:
		return "Dates and times"
	case media.CatSoftware:
		return "Software"
	case media.CatAuthor:
		return "Authors"
	case media.CatThumbnail:
		return "Thumbnails"
	case media.CatEmbedded:
		return "Embedded media"
	case media.CatComment:
		return "Comments and titles"
	case media.CatProfile:
		return "Colour profile"
	case media.CatOther:
		return "Other metadata"
	}
	if c == "" {
		return "Other metadata"
	}
	return string(c)
}

// typeName is a file type in words; unknown MIME types are shown as is.
func typeName(t media.Type) string {
	switch t {
	case media.JPEG:
		return "JPEG image"
	case media.PNG:
		return "PNG image"
	case media.WebP:
		return "WebP image"
	case media.GIF:
		return "GIF image"
	case media.HEIC:
		return "HEIC image"
	case media.AVIF:
		return "AVIF image"
	case media.TIFF:
		return "TIFF image"
	case media.PDF:
		return "PDF document"
	case media.DOCX:
		return "Word document"
	case media.XLSX:
		return "Excel spreadsheet"
	case media.PPTX:
		return "PowerPoint presentation"
	case media.ODT:
		return "OpenDocument text"
	case media.ODS:
		return "OpenDocument spreadsheet"
	case media.ODP:
		return "OpenDocument presentation"
	case media.ZIP:
		return "ZIP archive"
	case media.MP4:
		return "MP4 video"
	case media.MOV:
		return "QuickTime video"
	case media.Unknown, "":
		return "Unknown type"
	}
	return string(t)
}

// isImage reports whether t is an image type.
func isImage(t media.Type) bool { return strings.HasPrefix(string(t), "image/") }

// formatSize is a byte count for people, in decimal units as most desktops
// show them: "512 bytes", "1.5 kB", "23 MB".
func formatSize(n int64) string {
	switch {
	case n == 1:
		return "1 byte"
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	}
	v := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		v /= 1000
		if v < 999.95 || unit == "TB" {
			if v < 9.95 {
				return fmt.Sprintf("%.1f %s", v, unit)
			}
			return fmt.Sprintf("%.0f %s", v, unit)
		}
	}
	panic("unreachable")
}

// displayName makes a name from outside (a contact's file name, a path)
// safe to show: control and bidirectional-override characters, which could
// hide a name's real extension ("photo\u202egpj.exe"), become U+FFFD.
func displayName(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// saveName makes a contact's file name safe to suggest in a save dialog: a
// single path element without separators, characters Windows refuses,
// leading dots (hidden files) or a Windows device name.
func saveName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			return -1
		case strings.ContainsRune(`/\:*?"<>|`, r):
			return '_'
		}
		return r
	}, s)
	s = strings.TrimLeft(s, ". ")
	s = strings.TrimRight(s, ". ")
	if s == "" {
		return "file"
	}
	base := strings.ToUpper(s)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	switch base {
	case "CON", "PRN", "AUX", "NUL",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		s = "_" + s
	}
	return s
}

func wrapped(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	return l
}

// wrappedMax is a wrapped label at least width wide, so that it wraps at
// a readable width inside a dialog rather than one word per line.
func wrappedMax(text string, width float32) fyne.CanvasObject {
	l := wrapped(text)
	r := canvas.NewRectangle(nil)
	r.SetMinSize(fyne.NewSize(width, 0))
	return container.NewStack(r, l)
}

func heading(text string) *widget.Label {
	return widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

func subheading(text string) *widget.Label {
	return widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
}

func bullet(text string) *widget.Label { return wrapped("• " + displayName(text)) }

// pixelBox is the largest pixel size kept for an image shown at most size.
func pixelBox(size fyne.Size) image.Point {
	return image.Pt(int(size.Width*hiDPI), int(size.Height*hiDPI))
}

// fitSize is the size, in Fyne units, at which a w×h pixel image fits max
// keeping its aspect ratio, shown at density pixels per unit and never
// enlarged.
func fitSize(w, h int, max fyne.Size, density float32) fyne.Size {
	if w <= 0 || h <= 0 {
		return fyne.NewSize(0, 0)
	}
	fw, fh := float32(w)/density, float32(h)/density
	scale := min(max.Width/fw, max.Height/fh, 1)
	return fyne.NewSize(fw*scale, fh*scale)
}

// decodeBounded decodes an image from r after checking from its header that
// it is at most maxDecodePixels, then scales it down to fit box (in pixels)
// so that only a small copy is kept. It returns the image and its original
// dimensions.
func decodeBounded(r io.Reader, box image.Point) (image.Image, image.Point, error) {
	var head bytes.Buffer
	cfg, _, err := image.DecodeConfig(io.TeeReader(r, &head))
	if err != nil {
		return nil, image.Point{}, fmt.Errorf("cannot read the image: %w", err)
	}
	orig := image.Pt(cfg.Width, cfg.Height)
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, orig, fmt.Errorf("%w: image of %d×%d pixels", media.ErrMalformed, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxDecodePixels {
		return nil, orig, fmt.Errorf("%w: image of %d×%d pixels, the limit is %d megapixels",
			media.ErrTooLarge, cfg.Width, cfg.Height, maxDecodePixels/1_000_000)
	}
	img, _, err := image.Decode(io.MultiReader(&head, r))
	if err != nil {
		return nil, orig, fmt.Errorf("cannot read the image: %w", err)
	}
	b := img.Bounds()
	if b.Dx() <= box.X && b.Dy() <= box.Y {
		return img, orig, nil
	}
	sz := fitSize(b.Dx(), b.Dy(), fyne.NewSize(float32(box.X), float32(box.Y)), 1)
	dst := image.NewRGBA(image.Rect(0, 0, max(1, int(sz.Width)), max(1, int(sz.Height))))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst, orig, nil
}

// imageThumb decodes an image from r in memory into a thumbnail that fits
// max. Images over maxDecodePixels are refused from their header, before
// any pixel is allocated, with an error matching media.ErrTooLarge.
func imageThumb(r io.Reader, max fyne.Size) (fyne.CanvasObject, error) {
	img, _, err := decodeBounded(r, pixelBox(max))
	if err != nil {
		return nil, err
	}
	c := canvas.NewImageFromImage(img)
	c.FillMode = canvas.ImageFillContain
	c.ScaleMode = canvas.ImageScaleSmooth
	c.SetMinSize(fitSize(img.Bounds().Dx(), img.Bounds().Dy(), max, hiDPI))
	return c, nil
}

// fileActions are what a file card's buttons do, given the message id.
// A nil function hides its button.
type fileActions struct {
	save     func(id string)
	download func(id string)
	// cancel stops a running transfer. The messenger has no API for it
	// yet, so callers pass nil for now.
	cancel func(id string)
}

// thumbSize is the largest an inline thumbnail is shown.
var thumbSize = fyne.NewSize(240, 180)

// fileCard shows a file message: a thumbnail or file icon, the name, size
// and type, a Save button when the file is in the vault, a Download button
// when it is not, and a progress bar (with Cancel) while a transfer runs.
// Use it on the Fyne goroutine only; a virtualised list reuses a card for
// another message with update.
type fileCard struct {
	widget.BaseWidget
	act fileActions

	id        string
	mediaType string
	size      int64
	hasFile   bool // the message had a FileInfo
	have      bool
	running   bool // a transfer is in progress

	thumb    *fyne.Container // icon or thumbnail
	name     *widget.Label
	info     *widget.Label // "1.5 MB · JPEG image"
	removed  *widget.Label // what the sanitizer removed (our files)
	failed   *widget.Label // why a download was given up
	save     *widget.Button
	download *widget.Button
	bar      *widget.ProgressBar
	cancel   *widget.Button
	progress *fyne.Container // bar and cancel
	done     int64
	total    int64
	content  fyne.CanvasObject

	// onThumb, if set, receives the thumbnail loadThumb showed (the
	// conversation keeps a few, so that scrolling back decodes nothing).
	onThumb func(id string, thumb fyne.CanvasObject)
}

// newFileCard makes a card for a file message; its dynamic type is
// *fileCard, whose setProgress and update the conversation view calls.
func newFileCard(msg messenger.Message, act fileActions) fyne.CanvasObject {
	c := &fileCard{act: act}
	c.ExtendBaseWidget(c)
	c.build()
	c.update(msg)
	return c
}

func (c *fileCard) build() {
	c.thumb = container.NewStack()
	c.name = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	c.name.Truncation = fyne.TextTruncateEllipsis
	c.info = widget.NewLabel("")
	c.removed = widget.NewLabel("")
	c.removed.Truncation = fyne.TextTruncateEllipsis
	c.removed.Importance = widget.LowImportance
	c.failed = widget.NewLabel("")
	c.failed.Wrapping = fyne.TextWrapWord
	c.failed.Importance = widget.DangerImportance
	c.save = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), func() {
		if c.act.save != nil {
			c.act.save(c.id)
		}
	})
	c.download = widget.NewButtonWithIcon("Download", theme.DownloadIcon(), c.onDownload)
	c.bar = widget.NewProgressBar()
	c.bar.TextFormatter = func() string {
		if c.total <= 0 {
			return formatSize(c.done)
		}
		return formatSize(c.done) + " of " + formatSize(c.total)
	}
	c.cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), func() {
		if c.act.cancel != nil {
			c.act.cancel(c.id)
		}
	})
	c.progress = container.NewBorder(nil, nil, nil, c.cancel, c.bar)
	buttons := container.NewHBox(c.save, c.download)
	text := container.NewVBox(c.name, c.info, c.removed, c.failed, c.progress, buttons)
	c.content = container.NewBorder(nil, nil, container.NewCenter(c.thumb), nil, text)
}

// CreateRenderer implements fyne.Widget.
func (c *fileCard) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(c.content)
}

// update shows msg, keeping the progress of a running transfer when msg is
// the message already shown (a MessageUpdated) and resetting it otherwise.
func (c *fileCard) update(msg messenger.Message) {
	if msg.ID != c.id {
		c.running, c.done, c.total = false, 0, 0
		c.thumb.Objects = nil
	}
	c.id = msg.ID
	f := msg.File
	c.hasFile = f != nil
	if f == nil {
		f = &messenger.FileInfo{}
	}
	c.have = f.Have
	c.mediaType = f.Type
	c.size = f.Size
	if f.Have || f.Failed != "" {
		c.running = false // a finished or abandoned download
	}
	if why := failureText(f.Failed); why != "" {
		c.failed.SetText(why)
		c.failed.Show()
	} else {
		c.failed.Hide()
	}
	name := displayName(f.Name)
	if name == "" {
		name = "(file without a name)"
	}
	c.name.SetText(name)
	c.info.SetText(formatSize(f.Size) + " · " + typeName(media.Type(f.Type)))
	if len(f.Removed) > 0 {
		c.removed.SetText("Removed before sending: " + displayName(strings.Join(f.Removed, "; ")))
		c.removed.Show()
	} else {
		c.removed.Hide()
	}
	if len(c.thumb.Objects) == 0 {
		c.setIcon(media.Type(f.Type))
	}
	c.showButtons()
}

// failureText words why a download was given up ("" for none).
func failureText(f messenger.FileFailure) string {
	switch f {
	case "":
		return ""
	case messenger.FileWrongSize:
		return "Download failed: the relay's file is not the size the message names. Download tries again."
	case messenger.FileDamaged:
		return "Download failed: the file arrived damaged each time. Download tries again."
	case messenger.FileGone:
		return "Download failed: the file is no longer on the relay."
	}
	return "Download failed."
}

func (c *fileCard) setIcon(t media.Type) {
	res := theme.FileIcon()
	switch {
	case isImage(t):
		res = theme.FileImageIcon()
	case strings.HasPrefix(string(t), "video/"):
		res = theme.FileVideoIcon()
	case t == media.PDF || strings.Contains(string(t), "document"):
		res = theme.FileTextIcon()
	}
	icon := widget.NewIcon(res)
	c.thumb.Objects = []fyne.CanvasObject{container.NewGridWrap(fyne.NewSquareSize(48), icon)}
	c.thumb.Refresh()
}

// showButtons shows what fits the state: Save for a file we have,
// Download for one we do not (unless it is downloading), the progress bar
// while a transfer runs.
func (c *fileCard) showButtons() {
	setVisible(c.save, c.hasFile && c.have && c.act.save != nil)
	setVisible(c.download, c.hasFile && !c.have && !c.running && c.act.download != nil)
	setVisible(c.cancel, c.act.cancel != nil)
	setVisible(c.progress, c.running)
	if c.running {
		if c.total > 0 {
			c.bar.Max = float64(c.total)
		} else {
			c.bar.Max = 1
		}
		c.bar.SetValue(float64(c.done))
	}
}

func setVisible(o fyne.CanvasObject, v bool) {
	if v {
		o.Show()
	} else {
		o.Hide()
	}
}

func (c *fileCard) onDownload() {
	if c.act.download == nil {
		return
	}
	c.setProgress(0, c.size) // shows that it started before the first event
	c.act.download(c.id)
}

// setProgress shows a transfer's progress (a TransferProgress event's Done
// and Total); the bar hides when done reaches total. Call it on the Fyne
// goroutine.
func (c *fileCard) setProgress(done, total int64) {
	c.done, c.total = done, total
	c.running = total <= 0 || done < total
	c.showButtons()
}

// setThumb replaces the file icon with a thumbnail (see imageThumb).
func (c *fileCard) setThumb(o fyne.CanvasObject) {
	c.thumb.Objects = []fyne.CanvasObject{o}
	c.thumb.Refresh()
}

// loadThumb decodes the thumbnail of the image the card shows on a worker
// goroutine, from the reader open returns (the vault attachment, say), and
// shows it through do (UI.do; nil means onUI) unless the card shows another
// message by then. It does nothing for a file that is not an image or not in
// the vault. The returned channel is closed when it is done (tests wait on
// it).
func (c *fileCard) loadThumb(open func() (io.ReadCloser, error), do func(func())) <-chan struct{} {
	if do == nil {
		do = onUI
	}
	done := make(chan struct{})
	if !c.have || !c.hasFile || !isImage(media.Type(c.mediaType)) {
		close(done)
		return done
	}
	id := c.id
	go func() {
		defer close(done)
		rc, err := open()
		if err != nil {
			return
		}
		defer rc.Close()
		thumb, err := imageThumb(rc, thumbSize)
		if err != nil {
			return // the icon stays
		}
		do(func() {
			if c.id == id {
				c.setThumb(thumb)
				if c.onThumb != nil {
					c.onThumb(id, thumb)
				}
			}
		})
	}()
	return done
}

// saveFileDialog asks where to save a received file, suggesting its name
// made safe, and calls save with the chosen local path on a worker
// goroutine (saving a large file takes a while); its error is shown.
func saveFileDialog(win fyne.Window, name string, save func(path string) error) {
	fd := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		saveChosen(win, w, err, save)
	}, win)
	fd.SetFileName(saveName(name))
	fd.Show()
}

// saveChosen handles the save dialog's choice; the returned channel is
// closed when saving has finished (tests wait on it).
//
// Fyne's dialog hands over the file already created (or, after the user
// agreed to overwrite it, truncated) through storage.Writer, while
// messenger.SaveFile refuses an existing path so that it never overwrites
// by mistake. The user has chosen this path, so the empty file Fyne made is
// removed and SaveFile writes it anew; a file that is not empty (something
// else wrote it meanwhile) is left alone and SaveFile's refusal is shown.
func saveChosen(win fyne.Window, w fyne.URIWriteCloser, err error, save func(path string) error) <-chan struct{} {
	done := make(chan struct{})
	fail := func(err error) { dialog.ShowError(err, win) }
	if err != nil || w == nil {
		if err != nil {
			fail(err)
		}
		close(done)
		return done
	}
	u := w.URI()
	w.Close()
	if u.Scheme() != "file" {
		fail(fmt.Errorf("cannot save to %s: only local files are supported", u))
		close(done)
		return done
	}
	path := u.Path()
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() && st.Size() == 0 {
		if err := os.Remove(path); err != nil {
			fail(err)
			close(done)
			return done
		}
	}
	go func() {
		defer close(done)
		if err := save(path); err != nil {
			onUI(func() { fail(err) })
		}
	}()
	return done
}
