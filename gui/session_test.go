package gui

// Whole-session tests: long conversations stay windowed, notifications,
// links in received messages, and nothing personal outside the vault.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/ephemera-im/ephemera/core/messenger"
)

// uiFill sends n numbered messages from m to contact and waits until
// they are stored.
func uiFill(t testing.TB, m *messenger.Messenger, contact string, n int, prefix string) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		if _, err := m.SendText(ctx, contact, fmt.Sprintf("%s %d", prefix, i+1), messenger.SendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLongConversationStaysWindowed(t *testing.T) {
	alice, _ := uiPair(t)
	bobAtAlice, _ := alice.FindContact("bob")
	const n = maxLoaded + 3*pageSize
	uiFill(t, alice, bobAtAlice.ID, n, "note")
	h := uiNew(t, Options{Messenger: alice})
	v := h.u.main.conv
	h.act(func() {
		if len(v.msgs) != pageSize || !v.more {
			t.Fatalf("opening loaded %d messages (more %v), want the newest %d", len(v.msgs), v.more, pageSize)
		}
		if got := v.msgs[len(v.msgs)-1].Text; got != fmt.Sprintf("note %d", n) {
			t.Errorf("last loaded = %q", got)
		}
	})
	// Scroll to the top page after page: older pages load, the newest
	// ones are dropped beyond maxLoaded.
	start := time.Now()
	for i := 0; ; i++ {
		var done bool
		h.act(func() { v.list.ScrollToTop(); v.list.Refresh() })
		h.waitFor("a page to load", func() bool { return !v.loading })
		h.act(func() {
			done = !v.more
			if len(v.msgs) > maxLoaded {
				t.Fatalf("%d messages in memory, more than %d", len(v.msgs), maxLoaded)
			}
		})
		if done {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("scrolling up never reached the first message (%d rounds)", i)
		}
		time.Sleep(10 * time.Millisecond) // let deferred scrolls and events run
	}
	h.act(func() {
		if v.msgs[0].Text != "note 1" || !v.newer {
			t.Errorf("at the top: first %q, newer %v", v.msgs[0].Text, v.newer)
		}
	})
	// And down again to the newest.
	start = time.Now()
	for i := 0; ; i++ {
		var done bool
		h.act(func() { v.list.ScrollToBottom(); v.list.Refresh() })
		h.waitFor("a page to load", func() bool { return !v.loading })
		h.act(func() { done = !v.newer })
		if done {
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("scrolling down never reached the newest message (%d rounds)", i)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.act(func() {
		if got := v.msgs[len(v.msgs)-1].Text; got != fmt.Sprintf("note %d", n) || len(v.msgs) > maxLoaded {
			t.Errorf("at the bottom: last %q, %d loaded", got, len(v.msgs))
		}
	})
}

func TestNotificationsHideContentByDefault(t *testing.T) {
	alice, bob := uiPair(t)
	carol, _ := uiProfile(t, "carol", alice.RelayURL())
	t.Cleanup(func() { carol.Close() })
	uiConnect(t, alice, carol)
	h := uiNew(t, Options{Messenger: alice})
	h.act(func() {
		if h.u.main.conv.contact.Name != "carol" {
			t.Fatalf("open conversation is %q, want the newest contact, carol", h.u.main.conv.contact.Name)
		}
	})
	aliceAtBob, _ := bob.FindContact("alice")
	// bob's conversation is not open: a notification without content.
	test.AssertNotificationSent(t, fyne.NewNotification("Ephemera", "New message"), func() {
		if _, err := bob.SendText(context.Background(), aliceAtBob.ID, "the vault code is 4711", messenger.SendOptions{}); err != nil {
			t.Fatal(err)
		}
		h.waitFor("bob's message in the list", func() bool { return h.shows("the vault code is 4711") })
	})
	// With content shown, the sender and text.
	s := alice.Settings()
	s.NotifyContent = true
	if err := alice.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	test.AssertNotificationSent(t, fyne.NewNotification("bob", "second note"), func() {
		bob.SendText(context.Background(), aliceAtBob.ID, "second note", messenger.SendOptions{})
		h.waitFor("bob's second message", func() bool { return h.shows("second note") })
	})
	// Unread count in the list.
	h.waitFor("an unread count of 2 for bob", func() bool { return h.shows(`Label "2"`) })
}

func TestRiskyLinkShowsBadgeAndInterstitial(t *testing.T) {
	alice, bob := uiPair(t)
	h := uiNew(t, Options{Messenger: alice})
	aliceAtBob, _ := bob.FindContact("alice")
	const risky = "https://paypal.com@evil.example/login"
	if _, err := bob.SendText(context.Background(), aliceAtBob.ID, "please confirm your account at "+risky,
		messenger.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the message", func() bool { return h.shows("please confirm your account") })
	var link *widget.Hyperlink
	h.act(func() {
		var badge bool
		for _, o := range uiAll(h.u.win.Canvas().Content()) {
			switch x := o.(type) {
			case *riskBadge:
				badge = true
			case *widget.Hyperlink:
				link = x
			}
		}
		if !badge {
			t.Errorf("no risk badge in the conversation:\n%s", h.dump())
		}
	})
	if link == nil {
		t.Fatal("the link is not a hyperlink")
	}
	h.act(func() {
		if link.OnTapped == nil {
			t.Fatal("hyperlink has no handler")
		}
		link.OnTapped()
	})
	h.act(func() {
		if !h.shows("Open in browser") || !h.shows("evil.example") {
			t.Errorf("no interstitial naming evil.example:\n%s", h.dump())
		}
		if len(h.browsed) != 0 {
			t.Errorf("browser opened before confirming: %v", h.browsed)
		}
	})
}

func TestNothingPersonalOutsideTheVault(t *testing.T) {
	home, tmp := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, ".cache"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, ".local", "share"))

	profile := func(name, relay string) *messenger.Messenger {
		m, err := messenger.Create(messenger.Config{Dir: filepath.Join(home, "profiles", name),
			Passphrase: []byte(name + " passphrase here"), Pseudonym: name, RelayURL: relay,
			InsecureTestKDF: true, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	alice := profile("Ulrike-Pseudo", "")
	bob := profile("Wendelin-Pseudo", alice.RelayURL())
	uiConnect(t, alice, bob)

	h := uiNew(t, Options{Messenger: alice})
	v := h.u.main.conv
	const mine, theirs = "Marzipan-Rendezvous-Alpha", "Quokka-Lighthouse-Omega"
	fileText := "Contents-Zebra-Kumquat " + strings.Repeat("x", 100)
	doc := filepath.Join(t.TempDir(), "notes.txt") // outside home and tmp: the user's own file
	if err := os.WriteFile(doc, []byte(fileText), 0o600); err != nil {
		t.Fatal(err)
	}
	h.act(func() {
		test.Type(v.compose, mine)
		test.Tap(v.send)
	})
	aliceAtBob, _ := bob.FindContact(alice.Pseudonym())
	uiWaitMessage(t, bob, aliceAtBob.ID, mine)
	if _, err := bob.SendText(context.Background(), aliceAtBob.ID, theirs, messenger.SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.SendFile(context.Background(), aliceAtBob.ID, doc, messenger.FileOptions{AsIs: true}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the received file", func() bool { return h.shows(theirs) && h.shows("notes.txt") })
	h.waitFor("the file downloaded", func() bool {
		for _, m := range v.msgs {
			if m.File != nil && m.File.Have {
				return true
			}
		}
		return false
	})
	h.act(func() {
		h.u.Lock()
		h.u.Close()
	})
	bob.Close()
	alice.Close()
	runtime.GC()

	secrets := []string{mine, theirs, "Contents-Zebra-Kumquat", "Ulrike-Pseudo", "Wendelin-Pseudo"}
	for _, root := range []string{home, tmp} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, s := range secrets {
				for _, form := range [][]byte{[]byte(s), utf16le(s)} {
					if bytes.Contains(b, form) {
						t.Errorf("%q found in %s", s, p)
					}
				}
			}
			return nil
		})
	}
	// Fyne's preferences hold only display settings.
	prefs, ok := h.u.app.Preferences().(interface{ ReadValues(func(map[string]any)) })
	if !ok {
		t.Fatal("the test app's preferences cannot be listed")
	}
	n := 0
	prefs.ReadValues(func(values map[string]any) {
		for k := range values {
			n++
			switch k {
			case prefTheme, prefWidth, prefHeight:
			default:
				t.Errorf("preference %q stored", k)
			}
		}
	})
	if n == 0 {
		t.Error("no preferences at all: the window size should have been kept")
	}
}

func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

// benchConv is the conversation BenchmarkOpenConversation opens, made
// once: the benchmark function runs more than once (b.N = 1, then the
// real count), and filling 100,000 messages takes a minute or two.
var benchConv struct {
	once sync.Once
	h    *uiHarness
	id   string
	n    int
}

// BenchmarkOpenConversation opens a conversation of
// EPHEMERA_BENCH_GUI_MSGS messages (default 2,000; make perf uses
// 100,000) and renders the window once; it reports the messages loaded
// (always one page), the time the test driver's software painter then
// takes to draw the window (a real window paints with OpenGL), and how
// much the Go heap grew over all the openings.
func BenchmarkOpenConversation(b *testing.B) {
	benchConv.once.Do(func() {
		n := 2000
		if s := os.Getenv("EPHEMERA_BENCH_GUI_MSGS"); s != "" {
			var err error
			if n, err = strconv.Atoi(s); err != nil {
				b.Fatal(err)
			}
		}
		// Made outside b's cleanups, which run after the first round;
		// the process exit ends them.
		alice, bob := uiPairUnmanaged(b)
		bob.Close() // alice's messages wait in her outbox; the history is hers
		bobAtAlice, _ := alice.FindContact("bob")
		start := time.Now()
		uiFill(b, alice, bobAtAlice.ID, n, "benchmark message with a little text")
		b.Logf("stored %d messages in %v", n, time.Since(start).Round(time.Millisecond))
		benchConv.h = uiNewUnmanaged(b, Options{Messenger: alice})
		benchConv.id, benchConv.n = bobAtAlice.ID, n
	})
	h := benchConv.h
	s := h.u.main
	var loaded int
	var paint time.Duration
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		h.act(func() {
			s.showEmpty()
			s.open(benchConv.id) // reads the newest page; the list lays out its rows
			loaded = len(s.conv.msgs)
			b.StopTimer()
			t0 := time.Now()
			h.u.win.Canvas().Capture() // paints in software, as the test driver does
			paint += time.Since(t0)
			b.StartTimer()
		})
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(loaded), "msgs-loaded")
	b.ReportMetric(float64(paint.Milliseconds())/float64(b.N), "ms-paint/op")
	b.ReportMetric((float64(after.HeapInuse)-float64(before.HeapInuse))/(1<<20), "heap-growth-MiB")
	b.ReportMetric(float64(benchConv.n), "msgs-total")
}

func TestRightToLeftMessagesAlignRight(t *testing.T) {
	for text, want := range map[string]bool{
		"שלום, מה שלומך?":        true,
		"123 مرحبا":              true, // digits are weak: the first letter decides
		"Hello שלום":             false,
		"Привет":                 false,
		"":                       false,
		"🙂 ok":                   false,
		"«ܫܠܡܐ»":                 true, // Syriac
		"https://example.org هو": false,
	} {
		if got := rightToLeft(text); got != want {
			t.Errorf("rightToLeft(%q) = %v, want %v", text, got, want)
		}
	}
	rt := linkText("مرحبا https://example.org", func(string, string) {})
	alignTrailing(rt)
	for _, seg := range rt.Segments {
		switch s := seg.(type) {
		case *widget.TextSegment:
			if s.Style.Alignment != fyne.TextAlignTrailing {
				t.Errorf("text segment %q not aligned right", s.Text)
			}
		case *widget.HyperlinkSegment:
			if s.Alignment != fyne.TextAlignTrailing {
				t.Errorf("link segment %q not aligned right", s.Text)
			}
		}
	}
}

func TestCopiedTextLeavesTheClipboard(t *testing.T) {
	alice, _ := uiPair(t)
	s := alice.Settings()
	s.ClipboardClear = 100 * time.Millisecond
	if err := alice.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	h := uiNew(t, Options{Messenger: alice})
	cb := h.u.app.Clipboard()
	h.act(func() {
		h.u.main.conv.copyText("meet at the north gate")
		if got := cb.Content(); got != "meet at the north gate" {
			t.Fatalf("clipboard = %q after copying", got)
		}
	})
	h.waitFor("the clipboard to clear", func() bool { return cb.Content() == "" })
	// Something the user copied later is left alone.
	h.act(func() {
		h.u.main.conv.copyText("first")
		cb.SetContent("the user's own text")
	})
	time.Sleep(300 * time.Millisecond)
	h.act(func() {
		if got := cb.Content(); got != "the user's own text" {
			t.Errorf("clipboard = %q, want the user's later copy kept", got)
		}
	})
}

func TestReceivedImageShowsThumbnail(t *testing.T) {
	alice, bob := uiPair(t)
	h := uiNew(t, Options{Messenger: alice})
	img := image.NewNRGBA(image.Rect(0, 0, 120, 80))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "sunset.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	aliceAtBob, _ := bob.FindContact("alice")
	if _, _, err := bob.SendFile(context.Background(), aliceAtBob.ID, p, messenger.FileOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the thumbnail in the conversation", func() bool { return len(h.u.main.conv.thumbs) == 1 })
	h.act(func() {
		var shown []image.Point
		for _, o := range uiAll(h.u.win.Canvas().Content()) {
			// Icons are 20×20 images too; the thumbnail is the picture.
			if ci, ok := o.(*canvas.Image); ok && ci.Image != nil && ci.Image.Bounds().Dx() > 32 {
				shown = append(shown, ci.Image.Bounds().Size())
			}
		}
		if len(shown) != 1 || shown[0].X > 120 || shown[0].X*80 != shown[0].Y*120 {
			t.Errorf("pictures in the conversation: %v, want one thumbnail of the 120×80 image", shown)
		}
	})
	h.act(func() {
		v := h.u.main.conv
		if len(v.thumbs) != 1 {
			t.Errorf("%d thumbnails kept, want 1", len(v.thumbs))
		}
	})
}
