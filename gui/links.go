package gui

// Links in the conversation: message text with tappable links, the risk
// badge next to a link, the sender's preview card and the interstitial shown
// before a link reaches the system browser.
//
// Nothing here opens a browser by itself. A tapped link goes to a callback,
// and only linkOpener hands a URL to its browse function, after the offline
// analysis (core/links) and, when the policy asks for it, the user's
// explicit confirmation. Everything the sender controls (preview title,
// description, image) is shown as the sender's claim; the domain shown is
// always the receiver's own reading of the link in the body.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net/url"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/links"
	"github.com/ephemera-im/ephemera/core/messenger"
)

const (
	// maxShownLinkRunes caps a link's text in a message: hyperlinks do not
	// wrap, and the host, which comes first, is what the reader needs.
	// The interstitial shows the whole address.
	maxShownLinkRunes = 80
	// maxShownAddressRunes caps the full address in the interstitial.
	maxShownAddressRunes = 600
	// Caps on the sender's preview text in a card, in bytes.
	maxCardTitle       = 200
	maxCardDescription = 280
	// cardImageSide is the side of the box the preview image is fitted in.
	cardImageSide float32 = 72
	// tipWidth and interstitialWidth are the preferred widths of the
	// reasons tip and the interstitial; both shrink to fit the window.
	tipWidth          float32 = 320
	interstitialWidth float32 = 460
	// checkTimeout bounds "Check where this goes".
	checkTimeout = 20 * time.Second
)

// errPreviewImage is wrapped by every reason a preview image is not shown.
var errPreviewImage = errors.New("preview image refused")

// linkText returns text as rich text with every link links.Extract finds
// as a hyperlink segment and the rest as plain text, wrapped at words.
// Tapping a link calls onLink with the link's URL and the text the reader
// saw; the segments carry no URL, so a tap can never reach the browser
// without going through onLink (see linkOpener).
func linkText(text string, onLink func(rawURL, shown string)) *widget.RichText {
	var segs []widget.RichTextSegment
	pos := 0
	for _, l := range links.Extract(text) {
		if l.Start < pos || l.End > len(text) || l.Start >= l.End {
			continue // not expected from Extract; keep the text intact
		}
		if l.Start > pos {
			segs = append(segs, plainSegment(text[pos:l.Start]))
		}
		shown := l.Text
		if strings.TrimSpace(shown) == "" {
			shown = l.URL // "[](url)" would otherwise be an invisible link
		}
		segs = append(segs, &widget.HyperlinkSegment{
			Text: shortLinkText(shown),
			OnTapped: func() {
				if onLink != nil {
					onLink(l.URL, shown)
				}
			},
		})
		pos = l.End
	}
	if pos < len(text) {
		segs = append(segs, plainSegment(text[pos:]))
	}
	rt := widget.NewRichText(segs...)
	rt.Wrapping = fyne.TextWrapWord
	return rt
}

func plainSegment(s string) *widget.TextSegment {
	return &widget.TextSegment{Text: s, Style: widget.RichTextStyleInline}
}

// shortAddress caps the address shown in the interstitial, which would
// otherwise outgrow the window; such a link also has the excessive-length
// reason.
func shortAddress(s string) string {
	r := []rune(s)
	if len(r) <= maxShownAddressRunes {
		return s
	}
	return fmt.Sprintf("%s… (%d more characters)", string(r[:maxShownAddressRunes]), len(r)-maxShownAddressRunes)
}

// shortLinkText keeps the start of a long link's text.
func shortLinkText(s string) string {
	r := []rune(s)
	if len(r) <= maxShownLinkRunes {
		return s
	}
	return string(r[:maxShownLinkRunes-1]) + "…"
}

// riskLevel is v's risk as shown; a risk outside the known levels is shown
// as high rather than hidden.
func riskLevel(r links.Risk) links.Risk {
	if !r.Valid() {
		return links.RiskHigh
	}
	return r
}

// riskSummary is the one-line sentence above a verdict's reasons.
func riskSummary(r links.Risk) string {
	switch riskLevel(r) {
	case links.RiskHigh:
		return "This link looks dangerous."
	case links.RiskMedium:
		return "This link may not be what it seems."
	case links.RiskLow:
		return "Something to know about this link."
	}
	return "No problems found with this link."
}

