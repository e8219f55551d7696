package links

import "strings"

// DisplayHost is a host as the user should see it: Prefix (subdomains,
// with their trailing dot) in plain style and Registrable, the part that
// says who owns the site, singled out. Names are shown in Unicode when
// that is safe and in their ASCII (punycode) form when the analysis found
// them deceptive, as browsers do. A DisplayHost never contains bidi
// control characters.
type DisplayHost struct {
	Prefix      string `json:"prefix"`
	Registrable string `json:"registrable"`
	// ASCII is true when the host is shown in its ASCII form because the
	// Unicode form is deceptive (or the host is an address).
	ASCII bool `json:"ascii"`
}

// String returns the whole host.
func (d DisplayHost) String() string { return d.Prefix + d.Registrable }

// deceptiveHost reports whether v's findings make the Unicode form of
// its host unsafe to show.
func deceptiveHost(v Verdict) bool {
	for _, r := range v.Reasons {
		switch r.Code {
		case CodePunycode, CodeMixedScript, CodeConfusable, CodeBidi, CodeLookalikeSlash, CodeMalformed:
			return true
		}
	}
	return false
}

// displayFor splits a valid host at its registrable domain.
func displayFor(ascii, uni, reg string, deceptive bool) DisplayHost {
	host := uni
	if deceptive || hasBidi(uni) {
		host = ascii
	}
	regShown := reg
	if host == uni && host != ascii {
		regShown = toUnicode(reg)
	}
	if !strings.HasSuffix(host, regShown) {
		return DisplayHost{Registrable: host, ASCII: host == ascii && !isASCII(uni)}
	}
	return DisplayHost{
		Prefix:      host[:len(host)-len(regShown)],
		Registrable: regShown,
		ASCII:       host == ascii && !isASCII(uni),
	}
}

// Display returns how the host of rawURL should be shown, by the same
// rules as Analyze.
func Display(rawURL string) DisplayHost { return Analyze(rawURL, "").Host }
