package relay

import "regexp"

// addrPattern matches what an error text may carry of a network address:
// IPv4 or bracketed IPv6 addresses, with or without a port, and bare IPv6
// addresses (eight groups, or shortened with "::"; a time of day such as
// 18:12:21 is neither).
var addrPattern = regexp.MustCompile(`\[[0-9A-Fa-f:.%a-z]+\](:\d+)?|\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b|\b([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|[0-9A-Fa-f:]*::[0-9A-Fa-f:.]*`)

// errText is how the relay logs a connection's error: without any network
// address. Socket errors name both ends ("read tcp 192.0.2.1:443->
// 198.51.100.7:50312: ..."), and a debug log that names a client's address
// next to the mailboxes its connection authenticated (logged a moment
// before) would tell an operator's log whose mailboxes those are. So the
// relay logs no client address at all, at any level.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return addrPattern.ReplaceAllString(err.Error(), "ADDR")
}

// ScrubAddrs replaces every network address in s with ADDR, for logs of
// other components (net/http's server errors name the client's address).
func ScrubAddrs(s string) string { return addrPattern.ReplaceAllString(s, "ADDR") }
