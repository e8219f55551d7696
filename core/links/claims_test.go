package links

import (
	"bytes"
	"image"
	"testing"
)

func TestVerifyPreviewsDropsClaimForOtherURL(t *testing.T) {
	body := "Please log in: [paypal.com](https://paypa1.com/login) and see https://example.com/news"
	previews := []Preview{
		// Claims to be for paypal.com, which is not a link of the body.
		{URL: "https://paypal.com/login", Title: "PayPal", SiteName: "PayPal"},
		// For a link of the body, with a misleading final URL.
		{URL: "https://paypa1.com/login", FinalURL: "https://paypal.com/", Title: "Pay\u202EPal\x00 login", SiteName: "PayPal"},
		// A second claim for the same link is ignored.
		{URL: "https://paypa1.com/login", Title: "Again"},
		// Normalised comparison: same link.
		{URL: "HTTPS://EXAMPLE.COM:443/news#top", Title: "News"},
	}
	got := VerifyPreviews(nil, body, previews)
	if len(got) != 2 {
		t.Fatalf("got %d previews %+v, want 2", len(got), got)
	}
	p := got[0]
	if p.Link.URL != "https://paypa1.com/login" || p.Preview.URL != "https://paypa1.com/login" {
		t.Errorf("got link %q preview URL %q, want the body's link", p.Link.URL, p.Preview.URL)
	}
	if p.Preview.FinalURL != "" {
		t.Errorf("FinalURL kept: %q", p.Preview.FinalURL)
	}
	if p.Preview.Title != "PayPal login" {
		t.Errorf("title not cleaned: %q", p.Preview.Title)
	}
	if p.Verdict.Host.String() != "paypa1.com" || p.Verdict.Risk != RiskHigh || !p.Verdict.Has(CodeLookalike) || !p.Verdict.Has(CodeTextMismatch) {
		t.Errorf("verdict: got host %q risk %s reasons %v", p.Verdict.Host, p.Verdict.Risk, p.Verdict.Reasons)
	}
	if got[1].Preview.Title != "News" || got[1].Link.URL != "https://example.com/news" || got[1].Verdict.Risk != RiskNone {
		t.Errorf("second preview: got %+v", got[1])
	}
}

func TestVerifyPreviewsNoLinks(t *testing.T) {
	for _, body := range []string{
		"no links here",
		"bidi \u202E https://example.com/",
	} {
		if got := VerifyPreviews(nil, body, []Preview{{URL: "https://example.com/", Title: "x"}}); len(got) != 0 {
			t.Errorf("%q: got %d previews, want none", body, len(got))
		}
	}
	if got := VerifyPreviews(nil, "https://example.com/", []Preview{{URL: ""}, {URL: "javascript:alert(1)"}}); len(got) != 0 {
		t.Errorf("empty and javascript claims: got %d previews, want none", len(got))
	}
}

func TestVerifyPreviewsImage(t *testing.T) {
	jpg := testJPEG(t, 800, 800)
	got := VerifyPreviews(nil, "https://example.com/", []Preview{{URL: "https://example.com/", Image: jpg, ImageType: "image/jpeg"}})
	if len(got) != 1 || got[0].Preview.Image == nil {
		t.Fatalf("got %+v, want one preview with an image", got)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(got[0].Preview.Image))
	if err != nil || cfg.Width != 512 || cfg.Height != 512 {
		t.Errorf("image: got %v %d×%d, want 512×512", err, cfg.Width, cfg.Height)
	}
	got = VerifyPreviews(nil, "https://example.com/", []Preview{{URL: "https://example.com/", Image: []byte("<svg onload=alert(1)>"), ImageType: "image/jpeg"}})
	if len(got) != 1 || got[0].Preview.Image != nil {
		t.Errorf("bogus image: got %+v, want the preview without image", got)
	}
}

func TestVerifyPreviewsBounded(t *testing.T) {
	body := ""
	var ps []Preview
	for i := range 10 {
		u := "https://example.com/" + string(rune('a'+i))
		body += u + " "
		ps = append(ps, Preview{URL: u})
	}
	if got := VerifyPreviews(nil, body, ps); len(got) != MaxPreviews {
		t.Errorf("got %d previews, want MaxPreviews=%d", len(got), MaxPreviews)
	}
}

func TestInterstitialPolicy(t *testing.T) {
	none := Analyze("https://www.google.com/", "")
	low := Analyze("http://example.com/", "")
	short := Analyze("https://bit.ly/x", "")
	medium := Analyze("https://192.0.2.1/", "")
	high := Analyze("https://paypa1.com/", "")
	for _, tc := range []struct {
		p    InterstitialPolicy
		v    Verdict
		want bool
	}{
		{InterstitialAlways, none, true}, {InterstitialAlways, high, true},
		{InterstitialNever, none, false}, {InterstitialNever, high, false},
		{InterstitialRisky, none, false}, {InterstitialRisky, low, false},
		{InterstitialRisky, short, true}, {InterstitialRisky, medium, true}, {InterstitialRisky, high, true},
		{InterstitialPolicy(42), none, true},
	} {
		if got := tc.p.ShowInterstitial(tc.v); got != tc.want {
			t.Errorf("%s with risk %s %v: got %v, want %v", tc.p, tc.v.Risk, tc.v.Reasons, got, tc.want)
		}
	}
	var p InterstitialPolicy
	if p != InterstitialRisky {
		t.Error("zero policy is not InterstitialRisky")
	}
	for _, name := range []string{"always", "risky", "never"} {
		if err := p.UnmarshalText([]byte(name)); err != nil || p.String() != name {
			t.Errorf("round trip %q: got %q %v", name, p, err)
		}
	}
	if err := p.UnmarshalText([]byte("sometimes")); err == nil {
		t.Error("unknown policy: got nil error")
	}
}

func TestPreviewTarget(t *testing.T) {
	for _, tc := range []struct {
		on   bool
		body string
		want string
	}{
		{false, "https://example.com/", ""},
		{true, "see https://example.com/a and https://go.dev", "https://example.com/a"},
		{true, "see example.com", "https://example.com"},
		{true, "http://example.com/", ""},
		{true, "https://192.0.2.1/", ""},
		{true, "https://user@example.com/", ""},
		{true, "nothing", ""},
	} {
		l, ok := Settings{Previews: tc.on}.PreviewTarget(tc.body)
		if ok != (tc.want != "") || l.URL != tc.want {
			t.Errorf("%v %q: got %q %v, want %q", tc.on, tc.body, l.URL, ok, tc.want)
		}
	}
}