// riskBadge is the small coloured label next to a link: "Risky link"
// (high), "Check link" (medium) or "Link note" (low). Its reasons appear
// in a tip while the pointer is over it, and stay on a tap until the next
// tap. A badge for RiskNone is hidden.
type riskBadge struct {
	widget.BaseWidget
	verdict links.Verdict
	tip     *reasonsTip // while shown
}

// newRiskBadge returns the badge for v, hidden when v has no risk.
func newRiskBadge(v links.Verdict) fyne.CanvasObject {
	b := &riskBadge{verdict: v}
	b.ExtendBaseWidget(b)
	if riskLevel(v.Risk) == links.RiskNone {
		b.Hide()
	}
	return b
}

// text is the badge's label.
func (b *riskBadge) text() string {
	switch riskLevel(b.verdict.Risk) {
	case links.RiskHigh:
		return "Risky link"
	case links.RiskMedium:
		return "Check link"
	case links.RiskLow:
		return "Link note"
	}
	return ""
}

func (b *riskBadge) colors() (bg, fg fyne.ThemeColorName) {
	switch riskLevel(b.verdict.Risk) {
	case links.RiskHigh:
		return theme.ColorNameError, theme.ColorNameForegroundOnError
	case links.RiskMedium:
		return theme.ColorNameWarning, theme.ColorNameForegroundOnWarning
	}
	return theme.ColorNameButton, theme.ColorNameForeground
}

func (b *riskBadge) CreateRenderer() fyne.WidgetRenderer {
	b.ExtendBaseWidget(b)
	r := &riskBadgeRenderer{b: b, bg: &canvas.Rectangle{}, label: canvas.NewText(b.text(), nil)}
	r.label.TextStyle = fyne.TextStyle{Bold: true}
	r.Refresh()
	return r
}

// Cursor shows that the badge can be clicked.
func (b *riskBadge) Cursor() desktop.Cursor { return desktop.PointerCursor }

// Tapped shows the reasons until the next tap. While the tip is shown it
// takes the taps itself (see reasonsTip.Tapped).
func (b *riskBadge) Tapped(*fyne.PointEvent) { b.showTip(true) }

// MouseIn shows the reasons while the pointer stays on the badge or the tip.
func (b *riskBadge) MouseIn(*desktop.MouseEvent) { b.showTip(false) }

// MouseMoved does nothing: the tip, once shown, follows the pointer.
func (b *riskBadge) MouseMoved(*desktop.MouseEvent) {}

// MouseOut does nothing: the tip covers the badge as soon as it shows, so
// the badge always loses the pointer then; the tip decides when to go.
func (b *riskBadge) MouseOut() {}

func (b *riskBadge) showTip(pinned bool) {
	if b.tip != nil {
		b.tip.pinned = b.tip.pinned || pinned
		return
	}
	if !b.Visible() {
		return
	}
	c := fyne.CurrentApp().Driver().CanvasForObject(b)
	if c == nil {
		return // not on screen
	}
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(b)
	b.tip = newReasonsTip(b, c, pos, b.Size(), pinned)
	b.tip.Resize(c.Size())
	c.Overlays().Add(b.tip)
}

func (b *riskBadge) hideTip() {
	if b.tip == nil {
		return
	}
	b.tip.canvas.Overlays().Remove(b.tip)
	b.tip = nil
}

type riskBadgeRenderer struct {
	b     *riskBadge
	bg    *canvas.Rectangle
	label *canvas.Text
}

func (r *riskBadgeRenderer) padding() fyne.Size {
	p := r.b.Theme().Size(theme.SizeNamePadding)
	return fyne.NewSize(p*3, p)
}

func (r *riskBadgeRenderer) Layout(size fyne.Size) {
	r.bg.Resize(size)
	min := r.label.MinSize()
	r.label.Move(fyne.NewPos((size.Width-min.Width)/2, (size.Height-min.Height)/2))
	r.label.Resize(min)
}

func (r *riskBadgeRenderer) MinSize() fyne.Size {
	return r.label.MinSize().Add(r.padding())
}

