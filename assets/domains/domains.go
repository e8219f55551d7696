// Package domains bundles the lists of domains that Ephemera's link
// analysis (core/links) compares links against: the most visited sites
// and the sign-in pages phishers imitate most. A link that looks like one
// of these without being it is flagged as a lookalike or a confusable.
//
// The data is plain text, one host per line, "#" starting a comment:
//
//   - top-sites.txt: the ranked list of the npm package top-sites (see
//     README.md for the version), "www." removed;
//   - phished.txt: hand-written banks, payment services, mail and cloud
//     sign-in, delivery and government domains;
//   - popular-extra.txt: hand-written widely visited sites that the
//     top-sites list (500 entries) does not carry.
//
// Hosts are not reduced to registrable domains here; that needs the
// public suffix list, which the caller already has.
package domains

import (
	_ "embed"
	"strings"
)

var (
	//go:embed top-sites.txt
	topSites string
	//go:embed phished.txt
	phished string
	//go:embed popular-extra.txt
	popularExtra string
)

// Popular returns the most visited hosts, most visited first, followed by
// the hand-written additions. Each call returns a new slice.
func Popular() []string { return append(lines(topSites), lines(popularExtra)...) }

// Phished returns the hand-written list of commonly phished sign-in
// domains. Each call returns a new slice.
func Phished() []string { return lines(phished) }

// All returns Popular followed by Phished, duplicates included.
func All() []string { return append(Popular(), Phished()...) }

// lines splits s into lowercased, trimmed lines, dropping blank lines and
// comments.
func lines(s string) []string {
	var out []string
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line != "" {
			out = append(out, strings.ToLower(line))
		}
	}
	return out
}
