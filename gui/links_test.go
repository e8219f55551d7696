package gui

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"net/url"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/links"
	"github.com/ephemera-im/ephemera/core/messenger"
)

// Links used throughout: each is checked against the real analysis first
// (linkTestVerdict), so a change in core/links shows up as a clear failure
// here rather than as a confusing UI assertion.
const (
	lookalikeURL = "https://paypa1.com/login"          // lookalike, high
	userinfoURL  = "https://paypal.com@evil.example/"  // userinfo, high
	ipURL        = "https://93.184.216.34/index.html"  // ip-host, medium
	httpURL      = "http://example.com/page"           // insecure-scheme, low
	shortURL     = "https://bit.ly/abc"                // shortener, low
	harmlessURL  = "https://example.com/docs?page=2#s" // nothing to report
)

func linkTestVerdict(t *testing.T, rawURL string, want links.Risk) links.Verdict {
	t.Helper()
	v := links.Analyze(rawURL, "")
	if v.Risk != want {
		t.Fatalf("links.Analyze(%q): risk %v (%v), want %v", rawURL, v.Risk, v.Reasons, want)
	}
	if want != links.RiskNone && len(v.Reasons) == 0 {
		t.Fatalf("links.Analyze(%q): risk %v without reasons", rawURL, v.Risk)
	}
	return v
}

func newLinkTestWindow(t *testing.T, content fyne.CanvasObject) fyne.Window {
	t.Helper()
	test.NewTempApp(t)
	w := test.NewTempWindow(t, content)
	w.Resize(fyne.NewSize(640, 560))
	return w
}

// linkTestObjects walks o's tree as rendered, calling f on every object.
func linkTestObjects(o fyne.CanvasObject, f func(fyne.CanvasObject)) {
	if o == nil {
		return
	}
	f(o)
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			linkTestObjects(c, f)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(x).Objects() {
			linkTestObjects(c, f)
		}
	}
}

// linkTestTexts is every visible piece of text in o's tree, one per line.
func linkTestTexts(o fyne.CanvasObject) string {
	var b strings.Builder
	linkTestObjects(o, func(o fyne.CanvasObject) {
		if !o.Visible() {
			return
		}
		switch x := o.(type) {
		case *widget.Label:
			b.WriteString(x.Text + "\n")
		case *widget.Button:
			b.WriteString(x.Text + "\n")
		case *canvas.Text:
			b.WriteString(x.Text + "\n")
		}
	})
	return b.String()
}

// linkTestTopOverlay is the canvas's top overlay, nil when there is none.
func linkTestTopOverlay(w fyne.Window) fyne.CanvasObject {
	return w.Canvas().Overlays().Top()
}

// linkTestButton finds the visible button labelled label in the top
// overlay, as the user would see it.
func linkTestButton(t *testing.T, w fyne.Window, label string) *widget.Button {
	t.Helper()
	top := linkTestTopOverlay(w)
	if top == nil {
		t.Fatalf("no dialog shown, looking for %q", label)
	}
	var found *widget.Button
	linkTestObjects(top, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == label && b.Visible() {
			found = b
		}
	})
	if found == nil {
		t.Fatalf("dialog has no %q button; texts:\n%s", label, linkTestTexts(top))
	}
	return found
}

func linkTestHasButton(w fyne.Window, label string) bool {
	found := false
	linkTestObjects(linkTestTopOverlay(w), func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == label && b.Visible() {
			found = true
		}
	})
	return found
}

// linkTestCenter is the centre of o in canvas coordinates.
func linkTestCenter(o fyne.CanvasObject) fyne.Position {
	p := fyne.CurrentApp().Driver().AbsolutePositionForObject(o)
	return p.Add(fyne.NewPos(o.Size().Width/2, o.Size().Height/2))
}

