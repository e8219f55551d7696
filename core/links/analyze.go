package links

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Limits of the analysis.
const (
	// LongURL is the length beyond which a URL is flagged
	// excessive-length; LongHost and ManyLabels do the same for the host,
	// where length pushes the real domain out of sight.
	LongURL    = 2048
	LongHost   = 100
	ManyLabels = 8
	// maxAnalyzed is the longest input Analyze looks into; beyond it the
	// URL is malformed without further work.
	maxAnalyzed = 64 << 10
)

// Verdict is the result of analysing one link.
type Verdict struct {
	// URL is the link as analysed: the input with "https://" added when
	// it had no scheme, bidi controls removed.
	URL string `json:"url"`
	// HostASCII is the host in its ASCII (punycode) form, or the host with
	// unsafe characters escaped when it has none.
	HostASCII string `json:"host_ascii"`
	// Host is the host as the user should see it.
	Host DisplayHost `json:"host"`
	// Registrable is the registrable domain (eTLD+1) in ASCII form, or the
	// host when it has none (an IP address, a public suffix).
	Registrable string `json:"registrable_domain"`
	// Risk is the highest risk among Reasons, RiskNone when there are none.
	Risk    Risk     `json:"risk"`
	Reasons []Reason `json:"reasons"`
}

// Has reports whether v lists a reason with code c.
func (v Verdict) Has(c Code) bool {
	for _, r := range v.Reasons {
		if r.Code == c {
			return true
		}
	}
	return false
}

// Analyzer analyses links offline. The zero value compares links with the
// bundled popular domains only; NewAnalyzer adds the domains the user has
// seen before. An Analyzer is safe for concurrent use.
type Analyzer struct {
	seenReg  map[string]bool   // registrable domains the user has seen
	seenSkel map[string]string // their skeletons
}

// NewAnalyzer returns an analyzer that also treats the given hosts (for
// instance every domain the user has visited or received before) as
// known: a new link whose domain is confusable with one of them is
// flagged. Unparseable hosts are ignored.
func NewAnalyzer(seen []string) *Analyzer {
	a := &Analyzer{seenReg: map[string]bool{}, seenSkel: map[string]string{}}
	for _, h := range seen {
		ascii, err := idnaProfile.ToASCII(strings.TrimSuffix(strings.TrimSpace(h), "."))
		if err != nil || ascii == "" {
			continue
		}
		reg := registrable(ascii)
		a.seenReg[reg] = true
		a.seenSkel[skeleton(toUnicode(reg))] = reg
	}
	return a
}

var defaultAnalyzer Analyzer

// Analyze analyses rawURL, shown to the user as linkText ("" when the
// link is shown as itself), with the bundled popular domains. It never
// fails: a URL that does not parse gets a verdict with the malformed
// reason.
func Analyze(rawURL, linkText string) Verdict { return defaultAnalyzer.Analyze(rawURL, linkText) }

// hostToASCII converts a host to its ASCII form. Plain ASCII names that
// are already valid and lowercase skip the IDNA machinery, which costs
// more than the rest of the analysis.
func hostToASCII(host string) (string, error) {
	if plainHost(host) {
		return host, nil
	}
	return idnaProfile.ToASCII(host)
}

