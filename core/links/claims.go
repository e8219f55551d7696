package links

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// MaxPreviews bounds the previews one message may carry; more are
// dropped.
const MaxPreviews = 4

// CheckedPreview is a preview that the receiver may show: the sender's
// claim about a link that really is in the message body, with the
// receiver's own analysis of that link.
type CheckedPreview struct {
	// Link is the link in the body the preview belongs to. Show its host
	// (Verdict.Host), never anything from the preview, as the domain.
	Link Link `json:"link"`
	// Verdict is the receiver's offline analysis of Link.
	Verdict Verdict `json:"verdict"`
	// Preview is the sender's claim, cleaned: text re-cleaned and capped,
	// the image sanitized again (or dropped), FinalURL and ImageURL
	// removed because the receiver cannot check them.
	Preview Preview `json:"preview"`
}

// VerifyPreviews applies the receiver's rules to the previews that came
// with a message whose text is body, analysing links with a (nil for the
// defaults):
//
//   - a preview whose URL is not a link of the body is dropped, and so
//     are all previews of a body with bidi controls (it has no links);
//   - one preview per link, at most MaxPreviews, in body order;
//   - the domain shown is the body link's, the analysis runs here;
//   - title, description and site name are cleaned again and the image
//     passes the sanitizer again; an image that fails is dropped.
func VerifyPreviews(a *Analyzer, body string, previews []Preview) []CheckedPreview {
	links := Extract(body)
	var out []CheckedPreview
	used := make([]bool, len(links))
	for _, p := range previews {
		if len(out) >= MaxPreviews {
			break
		}
		key := linkKey(p.URL)
		if key == "" {
			continue
		}
		for i, l := range links {
			if used[i] || linkKey(l.URL) != key {
				continue
			}
			used[i] = true
			text := ""
			if l.Markdown {
				text = l.Text
			}
			c := CheckedPreview{Link: l, Verdict: a.Analyze(l.URL, text), Preview: Preview{
				URL:         l.URL,
				Title:       CleanText(p.Title, MaxTitle),
				Description: CleanText(p.Description, MaxDescription),
				SiteName:    CleanText(p.SiteName, MaxSiteName),
			}}
			if len(p.Image) > 0 && len(p.Image) <= MaxImageBytes {
				if img, typ, err := ProcessImage(p.Image); err == nil {
					c.Preview.Image, c.Preview.ImageType = img, typ
				}
			}
			out = append(out, c)
			break
		}
	}
	return out
}

// linkKey normalises a URL for comparing a preview's claim with a link:
// scheme and host lowercased (host in ASCII form), default port and
// fragment removed, an empty path made "/". It returns "" for URLs that
// do not parse as web addresses.
func linkKey(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxAnalyzed || hasBidi(raw) {
		return ""
	}
	u, err := url.Parse(withScheme(raw))
	if err != nil || u.Host == "" {
		return ""
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "https" && u.Scheme != "http" {
		return ""
	}
	var host string
	if a, err := netip.ParseAddr(u.Hostname()); err == nil {
		host = a.String()
		if a.Is6() {
			host = "[" + host + "]"
		}
	} else if host, err = idnaProfile.ToASCII(strings.TrimSuffix(u.Hostname(), ".")); err != nil {
		host = strings.ToLower(u.Hostname())
	}
	port := u.Port()
	if u.Scheme == "https" && port == "443" || u.Scheme == "http" && port == "80" {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	key := u.Scheme + "://" + host + path
	if u.RawQuery != "" || u.ForceQuery {
		key += "?" + u.RawQuery
	}
	if u.User != nil {
		key = u.User.String() + "@" + key
	}
	return key
}

// InterstitialPolicy says when opening a link first shows the analysis
// on a page of its own. The zero value is InterstitialRisky.
type InterstitialPolicy int

// The interstitial policies.
const (
	// InterstitialRisky shows it for links of medium or high risk and
	// for shorteners, whose destination is hidden.
	InterstitialRisky InterstitialPolicy = iota
	// InterstitialAlways shows it for every link.
	InterstitialAlways
	// InterstitialNever opens links at once (the inline analysis is
	// still shown next to the link).
	InterstitialNever
)

var policyNames = map[InterstitialPolicy]string{
	InterstitialRisky: "risky", InterstitialAlways: "always", InterstitialNever: "never",
}

// String returns "risky", "always" or "never".
func (p InterstitialPolicy) String() string {
	if n, ok := policyNames[p]; ok {
		return n
	}
	return fmt.Sprintf("InterstitialPolicy(%d)", int(p))
}

// MarshalText encodes the policy as its name.
func (p InterstitialPolicy) MarshalText() ([]byte, error) {
	if _, ok := policyNames[p]; !ok {
		return nil, fmt.Errorf("links: invalid interstitial policy %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText decodes a policy name.
func (p *InterstitialPolicy) UnmarshalText(b []byte) error {
	for v, n := range policyNames {
		if n == string(b) {
			*p = v
			return nil
		}
	}
	return fmt.Errorf("links: unknown interstitial policy %q", b)
}

// ShowInterstitial reports whether opening a link with verdict v shows
// the interstitial first under policy p. An unknown policy behaves as
// InterstitialAlways.
func (p InterstitialPolicy) ShowInterstitial(v Verdict) bool {
	switch p {
	case InterstitialNever:
		return false
	case InterstitialRisky:
		return v.Risk >= RiskMedium || v.Has(CodeShortener)
	default:
		return true
	}
}

// Settings are the user's link choices. The zero value generates no
// previews and shows the interstitial for risky links.
type Settings struct {
	// Previews turns preview generation on for messages the user sends.
	Previews     bool               `json:"previews"`
	Interstitial InterstitialPolicy `json:"interstitial"`
}

// PreviewTarget returns the link of body that the sender's client should
// fetch a preview for: the first link, if previews are on and the link is
// an https address the fetcher may contact by name. ok is false when no
// preview should be fetched.
func (s Settings) PreviewTarget(body string) (l Link, ok bool) {
	if !s.Previews {
		return Link{}, false
	}
	links := Extract(body)
	if len(links) == 0 {
		return Link{}, false
	}
	l = links[0]
	v := Analyze(l.URL, "")
	if v.Has(CodeMalformed) || v.Has(CodeIPHost) || v.Has(CodeNumericHost) || v.Has(CodeUserinfo) || v.Has(CodeInsecureScheme) || v.Has(CodeBidi) {
		return Link{}, false
	}
	return l, true
}