func (r *riskBadgeRenderer) Refresh() {
	th := r.b.Theme()
	v := fyne.CurrentApp().Settings().ThemeVariant()
	bg, fg := r.b.colors()
	r.bg.FillColor = th.Color(bg, v)
	r.bg.CornerRadius = th.Size(theme.SizeNameInputRadius)
	r.label.Color = th.Color(fg, v)
	r.label.TextSize = th.Size(theme.SizeNameCaptionText)
	r.label.Text = r.b.text()
	r.bg.Refresh()
	r.label.Refresh()
}

func (r *riskBadgeRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.bg, r.label}
}

func (r *riskBadgeRenderer) Destroy() {}

// reasonsTip is a badge's reasons, drawn next to the badge on an overlay
// that covers the canvas. Being the top overlay, it receives the pointer:
// it hides itself when the pointer leaves both badge and tip (unless pinned
// by a tap) and on any tap outside the tip.
type reasonsTip struct {
	widget.BaseWidget
	badge      *riskBadge
	canvas     fyne.Canvas
	anchor     fyne.Position // the badge, in canvas coordinates
	anchorSize fyne.Size
	pinned     bool

	content *fyne.Container // the reasons, for tests
	bg      *canvas.Rectangle
	box     fyne.Position // where the tip is drawn, set by Layout
	boxSize fyne.Size
}

func newReasonsTip(b *riskBadge, c fyne.Canvas, anchor fyne.Position, anchorSize fyne.Size, pinned bool) *reasonsTip {
	t := &reasonsTip{badge: b, canvas: c, anchor: anchor, anchorSize: anchorSize, pinned: pinned}
	width := fyne.Min(tipWidth, c.Size().Width-4*theme.Padding())
	t.content = verdictDetails(b.verdict, width)
	t.bg = canvas.NewRectangle(theme.Color(theme.ColorNameOverlayBackground))
	t.bg.StrokeColor = theme.Color(theme.ColorNameInputBorder)
	t.bg.StrokeWidth = 1
	t.bg.CornerRadius = theme.Size(theme.SizeNameInputRadius)
	t.ExtendBaseWidget(t)
	return t
}

// verdictDetails is the summary sentence and every reason's sentence, in
// a column of the given width.
func verdictDetails(v links.Verdict, width float32) *fyne.Container {
	col := container.New(&linkColumn{width: width})
	summary := widget.NewLabelWithStyle(riskSummary(v.Risk), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	summary.Wrapping = fyne.TextWrapWord
	col.Add(summary)
	for _, r := range v.Reasons {
		l := widget.NewLabel("• " + r.Message)
		l.Wrapping = fyne.TextWrapWord
		col.Add(l)
	}
	return col
}

func (t *reasonsTip) CreateRenderer() fyne.WidgetRenderer {
	t.ExtendBaseWidget(t)
	return &reasonsTipRenderer{t: t}
}

// near reports whether p (canvas coordinates) is on the badge or the tip,
// or in the gap between them.
func (t *reasonsTip) near(p fyne.Position) bool {
	m := theme.Padding()
	in := func(pos fyne.Position, size fyne.Size) bool {
		return p.X >= pos.X-m && p.Y >= pos.Y-m && p.X <= pos.X+size.Width+m && p.Y <= pos.Y+size.Height+m
	}
	return in(t.anchor, t.anchorSize) || in(t.box, t.boxSize)
}

func (t *reasonsTip) onTip(p fyne.Position) bool {
	return p.X >= t.box.X && p.Y >= t.box.Y && p.X <= t.box.X+t.boxSize.Width && p.Y <= t.box.Y+t.boxSize.Height
}

func (t *reasonsTip) onBadge(p fyne.Position) bool {
	a := t.anchor
	return p.X >= a.X && p.Y >= a.Y && p.X <= a.X+t.anchorSize.Width && p.Y <= a.Y+t.anchorSize.Height
}

// Tapped pins the tip on a tap on it; a tap on the badge toggles it, and
// one anywhere else hides it.
func (t *reasonsTip) Tapped(e *fyne.PointEvent) {
	switch {
	case t.onTip(e.Position):
		t.pinned = true
	case t.onBadge(e.Position) && !t.pinned:
		t.pinned = true
	default:
		t.badge.hideTip()
	}
}

// MouseIn and MouseMoved hide an unpinned tip once the pointer is off the
// badge and the tip.
func (t *reasonsTip) MouseIn(e *desktop.MouseEvent) { t.MouseMoved(e) }

func (t *reasonsTip) MouseMoved(e *desktop.MouseEvent) {
	if !t.pinned && !t.near(e.Position) {
		t.badge.hideTip()
	}
}

// MouseOut (the pointer left the window) hides an unpinned tip.
func (t *reasonsTip) MouseOut() {
	if !t.pinned {
		t.badge.hideTip()
	}
}

type reasonsTipRenderer struct{ t *reasonsTip }

// Layout puts the tip below the badge, or above it when there is no room
// below, within the canvas.
func (r *reasonsTipRenderer) Layout(size fyne.Size) {
	t := r.t
	pad := theme.Padding()
	inner := t.content.MinSize()
	box := inner.Add(fyne.NewSquareSize(2 * pad))
	x := fyne.Max(0, fyne.Min(t.anchor.X, size.Width-box.Width))
	y := t.anchor.Y + t.anchorSize.Height + pad/2
	if y+box.Height > size.Height && t.anchor.Y-pad/2-box.Height >= 0 {
		y = t.anchor.Y - pad/2 - box.Height
	}
	t.box, t.boxSize = fyne.NewPos(x, y), box
	t.bg.Move(t.box)
	t.bg.Resize(box)
	t.content.Move(t.box.AddXY(pad, pad))
	t.content.Resize(inner)
}

func (r *reasonsTipRenderer) MinSize() fyne.Size { return fyne.NewSize(0, 0) }

func (r *reasonsTipRenderer) Refresh() {
	r.t.bg.FillColor = theme.Color(theme.ColorNameOverlayBackground)
	r.t.bg.Refresh()
	r.Layout(r.t.Size())
}

func (r *reasonsTipRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.t.bg, r.t.content}
}

