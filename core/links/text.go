package links

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// isBidiControl reports whether r is an invisible character that changes
// the direction of text (Unicode Bidi_Control, plus the marks).
func isBidiControl(r rune) bool {
	switch {
	case r == '\u061C', r == '\u200E', r == '\u200F':
		return true
	case '\u202A' <= r && r <= '\u202E':
		return true
	case '\u2066' <= r && r <= '\u2069':
		return true
	}
	return false
}

// HasBidi reports whether s contains bidirectional control characters.
// Extract refuses to find links in such text.
func HasBidi(s string) bool { return hasBidi(s) }

func hasBidi(s string) bool {
	for i := 0; i < len(s); i++ {
		// Every bidi control is encoded with a lead byte 0xD8 (U+061C) or
		// 0xE2 (U+200E..U+2069).
		if s[i] == 0xD8 || s[i] == 0xE2 {
			return strings.ContainsFunc(s, isBidiControl)
		}
	}
	return false
}

func stripBidi(s string) string {
	return strings.Map(func(r rune) rune {
		if isBidiControl(r) {
			return -1
		}
		return r
	}, s)
}

// isLetterOrMark reports whether r may appear in an honest host label
// besides ASCII digits and hyphens.
func isLetterOrMark(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)
}

// CleanText makes outside text safe to show on one line: control, format
// (bidi and zero-width) and private-use characters are removed, runs of
// white space become one space, invalid UTF-8 is replaced, and the result
// is cut to at most max bytes on a character boundary, with "…" when cut.
func CleanText(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			r = '\uFFFD'
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Co, r),
			unicode.Is(unicode.Cs, r), isBidiControl(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() > max+8 {
			break
		}
	}
	out := b.String()
	if len(out) > max {
		out = truncateUTF8(out, max-len("…")) + "…"
	}
	return out
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// safeText quotes outside text inside a reason's message: cleaned and
// short.
func safeText(s string, max int) string { return CleanText(s, max) }
