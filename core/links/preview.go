package links

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/gif" // decoders for preview images
	"image/jpeg"
	"image/png"
	"io"
	"net/url"
	"strings"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/ephemera-im/ephemera/core/media"
)

// Caps on preview text, in bytes.
const (
	MaxTitle       = 300
	MaxDescription = 1000
	MaxSiteName    = 100
	// MaxImageSide is the longest side of a preview image after
	// downscaling; MaxImagePixels bounds what is decoded at all.
	MaxImageSide   = 512
	MaxImagePixels = 16 << 20
)

// Preview is what a link's destination says about itself. The sender's
// client makes it and sends it inside the encrypted message; to the
// receiver it is the sender's claim (see VerifyPreviews).
type Preview struct {
	// URL is the link the preview is for, as it appears in the message.
	URL string `json:"url"`
	// FinalURL is where the fetch ended after redirects.
	FinalURL    string `json:"final_url,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	SiteName    string `json:"site_name,omitempty"`
	// ImageURL is the address the image was fetched from.
	ImageURL string `json:"image_url,omitempty"`
	// Image is the sanitized, downscaled image (ImageType "image/jpeg" or
	// "image/png"), or nil.
	Image     []byte `json:"image,omitempty"`
	ImageType string `json:"image_type,omitempty"`
	// ImageError says why there is no image although the page named one.
	ImageError string `json:"image_error,omitempty"`
}

// Meta is what ParseHTML finds in a page.
type Meta struct {
	Title       string
	Description string
	SiteName    string
	// Image is the absolute URL of the page's preferred preview image.
	Image string
}

// ParseHTML reads the preview metadata of an HTML document: the <title>,
// the OpenGraph og:title, og:description, og:site_name and og:image (or
// og:image:secure_url) properties, and the description meta tag. OpenGraph
// values win over the others. Text is cleaned of control and bidi
// characters and capped; relative image URLs are resolved against base
// (which may be nil). Parsing stops at the start of <body>, where no
// metadata belongs, or after maxTokens tokens.
func ParseHTML(r io.Reader, base *url.URL) Meta {
	const maxTokens = 100000
	z := html.NewTokenizer(r)
	z.SetMaxBuf(MaxHTMLBytes)
	var (
		m                              Meta
		title, ogTitle, ogDesc, desc   string
		ogSite, ogImage, ogImageSecure string
		inTitle                        bool
		titleBuf                       strings.Builder
	)
loop:
	for range maxTokens {
		switch z.Next() {
		case html.ErrorToken:
			break loop
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Body:
				break loop
			case atom.Title:
				inTitle = title == ""
			case atom.Meta:
				if !hasAttr {
					continue
				}
				var key, content string
				for {
					k, v, more := z.TagAttr()
					switch string(k) {
					case "property", "name":
						if key == "" {
							key = strings.ToLower(strings.TrimSpace(string(v)))
						}
					case "content":
						content = string(v)
					}
					if !more {
						break
					}
				}
				set := func(p *string) {
					if *p == "" {
						*p = content
					}
				}
				switch key {
				case "og:title":
					set(&ogTitle)
				case "og:description":
					set(&ogDesc)
				case "description":
					set(&desc)
				case "og:site_name":
					set(&ogSite)
				case "og:image", "og:image:url":
					set(&ogImage)
				case "og:image:secure_url":
					set(&ogImageSecure)
				}
			}
		case html.TextToken:
			if inTitle && titleBuf.Len() < 4*MaxTitle {
				titleBuf.Write(z.Text())
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); atom.Lookup(name) == atom.Title && inTitle {
				inTitle = false
				title = titleBuf.String()
			}
		}
	}
	if inTitle {
		title = titleBuf.String()
	}
	m.Title = CleanText(firstNonEmpty(ogTitle, title), MaxTitle)
	m.Description = CleanText(firstNonEmpty(ogDesc, desc), MaxDescription)
	m.SiteName = CleanText(ogSite, MaxSiteName)
	if img := strings.TrimSpace(firstNonEmpty(ogImageSecure, ogImage)); img != "" && len(img) <= LongURL {
		if u, err := url.Parse(img); err == nil {
			if base != nil {
				u = base.ResolveReference(u)
			}
			if u.IsAbs() && (u.Scheme == "https" || u.Scheme == "http") {
				m.Image = u.String()
			}
		}
	}
	return m
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return x
		}
	}
	return ""
}

// Preview fetches rawURL and builds its preview. The page and its image
// are fetched under the fetcher's policy; the image is passed through the
// media sanitizer and downscaled. A page without a usable image still
// gives a preview, with ImageError saying why.
func (f *Fetcher) Preview(ctx context.Context, rawURL string) (*Preview, error) {
	pctx, cancel := context.WithTimeout(ctx, dur(f.TotalTimeout, DefaultTotalTimeout))
	defer cancel()
	resp, chain, err := f.get(pctx, rawURL, htmlTypes)
	if err != nil {
		return nil, err
	}
	body, _, err := readLimited(resp.Body, MaxHTMLBytes)
	resp.Body.Close()
	if cerr := pctx.Err(); cerr != nil {
		// A body cut short by the deadline may read as a clean end or
		// as a closed connection: report the deadline.
		err = fmt.Errorf("links: reading %s: %w", rawURL, cerr)
	}
	if err != nil {
		return nil, err
	}
	final := chain[len(chain)-1]
	base, _ := url.Parse(final)
	m := ParseHTML(bytes.NewReader(body), base)
	p := &Preview{URL: rawURL, FinalURL: final, Title: m.Title, Description: m.Description, SiteName: m.SiteName}
	if m.Image != "" {
		p.ImageURL = m.Image
		img, typ, err := f.fetchImage(ctx, m.Image)
		if err != nil {
			p.ImageError = err.Error()
		} else {
			p.Image, p.ImageType = img, typ
		}
	}
	return p, nil
}

// fetchImage fetches, sanitizes and downscales a preview image, under its
// own total timeout.
func (f *Fetcher) fetchImage(ctx context.Context, rawURL string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, dur(f.TotalTimeout, DefaultTotalTimeout))
	defer cancel()
	resp, _, err := f.get(ctx, rawURL, imageTypes)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, more, err := readLimited(resp.Body, MaxImageBytes)
	if cerr := ctx.Err(); cerr != nil {
		err = fmt.Errorf("links: reading image: %w", cerr)
	}
	if err != nil {
		return nil, "", err
	}
	if more {
		return nil, "", fmt.Errorf("%w: image over %d bytes", ErrTooLarge, MaxImageBytes)
	}
	return ProcessImage(data)
}

// ProcessImage turns image bytes from outside into a preview image: the
// media sanitizer removes metadata, then the image is decoded (within
// MaxImagePixels), downscaled to at most MaxImageSide pixels on its
// longest side and encoded again as JPEG, or PNG when it has
// transparency.
func ProcessImage(data []byte) ([]byte, string, error) {
	var clean bytes.Buffer
	if _, err := media.Sanitize(bytes.NewReader(data), int64(len(data)), &clean); err != nil {
		return nil, "", fmt.Errorf("links: preview image: %w", err)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(clean.Bytes()))
	if err != nil {
		return nil, "", fmt.Errorf("links: preview image: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, "", fmt.Errorf("%w: image of %d×%d pixels", ErrTooLarge, cfg.Width, cfg.Height)
	}
	src, _, err := image.Decode(bytes.NewReader(clean.Bytes()))
	if err != nil {
		return nil, "", fmt.Errorf("links: preview image: %w", err)
	}
	w, h := cfg.Width, cfg.Height
	if w > MaxImageSide || h > MaxImageSide {
		if w >= h {
			w, h = MaxImageSide, max(1, h*MaxImageSide/cfg.Width)
		} else {
			w, h = max(1, w*MaxImageSide/cfg.Height), MaxImageSide
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	var out bytes.Buffer
	if dst.Opaque() {
		err = jpeg.Encode(&out, dst, &jpeg.Options{Quality: 85})
		return out.Bytes(), "image/jpeg", err
	}
	err = png.Encode(&out, dst)
	return out.Bytes(), "image/png", err
}
