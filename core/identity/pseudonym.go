package identity

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Pseudonym limits.
const (
	MaxPseudonymRunes = 64
	// MaxPseudonymBytes follows from MaxPseudonymRunes and UTF-8's 4 bytes
	// per rune at most.
	MaxPseudonymBytes = 4 * MaxPseudonymRunes
)

// ValidatePseudonym trims leading and trailing white space from name and
// checks the rest: valid UTF-8, 1 to MaxPseudonymRunes runes, and no control
// characters, line or paragraph separators, invisible characters or
// bidirectional formatting characters (which can make a name display as
// another). It returns the trimmed name. The name is not normalised to NFC.
func ValidatePseudonym(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidPseudonym)
	}
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return "", fmt.Errorf("%w: empty", ErrInvalidPseudonym)
	}
	if n > MaxPseudonymRunes {
		return "", fmt.Errorf("%w: %d characters, limit %d", ErrInvalidPseudonym, n, MaxPseudonymRunes)
	}
	for i, r := range name {
		if forbiddenRune(r) {
			return "", fmt.Errorf("%w: character %U at byte %d is not allowed", ErrInvalidPseudonym, r, i)
		}
	}
	return name, nil
}

func forbiddenRune(r rune) bool {
	switch {
	case unicode.IsControl(r): // Cc: C0, DEL, C1
		return true
	case r == '\u2028', r == '\u2029': // line and paragraph separators
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f', // ALM, LRM, RLM
		'\u202a' <= r && r <= '\u202e', // LRE, RLE, PDF, LRO, RLO
		'\u2066' <= r && r <= '\u2069': // LRI, RLI, FSI, PDI
		return true
	case r == '\u200b', r == '\u2060', r == '\ufeff', // zero-width space, word joiner, BOM
		r == '\u00ad', r == '\u180e', // soft hyphen, Mongolian vowel separator
		'\u2061' <= r && r <= '\u2064', // invisible operators
		'\ufff9' <= r && r <= '\ufffb': // interlinear annotation
		return true
	}
	// ZWNJ and ZWJ (U+200C, U+200D) stay allowed: some scripts and emoji
	// sequences need them.
	return false
}
