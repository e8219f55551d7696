package links

import (
	"net/netip"
	"strings"
)

// The address policy of the fetcher is an allowlist: an address is
// dialled only if it is globally reachable unicast, which excludes every
// block of the IANA IPv4 and IPv6 Special-Purpose Address Registries that
// is not marked globally reachable, plus multicast, NAT64 (which would
// reach IPv4 space behind a translator) and the IPv4-mapped and -compatible
// IPv6 forms. Blocks of the registries that are marked global but sit
// inside a refused block (192.0.0.9, 2001:3::/32, ...) are refused too:
// no preview needs them.

var refusedV4 = mustPrefixes(
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // shared address space (carrier-grade NAT)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, including the 169.254.169.254 cloud metadata service
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation (TEST-NET-1)
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation (TEST-NET-2)
	"203.0.113.0/24",  // documentation (TEST-NET-3)
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and 255.255.255.255 limited broadcast
)

// IPv6 global unicast is 2000::/3; inside it these are not global.
var (
	globalV6  = netip.MustParsePrefix("2000::/3")
	refusedV6 = mustPrefixes(
		"2001::/23",     // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID
		"2001:db8::/32", // documentation
		"2002::/16",     // 6to4
		"3fff::/20",     // documentation
	)
)

func mustPrefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// GloballyReachable reports whether the fetcher may connect to addr: a
// globally reachable unicast address by the IANA special-purpose
// registries. Loopback, private, shared, link-local, multicast,
// documentation, benchmarking, reserved and unspecified addresses, NAT64
// 64:ff9b::/96, 6to4, Teredo, IPv4-mapped and -compatible IPv6 and
// addresses with a zone are all refused.
func GloballyReachable(addr netip.Addr) bool {
	if !addr.IsValid() || addr.Zone() != "" {
		return false
	}
	if addr.Is4() {
		for _, p := range refusedV4 {
			if p.Contains(addr) {
				return false
			}
		}
		return true
	}
	// IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96), NAT64
	// (64:ff9b::/96, 64:ff9b:1::/48), discard (100::/64), ULA (fc00::/7),
	// link-local (fe80::/10), multicast (ff00::/8): all outside 2000::/3.
	if !globalV6.Contains(addr) {
		return false
	}
	for _, p := range refusedV6 {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// localName reports whether host is a name that only makes sense on the
// local network or this machine, which the fetcher refuses even when a
// proxy resolves names: single-label names, localhost, and the special-
// use and commonly used private suffixes.
func localName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if !strings.Contains(h, ".") {
		return true
	}
	for _, s := range []string{"localhost", "local", "internal", "intranet", "lan", "home", "corp",
		"localdomain", "home.arpa", "arpa", "test", "invalid", "example", "private"} {
		if h == s || strings.HasSuffix(h, "."+s) {
			return true
		}
	}
	return endsInNumber(h)
}