// plainHost reports whether host consists of valid LDH labels of
// lowercase ASCII, none of them punycode.
func plainHost(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(host); i++ {
		if i < len(host) && host[i] != '.' {
			c := host[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		label := host[start:i]
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			len(label) >= 4 && label[2] == '-' && label[3] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// idnaProfile converts hosts as browsers do for lookup (UTS #46, non-
// transitional, STD3 rules, bidi rule).
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false))

func toUnicode(ascii string) string {
	u, err := idnaProfile.ToUnicode(ascii)
	if err != nil {
		return ascii
	}
	return u
}

// verdictBuilder collects reasons.
type verdictBuilder struct {
	v         Verdict
	asciiHost string // the valid ASCII form of a host name, if it has one
}

func (b *verdictBuilder) add(c Code, format string, a ...any) {
	if b.v.Has(c) {
		return
	}
	b.v.Reasons = append(b.v.Reasons, Reason{Code: c, Message: fmt.Sprintf(format, a...)})
}

func (b *verdictBuilder) finish() Verdict {
	v := b.v
	if v.Reasons == nil {
		v.Reasons = []Reason{}
	}
	slices.SortStableFunc(v.Reasons, func(x, y Reason) int {
		if d := int(y.Risk()) - int(x.Risk()); d != 0 {
			return d
		}
		return codeOrder[x.Code] - codeOrder[y.Code]
	})
	v.Risk = RiskNone
	for _, r := range v.Reasons {
		v.Risk = max(v.Risk, r.Risk())
	}
	return v
}

// Analyze analyses rawURL shown as linkText; see the package function.
func (a *Analyzer) Analyze(rawURL, linkText string) Verdict {
	if a == nil {
		a = &defaultAnalyzer
	}
	var b verdictBuilder
	raw := strings.TrimSpace(rawURL)
	if len(raw) > maxAnalyzed {
		b.v.URL = truncateUTF8(raw, 256)
		b.v.HostASCII = "?"
		b.v.Host = DisplayHost{Registrable: "?", ASCII: true}
		b.v.Registrable = "?"
		b.add(CodeExcessiveLength, "The address is %d characters long, far beyond what any honest link needs.", len(raw))
		b.add(CodeMalformed, "The address is too long to be checked.")
		return b.finish()
	}
	if hasBidi(raw) {
		b.add(CodeBidi, "The address contains invisible characters that reverse the direction of text, a trick to disguise where it leads.")
		raw = stripBidi(raw)
	}
	b.v.URL = raw
	if len(raw) > LongURL {
		b.add(CodeExcessiveLength, "The address is %d characters long, which can hide where it really leads.", len(raw))
	}
	u, ok := parseWebURL(&b, raw)
	if ok {
		a.analyzeHost(&b, u)
		if b.asciiHost != "" {
			// The canonical form a browser would request: the host in
			// ASCII rather than percent-escaped Unicode.
			c := *u
			c.Host = b.asciiHost
			if p := u.Port(); p != "" {
				c.Host += ":" + p
			}
			b.v.URL = c.String()
		} else {
			b.v.URL = u.String()
		}
	} else {
		host := roughHost(raw)
		b.v.HostASCII = escapeHost(host)
		b.v.Registrable = b.v.HostASCII
		b.v.Host = DisplayHost{Registrable: b.v.HostASCII, ASCII: true}
	}
	if linkText != "" {
		a.checkText(&b, linkText)
	}
	return b.finish()
}

// parseWebURL parses raw as an http or https URL, adding "https://" when
// it has no scheme, and records the scheme, userinfo and port findings.
func parseWebURL(b *verdictBuilder, raw string) (*url.URL, bool) {
	if raw == "" {
		b.add(CodeMalformed, "The link is empty.")
		return nil, false
	}
	if !hasScheme(raw) {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		b.add(CodeMalformed, "The address is not a valid web address.")
		return nil, false
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "https":
	case "http":
		b.add(CodeInsecureScheme, "The link is not encrypted (http): anyone on the network can read or change the page.")
	default:
		b.add(CodeMalformed, "This is not a web link (%s:); opening it could run code or open another program.", safeText(u.Scheme, 20))
		return nil, false
	}
	if u.Opaque != "" || u.Host == "" {
		b.add(CodeMalformed, "The address has no valid host name.")
		return nil, false
	}
	if u.User != nil {
		b.add(CodeUserinfo, "The part before \"@\" (%s) is not where this link goes; it leads to %s.",
			safeText(u.User.String(), 60), safeText(u.Hostname(), 80))
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			b.add(CodeMalformed, "The address has an invalid port number.")
			return nil, false
		}
		if !(u.Scheme == "https" && n == 443 || u.Scheme == "http" && n == 80) {
			b.add(CodeNonStandardPort, "The link uses the unusual port %d.", n)
		}
	}
	return u, true
}

// hasScheme reports whether raw starts with a URL scheme, telling
// "javascript:alert(1)" and "https://x" from "example.com:8080/".
func hasScheme(raw string) bool {
	if strings.Contains(raw, "://") {
		i := strings.Index(raw, "://")
		return validScheme(raw[:i])
	}
	i := strings.IndexByte(raw, ':')
	if i <= 0 || !validScheme(raw[:i]) || strings.Contains(raw[:i], ".") {
		return false
	}
	// "localhost:8080": a port, not a scheme.
	rest := raw[i+1:]
	j := 0
	for j < len(rest) && '0' <= rest[j] && rest[j] <= '9' {
		j++
	}
	return j == 0 || (j < len(rest) && rest[j] != '/')
}

func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= s[i] && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.'):
		default:
			return false
		}
	}
	return true
}

