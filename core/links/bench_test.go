package links

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ephemera-im/ephemera/assets/domains"
)

// BenchmarkAnalyze measures one typical link: a popular site with a path
// and query, analysed with the bundled domain list already loaded.
func BenchmarkAnalyze(b *testing.B) {
	loadPopular()
	for _, bc := range []struct{ name, url string }{
		{"typical", "https://www.example-news.com/2024/05/article-title?utm_source=chat"},
		{"popular", "https://github.com/golang/go/issues/12345"},
		{"lookalike", "https://paypa1.com/signin"},
		{"idn", "https://xn--80ak6aa92e.com/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Analyze(bc.url, "")
			}
		})
	}
}

// BenchmarkAnalyzeMessage extracts and analyses a message with 50 links,
// as the receiver does for every message shown.
func BenchmarkAnalyzeMessage(b *testing.B) {
	loadPopular()
	var sb strings.Builder
	hosts := []string{"github.com", "example.org", "paypa1.com", "news.ycombinator.com", "яндекс.рф", "bit.ly"}
	for i := range 50 {
		fmt.Fprintf(&sb, "link %d: https://%s/path/%d?q=%d, ", i, hosts[i%len(hosts)], i, i)
	}
	msg := sb.String()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if got := defaultAnalyzer.AnalyzeText(msg); len(got) != 50 {
			b.Fatalf("got %d links, want 50", len(got))
		}
	}
}

// BenchmarkLoadPopular measures building the domain index, paid once.
func BenchmarkLoadPopular(b *testing.B) {
	all := domains.All()
	b.ReportAllocs()
	for b.Loop() {
		buildPopular(all)
	}
}
