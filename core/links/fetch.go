package links

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/proxy"
)

// Errors of the fetcher. Errors from Fetcher methods wrap one of these
// (or a network or context error).
var (
	// ErrBlockedAddress: the host is, or resolves to, an address that is
	// not globally reachable (loopback, private, link-local, ...).
	ErrBlockedAddress = errors.New("links: address not allowed")
	// ErrLocalName: the host is a local name (localhost, .local,
	// .internal, a single label, a numeric host).
	ErrLocalName = errors.New("links: local host name not allowed")
	// ErrScheme: the URL or a redirect is not https (or http when
	// AllowHTTP is set).
	ErrScheme = errors.New("links: scheme not allowed")
	// ErrTooManyRedirects: more than MaxRedirects redirects.
	ErrTooManyRedirects = errors.New("links: too many redirects")
	// ErrRedirectLoop: a redirect leads back to an address already visited.
	ErrRedirectLoop = errors.New("links: redirect loop")
	// ErrTooLarge: the body exceeds the limit for its kind.
	ErrTooLarge = errors.New("links: response too large")
	// ErrContentType: the response is not of an allowed content type.
	ErrContentType = errors.New("links: content type not allowed")
	// ErrStatus: the final response is not 200 OK.
	ErrStatus = errors.New("links: unexpected HTTP status")
)

// Defaults of the Fetcher.
const (
	MaxRedirects          = 5
	DefaultConnectTimeout = 5 * time.Second
	DefaultHeaderTimeout  = 5 * time.Second
	DefaultTotalTimeout   = 15 * time.Second
	MaxHTMLBytes          = 512 << 10
	MaxImageBytes         = 1 << 20
	// UserAgent is sent with every request: generic, so the fetch says
	// nothing about the user or the program.
	UserAgent = "Mozilla/5.0 (compatible)"
)

var (
	htmlTypes  = []string{"text/html", "application/xhtml+xml"}
	imageTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}
)

// Fetcher fetches link previews and resolves link destinations without
// letting a link reach the user's machine or network. Every connection,
// on the first request, on every redirect and for the preview image,
// goes through a dialer that resolves the name itself and connects only
// to globally reachable addresses (see GloballyReachable); the address
// dialled is the one checked, so DNS rebinding does not help. Local
// names are refused before any lookup. Cookies are never stored or sent,
// no Referer is sent, the user agent is generic, and the HTTP_PROXY and
// HTTPS_PROXY environment variables are ignored.
//
// The zero value fetches HTTPS only, directly, with the default limits.
// A Fetcher must not be changed while in use; it is then safe for
// concurrent use.
type Fetcher struct {
	// SOCKS5 is the address ("127.0.0.1:9050") of a SOCKS5 proxy, for
	// instance Tor, to connect through. Names are then resolved by the
	// proxy, so resolved addresses cannot be checked here; IP literals
	// are still checked and local names still refused.
	SOCKS5 string
	// AllowHTTP admits http:// URLs and redirects. Off by default.
	AllowHTTP bool
	// Timeouts; zero means the default.
	ConnectTimeout time.Duration
	HeaderTimeout  time.Duration
	TotalTimeout   time.Duration

	// AllowAddr opens the address policy for addresses it returns true
	// for. It exists for tests against local servers only; production
	// code never sets it.
	AllowAddr func(netip.Addr) bool
	// RootCAs replaces the system roots, for tests against local TLS
	// servers.
	RootCAs *x509.CertPool
	// LookupNetIP replaces the system resolver (tests use it to make a
	// name resolve to a local address).
	LookupNetIP func(ctx context.Context, host string) ([]netip.Addr, error)
}

func (f *Fetcher) allowed(a netip.Addr) bool {
	a = a.WithZone("")
	return GloballyReachable(a) || f.AllowAddr != nil && f.AllowAddr(a)
}

func dur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// checkURL refuses schemes and hosts the fetcher never contacts.
func (f *Fetcher) checkURL(u *url.URL) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.AllowHTTP:
	default:
		return fmt.Errorf("%w: %q", ErrScheme, u.Scheme+":")
	}
	if u.User != nil {
		return fmt.Errorf("%w: URL with user information", ErrScheme)
	}
	return f.checkHost(u.Hostname())
}

func (f *Fetcher) checkHost(host string) error {
	if a, err := netip.ParseAddr(host); err == nil {
		if !f.allowed(a) {
			return fmt.Errorf("%w: %s", ErrBlockedAddress, a)
		}
		return nil
	}
	if host == "" || localName(host) {
		return fmt.Errorf("%w: %q", ErrLocalName, host)
	}
	return nil
}

// control checks the address a socket is about to connect to: the last
// line of defence, whatever resolved the name.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrBlockedAddress, address)
	}
	if !f.allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ap.Addr())
	}
	return nil
}

