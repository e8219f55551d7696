package links

import (
	"testing"
)

func TestExtract(t *testing.T) {
	type want struct{ url, text string }
	for _, tc := range []struct {
		name string
		text string
		want []want
	}{
		{"scheme", "see https://example.com/a?b=c#d now", []want{{"https://example.com/a?b=c#d", "https://example.com/a?b=c#d"}}},
		{"no scheme", "go to example.com/path today", []want{{"https://example.com/path", "example.com/path"}}},
		{"www", "www.wikipedia.org!", []want{{"https://www.wikipedia.org", "www.wikipedia.org"}}},
		{"trailing dot", "Visit https://go.dev.", []want{{"https://go.dev", "https://go.dev"}}},
		{"trailing punctuation", "really? https://go.dev/doc/?!,", []want{{"https://go.dev/doc/", "https://go.dev/doc/"}}},
		{"brackets", "(see https://example.com/x)", []want{{"https://example.com/x", "https://example.com/x"}}},
		{"balanced parens kept", "https://en.wikipedia.org/wiki/Go_(programming_language)", []want{{"https://en.wikipedia.org/wiki/Go_(programming_language)", "https://en.wikipedia.org/wiki/Go_(programming_language)"}}},
		{"square brackets", "[https://example.com]", []want{{"https://example.com", "https://example.com"}}},
		{"quotes", `"https://example.com/q"`, []want{{"https://example.com/q", "https://example.com/q"}}},
		{"markdown", "log in at [paypal.com](https://evil.example/login) please", []want{{"https://evil.example/login", "paypal.com"}}},
		{"markdown with parens", "[Go](https://en.wikipedia.org/wiki/Go_(programming_language))", []want{{"https://en.wikipedia.org/wiki/Go_(programming_language)", "Go"}}},
		{"two links", "a.com is not b.org", []want{{"https://a.com", "a.com"}, {"https://b.org", "b.org"}}},
		{"idn", "привет яндекс.рф!", []want{{"https://яндекс.рф", "яндекс.рф"}}},
		{"email is not a link", "write to bob@example.com", nil},
		{"file name is not a link", "open main.go and notes.txt", nil},
		{"not a tld", "version 1.2.3 and foo.bar1", nil},
		{"http", "http://neverssl.com", []want{{"http://neverssl.com", "http://neverssl.com"}}},
		{"userinfo", "https://paypal.com@evil.example/", []want{{"https://paypal.com@evil.example/", "https://paypal.com@evil.example/"}}},
		{"bidi refused", "safe \u202Egnp.exe https://example.com", nil},
		{"bidi isolate refused", "\u2067https://example.com\u2069", nil},
		{"markdown to javascript ignored", "[click](javascript:alert(1))", nil},
		{"no links", "hello there, how are you?", nil},
		{"cjk punctuation", "見て https://example.jp/a。", []want{{"https://example.jp/a", "https://example.jp/a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Extract(tc.text)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d links %+v, want %d %+v", len(got), got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if got[i].URL != w.url || got[i].Text != w.text {
					t.Errorf("link %d: got url %q text %q, want url %q text %q", i, got[i].URL, got[i].Text, w.url, w.text)
				}
				if got[i].Start < 0 || got[i].End > len(tc.text) || got[i].Start >= got[i].End {
					t.Errorf("link %d: bad offsets %d..%d", i, got[i].Start, got[i].End)
				}
			}
		})
	}
}

func TestExtractMarkdownFlag(t *testing.T) {
	got := Extract("x [text](https://example.com) y https://go.dev")
	if len(got) != 2 || !got[0].Markdown || got[1].Markdown {
		t.Fatalf("got %+v, want a markdown link then a bare one", got)
	}
	if s := "x [text](https://example.com) y https://go.dev"[got[0].Start:got[0].End]; s != "[text](https://example.com)" {
		t.Errorf("markdown span: got %q", s)
	}
}

func TestExtractBounded(t *testing.T) {
	text := ""
	for range 500 {
		text += "https://example.com/ "
	}
	if got := Extract(text); len(got) != MaxLinks {
		t.Errorf("got %d links, want MaxLinks=%d", len(got), MaxLinks)
	}
}

func TestAnalyzeText(t *testing.T) {
	got := NewAnalyzer(nil).AnalyzeText("[paypal.com](https://evil.example/) and https://www.paypal.com/ and http://x.org")
	if len(got) != 3 {
		t.Fatalf("got %d verdicts, want 3", len(got))
	}
	if !got[0].Verdict.Has(CodeTextMismatch) || got[1].Verdict.Risk != RiskNone || !got[2].Verdict.Has(CodeInsecureScheme) {
		t.Errorf("got %v / %v / %v", got[0].Verdict.Reasons, got[1].Verdict.Reasons, got[2].Verdict.Reasons)
	}
}
