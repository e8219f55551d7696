package links

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseHTML(t *testing.T) {
	base, _ := url.Parse("https://example.com/a/page.html")
	for _, tc := range []struct {
		name string
		html string
		want Meta
	}{
		{"title only", "<title> Hello\n world </title>", Meta{Title: "Hello world"}},
		{"og wins", `<title>T</title><meta property="og:title" content="OG"><meta name="description" content="D">`, Meta{Title: "OG", Description: "D"}},
		{"og description wins", `<meta name="description" content="D"><meta property="og:description" content="OGD">`, Meta{Description: "OGD"}},
		{"site and relative image", `<meta property="og:site_name" content="Site"><meta property="og:image" content="img/x.png">`, Meta{SiteName: "Site", Image: "https://example.com/a/img/x.png"}},
		{"secure image wins", `<meta property="og:image" content="http://cdn.example.com/a.jpg"><meta property="og:image:secure_url" content="https://cdn.example.com/a.jpg">`, Meta{Image: "https://cdn.example.com/a.jpg"}},
		{"javascript image dropped", `<meta property="og:image" content="javascript:alert(1)">`, Meta{}},
		{"data image dropped", `<meta property="og:image" content="data:image/png;base64,AAAA">`, Meta{}},
		{"bidi and controls cleaned", "<title>Pay\u202Epal\u0007 \u200Blogin</title>", Meta{Title: "Paypal login"}},
		{"entities", `<title>A &amp; B &lt;3</title>`, Meta{Title: "A & B <3"}},
		{"stops at body", `<title>T</title><body><meta property="og:title" content="late">`, Meta{Title: "T"}},
		{"first title wins", `<title>one</title><title>two</title>`, Meta{Title: "one"}},
		{"svg title ignored after body", `<body><svg><title>icon</title></svg>`, Meta{}},
		{"unterminated title", `<title>open`, Meta{Title: "open"}},
		{"capped", "<title>" + strings.Repeat("é", 1000) + "</title>", Meta{Title: strings.Repeat("é", (MaxTitle-3)/2) + "…"}},
		{"empty", ``, Meta{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseHTML(strings.NewReader(tc.html), base)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