func (r *reasonsTipRenderer) Destroy() {}

// linkColumn stacks objects like a VBox, each as wide as the column and
// as tall as it needs at that width. Wrapped text reports its height for
// the width it last had, so widths are set before heights are read, and
// with a preferred width (width > 0) MinSize first gives narrower objects
// that width: a tip or dialog built on it is as tall as its text needs at
// that width rather than one word wide. With width 0 the column takes the
// width its parent gives it.
type linkColumn struct{ width float32 }

func (c *linkColumn) MinSize(objs []fyne.CanvasObject) fyne.Size {
	var w, h float32
	n := 0
	for _, o := range objs {
		if !o.Visible() {
			continue
		}
		if c.width > 0 && o.Size().Width < c.width {
			o.Resize(fyne.NewSize(c.width, o.MinSize().Height))
		}
		min := o.MinSize()
		w = fyne.Max(w, min.Width)
		h += min.Height
		n++
	}
	if n > 1 {
		h += theme.Padding() * float32(n-1)
	}
	if c.width > 0 {
		w = c.width
	}
	return fyne.NewSize(w, h)
}

func (c *linkColumn) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	var y float32
	for _, o := range objs {
		if !o.Visible() {
			continue
		}
		if o.Size().Width != size.Width {
			o.Resize(fyne.NewSize(size.Width, o.Size().Height))
		}
		h := o.MinSize().Height
		o.Resize(fyne.NewSize(size.Width, h))
		o.Move(fyne.NewPos(0, y))
		y += h + theme.Padding()
	}
}

// hostText shows a DisplayHost with its registrable domain in bold, the
// part that says who owns the site.
func hostText(h links.DisplayHost, fallback string) *widget.RichText {
	bold := widget.RichTextStyleStrong
	bold.Inline = true
	var segs []widget.RichTextSegment
	switch {
	case h.Registrable != "":
		if h.Prefix != "" {
			segs = append(segs, plainSegment(h.Prefix))
		}
		segs = append(segs, &widget.TextSegment{Text: h.Registrable, Style: bold})
	case h.String() != "":
		segs = append(segs, &widget.TextSegment{Text: h.String(), Style: bold})
	case fallback != "":
		segs = append(segs, &widget.TextSegment{Text: fallback, Style: bold})
	default:
		segs = append(segs, &widget.TextSegment{Text: "unknown site", Style: bold})
	}
	rt := widget.NewRichText(segs...)
	rt.Wrapping = fyne.TextWrapBreak // a host has no spaces to wrap at
	return rt
}

