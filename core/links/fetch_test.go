package links

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

// onlyLoopback is the test opening of the address policy: 127.0.0.1
// exactly, where httptest servers listen.
func onlyLoopback(a netip.Addr) bool { return a == loopback4 }

// newServer starts a local HTTPS server and a Fetcher that trusts it and
// may reach it.
func newServer(t *testing.T, h http.Handler) (*httptest.Server, *Fetcher) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, &Fetcher{RootCAs: pool, AllowAddr: onlyLoopback, TotalTimeout: 10 * time.Second}
}

func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const pageHTML = `<!doctype html><html><head>
<title>Fallback title</title>
<meta property="og:title" content="The &amp; Title">
<meta property="og:description" content="A description
 on two lines">
<meta property="og:site_name" content="Example Site">
<meta property="og:image" content="/img.jpg">
</head><body><p>hello</p></body></html>`

func TestPreviewFetch(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	img := testJPEG(t, 1024, 600)
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "track", Value: "1", Path: "/"})
		http.Redirect(w, r, "/page", http.StatusFound)
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, pageHTML)
	})
	mux.HandleFunc("/img.jpg", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(img)
	})
	srv, f := newServer(t, mux)
	// The environment's proxy is ignored: this one does not exist.
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")

	p, err := f.Preview(context.Background(), srv.URL+"/start")
	if err != nil {
		t.Fatal(err)
	}
	if p.URL != srv.URL+"/start" || p.FinalURL != srv.URL+"/page" {
		t.Errorf("got url %q final %q, want %q and %q", p.URL, p.FinalURL, srv.URL+"/start", srv.URL+"/page")
	}
	if p.Title != "The & Title" || p.Description != "A description on two lines" || p.SiteName != "Example Site" {
		t.Errorf("got title %q description %q site %q", p.Title, p.Description, p.SiteName)
	}
	if p.ImageURL != srv.URL+"/img.jpg" {
		t.Errorf("got image URL %q", p.ImageURL)
	}
	if len(p.Image) == 0 {
		t.Fatalf("no image: %s", p.ImageError)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(p.Image))
	if err != nil || format != "jpeg" || p.ImageType != "image/jpeg" {
		t.Fatalf("image: got %v %q %q", err, format, p.ImageType)
	}
	if cfg.Width != 512 || cfg.Height != 300 {
		t.Errorf("image: got %d×%d, want 512×300", cfg.Width, cfg.Height)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("got %d requests to page and image, want 2", len(seen))
	}
	for _, h := range seen {
		if h.Get("Cookie") != "" || h.Get("Referer") != "" || h.Get("User-Agent") != UserAgent {
			t.Errorf("request headers: cookie %q referer %q user agent %q", h.Get("Cookie"), h.Get("Referer"), h.Get("User-Agent"))
		}
	}
}

func TestFetchPolicyClosedByDefault(t *testing.T) {
	srv, f := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("server reached")
	}))
	f.AllowAddr = nil
	_, err := f.Preview(context.Background(), srv.URL)
	if !errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("got %v, want ErrBlockedAddress", err)
	}
}