func TestLinkTextMakesHyperlinkSegments(t *testing.T) {
	text := "Log in at paypa1.com/login, or see [the docs](https://example.com/docs) and https://example.org/a."
	want := links.Extract(text)
	if len(want) != 3 {
		t.Fatalf("links.Extract found %d links in %q, want 3: %+v", len(want), text, want)
	}
	type call struct{ url, shown string }
	var calls []call
	rt := linkText(text, func(rawURL, shown string) { calls = append(calls, call{rawURL, shown}) })
	if rt.Wrapping != fyne.TextWrapWord {
		t.Errorf("Wrapping = %v, want TextWrapWord", rt.Wrapping)
	}

	var hyper []*widget.HyperlinkSegment
	var plain strings.Builder
	for _, s := range rt.Segments {
		switch s := s.(type) {
		case *widget.HyperlinkSegment:
			hyper = append(hyper, s)
			if s.URL != nil {
				t.Errorf("segment %q has URL %v: a tap could open it without the opener", s.Text, s.URL)
			}
		case *widget.TextSegment:
			plain.WriteString(s.Text)
		default:
			t.Errorf("unexpected segment %T", s)
		}
	}
	if len(hyper) != len(want) {
		t.Fatalf("got %d hyperlink segments, want %d", len(hyper), len(want))
	}
	for i, l := range want {
		if hyper[i].Text != l.Text {
			t.Errorf("link %d: text %q, want %q", i, hyper[i].Text, l.Text)
		}
	}
	if got, want := plain.String(), "Log in at , or see  and ."; got != want {
		t.Errorf("plain text = %q, want %q", got, want)
	}

	// Tap each hyperlink as drawn: the callback gets the link's URL and
	// the text the reader saw.
	w := newLinkTestWindow(t, rt)
	var drawn []*widget.Hyperlink
	linkTestObjects(w.Canvas().Content(), func(o fyne.CanvasObject) {
		if h, ok := o.(*widget.Hyperlink); ok {
			drawn = append(drawn, h)
		}
	})
	if len(drawn) != len(want) {
		t.Fatalf("window shows %d hyperlinks, want %d", len(drawn), len(want))
	}
	for i, h := range drawn {
		test.TapCanvas(w.Canvas(), linkTestCenter(h))
		if len(calls) != i+1 {
			t.Fatalf("tap on %q: %d calls to onLink, want %d", h.Text, len(calls), i+1)
		}
		if got := calls[i]; got.url != want[i].URL || got.shown != want[i].Text {
			t.Errorf("tap on %q: onLink(%q, %q), want (%q, %q)", h.Text, got.url, got.shown, want[i].URL, want[i].Text)
		}
	}
}

func TestLinkTextWithoutLinks(t *testing.T) {
	for _, text := range []string{
		"",
		"no links here, just text.\nand a second line",
		"bidi hides the order: \u202ehttps://evil.example/ moc.lapyap",
	} {
		rt := linkText(text, func(string, string) { t.Errorf("onLink called for %q", text) })
		var got strings.Builder
		for _, s := range rt.Segments {
			if _, ok := s.(*widget.HyperlinkSegment); ok {
				t.Errorf("%q: hyperlink segment %q, want none", text, s.Textual())
			}
			got.WriteString(s.Textual())
		}
		if got.String() != text {
			t.Errorf("text shown %q, want %q", got.String(), text)
		}
	}
}

func TestLinkTextShortensLongLinks(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", 300)
	var gotURL, gotShown string
	rt := linkText("see "+long, func(u, s string) { gotURL, gotShown = u, s })
	h, ok := rt.Segments[len(rt.Segments)-1].(*widget.HyperlinkSegment)
	if !ok {
		t.Fatalf("last segment %T, want hyperlink", rt.Segments[len(rt.Segments)-1])
	}
	if n := len([]rune(h.Text)); n != maxShownLinkRunes || !strings.HasPrefix(h.Text, "https://example.com/") {
		t.Errorf("shown %q (%d runes), want the first %d runes", h.Text, n, maxShownLinkRunes)
	}
	h.OnTapped()
	if gotURL != long || gotShown != long {
		t.Errorf("onLink(%q, %q), want the whole link for both", gotURL, gotShown)
	}
}