// linkCard is the sender's preview of a link: the registrable domain of
// the link in the body, in bold, with the risk badge; the sender's title,
// description and image below, labelled as the sender's preview. Tapping
// the card opens the link (through open, normally linkOpener.open).
type linkCard struct {
	widget.BaseWidget
	url  string
	open func(rawURL string)

	domain      *widget.RichText
	badge       fyne.CanvasObject
	title       *widget.Label
	description *widget.Label
	caption     *widget.Label
	image       *canvas.Image // nil when there is none or it was refused
	imageErr    error         // why an image was refused
	body        fyne.CanvasObject
}

// newLinkCard returns the card for p, a preview of the body's link p.URL,
// with v the receiver's analysis of that link (from links.AnalyzeText of
// the body, so that a markdown link is checked against its text). When v
// is not about p.URL (the zero Verdict, say) the link is analysed here.
// The domain comes from the analysis, never from the preview. open is
// called with p.URL when the card is tapped; pass a function that calls
// linkOpener.open(rawURL, rawURL).
func newLinkCard(p messenger.Preview, v links.Verdict, open func(rawURL string)) fyne.CanvasObject {
	if own := links.Analyze(p.URL, ""); v.URL != own.URL {
		v = own // no verdict, or one about another link
	}
	c := &linkCard{url: p.URL, open: open}
	c.domain = hostText(v.Host, v.HostASCII)
	c.badge = newRiskBadge(v)

	c.title = widget.NewLabelWithStyle(links.CleanText(p.Title, maxCardTitle), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	c.title.Wrapping = fyne.TextWrapWord
	c.description = widget.NewLabel(links.CleanText(p.Description, maxCardDescription))
	c.description.Wrapping = fyne.TextWrapWord
	c.caption = widget.NewLabelWithStyle("Preview sent by the sender", fyne.TextAlignLeading, fyne.TextStyle{Italic: true})
	c.caption.SizeName = theme.SizeNameCaptionText
	for _, l := range []*widget.Label{c.title, c.description} {
		if l.Text == "" {
			l.Hide()
		}
	}

	var thumb fyne.CanvasObject
	if len(p.Image) > 0 {
		img, err := decodePreviewImage(p.Image)
		if err != nil {
			c.imageErr = err
		} else {
			c.image = canvas.NewImageFromImage(img)
			c.image.FillMode = canvas.ImageFillContain
			c.image.SetMinSize(fyne.NewSquareSize(cardImageSide))
			thumb = container.NewCenter(c.image)
		}
	}

	head := container.NewBorder(nil, nil, nil, container.NewCenter(c.badge), c.domain)
	text := container.New(&linkColumn{}, head, c.title, c.description, c.caption)
	if thumb != nil {
		c.body = container.NewBorder(nil, nil, thumb, nil, text)
	} else {
		c.body = text
	}
	c.ExtendBaseWidget(c)
	return c
}

func (c *linkCard) CreateRenderer() fyne.WidgetRenderer {
	c.ExtendBaseWidget(c)
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	bg.StrokeColor = theme.Color(theme.ColorNameInputBorder)
	bg.StrokeWidth = 1
	bg.CornerRadius = theme.Size(theme.SizeNameInputRadius)
	return widget.NewSimpleRenderer(container.NewStack(bg, container.NewPadded(c.body)))
}

// Tapped opens the card's link.
func (c *linkCard) Tapped(*fyne.PointEvent) {
	if c.open != nil {
		c.open(c.url)
	}
}

// Cursor shows that the card can be clicked.
func (c *linkCard) Cursor() desktop.Cursor { return desktop.PointerCursor }

// decodePreviewImage decodes a preview image in memory, refusing what the
// receiver's pipeline never produces: more than links.MaxImageBytes, a
// format other than JPEG or PNG, or a side beyond links.MaxImageSide
// (checked from the header, before any pixel is decoded).
func decodePreviewImage(data []byte) (image.Image, error) {
	if len(data) > links.MaxImageBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errPreviewImage, len(data), links.MaxImageBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPreviewImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > links.MaxImageSide || cfg.Height > links.MaxImageSide {
		return nil, fmt.Errorf("%w: %dx%d, limit %d on a side", errPreviewImage, cfg.Width, cfg.Height, links.MaxImageSide)
	}
	var img image.Image
	switch format {
	case "jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	case "png":
		img, err = png.Decode(bytes.NewReader(data))
	default:
		return nil, fmt.Errorf("%w: format %q", errPreviewImage, format)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPreviewImage, err)
	}
	return img, nil
}