// slashLike are characters that look like "/" or "\", used to make
// "paypal.com∕login.evil.example" look like a path on paypal.com.
var slashLike = []rune{
	'\u2215', '\u2044', '\uFF0F', '\u29F8', '\u2571', '\u1735', '\u2F03', '\u3033',
	'\u4E3F', '\u29F5', '\u29F9', '\uFE68', '\uFF3C', '\u2216', '\u2572', '\u27CB', '\u27CD',
	'\u0338', '\u337A',
}

func (a *Analyzer) analyzeHost(b *verdictBuilder, u *url.URL) {
	host := u.Hostname()
	if strings.ContainsFunc(host, func(r rune) bool { return slices.Contains(slashLike, r) }) {
		b.add(CodeLookalikeSlash, "The host name contains a character that looks like a slash: what looks like a path is part of the name of another site.")
	}
	if strings.HasPrefix(u.Host, "[") {
		if addr, err := netip.ParseAddr(host); err == nil {
			b.v.HostASCII, b.v.Registrable = addr.String(), addr.String()
			b.v.Host = DisplayHost{Registrable: addr.String(), ASCII: true}
			b.add(CodeIPHost, "The link points to a bare network address (%s) instead of a named site.", addr)
			return
		}
		b.add(CodeMalformed, "The address has an invalid IPv6 host.")
		b.setEscaped(host)
		return
	}
	host = strings.TrimSuffix(host, ".")
	if endsInNumber(host) {
		addr, ok := parseIPv4Loose(host)
		switch {
		case !ok:
			b.add(CodeMalformed, "The host name is an invalid numeric address.")
			b.setEscaped(host)
		case addr.String() == strings.ToLower(host):
			b.v.HostASCII, b.v.Registrable = addr.String(), addr.String()
			b.v.Host = DisplayHost{Registrable: addr.String(), ASCII: true}
			b.add(CodeIPHost, "The link points to a bare network address (%s) instead of a named site.", addr)
		default:
			b.v.HostASCII, b.v.Registrable = addr.String(), addr.String()
			b.v.Host = DisplayHost{Registrable: addr.String(), ASCII: true}
			b.add(CodeNumericHost, "The host %q is a disguised network address: browsers read it as %s.", safeText(host, 40), addr)
		}
		return
	}
	ascii, err := hostToASCII(host)
	if err != nil || ascii == "" || strings.Contains(ascii, "..") || strings.HasPrefix(ascii, ".") {
		if !b.v.Has(CodeBidi) && !b.v.Has(CodeLookalikeSlash) {
			b.add(CodeMalformed, "The host name contains characters that are not allowed in web addresses.")
		}
		b.setEscaped(host)
		return
	}
	if len(ascii) > 253 || longLabel(ascii) {
		b.add(CodeExcessiveLength, "The host name is unusually long, which can hide the real site at its end.")
		b.add(CodeMalformed, "The host name is longer than any real name can be.")
		b.setEscaped(ascii)
		return
	}
	reg := registrable(ascii)
	b.v.HostASCII, b.v.Registrable = ascii, reg
	b.asciiHost = ascii
	uni := ascii
	idn := hasIDNLabel(ascii)
	if idn {
		uni = toUnicode(ascii)
	}
	if len(ascii) > LongHost || strings.Count(ascii, ".")+1 > ManyLabels {
		b.add(CodeExcessiveLength, "The host name is unusually long, which can hide the real site at its end.")
	}
	pd := loadPopular()
	known := pd.reg[reg] || a.seenReg[reg]
	if shorteners[reg] {
		b.add(CodeShortener, "This is a link shortener: the real destination is hidden until you open it.")
	}
	if idn {
		a.checkIDN(b, pd, known, uni, reg)
	}
	if !known && !idn && len(a.seenSkel) > 0 {
		// ASCII imitations of a domain the user knows ("examp1e-bank").
		if m := a.seenSkel[skeleton(reg)]; m != "" && m != reg {
			b.add(CodeConfusable, "%s imitates %s, a site you have seen before; it is a different site.", reg, m)
		}
	}
	if !known && isASCII(reg) {
		label, suffix := splitRegistrable(reg)
		if m := pd.lookalike(label, suffix); m != "" {
			b.add(CodeLookalike, "%s looks like %s but is a different site.", reg, m)
		}
	}
	checkEmbedding(b, pd, ascii, reg)
	b.v.Host = displayFor(ascii, uni, reg, deceptiveHost(b.v))
}