func TestRiskBadgeLabelsAndReasonsOnTap(t *testing.T) {
	cases := []struct {
		url   string
		risk  links.Risk
		label string
	}{
		{lookalikeURL, links.RiskHigh, "Risky link"},
		{userinfoURL, links.RiskHigh, "Risky link"},
		{ipURL, links.RiskMedium, "Check link"},
		{httpURL, links.RiskLow, "Link note"},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			v := linkTestVerdict(t, c.url, c.risk)
			badge := newRiskBadge(v)
			w := newLinkTestWindow(t, container.NewVBox(badge, widget.NewLabel("below")))
			if !badge.Visible() {
				t.Fatal("badge hidden for a risky link")
			}
			if got := linkTestTexts(badge); got != c.label+"\n" {
				t.Errorf("badge text %q, want %q", got, c.label)
			}
			if linkTestTopOverlay(w) != nil {
				t.Fatal("reasons shown before any tap")
			}

			test.TapCanvas(w.Canvas(), linkTestCenter(badge))
			tip, ok := linkTestTopOverlay(w).(*reasonsTip)
			if !ok {
				t.Fatalf("after a tap the top overlay is %T, want the reasons tip", linkTestTopOverlay(w))
			}
			texts := linkTestTexts(tip)
			for _, r := range v.Reasons {
				if !strings.Contains(texts, r.Message) {
					t.Errorf("reasons tip lacks %q; it shows:\n%s", r.Message, texts)
				}
			}
			if !tip.pinned {
				t.Error("tip shown by a tap is not pinned")
			}
			// The tip lies within the window, below the badge.
			if tip.boxSize.Width <= 0 || tip.box.X+tip.boxSize.Width > w.Canvas().Size().Width+1 {
				t.Errorf("tip at %v size %v does not fit the canvas %v", tip.box, tip.boxSize, w.Canvas().Size())
			}
			if badgeBottom := linkTestCenter(badge).Y + badge.Size().Height/2; tip.box.Y < badgeBottom {
				t.Errorf("tip at y=%v covers the badge, which ends at %v", tip.box.Y, badgeBottom)
			}

			// A tap elsewhere hides it.
			test.TapCanvas(w.Canvas(), fyne.NewPos(600, 500))
			if linkTestTopOverlay(w) != nil {
				t.Error("reasons still shown after a tap elsewhere")
			}
		})
	}
}

func TestRiskBadgeNoneIsHidden(t *testing.T) {
	v := linkTestVerdict(t, harmlessURL, links.RiskNone)
	badge := newRiskBadge(v)
	if badge.Visible() {
		t.Error("badge visible for a link without risk")
	}
	w := newLinkTestWindow(t, container.NewVBox(badge))
	test.TapCanvas(w.Canvas(), fyne.NewPos(5, 5))
	if linkTestTopOverlay(w) != nil {
		t.Error("a hidden badge showed reasons")
	}
}

func TestRiskBadgeReasonsOnHover(t *testing.T) {
	v := linkTestVerdict(t, userinfoURL, links.RiskHigh)
	badge := newRiskBadge(v)
	w := newLinkTestWindow(t, container.NewVBox(container.NewHBox(badge), widget.NewLabel("text below")))
	c := w.Canvas()

	test.MoveMouse(c, linkTestCenter(badge))
	tip, ok := linkTestTopOverlay(w).(*reasonsTip)
	if !ok {
		t.Fatalf("hover: top overlay %T, want the reasons tip", linkTestTopOverlay(w))
	}
	if texts := linkTestTexts(tip); !strings.Contains(texts, v.Reasons[0].Message) {
		t.Errorf("hover tip lacks %q; it shows:\n%s", v.Reasons[0].Message, texts)
	}
	if tip.pinned {
		t.Error("tip shown by hover is pinned")
	}

	// Moving over the badge and onto the tip keeps it.
	test.MoveMouse(c, linkTestCenter(badge).AddXY(1, 1))
	test.MoveMouse(c, tip.box.AddXY(tip.boxSize.Width/2, tip.boxSize.Height/2))
	if linkTestTopOverlay(w) != tip {
		t.Fatal("tip hidden while the pointer is on it")
	}
	// Leaving both hides it.
	test.MoveMouse(c, fyne.NewPos(630, 550))
	if linkTestTopOverlay(w) != nil {
		t.Fatal("tip still shown after the pointer left")
	}

	// Hover, then tap the badge: the tip stays when the pointer leaves,
	// until a tap elsewhere.
	test.MoveMouse(c, fyne.NewPos(630, 550))
	test.MoveMouse(c, linkTestCenter(badge))
	test.TapCanvas(c, linkTestCenter(badge))
	test.MoveMouse(c, fyne.NewPos(630, 550))
	if _, ok := linkTestTopOverlay(w).(*reasonsTip); !ok {
		t.Fatal("tapped tip hidden when the pointer left")
	}
	test.TapCanvas(c, fyne.NewPos(630, 550))
	if linkTestTopOverlay(w) != nil {
		t.Fatal("tip still shown after a tap elsewhere")
	}
}