func TestFetchRedirects(t *testing.T) {
	var port string
	mux := http.NewServeMux()
	redirect := func(path, to string) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, strings.ReplaceAll(to, "PORT", port), http.StatusFound)
		})
	}
	redirect("/private", "https://10.0.0.1/")
	redirect("/metadata", "https://169.254.169.254/latest/meta-data/")
	redirect("/mapped", "https://[::ffff:127.0.0.1]:PORT/page")
	redirect("/nat64", "https://[64:ff9b::7f00:1]:PORT/page")
	redirect("/http", "http://127.0.0.1:PORT/page")
	redirect("/localhost", "https://localhost:PORT/page")
	redirect("/numeric", "https://2130706433:PORT/page")
	redirect("/userinfo", "https://user@127.0.0.1:PORT/page")
	redirect("/javascript", "javascript:alert(1)")
	redirect("/a", "/b")
	redirect("/b", "/a")
	for i := range 10 {
		redirect(fmt.Sprintf("/hop/%d", i), fmt.Sprintf("/hop/%d", i+1))
	}
	for i := range 5 {
		redirect(fmt.Sprintf("/five/%d", i), fmt.Sprintf("/five/%d", i+1))
	}
	mux.HandleFunc("/five/5", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<title>five</title>")
	})
	srv, f := newServer(t, mux)
	port = srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]

	for _, tc := range []struct {
		path string
		want error
	}{
		{"/private", ErrBlockedAddress},
		{"/metadata", ErrBlockedAddress},
		{"/mapped", ErrBlockedAddress},
		{"/nat64", ErrBlockedAddress},
		{"/http", ErrScheme},
		{"/localhost", ErrLocalName},
		{"/numeric", ErrLocalName},
		{"/userinfo", ErrScheme},
		{"/javascript", ErrScheme},
		{"/a", ErrRedirectLoop},
		{"/hop/0", ErrTooManyRedirects},
		{"/five/0", nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			p, err := f.Preview(context.Background(), srv.URL+tc.path)
			if !errors.Is(err, tc.want) || tc.want != nil && p != nil {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want == nil && (p.Title != "five" || p.FinalURL != srv.URL+"/five/5") {
				t.Errorf("got title %q final %q after five redirects", p.Title, p.FinalURL)
			}
		})
	}
}