// dialContext resolves host names itself, checks every address and dials
// the checked addresses only.
func (f *Fetcher) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if err := f.checkHost(host); err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: dur(f.ConnectTimeout, DefaultConnectTimeout), Control: f.control}
	if f.SOCKS5 != "" {
		// The proxy itself is usually on loopback: dial it without the
		// address policy, and let it resolve the name.
		fwd := &net.Dialer{Timeout: dur(f.ConnectTimeout, DefaultConnectTimeout)}
		px, err := proxy.SOCKS5("tcp", f.SOCKS5, nil, fwd)
		if err != nil {
			return nil, err
		}
		return px.(proxy.ContextDialer).DialContext(ctx, network, address)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return d.DialContext(ctx, network, address)
	}
	lookup := f.LookupNetIP
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	addrs, err := lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("links: %q has no addresses", host)
	}
	// Resolvers may answer an IPv4 host as IPv4-mapped IPv6
	// (::ffff:a.b.c.d): judge and dial it as the IPv4 address it is, so
	// a public host is not refused and a private one is refused by the
	// IPv4 rules.
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	// One bad address refuses the name: a name that points inside the
	// network is hostile even if it also points outside.
	for _, a := range addrs {
		if !f.allowed(a) {
			return nil, fmt.Errorf("%w: %s resolves to %s", ErrBlockedAddress, host, a.WithZone(""))
		}
	}
	var firstErr error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.WithZone("").String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// client returns an HTTP client for one fetch. visited collects the URLs
// of the chain.
func (f *Fetcher) client(visited *[]string) *http.Client {
	tr := &http.Transport{
		Proxy:                  nil, // never the environment's proxy
		DialContext:            f.dialContext,
		TLSClientConfig:        &tls.Config{RootCAs: f.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    dur(f.ConnectTimeout, DefaultConnectTimeout),
		ResponseHeaderTimeout:  dur(f.HeaderTimeout, DefaultHeaderTimeout),
		DisableKeepAlives:      true, // every request dials, so every request is checked
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: tr,
		Jar:       nil,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, MaxRedirects)
			}
			next := req.URL.String()
			if slices.Contains(*visited, next) {
				return fmt.Errorf("%w: %s", ErrRedirectLoop, next)
			}
			if err := f.checkURL(req.URL); err != nil {
				return err
			}
			*visited = append(*visited, next)
			req.Header.Del("Referer")
			req.Header.Del("Cookie")
			return nil
		},
	}
}

// get performs a GET of rawURL, following checked redirects, and returns
// the response (body open) if its status is 200 and its content type is
// in types. The chain of URLs visited is returned too.
func (f *Fetcher) get(ctx context.Context, rawURL string, types []string) (*http.Response, []string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("links: invalid URL: %w", err)
	}
	if err := f.checkURL(u); err != nil {
		return nil, nil, err
	}
	visited := []string{u.String()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", strings.Join(types, ", "))
	resp, err := f.client(&visited).Do(req)
	if err != nil {
		return nil, visited, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, visited, fmt.Errorf("%w: %s", ErrStatus, resp.Status)
	}
	if types != nil {
		mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if err != nil || !slices.Contains(types, strings.ToLower(mt)) {
			resp.Body.Close()
			return nil, visited, fmt.Errorf("%w: %q", ErrContentType, resp.Header.Get("Content-Type"))
		}
	}
	return resp, visited, nil
}

// readLimited reads at most limit bytes of r. It reports whether more
// were available.
func readLimited(r io.Reader, limit int64) ([]byte, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(b)) > limit {
		return b[:limit], true, nil
	}
	return b, false, nil
}

// Destination is where a link leads, found by ResolveDestination.
type Destination struct {
	// URL is the link as given; Final the last address reached.
	URL   string `json:"url"`
	Final string `json:"final_url"`
	// Chain lists every address visited, URL first.
	Chain []string `json:"chain"`
	// Status is the HTTP status of the last response.
	Status int `json:"status"`
	// Stopped explains why the chain was not followed to its end (a
	// redirect to http://, for instance), "" when it was.
	Stopped string `json:"stopped,omitempty"`
	// Verdict is the offline analysis of Final.
	Verdict Verdict `json:"verdict"`
}

// ResolveDestination follows rawURL's redirects with the same checks as
// previews and reports where it ends, reading no body. It is meant for
// the user's explicit "check where this goes": never call it on its own,
// since fetching a link tells whoever sent it that the message was read.
// A redirect to a scheme the fetcher does not follow ends the chain with
// Stopped set, Final being that address, unvisited.
func (f *Fetcher) ResolveDestination(ctx context.Context, rawURL string) (Destination, error) {
	ctx, cancel := context.WithTimeout(ctx, dur(f.TotalTimeout, DefaultTotalTimeout))
	defer cancel()
	dst := Destination{URL: rawURL}
	u, err := url.Parse(rawURL)
	if err != nil {
		return dst, fmt.Errorf("links: invalid URL: %w", err)
	}
	if err := f.checkURL(u); err != nil {
		return dst, err
	}
	visited := []string{u.String()}
	c := f.client(&visited)
	inner := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		err := inner(req, via)
		if errors.Is(err, ErrScheme) {
			dst.Stopped = fmt.Sprintf("redirects to %s, which was not followed", req.URL.Scheme+":")
			visited = append(visited, req.URL.String())
			return http.ErrUseLastResponse
		}
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return dst, err
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := c.Do(req)
	if err != nil {
		dst.Chain = visited
		return dst, err
	}
	resp.Body.Close() // the body is never read
	dst.Chain = visited
	dst.Final = visited[len(visited)-1]
	dst.Status = resp.StatusCode
	dst.Verdict = Analyze(dst.Final, "")
	return dst, nil
}