// linkOpener opens links the user taps: it analyses the link and, as the
// policy says, hands it to browse at once or first shows the interstitial
// (the display host with its registrable domain in bold, the full address,
// the risk and every reason) and calls browse only when the user confirms.
// Links that are not http or https never reach browse.
//
// Its methods run on the Fyne goroutine. win is required; a nil policy
// means links.InterstitialRisky, a nil browse fyne's App.OpenURL, a nil
// analyzer the bundled popular domains only, and a nil resolve leaves out
// "Check where this goes".
type linkOpener struct {
	win    fyne.Window
	policy func() links.InterstitialPolicy
	browse func(*url.URL) error
	// resolve follows the link's redirects (messenger's or
	// links.Fetcher.ResolveDestination) and returns the final address.
	// It runs only when the user asks, on its own goroutine.
	resolve  func(ctx context.Context, rawURL string) (string, error)
	analyzer *links.Analyzer
	// do runs a check's result on the Fyne goroutine: onUI when nil, or
	// the UI's do, which also holds its lock.
	do func(func())

	lastDialog *linkInterstitial // the interstitial shown last
	checks     sync.WaitGroup    // running "check where this goes"
}

// linkInterstitial is one interstitial dialog and its buttons.
type linkInterstitial struct {
	dlg     *dialog.CustomDialog
	verdict links.Verdict
	target  *url.URL // what "Open in browser" opens; nil if it cannot be
	content *fyne.Container

	openBtn, cancelBtn, checkBtn *widget.Button // openBtn, checkBtn may be nil
	status                       *widget.Label  // progress and errors of the check

	done        bool // the user decided; later taps and check results are ignored
	cancelCheck context.CancelFunc
}

// open is called with a tapped link: its URL and the text it was shown as.
func (o *linkOpener) open(rawURL, shown string) {
	text := shown
	if text == rawURL {
		text = ""
	}
	v := o.analyzer.Analyze(rawURL, text)
	target := browsable(v)
	if target != nil && !o.currentPolicy().ShowInterstitial(v) {
		o.browseTo(target)
		return
	}
	o.showInterstitial(v, target, "")
}

func (o *linkOpener) currentPolicy() links.InterstitialPolicy {
	if o.policy == nil {
		return links.InterstitialRisky
	}
	return o.policy()
}

// browsable returns the analysed URL if it may go to a browser: http or
// https with a host.
func browsable(v links.Verdict) *url.URL {
	if v.Has(links.CodeMalformed) {
		return nil
	}
	u, err := url.Parse(v.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil
	}
	return u
}

func (o *linkOpener) browseTo(u *url.URL) {
	browse := o.browse
	if browse == nil {
		browse = fyne.CurrentApp().OpenURL
	}
	if err := browse(u); err != nil {
		dialog.ShowError(fmt.Errorf("could not open the browser: %w", err), o.win)
	}
}