// checkIDN flags internationalised names that imitate others.
func (a *Analyzer) checkIDN(b *verdictBuilder, pd *popularData, known bool, uni, reg string) {
	for label := range strings.SplitSeq(uni, ".") {
		if _, mixed := labelScripts(label); mixed {
			b.add(CodeMixedScript, "The name %q mixes letters from different alphabets, a common way to imitate another site.", label)
		}
	}
	regUni := toUnicode(reg)
	if !known && !isASCII(regUni) {
		sk := skeleton(regUni)
		m := pd.skel[sk]
		if m == "" {
			m = a.seenSkel[sk]
		}
		if m == "" {
			if l, _ := splitRegistrable(regUni); !isASCII(l) && len(l) >= 3 {
				m = pd.labelSkel[skeleton(l)]
				if m == "" {
					m = pd.skel[skeleton(stripMarks(regUni))]
				}
			}
		}
		if m == "" {
			m = a.seenSkel[skeleton(stripMarks(regUni))]
		}
		if m != "" && m != reg {
			b.add(CodeConfusable, "%s (%s) is written with characters that imitate %s; it is a different site.", regUni, reg, m)
		}
	}
	if b.v.Has(CodeMixedScript) || b.v.Has(CodeConfusable) || b.v.Has(CodeLookalikeSlash) {
		return
	}
	for label := range strings.SplitSeq(uni, ".") {
		if isASCII(label) {
			continue
		}
		if hasSymbol(label) {
			b.add(CodePunycode, "The name %q contains symbols that are not letters; it is shown in its encoded form.", label)
			return
		}
		if looksLatin(label) && !latinLookingAllowed(uni) {
			b.add(CodePunycode, "The name %q is written in non-Latin letters that look like Latin ones.", label)
			return
		}
	}
}

func hasIDNLabel(ascii string) bool {
	return strings.HasPrefix(ascii, "xn--") || strings.Contains(ascii, ".xn--")
}

// hasSymbol reports whether label holds something other than letters,
// marks, digits and hyphens (emoji and other symbols are valid in some
// registries but have no place in an honest name).
func hasSymbol(label string) bool {
	for _, r := range label {
		if r < 0x80 {
			continue
		}
		if !isLetterOrMark(r) {
			return true
		}
	}
	return false
}