// linkTestOpener is an opener on a test window with a browse that records.
type linkTestOpener struct {
	*linkOpener
	win     fyne.Window
	browsed []string
	policy  links.InterstitialPolicy
}

func newLinkTestOpener(t *testing.T, p links.InterstitialPolicy) *linkTestOpener {
	t.Helper()
	w := newLinkTestWindow(t, widget.NewLabel("conversation"))
	o := &linkTestOpener{win: w, policy: p}
	o.linkOpener = &linkOpener{
		win:    w,
		policy: func() links.InterstitialPolicy { return o.policy },
		browse: func(u *url.URL) error {
			o.browsed = append(o.browsed, u.String())
			return nil
		},
	}
	return o
}

func TestLinkOpenerPolicies(t *testing.T) {
	cases := []struct {
		name         string
		url          string
		risk         links.Risk
		policy       links.InterstitialPolicy
		interstitial bool
	}{
		{"risky under risky", lookalikeURL, links.RiskHigh, links.InterstitialRisky, true},
		{"userinfo under risky", userinfoURL, links.RiskHigh, links.InterstitialRisky, true},
		{"medium under risky", ipURL, links.RiskMedium, links.InterstitialRisky, true},
		{"shortener under risky", shortURL, links.RiskLow, links.InterstitialRisky, true},
		{"harmless under risky", harmlessURL, links.RiskNone, links.InterstitialRisky, false},
		{"harmless under always", harmlessURL, links.RiskNone, links.InterstitialAlways, true},
		{"risky under never", lookalikeURL, links.RiskHigh, links.InterstitialNever, false},
		{"harmless under never", harmlessURL, links.RiskNone, links.InterstitialNever, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := linkTestVerdict(t, c.url, c.risk)
			o := newLinkTestOpener(t, c.policy)
			o.open(c.url, c.url)
			if !c.interstitial {
				if linkTestTopOverlay(o.win) != nil {
					t.Fatalf("interstitial shown; texts:\n%s", linkTestTexts(linkTestTopOverlay(o.win)))
				}
				if len(o.browsed) != 1 || o.browsed[0] != c.url {
					t.Fatalf("browsed %q, want [%q]", o.browsed, c.url)
				}
				return
			}

			if len(o.browsed) != 0 {
				t.Fatalf("browsed %q before the user confirmed", o.browsed)
			}
			top := linkTestTopOverlay(o.win)
			if top == nil || o.lastDialog == nil {
				t.Fatal("no interstitial shown")
			}
			texts := linkTestTexts(top)
			for _, want := range append([]string{c.url, riskSummary(v.Risk)}, reasonMessages(v)...) {
				if !strings.Contains(texts, want) {
					t.Errorf("interstitial lacks %q; it shows:\n%s", want, texts)
				}
			}
			if !linkTestBoldHost(top, v.Host.Registrable) {
				t.Errorf("interstitial does not show %q in bold", v.Host.Registrable)
			}

			test.Tap(linkTestButton(t, o.win, "Open in browser"))
			if len(o.browsed) != 1 || o.browsed[0] != c.url {
				t.Fatalf("after Open: browsed %q, want [%q]", o.browsed, c.url)
			}
			if linkTestTopOverlay(o.win) != nil {
				t.Error("interstitial still shown after Open")
			}
			// A second tap on the (now hidden) button does nothing more.
			o.lastDialog.openBtn.OnTapped()
			if len(o.browsed) != 1 {
				t.Errorf("browsed %d times, want once", len(o.browsed))
			}
		})
	}
}

