package links

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/net/publicsuffix"
	"golang.org/x/text/unicode/norm"

	"github.com/ephemera-im/ephemera/assets/domains"
)

// popEntry is one popular registrable domain split at its public suffix.
type popEntry struct {
	reg    string // "paypal.com"
	label  string // "paypal"
	suffix string // "com"
	norm   string // label in lookalike form
}

// popularData is the bundled domain list, precomputed once for the
// lookups Analyze makes on every link.
type popularData struct {
	entries []popEntry
	reg     map[string]bool // registrable domains
	labels  map[string]bool // their first labels, at least 3 bytes long
	// norm maps a label in lookalike form (see lookalikeForm) to entries;
	// dels maps the same forms with one byte deleted, for labels long
	// enough for edit-distance matches.
	norm map[string][]int32
	dels map[string][]int32
	// skel maps the UTS #39 skeleton of a registrable domain, and
	// labelSkel of its first label, to the domain.
	skel      map[string]string
	labelSkel map[string]string
}

var (
	popularOnce sync.Once
	popularList *popularData
)

// Minimum label lengths below which matches would flag too many honest
// short domains.
const (
	minEditLabel = 5 // edit distance one: "paypa.com", "gooogle.com"
	minNormLabel = 4 // digit lookalikes only: "ebay" vs "e6ay" is not, "g00gle" is
)

func loadPopular() *popularData {
	popularOnce.Do(func() { popularList = buildPopular(domains.All()) })
	return popularList
}

func buildPopular(hosts []string) *popularData {
	p := &popularData{
		reg:       map[string]bool{},
		labels:    map[string]bool{},
		norm:      map[string][]int32{},
		dels:      map[string][]int32{},
		skel:      map[string]string{},
		labelSkel: map[string]string{},
	}
	for _, h := range hosts {
		reg := registrable(h)
		if p.reg[reg] {
			continue
		}
		label, suffix := splitRegistrable(reg)
		if label == "" {
			continue
		}
		p.reg[reg] = true
		i := int32(len(p.entries))
		n := lookalikeForm(label)
		p.entries = append(p.entries, popEntry{reg: reg, label: label, suffix: suffix, norm: n})
		if len(label) >= 3 {
			p.labels[label] = true
		}
		p.norm[n] = append(p.norm[n], i)
		if len(n) >= minEditLabel {
			for j := range len(n) {
				d := n[:j] + n[j+1:]
				if l := p.dels[d]; len(l) == 0 || l[len(l)-1] != i {
					p.dels[d] = append(l, i)
				}
			}
		}
		uni := toUnicode(reg)
		p.skel[skeleton(uni)] = reg
		if ul, _ := splitRegistrable(uni); len(ul) >= 3 {
			p.labelSkel[skeleton(ul)] = reg
		}
	}
	return p
}

// registrable returns host's registrable domain (eTLD+1) by the public
// suffix list, private suffixes included (two users of github.io are two
// owners). A host that is itself a public suffix is its own registrable
// domain.
func registrable(host string) string {
	r, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return host
	}
	return r
}

// splitRegistrable splits "paypal.co.uk" into "paypal" and "co.uk".
func splitRegistrable(reg string) (label, suffix string) {
	i := strings.IndexByte(reg, '.')
	if i <= 0 {
		return reg, ""
	}
	return reg[:i], reg[i+1:]
}

// lookalikeForm lowercases an ASCII label and maps the characters that
// stand in for others in typosquats: digits for letters (0→o, 1→l, 3→e,
// 4→a, 5→s, 7→t, 8→b, 9→g) and letter pairs for letters ("rn"→m,
// "vv"→w). Both sides of a comparison pass through it.
func lookalikeForm(label string) string {
	var b strings.Builder
	b.Grow(len(label))
	for i := 0; i < len(label); i++ {
		c := label[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch c {
		case '0':
			c = 'o'
		case '1':
			c = 'l'
		case '3':
			c = 'e'
		case '4':
			c = 'a'
		case '5':
			c = 's'
		case '7':
			c = 't'
		case '8':
			c = 'b'
		case '9':
			c = 'g'
		case 'r', 'v':
			if i+1 < len(label) {
				next := label[i+1] | 0x20
				if c == 'r' && next == 'n' {
					c, i = 'm', i+1
				} else if c == 'v' && next == 'v' {
					c, i = 'w', i+1
				}
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// lookalike returns the popular domain that the ASCII registrable domain
// label.suffix imitates, or "". It matches when the label in lookalike
// form equals a popular label while the label as written differs (any
// suffix), or when it is one edit (insertion, deletion, substitution or
// swap of neighbours) from a popular label under the same suffix.
func (p *popularData) lookalike(label, suffix string) string {
	if len(label) < minNormLabel || len(label) > 63 {
		return ""
	}
	n := lookalikeForm(label)
	for _, i := range p.norm[n] {
		e := p.entries[i]
		if e.label != label && (len(e.label) >= minNormLabel) {
			return e.reg
		}
	}
	if len(n) < minEditLabel-1 {
		return ""
	}
	check := func(ids []int32) string {
		for _, i := range ids {
			e := p.entries[i]
			if e.suffix == suffix && e.label != label && len(e.label) >= minEditLabel && osaDistanceOne(n, e.norm) {
				return e.reg
			}
		}
		return ""
	}
	// n is a popular label with one byte deleted, or differs from one by a
	// substitution or swap (both leave equal strings after one deletion
	// each), or has one byte inserted.
	if r := check(p.dels[n]); r != "" {
		return r
	}
	var buf [64]byte
	for j := range len(n) {
		d := append(append(buf[:0], n[:j]...), n[j+1:]...)
		if r := check(p.dels[string(d)]); r != "" {
			return r
		}
		if r := check(p.norm[string(d)]); r != "" {
			return r
		}
	}
	return ""
}

// osaDistanceOne reports whether a and b are at most one edit apart,
// counting a swap of two neighbouring bytes as one edit.
func osaDistanceOne(a, b string) bool {
	if a == b {
		return true
	}
	la, lb := len(a), len(b)
	if la-lb > 1 || lb-la > 1 {
		return false
	}
	i := 0
	for i < la && i < lb && a[i] == b[i] {
		i++
	}
	switch {
	case la == lb:
		if a[i+1:] == b[i+1:] {
			return true // substitution
		}
		return i+1 < la && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	case la > lb:
		return a[i+1:] == b[i:]
	default:
		return a[i:] == b[i+1:]
	}
}

// skeleton is the UTS #39 skeleton of s after lowercasing, with the
// prototypes that still look alike in host names folded together: "i",
// "l" and "1" (the skeleton maps Cyrillic palochka "ӏ" to "i", so
// "аррӏе" would otherwise escape "apple"), and "O" and "o".
func skeleton(s string) string {
	sk := confusables.Skeleton(strings.ToLower(s))
	return strings.Map(func(r rune) rune {
		switch r {
		case 'i', '1', 'I', '|':
			return 'l'
		case 'O', '0':
			return 'o'
		}
		return r
	}, sk)
}

// stripMarks removes combining marks after canonical decomposition, so
// "göögle" compares as "google".
func stripMarks(s string) string {
	d := norm.NFD.String(s)
	var b strings.Builder
	for _, r := range d {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isASCII reports whether s has only ASCII bytes.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