func TestFetchBodies(t *testing.T) {
	big := strings.Repeat("x", 2<<20)
	mux := http.NewServeMux()
	mux.HandleFunc("/late-title", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><head><!--"+big[:600<<10]+"--><title>too late</title>")
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><head><title>early</title><!--"+big+"-->")
	})
	mux.HandleFunc("/binary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, "<title>not html</title>")
	})
	mux.HandleFunc("/notype", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		w.Write([]byte{0, 1, 2, 3})
	})
	mux.HandleFunc("/404", http.NotFound)
	mux.HandleFunc("/huge.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		io.WriteString(w, big)
	})
	mux.HandleFunc("/html.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write(testJPEG(t, 8, 8))
	})
	mux.HandleFunc("/notimage.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		io.WriteString(w, "<html>surprise</html>")
	})
	mux.HandleFunc("/with-huge-image", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<title>t</title><meta property="og:image" content="/huge.jpg">`)
	})
	srv, f := newServer(t, mux)
	ctx := context.Background()

	p, err := f.Preview(ctx, srv.URL+"/late-title")
	if err != nil || p.Title != "" {
		t.Errorf("title beyond 512 KiB: got %v %q, want no title", err, p.Title)
	}
	p, err = f.Preview(ctx, srv.URL+"/huge")
	if err != nil || p.Title != "early" {
		t.Errorf("2 MiB page: got %v %+v, want title from the first 512 KiB", err, p)
	}
	for _, path := range []string{"/binary", "/notype"} {
		if _, err := f.Preview(ctx, srv.URL+path); !errors.Is(err, ErrContentType) {
			t.Errorf("%s: got %v, want ErrContentType", path, err)
		}
	}
	if _, err := f.Preview(ctx, srv.URL+"/404"); !errors.Is(err, ErrStatus) {
		t.Errorf("/404: got %v, want ErrStatus", err)
	}
	if _, _, err := f.fetchImage(ctx, srv.URL+"/huge.jpg"); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge image: got %v, want ErrTooLarge", err)
	}
	if _, _, err := f.fetchImage(ctx, srv.URL+"/html.jpg"); !errors.Is(err, ErrContentType) {
		t.Errorf("image served as HTML: got %v, want ErrContentType", err)
	}
	if _, _, err := f.fetchImage(ctx, srv.URL+"/notimage.jpg"); err == nil {
		t.Error("HTML served as image: got nil error")
	}
	p, err = f.Preview(ctx, srv.URL+"/with-huge-image")
	if err != nil || p.Image != nil || !strings.Contains(p.ImageError, "too large") {
		t.Errorf("page with huge image: got %v, image %d bytes, error %q", err, len(p.Image), p.ImageError)
	}
}

func TestFetchSlow(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><head>")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	mux.HandleFunc("/slow-headers", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	srv, f := newServer(t, mux)
	f.TotalTimeout = 300 * time.Millisecond
	if _, err := f.Preview(context.Background(), srv.URL+"/slow-body"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow body: got %v, want a deadline error", err)
	}
	f.TotalTimeout = 0
	f.HeaderTimeout = 300 * time.Millisecond
	if _, err := f.Preview(context.Background(), srv.URL+"/slow-headers"); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("slow headers: got %v, want a header timeout", err)
	}
}

// lookupCounter resolves every name to the addresses given, one list per
// lookup (the last repeating), and counts lookups.
type lookupCounter struct {
	n     atomic.Int32
	addrs [][]netip.Addr
}

func (l *lookupCounter) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	i := int(l.n.Add(1)) - 1
	return l.addrs[min(i, len(l.addrs)-1)], nil
}

func TestFetchNameResolvingToLoopback(t *testing.T) {
	srv, f := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("server reached")
	}))
	u, _ := url.Parse(srv.URL)
	named := "https://example.com:" + u.Port() + "/"
	l := &lookupCounter{addrs: [][]netip.Addr{{loopback4}}}
	f.AllowAddr = nil
	f.LookupNetIP = l.lookup
	if _, err := f.Preview(context.Background(), named); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("name resolving to 127.0.0.1: got %v, want ErrBlockedAddress", err)
	}
	// One good address does not save a name that also points inside.
	l2 := &lookupCounter{addrs: [][]netip.Addr{{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("10.0.0.1")}}}
	f.LookupNetIP = l2.lookup
	if _, err := f.Preview(context.Background(), named); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("name resolving to a public and a private address: got %v, want ErrBlockedAddress", err)
	}
	// localhost is refused by name, even with the address policy open.
	f.AllowAddr = onlyLoopback
	if _, err := f.Preview(context.Background(), "https://localhost:"+u.Port()+"/"); !errors.Is(err, ErrLocalName) {
		t.Errorf("localhost: got %v, want ErrLocalName", err)
	}
}

// A resolver may answer an IPv4 host as IPv4-mapped IPv6: it is judged
// and dialled as the IPv4 address (issue 16 item 19).
func TestFetchIPv4MappedAnswer(t *testing.T) {
	srv, f := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<title>mapped</title>`)
	}))
	u, _ := url.Parse(srv.URL)
	named := "https://example.com:" + u.Port() + "/"
	l := &lookupCounter{addrs: [][]netip.Addr{{netip.AddrFrom16(loopback4.As16())}}}
	f.LookupNetIP = l.lookup
	p, err := f.Preview(context.Background(), named)
	if err != nil {
		t.Fatalf("name resolving to ::ffff:127.0.0.1 (allowed as 127.0.0.1): %v", err)
	}
	if p.Title != "mapped" {
		t.Errorf("got title %q, want %q", p.Title, "mapped")
	}
	// A mapped private address is still refused, by the IPv4 rules.
	f.AllowAddr = nil
	for _, a := range []string{"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:192.168.1.1"} {
		l := &lookupCounter{addrs: [][]netip.Addr{{netip.MustParseAddr(a)}}}
		f.LookupNetIP = l.lookup
		if _, err := f.Preview(context.Background(), named); !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("name resolving to %s: got %v, want ErrBlockedAddress", a, err)
		}
	}
}