func reasonMessages(v links.Verdict) []string {
	var out []string
	for _, r := range v.Reasons {
		out = append(out, r.Message)
	}
	return out
}

// linkTestBoldHost reports whether o's tree has a bold text segment that
// is exactly host.
func linkTestBoldHost(o fyne.CanvasObject, host string) bool {
	found := false
	linkTestObjects(o, func(o fyne.CanvasObject) {
		rt, ok := o.(*widget.RichText)
		if !ok {
			return
		}
		for _, s := range rt.Segments {
			if ts, ok := s.(*widget.TextSegment); ok && ts.Text == host && ts.Style.TextStyle.Bold {
				found = true
			}
		}
	})
	return found
}

func TestLinkOpenerCancelNeverBrowses(t *testing.T) {
	o := newLinkTestOpener(t, links.InterstitialRisky)
	o.open(userinfoURL, "paypal.com")
	test.Tap(linkTestButton(t, o.win, "Cancel"))
	if linkTestTopOverlay(o.win) != nil {
		t.Error("interstitial still shown after Cancel")
	}
	o.lastDialog.openBtn.OnTapped() // a stale tap after Cancel
	if len(o.browsed) != 0 {
		t.Errorf("browsed %q after Cancel", o.browsed)
	}
}

func TestLinkOpenerShownTextMismatch(t *testing.T) {
	// A markdown link whose text names another site: the opener analyses
	// the link against the text the reader saw.
	o := newLinkTestOpener(t, links.InterstitialRisky)
	o.open("https://evil.example/login", "paypal.com")
	v := links.Analyze("https://evil.example/login", "paypal.com")
	if !v.Has(links.CodeTextMismatch) {
		t.Fatalf("links.Analyze gives no text-mismatch: %+v", v)
	}
	texts := linkTestTexts(linkTestTopOverlay(o.win))
	for _, want := range reasonMessages(v) {
		if !strings.Contains(texts, want) {
			t.Errorf("interstitial lacks %q; it shows:\n%s", want, texts)
		}
	}
	if len(o.browsed) != 0 {
		t.Errorf("browsed %q", o.browsed)
	}
}

func TestLinkOpenerRefusesNonWebLinks(t *testing.T) {
	for _, raw := range []string{"javascript:alert(1)", "file:///etc/passwd", "https://exa mple.com/"} {
		t.Run(raw, func(t *testing.T) {
			o := newLinkTestOpener(t, links.InterstitialNever)
			o.open(raw, raw)
			if len(o.browsed) != 0 {
				t.Fatalf("browsed %q", o.browsed)
			}
			if linkTestTopOverlay(o.win) == nil {
				t.Fatal("no explanation shown")
			}
			if linkTestHasButton(o.win, "Open in browser") {
				t.Error("dialog offers to open a link that is not a web address")
			}
			test.Tap(linkTestButton(t, o.win, "Close"))
			if linkTestTopOverlay(o.win) != nil {
				t.Error("dialog still shown after Close")
			}
		})
	}
}

func TestLinkOpenerBrowseError(t *testing.T) {
	o := newLinkTestOpener(t, links.InterstitialNever)
	o.browse = func(*url.URL) error { return errors.New("no browser installed") }
	o.open(harmlessURL, harmlessURL)
	top := linkTestTopOverlay(o.win)
	if top == nil || !strings.Contains(linkTestTexts(top), "no browser installed") {
		t.Fatal("browse error not shown")
	}
}

