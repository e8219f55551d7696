package links

import (
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// Link is a link found in message text.
type Link struct {
	// URL is the target, with "https://" added when the text had no
	// scheme.
	URL string `json:"url"`
	// Text is what the reader sees: the markdown link text for
	// "[text](url)", the address as written otherwise.
	Text string `json:"text"`
	// Start and End are the byte offsets of the whole link in the text.
	Start int `json:"start"`
	End   int `json:"end"`
	// Markdown is true for "[text](url)" links, whose text may differ
	// from the target.
	Markdown bool `json:"markdown,omitempty"`
}

// MaxLinks bounds the links Extract returns for one text.
const MaxLinks = 200

// The expressions are compiled on first use, not when the package loads:
// every process that imports links (the CLI sanitizing one file, say)
// would otherwise pay about 2 ms for them.
var (
	// markdownRE matches [text](url), allowing one level of parentheses
	// inside the URL (Wikipedia addresses).
	markdownRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`\[([^\[\]\n]+)\]\(\s*((?:[^()\s]|\([^()\s]*\))+)\s*\)`)
	})
	// bareRE matches addresses with a scheme, and host names that may be
	// addresses without one (checked against the public suffix list).
	bareRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)https?://[^\s<>"'` + "`" + `«»“”‘’]+|[\p{L}\p{N}](?:[\p{L}\p{N}\p{M}-]*[\p{L}\p{N}\p{M}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}\p{M}-]*[\p{L}\p{N}\p{M}])?)+(?::[0-9]{1,5})?(?:[/?#][^\s<>"'` + "`" + `«»“”‘’]*)?`)
	})
)

// Extract finds the links in message text, in order. Text containing
// bidirectional control characters gets no links at all: their order on
// screen may not be their order in the text, so what the reader sees
// could not be trusted to be the link. Addresses without a scheme are
// recognised when their last label is a real top-level domain; trailing
// punctuation and unbalanced closing brackets are left out of the link.
func Extract(text string) []Link {
	if hasBidi(text) {
		return nil
	}
	var out []Link
	covered := 0 // links never overlap: everything before covered is taken
	md := markdownRE().FindAllStringSubmatchIndex(text, MaxLinks)
	mi := 0
	for _, c := range findCandidates(text) {
		for mi < len(md) && md[mi][0] < c.end && len(out) < MaxLinks {
			m := md[mi]
			mi++
			if m[0] < covered {
				continue
			}
			target := strings.TrimSpace(text[m[4]:m[5]])
			target = strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">")
			if !looksLikeWebAddress(target) {
				continue
			}
			out = append(out, Link{URL: withScheme(target), Text: text[m[2]:m[3]], Start: m[0], End: m[1], Markdown: true})
			covered = m[1]
		}
		if c.start < covered || len(out) >= MaxLinks {
			continue
		}
		out = append(out, Link{URL: c.url, Text: text[c.start:c.end], Start: c.start, End: c.end})
		covered = c.end
	}
	for ; mi < len(md) && len(out) < MaxLinks; mi++ {
		m := md[mi]
		if m[0] < covered {
			continue
		}
		target := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(text[m[4]:m[5]]), "<"), ">")
		if !looksLikeWebAddress(target) {
			continue
		}
		out = append(out, Link{URL: withScheme(target), Text: text[m[2]:m[3]], Start: m[0], End: m[1], Markdown: true})
		covered = m[1]
	}
	return out
}

type candidate struct {
	start, end int
	url        string
}

// findCandidates finds bare addresses in text, ignoring bidi controls.
func findCandidates(text string) []candidate {
	var out []candidate
	for _, m := range bareRE().FindAllStringIndex(text, -1) {
		if len(out) >= MaxLinks {
			break
		}
		start, end := m[0], m[1]
		// Not the middle of a word, an e-mail address or a longer name.
		if start > 0 {
			r, _ := utf8.DecodeLastRuneInString(text[:start])
			if r == '@' || r == '.' || r == '-' || r == '/' || r == ':' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) {
				continue
			}
		}
		end = start + trimTrailing(text[start:end])
		s := text[start:end]
		hasSch := len(s) > 7 && strings.EqualFold(s[:7], "http://") || len(s) > 8 && strings.EqualFold(s[:8], "https://")
		if !hasSch {
			if end < len(text) && text[end] == '@' {
				continue
			}
			if !looksLikeWebAddress(s) {
				continue
			}
		}
		out = append(out, candidate{start: start, end: end, url: withScheme(s)})
	}
	return out
}

// trimTrailing returns the length of s without trailing punctuation and
// unbalanced closing brackets.
func trimTrailing(s string) int {
	var opens, closes [4]int // ( [ { <  and  ) ] } >
	for i := 0; i < len(s); i++ {
		if k := strings.IndexByte("([{<", s[i]); k >= 0 {
			opens[k]++
		} else if k := strings.IndexByte(")]}>", s[i]); k >= 0 {
			closes[k]++
		}
	}
	for len(s) > 0 {
		r, n := utf8.DecodeLastRuneInString(s)
		switch r {
		case '.', ',', ':', ';', '!', '?', '\'', '"', '…', '。', '、', '，', '！', '？':
			s = s[:len(s)-n]
			continue
		case ')', ']', '}', '>':
			k := strings.IndexRune(")]}>", r)
			if opens[k] < closes[k] {
				closes[k]--
				s = s[:len(s)-n]
				continue
			}
		}
		break
	}
	return len(s)
}

// looksLikeWebAddress accepts http(s) URLs and scheme-less addresses whose
// host ends in a real top-level domain.
func looksLikeWebAddress(s string) bool {
	if len(s) > 7 && strings.EqualFold(s[:7], "http://") || len(s) > 8 && strings.EqualFold(s[:8], "https://") {
		return true
	}
	if strings.Contains(s, "://") {
		return false
	}
	host := s
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if strings.ContainsAny(host, "@ ") || !strings.Contains(host, ".") {
		return false
	}
	ascii, err := idnaProfile.ToASCII(host)
	if err != nil {
		return false
	}
	ps, icann := publicsuffix.PublicSuffix(ascii)
	return icann && ps != ascii
}

func withScheme(s string) string {
	if hasScheme(s) {
		return s
	}
	return "https://" + s
}