func TestFetchImageRecheckedAfterRebinding(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<title>rebind</title><meta property="og:image" content="/i.jpg">`)
	})
	mux.HandleFunc("/i.jpg", func(w http.ResponseWriter, r *http.Request) {
		t.Error("image fetched from a rebound name")
	})
	srv, f := newServer(t, mux)
	u, _ := url.Parse(srv.URL)
	// The first lookup answers the test server, every later one a
	// private address, as a rebinding DNS server would.
	l := &lookupCounter{addrs: [][]netip.Addr{{loopback4}, {netip.MustParseAddr("192.168.0.10")}}}
	f.LookupNetIP = l.lookup
	p, err := f.Preview(context.Background(), "https://example.com:"+u.Port()+"/")
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "rebind" || p.Image != nil || !strings.Contains(p.ImageError, "not allowed") {
		t.Errorf("got title %q, image %d bytes, image error %q; want the page without image", p.Title, len(p.Image), p.ImageError)
	}
	if n := l.n.Load(); n != 2 {
		t.Errorf("got %d lookups, want 2 (page and image)", n)
	}
}

func TestResolveDestination(t *testing.T) {
	var port string
	mux := http.NewServeMux()
	mux.HandleFunc("/s", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/t", http.StatusMovedPermanently) })
	mux.HandleFunc("/t", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/final", http.StatusFound) })
	mux.HandleFunc("/final", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, "any type is fine: the body is not read")
	})
	mux.HandleFunc("/to-http", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://paypa1.com/login", http.StatusFound)
	})
	mux.HandleFunc("/to-private", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://192.168.1.1:"+port+"/", http.StatusFound)
	})
	srv, f := newServer(t, mux)
	port = srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	ctx := context.Background()

	d, err := f.ResolveDestination(ctx, srv.URL+"/s")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{srv.URL + "/s", srv.URL + "/t", srv.URL + "/final"}
	if d.Final != srv.URL+"/final" || d.Status != 200 || strings.Join(d.Chain, " ") != strings.Join(want, " ") || d.Stopped != "" {
		t.Errorf("got %+v, want chain %v", d, want)
	}
	d, err = f.ResolveDestination(ctx, srv.URL+"/to-http")
	if err != nil || d.Final != "http://paypa1.com/login" || d.Stopped == "" || !d.Verdict.Has(CodeLookalike) {
		t.Errorf("redirect to http: got %+v, %v", d, err)
	}
	if _, err := f.ResolveDestination(ctx, srv.URL+"/to-private"); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("redirect to private: got %v, want ErrBlockedAddress", err)
	}
}

// socksServer is a minimal SOCKS5 server (no authentication, CONNECT to
// a domain name only) that records the names asked for and connects
// them to target.
type socksServer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	names  []string
	conns  atomic.Int32
}

func newSOCKS(t *testing.T, target string) *socksServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socksServer{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go s.serve(c)
		}
	}()
	return s
}

func (s *socksServer) serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 262)
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return
	}
	if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
		return
	}
	c.Write([]byte{5, 0})
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[3] != 3 {
		c.Write([]byte{5, 8, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		return
	}
	n := int(buf[0])
	if _, err := io.ReadFull(c, buf[:n+2]); err != nil {
		return
	}
	name, port := string(buf[:n]), binary.BigEndian.Uint16(buf[n:n+2])
	s.mu.Lock()
	s.names = append(s.names, name+":"+strconv.Itoa(int(port)))
	s.mu.Unlock()
	up, err := net.Dial("tcp", s.target)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	defer up.Close()
	c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0})
	go io.Copy(up, c)
	io.Copy(c, up)
}

func TestFetchThroughSOCKS5(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<title>via proxy</title>`)
	})
	srv, f := newServer(t, mux)
	u, _ := url.Parse(srv.URL)
	px := newSOCKS(t, u.Host)
	f.AllowAddr = nil // nothing is dialled here but the proxy
	f.SOCKS5 = px.ln.Addr().String()
	f.LookupNetIP = func(context.Context, string) ([]netip.Addr, error) {
		t.Error("name resolved locally")
		return nil, errors.New("no")
	}
	p, err := f.Preview(context.Background(), "https://example.com:"+u.Port()+"/")
	if err != nil || p.Title != "via proxy" {
		t.Fatalf("got %v %+v", err, p)
	}
	px.mu.Lock()
	names := strings.Join(px.names, " ")
	px.mu.Unlock()
	if names != "example.com:"+u.Port() {
		t.Errorf("proxy asked for %q, want the name example.com:%s", names, u.Port())
	}
	before := px.conns.Load()
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"https://localhost/", ErrLocalName},
		{"https://printer.local/", ErrLocalName},
		{"https://db.internal/", ErrLocalName},
		{"https://intranet/", ErrLocalName},
		{"https://10.0.0.1/", ErrBlockedAddress},
		{"https://[::1]/", ErrBlockedAddress},
		{"https://0x7f000001/", ErrLocalName},
	} {
		if _, err := f.Preview(context.Background(), tc.url); !errors.Is(err, tc.want) {
			t.Errorf("%s through proxy: got %v, want %v", tc.url, err, tc.want)
		}
	}
	if after := px.conns.Load(); after != before {
		t.Errorf("refused URLs reached the proxy: %d connections", after-before)
	}
}