func TestLinkOpenerCheckWhereThisGoes(t *testing.T) {
	o := newLinkTestOpener(t, links.InterstitialRisky)
	var asked []string
	o.resolve = func(ctx context.Context, raw string) (string, error) {
		asked = append(asked, raw)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return lookalikeURL, nil
	}
	final := linkTestVerdict(t, lookalikeURL, links.RiskHigh)

	o.open(shortURL, shortURL)
	first := o.lastDialog
	test.Tap(linkTestButton(t, o.win, "Check where this goes"))
	o.checks.Wait()
	if len(asked) != 1 || asked[0] != shortURL {
		t.Fatalf("resolve asked for %q, want [%q]", asked, shortURL)
	}
	if o.lastDialog == first {
		t.Fatal("no new interstitial for the final address")
	}
	if len(o.browsed) != 0 {
		t.Fatalf("browsed %q before the user confirmed the final address", o.browsed)
	}
	if got := len(o.win.Canvas().Overlays().List()); got != 1 {
		t.Errorf("%d overlays shown, want only the new interstitial", got)
	}
	texts := linkTestTexts(linkTestTopOverlay(o.win))
	for _, want := range append([]string{lookalikeURL, "leads to"}, reasonMessages(final)...) {
		if !strings.Contains(texts, want) {
			t.Errorf("final interstitial lacks %q; it shows:\n%s", want, texts)
		}
	}
	if linkTestHasButton(o.win, "Check where this goes") {
		t.Error("final interstitial offers another check")
	}
	test.Tap(linkTestButton(t, o.win, "Open in browser"))
	if len(o.browsed) != 1 || o.browsed[0] != lookalikeURL {
		t.Errorf("browsed %q, want the final address [%q]", o.browsed, lookalikeURL)
	}
}

func TestLinkOpenerCheckFailsThenCancel(t *testing.T) {
	o := newLinkTestOpener(t, links.InterstitialRisky)
	o.resolve = func(context.Context, string) (string, error) {
		return "", errors.New("links: too many redirects")
	}
	o.open(shortURL, shortURL)
	it := o.lastDialog
	test.Tap(linkTestButton(t, o.win, "Check where this goes"))
	o.checks.Wait()
	if o.lastDialog != it {
		t.Fatal("a failed check replaced the dialog")
	}
	if !it.status.Visible() || !strings.Contains(it.status.Text, "too many redirects") {
		t.Errorf("status %q (visible %v), want the error", it.status.Text, it.status.Visible())
	}
	if it.openBtn.Disabled() || it.checkBtn.Disabled() {
		t.Error("buttons still disabled after the failed check")
	}
	test.Tap(linkTestButton(t, o.win, "Cancel"))
	if len(o.browsed) != 0 || linkTestTopOverlay(o.win) != nil {
		t.Errorf("after Cancel: browsed %q, overlay %v", o.browsed, linkTestTopOverlay(o.win))
	}
}

func TestLinkOpenerCancelDuringCheck(t *testing.T) {
	o := newLinkTestOpener(t, links.InterstitialRisky)
	release := make(chan struct{})
	o.resolve = func(ctx context.Context, raw string) (string, error) {
		<-release
		return raw, ctx.Err()
	}
	o.open(shortURL, shortURL)
	test.Tap(linkTestButton(t, o.win, "Check where this goes"))
	test.Tap(linkTestButton(t, o.win, "Cancel"))
	close(release)
	o.checks.Wait()
	if len(o.browsed) != 0 || linkTestTopOverlay(o.win) != nil {
		t.Errorf("after Cancel during a check: browsed %q, overlay %v", o.browsed, linkTestTopOverlay(o.win))
	}
}

func linkTestPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestLinkCardDomainFromBodyLink(t *testing.T) {
	p := messenger.Preview{
		URL:         lookalikeURL,
		Title:       "PayPal: Log in to your account",
		Description: "paypal.com — the safer way to pay.\u202e Sign in now. " + strings.Repeat("More words that wrap. ", 12),
		SiteName:    "paypal.com",
		Domain:      "paypal.com", // a claim the card must not use
		Image:       linkTestPNG(t, 64, 48),
	}
	v := linkTestVerdict(t, lookalikeURL, links.RiskHigh)
	var opened []string
	card := newLinkCard(p, v, func(raw string) { opened = append(opened, raw) }).(*linkCard)
	w := newLinkTestWindow(t, container.NewVBox(card))

	if got := card.domain.String(); got != "paypa1.com" {
		t.Errorf("domain shown %q, want paypa1.com", got)
	}
	if !linkTestBoldHost(card, "paypa1.com") {
		t.Error("registrable domain not in bold")
	}
	if linkTestBoldHost(card, "paypal.com") {
		t.Error("the preview's claimed domain is shown as the domain")
	}
	if got := card.title.Text; got != "PayPal: Log in to your account" {
		t.Errorf("title %q", got)
	}
	if strings.ContainsRune(card.description.Text, '\u202e') {
		t.Errorf("description keeps a bidi control: %q", card.description.Text)
	}
	if !strings.Contains(linkTestTexts(card), "Preview sent by the sender") {
		t.Error("card not labelled as the sender's preview")
	}
	badge, ok := card.badge.(*riskBadge)
	if !ok || !badge.Visible() || badge.text() != "Risky link" {
		t.Errorf("badge %T visible=%v, want a visible \"Risky link\" badge", card.badge, card.badge.Visible())
	}
	if card.image == nil || card.imageErr != nil {
		t.Fatalf("valid image not shown: %v", card.imageErr)
	}
	if b := card.image.Image.Bounds(); b.Dx() != 64 || b.Dy() != 48 {
		t.Errorf("image %v, want 64x48", b)
	}
	// Wrapped text is laid out at its wrapped height, also after the
	// window narrows: nothing overlaps. (A real canvas lays out again on
	// the next frame when a minimum size changed; Refresh does it here.)
	w.Resize(fyne.NewSize(420, 560))
	w.Content().Refresh()
	var bottom float32
	for _, o := range []fyne.CanvasObject{card.domain, card.title, card.description, card.caption} {
		if o.Position().Y < bottom {
			t.Errorf("%T at y=%v overlaps the object above, which ends at %v", o, o.Position().Y, bottom)
		}
		bottom = o.Position().Y + o.Size().Height
	}

	// Tapping the badge shows its reasons, not the link.
	test.TapCanvas(w.Canvas(), linkTestCenter(badge))
	if _, ok := linkTestTopOverlay(w).(*reasonsTip); !ok {
		t.Errorf("badge tap: top overlay %T, want the reasons tip", linkTestTopOverlay(w))
	}
	if len(opened) != 0 {
		t.Errorf("badge tap opened %q", opened)
	}
	test.TapCanvas(w.Canvas(), fyne.NewPos(2, w.Canvas().Size().Height-2))
	if linkTestTopOverlay(w) != nil {
		t.Fatal("reasons still shown after a tap elsewhere")
	}

	// Tapping the card opens the body's link.
	test.TapCanvas(w.Canvas(), linkTestCenter(card.title))
	if len(opened) != 1 || opened[0] != lookalikeURL {
		t.Errorf("card tap opened %q, want [%q]", opened, lookalikeURL)
	}
	if img := w.Canvas().Capture(); img.Bounds().Empty() {
		t.Error("empty capture")
	}
}

func TestLinkCardSubdomainAndNoImage(t *testing.T) {
	raw := "https://login.example.co.uk/account"
	v := linkTestVerdict(t, raw, links.RiskNone)
	card := newLinkCard(messenger.Preview{URL: raw}, v, nil).(*linkCard)
	newLinkTestWindow(t, card)
	if got := card.domain.String(); got != "login.example.co.uk" {
		t.Errorf("domain %q, want login.example.co.uk", got)
	}
	if !linkTestBoldHost(card, "example.co.uk") || linkTestBoldHost(card, "login.") {
		t.Error("want only the registrable domain example.co.uk in bold")
	}
	if card.badge.Visible() {
		t.Error("badge shown for a harmless link")
	}
	if card.title.Visible() || card.description.Visible() {
		t.Error("empty title or description shown")
	}
	if card.image != nil || card.imageErr != nil {
		t.Errorf("image %v, error %v for a preview without image", card.image, card.imageErr)
	}
	test.Tap(card) // a nil open does nothing
}

