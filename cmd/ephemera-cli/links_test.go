package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ephemera-im/ephemera/core/links"
)

// TestPreviewCommand runs preview against a local TLS server, reached
// through the unexported newLinkFetcher hook (the command itself never
// opens the address policy).
func TestPreviewCommand(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 32))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(0, 0, color.RGBA{1, 2, 3, 255})
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, img, nil); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/go", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/page", http.StatusFound) })
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<title>Local page</title><meta property="og:site_name" content="Local"><meta property="og:image" content="/i.jpg">`)
	})
	mux.HandleFunc("/i.jpg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(jpg.Bytes())
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	loop := netip.MustParseAddr("127.0.0.1")

	old := newLinkFetcher
	defer func() { newLinkFetcher = old }()

	// Without the test opening, the local server is refused.
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"preview", srv.URL + "/go", "--json"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "not allowed") {
		t.Fatalf("closed policy: got exit %d, stderr %q; want 1 and a refusal", code, stderr.String())
	}

	newLinkFetcher = func() *links.Fetcher {
		return &links.Fetcher{RootCAs: pool, AllowAddr: func(a netip.Addr) bool { return a == loop }}
	}
	stdout.Reset()
	stderr.Reset()
	out := filepath.Join(t.TempDir(), "preview.jpg")
	if code := run(context.Background(), []string{"preview", "--json", srv.URL + "/go", "--image", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("got exit %d, stderr %q", code, stderr.String())
	}
	var rep struct {
		URL        string `json:"url"`
		FinalURL   string `json:"final_url"`
		Title      string `json:"title"`
		SiteName   string `json:"site_name"`
		ImageType  string `json:"image_type"`
		ImageBytes int    `json:"image_bytes"`
		Link       struct {
			HostASCII string `json:"host_ascii"`
			Risk      string `json:"risk"`
		} `json:"link"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%v in %s", err, stdout.String())
	}
	if rep.URL != srv.URL+"/go" || rep.FinalURL != srv.URL+"/page" || rep.Title != "Local page" || rep.SiteName != "Local" {
		t.Errorf("got %+v", rep)
	}
	if rep.Link.HostASCII != "127.0.0.1" || rep.Link.Risk != "medium" {
		t.Errorf("link verdict: got %+v, want 127.0.0.1 at medium risk", rep.Link)
	}
	if rep.ImageType != "image/jpeg" || rep.ImageBytes == 0 {
		t.Errorf("image: got %q, %d bytes", rep.ImageType, rep.ImageBytes)
	}
	b, err := os.ReadFile(out)
	if err != nil || len(b) != rep.ImageBytes {
		t.Errorf("image file: got %d bytes, %v; want %d", len(b), err, rep.ImageBytes)
	}

	// Plain http is refused by default.
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"preview", "http://127.0.0.1:1/"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "scheme not allowed") {
		t.Errorf("http: got exit %d, stderr %q", code, stderr.String())
	}
}
