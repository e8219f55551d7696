package links

import (
	"unicode"
	"unicode/utf8"
)

// Script handling for the mixed-script check, after UTS #39 section 5
// (restriction levels). A label passes when its characters, Common and
// Inherited ones aside, come from one script, or from one of the sets
// the "highly restrictive" level allows because they are written
// together: Latin with Han, Hiragana and Katakana (Japanese), Latin with
// Han and Bopomofo (Chinese), Latin with Han and Hangul (Korean).

type scriptSet uint16

const (
	scLatin scriptSet = 1 << iota
	scHan
	scHiragana
	scKatakana
	scBopomofo
	scHangul
	scCyrillic
	scGreek
	scOther // any other script; a second "other" script is tracked by name
)

var highlyRestrictive = []scriptSet{
	scLatin | scHan | scHiragana | scKatakana,
	scLatin | scHan | scBopomofo,
	scLatin | scHan | scHangul,
}

var namedScripts = []struct {
	set   scriptSet
	table *unicode.RangeTable
}{
	{scLatin, unicode.Latin},
	{scCyrillic, unicode.Cyrillic},
	{scGreek, unicode.Greek},
	{scHan, unicode.Han},
	{scHiragana, unicode.Hiragana},
	{scKatakana, unicode.Katakana},
	{scHangul, unicode.Hangul},
	{scBopomofo, unicode.Bopomofo},
}

// scriptOf returns the script of r as a set bit, the name of the script
// for scOther, and ok=false for Common and Inherited characters.
func scriptOf(r rune) (s scriptSet, other string, ok bool) {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return scLatin, "", true
		}
		return 0, "", false
	}
	if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
		return 0, "", false
	}
	for _, n := range namedScripts {
		if unicode.Is(n.table, r) {
			return n.set, "", true
		}
	}
	for name, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return scOther, name, true
		}
	}
	return scOther, "Unknown", true
}

// labelScripts returns the scripts of label and whether it mixes them
// beyond what the highly restrictive level allows.
func labelScripts(label string) (set scriptSet, mixed bool) {
	var other string
	for _, r := range label {
		s, name, ok := scriptOf(r)
		if !ok {
			continue
		}
		if s == scOther {
			if other != "" && other != name {
				mixed = true
			}
			other = name
		}
		set |= s
	}
	if mixed || set&(set-1) == 0 { // two other scripts, or at most one script
		return set, mixed
	}
	for _, allowed := range highlyRestrictive {
		if set&^allowed == 0 {
			return set, false
		}
	}
	return set, true
}