// showInterstitial shows v's analysis with "Open in browser" (when target
// is set), "Cancel" and, if resolve is set and this is not already a
// checked address, "Check where this goes". note, if set, heads the dialog.
func (o *linkOpener) showInterstitial(v links.Verdict, target *url.URL, note string) {
	it := &linkInterstitial{verdict: v, target: target}
	width := interstitialWidth
	if cw := o.win.Canvas().Size().Width * 0.9; cw > 0 {
		width = fyne.Max(200, fyne.Min(width, cw-4*theme.Padding()))
	}

	col := container.New(&linkColumn{width: width})
	if note != "" {
		col.Add(widget.NewLabelWithStyle(note, fyne.TextAlignLeading, fyne.TextStyle{Italic: true}))
	}
	summary := widget.NewLabelWithStyle(riskSummary(v.Risk), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	summary.Wrapping = fyne.TextWrapWord
	col.Add(container.NewBorder(nil, nil, container.NewCenter(newRiskBadge(v)), nil, summary))
	col.Add(&widget.Label{Text: "Site", Importance: widget.LowImportance})
	col.Add(hostText(v.Host, v.HostASCII))
	col.Add(&widget.Label{Text: "Full address", Importance: widget.LowImportance})
	full := widget.NewLabel(shortAddress(v.URL))
	full.Wrapping = fyne.TextWrapBreak
	full.Selectable = true
	col.Add(full)
	for _, r := range v.Reasons {
		l := widget.NewLabel("• " + r.Message)
		l.Wrapping = fyne.TextWrapWord
		col.Add(l)
	}
	if target == nil {
		l := widget.NewLabel("Ephemera will not open this link: it is not a web address a browser can safely open.")
		l.Wrapping = fyne.TextWrapWord
		col.Add(l)
	}
	it.status = widget.NewLabel("")
	it.status.Wrapping = fyne.TextWrapWord
	it.status.Hide()
	col.Add(it.status)
	it.content = col

	title := "Open this link?"
	if riskLevel(v.Risk) >= links.RiskMedium {
		title = "Careful: this link may not be safe"
	}
	it.dlg = dialog.NewCustomWithoutButtons(title, col, o.win)

	it.cancelBtn = widget.NewButton("Cancel", func() { o.onCancel(it) })
	buttons := []fyne.CanvasObject{it.cancelBtn}
	if target != nil && o.resolve != nil && note == "" {
		it.checkBtn = widget.NewButton("Check where this goes", func() { o.onCheck(it) })
		buttons = append(buttons, it.checkBtn)
	}
	if target != nil {
		it.openBtn = widget.NewButtonWithIcon("Open in browser", theme.ComputerIcon(), func() { o.onOpen(it) })
		if riskLevel(v.Risk) >= links.RiskMedium {
			it.openBtn.Importance = widget.DangerImportance
			it.cancelBtn.Importance = widget.HighImportance
		} else {
			it.openBtn.Importance = widget.HighImportance
		}
		buttons = append(buttons, it.openBtn)
	} else {
		it.cancelBtn.SetText("Close")
	}
	it.dlg.SetButtons(buttons)
	it.dlg.SetOnClosed(func() {
		it.done = true
		if it.cancelCheck != nil {
			it.cancelCheck()
		}
	})
	o.lastDialog = it
	it.dlg.Show()
}

func (o *linkOpener) onOpen(it *linkInterstitial) {
	if it.done || it.target == nil {
		return
	}
	it.done = true
	it.dlg.Hide()
	o.browseTo(it.target)
}

func (o *linkOpener) onCancel(it *linkInterstitial) {
	if it.done {
		return
	}
	it.done = true
	it.dlg.Hide()
}

// onCheck resolves the link on a goroutine; the answer replaces the dialog
// with the interstitial of the final address, which asks again.
func (o *linkOpener) onCheck(it *linkInterstitial) {
	if it.done || o.resolve == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	it.cancelCheck = cancel
	it.checkBtn.Disable()
	it.openBtn.Disable()
	it.status.SetText("Checking where this link goes…")
	it.status.Show()
	it.content.Refresh()

	resolve, raw, do := o.resolve, it.verdict.URL, o.do
	if do == nil {
		do = onUI
	}
	o.checks.Add(1)
	go func() {
		defer o.checks.Done()
		final, err := resolve(ctx, raw)
		cancel()
		do(func() { o.onChecked(it, final, err) })
	}()
}

func (o *linkOpener) onChecked(it *linkInterstitial, final string, err error) {
	if it.done {
		return // cancelled meanwhile
	}
	if err != nil {
		it.status.SetText("Could not check where this link goes: " + err.Error())
		it.checkBtn.Enable()
		it.openBtn.Enable()
		it.content.Refresh()
		return
	}
	it.done = true
	it.dlg.Hide()
	v := o.analyzer.Analyze(final, "")
	note := "This link leads to the address below."
	if v.URL == it.verdict.URL {
		note = "This link does not redirect: it leads to the address below."
	}
	o.showInterstitial(v, browsable(v), note)
}
