package links

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/ephemera-im/ephemera/assets/domains"
)

func TestPopularLoaded(t *testing.T) {
	p := loadPopular()
	if n := len(p.reg); n < 1000 {
		t.Fatalf("got %d popular registrable domains, want at least 1000", n)
	}
	for _, d := range []string{"google.com", "paypal.com", "chase.com", "microsoftonline.com", "gmail.com"} {
		if !p.reg[d] {
			t.Errorf("%s missing from the popular list", d)
		}
	}
}

func TestSeenDomains(t *testing.T) {
	a := NewAnalyzer([]string{"mybank.example.com", "Ephemera-Relay.net"})
	for _, tc := range []struct {
		url  string
		want Risk
		code Code
	}{
		{"https://ephemera-relay.net/", RiskNone, ""},
		{"https://еphеmеra-rеlay.net/", RiskHigh, CodeConfusable}, // Cyrillic е
		{"https://ерhеmеrа-rеlау.net/", RiskHigh, CodeConfusable},
		{"https://ephemera-re1ay.net/", RiskHigh, CodeConfusable},
		{"https://ephemera-reiay.net/", RiskHigh, CodeConfusable},
		{"https://ephemera-relays.net/", RiskNone, ""},
	} {
		v := a.Analyze(tc.url, "")
		if v.Risk != tc.want || tc.code != "" && !v.Has(tc.code) {
			t.Errorf("%s: got %s %v, want %s with %q", tc.url, v.Risk, v.Reasons, tc.want, tc.code)
		}
	}
	// The default analyzer does not know the domain.
	if v := Analyze("https://ерhеmеrа-rеlау.net/", ""); v.Has(CodeConfusable) {
		t.Errorf("default analyzer: got %v, want no confusable", v.Reasons)
	}
	// A nil analyzer is the default one.
	var nilA *Analyzer
	if v := nilA.Analyze("https://аррӏе.com", ""); !v.Has(CodeConfusable) {
		t.Errorf("nil analyzer: got %v, want confusable", v.Reasons)
	}
}

func TestDisplayHost(t *testing.T) {
	for _, tc := range []struct {
		url, prefix, reg string
		ascii            bool
	}{
		{"https://www.google.com/", "www.", "google.com", false},
		{"https://яндекс.рф/", "", "яндекс.рф", false},
		{"https://xn--d1acpjx3f.xn--p1ai/", "", "яндекс.рф", false},
		{"https://mail.例え.jp/", "mail.", "例え.jp", false},
		{"https://аррӏе.com/", "", "xn--80ak6aa92e.com", true},
		{"https://www.раураl.com/", "www.", "xn--l-7sba6dbr.com", true},
		{"https://a.b.bbc.co.uk/", "a.b.", "bbc.co.uk", false},
		{"https://login.microsoftonline.com.evil.example/", "login.microsoftonline.com.", "evil.example", false},
		{"http://0x7f000001/", "", "127.0.0.1", true},
		{"https://[2001:db8::1]/", "", "2001:db8::1", true},
		{"https://exa\u202Emple.com/", "", "example.com", false},
	} {
		v := Analyze(tc.url, "")
		if v.Host.Prefix != tc.prefix || v.Host.Registrable != tc.reg || v.Host.ASCII != tc.ascii {
			t.Errorf("%s: got %+v, want prefix %q registrable %q ascii %v", tc.url, v.Host, tc.prefix, tc.reg, tc.ascii)
		}
		if HasBidi(v.Host.String()) {
			t.Errorf("%s: display host %q has bidi controls", tc.url, v.Host)
		}
	}
}

