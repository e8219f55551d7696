package links

import (
	"slices"
	"strings"
	"testing"
)

// analyzeCases is the table of links with their expected verdicts. Codes
// lists every reason expected, in any order; a missing or extra code
// fails, so false alarms fail too.
var analyzeCases = []struct {
	url, text string
	risk      Risk
	codes     []Code
}{
	// Real homographs and Unicode lookalikes of popular domains.
	{"https://xn--80ak6aa92e.com/", "", RiskHigh, []Code{CodeConfusable}},
	{"https://аррӏе.com/", "", RiskHigh, []Code{CodeConfusable}},
	{"https://раураӏ.com/signin", "", RiskHigh, []Code{CodeConfusable}},
	{"https://раураl.com/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://gοοgle.com/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://fаcebook.com/login", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://www.аmazon.com/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://xn--pple-43d.com/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://microsоft.com/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://ebаy.com/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://gооgle.com/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://αpple.com/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://göögle.com/", "", RiskHigh, []Code{CodeConfusable}},
	{"https://аррӏе.de/", "", RiskHigh, []Code{CodeConfusable}},
	{"https://уаһоо.com/", "", RiskHigh, []Code{CodeConfusable}},
	{"https://сосо.com/", "", RiskMedium, []Code{CodePunycode}},
	{"https://xn--ls8h.la/", "", RiskMedium, []Code{CodePunycode}},
	{"https://wіkіpedia.org/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},
	{"https://paypal.сom/", "", RiskHigh, []Code{CodeMixedScript, CodeConfusable}},

	// Lookalikes in ASCII.
	{"https://paypa1.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://faceb00k.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://g00gle.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://rnicrosoft.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://arnazon.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://gooogle.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://gogle.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://paypla.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://amazom.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://linkedln.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://twiter.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://netfilx.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://NETFIIX.COM/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://micros0ft.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://wikipedla.org/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://app1e.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://wellsfarg0.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://paypa1.net/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://pay-pal.com/", "", RiskHigh, []Code{CodeLookalike}},
	{"https://www.coinbasse.com/", "", RiskHigh, []Code{CodeLookalike}},

	// Target embedding.
	{"https://paypal.com.login.example/", "", RiskHigh, []Code{CodeTargetEmbedding}},
	{"https://login.microsoftonline.com.evil.example/", "", RiskHigh, []Code{CodeTargetEmbedding}},
	{"https://secure.chase.com.account-verify.net/", "", RiskHigh, []Code{CodeTargetEmbedding}},
	{"https://www.amazon.co.uk.deals.example.net/", "", RiskHigh, []Code{CodeTargetEmbedding}},
	{"https://accounts.google.com.signin.example.org/", "", RiskHigh, []Code{CodeTargetEmbedding}},
	{"https://mybank.com.secure-login.io/", "", RiskHigh, []Code{CodeTargetEmbedding}},
	{"https://paypal.de.konto-check.example.com/", "", RiskHigh, []Code{CodeTargetEmbedding}},

	// Userinfo.
	{"https://paypal.com@evil.example/", "", RiskHigh, []Code{CodeUserinfo}},
	{"https://user:pass@example.com/", "", RiskHigh, []Code{CodeUserinfo}},
	{"http://www.google.com@192.0.2.7/", "", RiskHigh, []Code{CodeUserinfo, CodeIPHost, CodeInsecureScheme}},

	// Addresses instead of names.
	{"http://0x7f000001/", "", RiskHigh, []Code{CodeNumericHost, CodeInsecureScheme}},
	{"http://2130706433/", "", RiskHigh, []Code{CodeNumericHost, CodeInsecureScheme}},
	{"http://0177.0.0.1/", "", RiskHigh, []Code{CodeNumericHost, CodeInsecureScheme}},
	{"http://127.1/", "", RiskHigh, []Code{CodeNumericHost, CodeInsecureScheme}},
	{"https://0x7f.0x0.0x0.0x1/", "", RiskHigh, []Code{CodeNumericHost}},
	{"https://192.168.1.1/admin", "", RiskMedium, []Code{CodeIPHost}},
	{"https://[::1]/", "", RiskMedium, []Code{CodeIPHost}},
	{"https://[2001:db8::1]:8443/", "", RiskMedium, []Code{CodeIPHost, CodeNonStandardPort}},
	{"http://93.184.216.34/", "", RiskMedium, []Code{CodeIPHost, CodeInsecureScheme}},
	{"https://999.1.1.1/", "", RiskHigh, []Code{CodeMalformed}},

	// Scheme, port, shorteners, length.
	{"http://example.com/", "", RiskLow, []Code{CodeInsecureScheme}},
	{"http://neverssl.com", "", RiskLow, []Code{CodeInsecureScheme}},
	{"https://example.com:8443/", "", RiskLow, []Code{CodeNonStandardPort}},
	{"http://example.com:80/", "", RiskLow, []Code{CodeInsecureScheme}},
	{"https://bit.ly/3abcDEF", "", RiskLow, []Code{CodeShortener}},
	{"https://tinyurl.com/y4abcd", "", RiskLow, []Code{CodeShortener}},
	{"https://t.co/AbCdE", "", RiskLow, []Code{CodeShortener}},
	{"https://" + strings.Repeat("a", 60) + "." + strings.Repeat("b", 50) + ".example.com/", "", RiskLow, []Code{CodeExcessiveLength}},
	{"https://a.b.c.d.e.f.g.example.com/", "", RiskLow, []Code{CodeExcessiveLength}},
	{"https://example.com/?q=" + strings.Repeat("x", 2100), "", RiskLow, []Code{CodeExcessiveLength}},

	// Bidi and slash lookalikes.
	{"https://example.com/\u202Etxt.exe", "", RiskHigh, []Code{CodeBidi}},
	{"https://exa\u202Emple.com/", "", RiskHigh, []Code{CodeBidi}},
	{"https://paypal.com\u2215login.evil.example/", "", RiskHigh, []Code{CodeLookalikeSlash}},
	{"https://google.com\uFF0Fsecure.evil.example/", "", RiskHigh, []Code{CodeLookalikeSlash}},
	{"https://accounts.google.com\u2044signin.evil.example/", "", RiskHigh, []Code{CodeLookalikeSlash}},

	// Link text.
	{"https://evil.example/login", "paypal.com", RiskHigh, []Code{CodeTextMismatch}},
	{"https://evil.example/", "https://www.paypal.com/signin", RiskHigh, []Code{CodeTextMismatch}},
	{"https://bit.ly/x", "Your bank: www.chase.com", RiskHigh, []Code{CodeTextMismatch, CodeShortener}},
	{"https://www.paypal.com/signin", "paypal.com", RiskNone, nil},
	{"https://example.com/", "Click here", RiskNone, nil},
	{"https://mail.google.com/", "google.com", RiskNone, nil},
	{"https://example.com/", "see \u202Eexample.com", RiskHigh, []Code{CodeBidi}},

	// Malformed.
	{"", "", RiskHigh, []Code{CodeMalformed}},
	{"http://", "", RiskHigh, []Code{CodeMalformed, CodeInsecureScheme}},
	{"javascript:alert(1)", "", RiskHigh, []Code{CodeMalformed}},
	{"data:text/html,<script>alert(1)</script>", "", RiskHigh, []Code{CodeMalformed}},
	{"file:///etc/passwd", "", RiskHigh, []Code{CodeMalformed}},
	{"https://exa mple.com/", "", RiskHigh, []Code{CodeMalformed}},
	{"https://under_score.example.com/", "", RiskHigh, []Code{CodeMalformed}},
	{"https://-foo.com/", "", RiskHigh, []Code{CodeMalformed}},
	{"https://a..b.com/", "", RiskHigh, []Code{CodeMalformed}},
	{"https://%zz/", "", RiskHigh, []Code{CodeMalformed}},
	{"https://xn--zz.com/", "", RiskHigh, []Code{CodeMalformed}},
	{"https://example.com:99999/", "", RiskHigh, []Code{CodeMalformed}},
	{"https://" + strings.Repeat("a.", 200) + "com/", "", RiskHigh, []Code{CodeMalformed, CodeExcessiveLength}},
	{"https://" + strings.Repeat("a", 64) + ".com/", "", RiskHigh, []Code{CodeMalformed, CodeExcessiveLength}},

	// Ordinary links: no reasons at all.
	{"https://www.google.com/search?q=golang", "", RiskNone, nil},
	{"https://github.com/golang/go/issues/1", "", RiskNone, nil},
	{"https://en.wikipedia.org/wiki/IDN_homograph_attack", "", RiskNone, nil},
	{"https://яндекс.рф/", "", RiskNone, nil},
	{"https://xn--d1acpjx3f.xn--p1ai/", "", RiskNone, nil},
	{"https://例え.jp/", "", RiskNone, nil},
	{"https://xn--r8jz45g.jp/", "", RiskNone, nil},
	{"https://münchen.de/", "", RiskNone, nil},
	{"https://bücher.de/", "", RiskNone, nil},
	{"https://한국.kr/", "", RiskNone, nil},
	{"https://ελλάδα.gr/", "", RiskNone, nil},
	{"https://北京大学.中国/", "", RiskNone, nil},
	{"https://пример.рф/", "", RiskNone, nil},
	{"https://www.bbc.co.uk/news/world-12345678", "", RiskNone, nil},
	{"https://docs.google.com/document/d/1AbCdEfGhIjKlMnOpQrStUvWxYz/edit#heading=h.1", "", RiskNone, nil},
	{"https://mail.google.com/mail/u/0/#inbox", "", RiskNone, nil},
	{"https://www.amazon.co.uk/dp/B000123456", "", RiskNone, nil},
	{"https://login.microsoftonline.com/common/oauth2/v2.0/authorize?client_id=00000000-0000-0000-0000-000000000000&response_type=code", "", RiskNone, nil},
	{"https://accounts.google.com/signin/v2/identifier", "", RiskNone, nil},
	{"https://www.paypal.com/signin", "", RiskNone, nil},
	{"https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s", "", RiskNone, nil},
	{"https://youtu.be/dQw4w9WgXcQ", "", RiskNone, nil},
	{"https://x.com/golang", "", RiskNone, nil},
	{"https://www.reddit.com/r/golang/comments/abc123/title/", "", RiskNone, nil},
	{"https://stackoverflow.com/questions/1/how-do-i", "", RiskNone, nil},
	{"https://news.ycombinator.com/item?id=1", "", RiskNone, nil},
	{"https://pkg.go.dev/golang.org/x/net/idna", "", RiskNone, nil},
	{"https://www.nytimes.com/2024/01/01/world/europe/a-long-article-title-with-many-words-in-it.html?smid=url-share&unlocked_article_code=abcdef", "", RiskNone, nil},
	{"https://www.google.com/maps/place/Brandenburger+Tor/@52.5162746,13.3755153,17z/data=!3m1!4b1!4m6!3m5!1s0x47a851c655f20989:0x26bbfb4e84674c63!8m2!3d52.5162746!4d13.3777040!16zL20vMDExNHJ5?entry=ttu&g_ep=EgoyMDI0MTIwMS4xIKXMDSoASAFQAw%3D%3D", "", RiskNone, nil},
	{"https://blog.cloudflare.com/", "", RiskNone, nil},
	{"https://my-project.github.io/docs/", "", RiskNone, nil},
	{"https://www.lemonde.fr/", "", RiskNone, nil},
	{"https://github.com/search?q=%E2%80%AE", "", RiskNone, nil},
	{"https://sub.domain.example.co.uk/path", "", RiskNone, nil},
	{"https://user-images.githubusercontent.com/123/abc.png", "", RiskNone, nil},
	{"https://www.google.com:443/", "", RiskNone, nil},
	{"HTTPS://WWW.GOOGLE.COM/", "", RiskNone, nil},
	{"https://google.com./", "", RiskNone, nil},
	{"https://medium.com/@someone/a-post-123", "", RiskNone, nil},
	{"https://example.org/?next=https://example.net/", "", RiskNone, nil},
	{"https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC", "", RiskNone, nil},
	{"https://zoom.us/j/123456789?pwd=abc", "", RiskNone, nil},
	{"https://drive.google.com/file/d/1xyz/view?usp=sharing", "", RiskNone, nil},
	{"https://www.wellsfargo.com/", "", RiskNone, nil},
	{"https://signal.org/download/", "", RiskNone, nil},
	{"https://www.torproject.org/", "", RiskNone, nil},
	{"https://apps.apple.com/app/id123", "", RiskNone, nil},
	{"https://www.ikea.com/se/sv/", "", RiskNone, nil},
	{"example.com/path", "", RiskNone, nil},
	{"www.wikipedia.org", "", RiskNone, nil},
	{"https://www.gov.uk/", "", RiskNone, nil},
	{"https://api.eu.example.com/v1", "", RiskNone, nil},
	{"https://shop.app.example.com/", "", RiskNone, nil},
	{"https://ec2-54-123-45-67.us-west-2.compute.amazonaws.com/", "", RiskNone, nil},
	{"https://café.fr/", "", RiskNone, nil},
}

func TestAnalyzeTable(t *testing.T) {
	if len(analyzeCases) < 100 {
		t.Fatalf("table has %d cases, want at least 100", len(analyzeCases))
	}
	for _, tc := range analyzeCases {
		name := tc.url
		if tc.text != "" {
			name += " text=" + tc.text
		}
		t.Run(truncateUTF8(name, 80), func(t *testing.T) {
			v := Analyze(tc.url, tc.text)
			var got []Code
			for _, r := range v.Reasons {
				got = append(got, r.Code)
				if r.Message == "" {
					t.Errorf("reason %s has no message", r.Code)
				}
			}
			want := slices.Clone(tc.codes)
			slices.Sort(got)
			slices.Sort(want)
			if v.Risk != tc.risk || !slices.Equal(got, want) {
				t.Errorf("got risk %s codes %v, want risk %s codes %v (host %q, reasons %v)", v.Risk, got, tc.risk, want, v.Host, v.Reasons)
			}
		})
	}
}
