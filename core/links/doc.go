// Package links finds links in message text, tells the user at a glance
// whether a link is what it appears to be, and fetches link previews
// without exposing the user or their network.
//
// # Offline analysis
//
// Analyze looks at a URL, and the text it is shown as, without touching
// the network. It returns a Verdict: a Risk (none, low, medium, high) and
// Reasons, each a stable Code with a sentence for the user. The highest
// reason's risk is the verdict's risk; a URL that does not parse is
// "malformed" and high, never an error. The checks:
//
//   - userinfo ("https://paypal.com@evil.example"), ip-host and
//     numeric-host (hex, octal, decimal and short forms browsers read as
//     IPv4), insecure-scheme, non-standard-port, excessive-length;
//   - mixed-script: a label mixing scripts beyond the UTS #39 "highly
//     restrictive" level (one script, or Latin with the Han-based
//     Japanese, Chinese and Korean sets);
//   - confusable: the UTS #39 skeleton of the name (with i/l/1 and o/0
//     folded, since skeletons keep Cyrillic palochka apart from "l")
//     equals a popular domain's or, with NewAnalyzer, one the user has
//     seen (ASCII imitations of a seen domain too, "examp1e-bank");
//     Latin diacritics are stripped for this comparison;
//   - punycode (medium) for an internationalised name no other reason
//     explains that still cannot be shown safely: symbols in a label, or
//     a non-Latin label made only of Latin lookalikes under a TLD where
//     that script is not expected. Honest non-Latin names (яндекс.рф,
//     例え.jp) give no reason at all, in Unicode or punycode form;
//   - lookalike: an ASCII name one edit (or a swap) from a popular
//     domain under the same suffix, or equal to one after mapping digit
//     and letter-pair lookalikes (0→o, 1→l, 3→e, rn→m, vv→w) under any
//     suffix;
//   - target-embedding: subdomain labels forming a registrable domain
//     under a real (ICANN) public suffix ("login.microsoftonline.com.
//     evil.example"). To spare region and environment subdomains
//     ("api.eu.example.com"), under single-label country codes and new
//     generic TLDs it fires only for popular names;
//   - shortener, bidi (direction controls anywhere), lookalike-slash
//     (U+2215 and other slash lookalikes in the host), text-mismatch (the
//     link text shows another registrable domain).
//
// The popular domains are bundled in assets/domains (the top-sites list
// plus hand-written sign-in domains) and indexed once, on first use.
// Verdict.Host is the DisplayHost: the host in Unicode when that is safe
// and in punycode when a reason says the Unicode form deceives, split so
// that the registrable domain (eTLD+1) can be singled out.
//
// # Extraction
//
// Extract finds links as users expect: with or without a scheme (a
// scheme-less name needs a real top-level domain), without trailing
// punctuation or unbalanced brackets, and markdown "[text](url)" links,
// whose text is kept for the text-mismatch check. Text with bidi controls
// gets no links: what the reader sees could not be trusted to be the
// link.
//
// # Where previews come from
//
// The sender's client fetches the preview, if the sender turned previews
// on (Settings.Previews, off by default; Settings.PreviewTarget picks the
// first link), and sends it inside the encrypted message, so the
// receiver's address reaches no one. Fetching uses Fetcher, which dials
// only globally reachable addresses, checked after its own resolution on
// the first request, every redirect (at most five) and the image; sends
// no cookies, no referrer and a generic user agent; ignores the proxy
// environment and can go through a SOCKS5 proxy such as Tor; bounds time
// and size (512 KiB of HTML, 1 MiB of image); and passes the image
// through the media sanitizer before downscaling it.
//
// # The receiver's rules
//
// To the receiver, a preview is the sender's claim. VerifyPreviews drops
// every preview whose URL is not a link of the message body; the domain
// shown comes from the body's link, never from the preview; the title
// and image are shown as "the sender's preview", cleaned and sanitized
// again; and the offline analysis runs on the receiver's side. Opening a
// link shows an interstitial with the analysis, always, for risky links
// only, or never (InterstitialPolicy). Only on the user's explicit "check
// where this goes" does Fetcher.ResolveDestination follow the redirects,
// through the configured proxy and without downloading bodies; never
// automatically, since that would tell the sender the message was read.
// The final address goes to the system browser only after the user
// confirms.
//
// # Performance
//
// Analyze of a typical URL takes a few microseconds (BenchmarkAnalyze);
// a message of 50 links is analysed in well under a millisecond
// (BenchmarkAnalyzeMessage). Figures are in docs/PERFORMANCE.md.
package links