func TestLinkCardAnalysesTheLinkItself(t *testing.T) {
	for name, v := range map[string]links.Verdict{
		"zero verdict":          {},
		"verdict of other link": links.Analyze(harmlessURL, ""),
	} {
		t.Run(name, func(t *testing.T) {
			card := newLinkCard(messenger.Preview{URL: userinfoURL, Domain: "paypal.com"}, v, nil).(*linkCard)
			if got := card.domain.String(); got != "evil.example" {
				t.Errorf("domain %q, want evil.example", got)
			}
			if !card.badge.Visible() {
				t.Error("no badge for a userinfo link")
			}
		})
	}
}

func TestLinkOpenerCapsLongAddresses(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", 3000)
	o := newLinkTestOpener(t, links.InterstitialAlways)
	o.open(long, long)
	texts := linkTestTexts(linkTestTopOverlay(o.win))
	if !strings.Contains(texts, long[:maxShownAddressRunes]) || strings.Contains(texts, long[:maxShownAddressRunes+1]) {
		t.Errorf("interstitial does not show the first %d characters only", maxShownAddressRunes)
	}
	if !strings.Contains(texts, "(2420 more characters)") {
		t.Errorf("interstitial does not say how much is left out:\n%s", texts)
	}
	test.Tap(linkTestButton(t, o.win, "Open in browser"))
	if len(o.browsed) != 1 || o.browsed[0] != long {
		t.Errorf("browsed %d URLs, want the whole long link once", len(o.browsed))
	}
}

func TestLinkCardRefusesBadImages(t *testing.T) {
	var jpg, gf bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 40, 30)), nil); err != nil {
		t.Fatal(err)
	}
	if err := gif.Encode(&gf, image.NewPaletted(image.Rect(0, 0, 8, 8), []color.Color{color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	valid := linkTestPNG(t, 32, 32)
	huge := append(linkTestPNG(t, 16, 16), make([]byte, links.MaxImageBytes)...)
	cases := []struct {
		name    string
		data    []byte
		shown   bool
		wantErr string // in the refusal's message
	}{
		{"png", valid, true, ""},
		{"jpeg", jpg.Bytes(), true, ""},
		{"largest side", linkTestPNG(t, links.MaxImageSide, 8), true, ""},
		{"side too large", linkTestPNG(t, links.MaxImageSide+1, 8), false, "513x8"},
		{"too many bytes", huge, false, "bytes, limit"},
		{"gif", gf.Bytes(), false, `format "gif"`},
		{"garbage", []byte("\x89PNG\r\n\x1a\nthis is not a png at all"), false, "EOF"},
		{"truncated", valid[:len(valid)/2], false, "png: invalid format"},
		{"header claims a giant", linkTestGiantHeader(valid), false, "100000x100000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			card := newLinkCard(messenger.Preview{URL: harmlessURL, Title: "t", Image: c.data}, links.Verdict{}, nil).(*linkCard)
			w := newLinkTestWindow(t, card)
			w.Canvas().Capture() // renders without panicking
			if c.shown {
				if card.image == nil {
					t.Fatalf("image not shown: %v", card.imageErr)
				}
				return
			}
			if card.image != nil {
				t.Fatal("bad image shown")
			}
			if !errors.Is(card.imageErr, errPreviewImage) || !strings.Contains(card.imageErr.Error(), c.wantErr) {
				t.Errorf("error %v, want errPreviewImage saying %q", card.imageErr, c.wantErr)
			}
		})
	}
}

// linkTestGiantHeader rewrites a PNG's header to claim 100000x100000
// pixels (with a fixed CRC): a decompression bomb's opening.
func linkTestGiantHeader(p []byte) []byte {
	out := bytes.Clone(p)
	// IHDR: length at 8, type at 12, width and height (big-endian) at
	// 16, CRC of type and data at 29.
	copy(out[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	binary.BigEndian.PutUint32(out[29:33], crc32.ChecksumIEEE(out[12:29]))
	return out
}