func TestParseIPv4Loose(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"10.1.256", "10.1.1.0"},
		{"0x7f.0x0.0x0.0x1", "127.0.0.1"},
		{"0", "0.0.0.0"},
		{"256.1.1.1", ""},
		{"1.2.3.4.5", ""},
		{"4294967296", ""},
		{"08.1.1.1", ""},
	} {
		a, ok := parseIPv4Loose(tc.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("parseIPv4Loose(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestVerdictJSON(t *testing.T) {
	b, err := json.Marshal(Analyze("http://paypa1.com", ""))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{`"risk":"high"`, `"code":"lookalike"`, `"code":"insecure-scheme"`, `"registrable_domain":"paypa1.com"`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON %s lacks %s", s, want)
		}
	}
	var r Risk
	if err := r.UnmarshalText([]byte("medium")); err != nil || r != RiskMedium {
		t.Errorf("UnmarshalText(medium): got %v %v", r, err)
	}
	if err := r.UnmarshalText([]byte("extreme")); err == nil {
		t.Error("UnmarshalText(extreme): got nil error")
	}
}

func TestReasonOrderAndRisk(t *testing.T) {
	v := Analyze("http://paypal.com@0x7f000001:8080/", "")
	if v.Risk != RiskHigh {
		t.Fatalf("got risk %s, want high", v.Risk)
	}
	for i := 1; i < len(v.Reasons); i++ {
		if v.Reasons[i-1].Risk() < v.Reasons[i].Risk() {
			t.Errorf("reasons not ordered by risk: %v", v.Reasons)
		}
	}
	for _, c := range Codes() {
		if !DefaultRisk(c).Valid() || DefaultRisk(c) == RiskNone {
			t.Errorf("code %s has no default risk", c)
		}
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"  Hello\n\tworld  ", 100, "Hello world"},
		{"a\u202Eb\u200Bc\x00d", 100, "abcd"},
		{"abcdefghij", 8, "abcde…"},
		{"ééééé", 7, "éé…"},
		{"bad \xff byte", 100, "bad \uFFFD byte"},
	} {
		if got := CleanText(tc.in, tc.max); got != tc.want {
			t.Errorf("CleanText(%q, %d): got %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestGloballyReachable(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"93.184.216.34", true},
		{"8.8.8.8", true},
		{"2606:4700::1111", true},
		{"127.0.0.1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.168.1.1", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"169.254.169.254", false},
		{"192.0.0.8", false},
		{"192.0.2.1", false},
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.51.100.1", false},
		{"203.0.113.1", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:8.8.8.8", false},
		{"::8.8.8.8", false},
		{"64:ff9b::7f00:1", false},
		{"64:ff9b:1::1", false},
		{"100::1", false},
		{"2001::1", false},
		{"2001:db8::1", false},
		{"2002:7f00:1::1", false},
		{"3fff::1", false},
		{"fc00::1", false},
		{"fd00:ec2::254", false},
		{"fe80::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
	} {
		if got := GloballyReachable(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("GloballyReachable(%s): got %v, want %v", tc.addr, got, tc.want)
		}
	}
	if GloballyReachable(netip.MustParseAddr("2606:4700::1111%eth0")) {
		t.Error("address with zone: got true, want false")
	}
}

func TestLocalName(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true}, {"LOCALHOST.", true}, {"foo.localhost", true}, {"printer.local", true},
		{"db.internal", true}, {"router", true}, {"router.home.arpa", true}, {"0x7f000001", true},
		{"1.2.3.4.nip", false}, {"example.com", false}, {"www.google.com", false},
	} {
		if got := localName(tc.host); got != tc.want {
			t.Errorf("localName(%q): got %v, want %v", tc.host, got, tc.want)
		}
	}
}

// TestPopularDomainsClean checks that no bundled domain raises an alarm:
// the list is what users visit most, so any reason on it is a false one
// (shorteners aside, which are on it and are low).
func TestPopularDomainsClean(t *testing.T) {
	n := 0
	for _, h := range domains.All() {
		v := Analyze("https://"+h+"/", "")
		for _, r := range v.Reasons {
			if r.Code != CodeShortener {
				t.Errorf("%s: got %s %s", h, r.Code, r.Message)
			}
		}
		n++
	}
	if n < 1000 {
		t.Errorf("checked %d domains, want at least 1000", n)
	}
}
