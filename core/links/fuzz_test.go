package links

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		"see https://example.com/a.", "[paypal.com](https://evil.example)", "www.wikipedia.org!",
		"(https://en.wikipedia.org/wiki/Go_(lang))", "bob@example.com", "яндекс.рф", "\u202Ehttps://x.com",
		"[a](b) [c](https://d.com/(e)) f.org", "", "https://", "((((((((https://a.com))))",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		links := Extract(text)
		if len(links) > MaxLinks {
			t.Fatalf("%d links, over MaxLinks", len(links))
		}
		if HasBidi(text) && len(links) != 0 {
			t.Fatalf("links found in text with bidi controls")
		}
		prev := 0
		for _, l := range links {
			if l.Start < prev || l.End <= l.Start || l.End > len(text) {
				t.Fatalf("bad span %d..%d after %d in %d bytes", l.Start, l.End, prev, len(text))
			}
			prev = l.End
			if !strings.HasPrefix(strings.ToLower(l.URL), "http://") && !strings.HasPrefix(strings.ToLower(l.URL), "https://") {
				t.Fatalf("non-web link %q", l.URL)
			}
			if !l.Markdown && !strings.HasSuffix(l.URL, l.Text) {
				t.Fatalf("link %q does not end with its text %q", l.URL, l.Text)
			}
		}
	})
}

func FuzzAnalyze(f *testing.F) {
	for _, c := range analyzeCases {
		f.Add(c.url, c.text)
	}
	f.Fuzz(func(t *testing.T, raw, text string) {
		v := Analyze(raw, text)
		if !v.Risk.Valid() {
			t.Fatalf("invalid risk %d", v.Risk)
		}
		want := RiskNone
		for _, r := range v.Reasons {
			if !r.Risk().Valid() || r.Risk() == RiskNone || r.Message == "" {
				t.Fatalf("bad reason %+v", r)
			}
			want = max(want, r.Risk())
			if !utf8.ValidString(r.Message) || HasBidi(r.Message) {
				t.Fatalf("unsafe message %q", r.Message)
			}
		}
		if v.Risk != want {
			t.Fatalf("risk %s, highest reason %s", v.Risk, want)
		}
		host := v.Host.String()
		if HasBidi(host) || HasBidi(v.HostASCII) {
			t.Fatalf("display host %q / %q has bidi controls", host, v.HostASCII)
		}
		if len(host) > 1024 || len(v.HostASCII) > 1024 {
			t.Fatalf("host too long: %d", len(host))
		}
		// Whatever does not parse as an http(s) URL with a host is
		// malformed, and so high.
		s := strings.TrimSpace(stripBidi(raw))
		if !hasScheme(s) {
			s = "https://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (!strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http")) {
			if !v.Has(CodeMalformed) || v.Risk != RiskHigh {
				t.Fatalf("unparseable %q: got %s %v, want malformed", raw, v.Risk, v.Reasons)
			}
		}
	})
}

func FuzzParseHTML(f *testing.F) {
	for _, s := range []string{
		pageHTML, "<title>x</title>", `<meta property="og:image" content="//a/b">`, "<title>\u202Ex",
		`<meta property=og:title content="a` + "\x00" + `b">`, "<html><head><title><title></head>",
	} {
		f.Add(s)
	}
	base, _ := url.Parse("https://example.com/dir/")
	f.Fuzz(func(t *testing.T, doc string) {
		m := ParseHTML(strings.NewReader(doc), base)
		for _, s := range []struct {
			v   string
			max int
		}{{m.Title, MaxTitle}, {m.Description, MaxDescription}, {m.SiteName, MaxSiteName}} {
			if len(s.v) > s.max || !utf8.ValidString(s.v) || HasBidi(s.v) || strings.ContainsAny(s.v, "\x00\n\r\t") {
				t.Fatalf("unsafe text %q", s.v)
			}
		}
		if m.Image != "" {
			u, err := url.Parse(m.Image)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || len(m.Image) > 4*LongURL {
				t.Fatalf("bad image URL %q", m.Image)
			}
		}
	})
}

// TestExtractLinearTime feeds inputs that would be quadratic for a naive
// scanner; the test has no time assertion, but a quadratic regression
// makes it run for minutes instead of milliseconds.
func TestExtractLinearTime(t *testing.T) {
	for _, text := range []string{
		"https://a.com/" + strings.Repeat(")", 64<<10),
		strings.Repeat("[a](", 16<<10),
		strings.Repeat("a.", 32<<10) + "com",
		strings.Repeat("https://a.com ", 8<<10),
		strings.Repeat("é.", 16<<10),
	} {
		links := Extract(text)
		if len(links) > MaxLinks {
			t.Errorf("%d links", len(links))
		}
	}
}

// TestAnalyzeLargeInputs feeds hosts and texts that would be quadratic
// for a naive implementation.
func TestAnalyzeLargeInputs(t *testing.T) {
	for _, tc := range []struct{ url, text string }{
		{"https://" + strings.Repeat("a.", 30000) + "com/", ""},
		{"https://" + strings.Repeat("раураl", 5000) + ".com/", ""},
		{"https://example.com/", strings.Repeat("x.com ", 20000)},
		{strings.Repeat("h", 100<<10), ""},
	} {
		if v := Analyze(tc.url, tc.text); v.Risk == RiskNone {
			t.Errorf("%.40q: got risk none, want a reason", tc.url)
		}
	}
}