// looksLatin reports whether a non-Latin label consists only of letters
// whose skeletons are Latin (Cyrillic "сосо" looks like "coco").
func looksLatin(label string) bool {
	set, _ := labelScripts(label)
	if set == 0 || set&scLatin != 0 {
		return false
	}
	sk := skeleton(label)
	for i := 0; i < len(sk); i++ {
		c := sk[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// latinLookingAllowed: under the top-level domains of countries writing
// Cyrillic or Greek, and under non-Latin top-level domains, a name in
// those letters is expected even when each letter has a Latin twin.
func latinLookingAllowed(uni string) bool {
	tld := uni[strings.LastIndexByte(uni, '.')+1:]
	if !isASCII(tld) {
		return true
	}
	switch tld {
	case "ru", "su", "ua", "by", "bg", "kz", "kg", "rs", "mk", "mn", "tj", "uz", "me", "ba", "gr", "cy":
		return true
	}
	return false
}

// checkEmbedding flags subdomain labels that form a registrable domain
// of their own: "login.microsoftonline.com.evil.example".
func checkEmbedding(b *verdictBuilder, pd *popularData, ascii, reg string) {
	if len(ascii) <= len(reg) {
		return
	}
	prefix := strings.TrimSuffix(ascii[:len(ascii)-len(reg)], ".")
	labels := strings.Split(prefix, ".")
	for e := len(labels); e >= 2; e-- {
		// The registrable domain of sub depends on its last labels
		// only; no public suffix has more than four.
		sub := strings.Join(labels[max(0, e-6):e], ".")
		ps, icann := publicsuffix.PublicSuffix(sub)
		if !icann || ps == sub {
			continue
		}
		emb, err := publicsuffix.EffectiveTLDPlusOne(sub)
		if err != nil || emb == reg {
			continue
		}
		label, _ := splitRegistrable(emb)
		classic := strings.Contains(ps, ".")
		switch ps {
		case "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz":
			classic = true
		}
		if len(label) >= 2 && (classic || pd.reg[emb] || pd.labels[label]) {
			b.add(CodeTargetEmbedding, "The link shows %s at its start, but it leads to %s.", toUnicode(emb), toUnicode(reg))
			return
		}
	}
}

// checkText compares the domain the link text shows with the target.
func (a *Analyzer) checkText(b *verdictBuilder, text string) {
	if hasBidi(text) {
		b.add(CodeBidi, "The link text contains invisible characters that reverse the direction of text.")
		text = stripBidi(text)
	}
	if b.v.Registrable == "" {
		return
	}
	shown := textHost(text)
	if shown == "" {
		return
	}
	if shown != b.v.Registrable {
		b.add(CodeTextMismatch, "The link text shows %s, but the link leads to %s.", safeText(toUnicode(shown), 80), safeText(toUnicode(b.v.Registrable), 80))
	}
}

// textHost returns the registrable domain of the first web address that
// text shows, or "".
func textHost(text string) string {
	if len(text) > 4096 {
		text = text[:4096]
	}
	for _, c := range findCandidates(text) {
		u, err := url.Parse(c.url)
		if err != nil {
			continue
		}
		h := strings.TrimSuffix(u.Hostname(), ".")
		if addr, ok := parseIPv4Loose(h); ok && endsInNumber(h) {
			return addr.String()
		}
		if addr, err := netip.ParseAddr(h); err == nil {
			return addr.String()
		}
		ascii, err := idnaProfile.ToASCII(h)
		if err != nil {
			continue
		}
		return registrable(ascii)
	}
	return ""
}

func (b *verdictBuilder) setEscaped(host string) {
	e := escapeHost(host)
	b.v.HostASCII, b.v.Registrable = e, e
	b.v.Host = DisplayHost{Registrable: e, ASCII: true}
}

// roughHost picks the host out of a URL that did not parse, for display.
func roughHost(raw string) string {
	s := raw
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return truncateUTF8(s, 253)
}

// escapeHost shows a host that is not a valid name safely: ASCII letters,
// digits and ".-:[]" stay, anything else becomes %XX escapes.
func escapeHost(host string) string {
	var sb strings.Builder
	for i := 0; i < len(host) && sb.Len() < 300; i++ {
		c := host[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-:[]", c) >= 0 {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "%%%02X", c)
		}
	}
	if sb.Len() == 0 {
		return "?"
	}
	return sb.String()
}

// LinkVerdict is a link found in a message with its analysis.
type LinkVerdict struct {
	Link    Link    `json:"link"`
	Verdict Verdict `json:"verdict"`
}

// AnalyzeText extracts the links of message text and analyses each, a
// markdown link against its visible text. Text with bidi controls has no
// links (see Extract).
func (a *Analyzer) AnalyzeText(text string) []LinkVerdict {
	links := Extract(text)
	out := make([]LinkVerdict, len(links))
	for i, l := range links {
		shown := ""
		if l.Markdown {
			shown = l.Text
		}
		out[i] = LinkVerdict{Link: l, Verdict: a.Analyze(l.URL, shown)}
	}
	return out
}

// longLabel reports whether a label of host exceeds 63 bytes.
func longLabel(host string) bool {
	for label := range strings.SplitSeq(host, ".") {
		if len(label) > 63 {
			return true
		}
	}
	return false
}
