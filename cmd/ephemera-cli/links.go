package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ephemera-im/ephemera/core/links"
)

func init() {
	register(&command{
		name:    "check-link",
		args:    "URL [--text TEXT] [--json]",
		summary: "analyse a link offline: lookalike domains, punycode tricks, hidden destinations",
		setFlags: func(fs *flag.FlagSet) {
			fs.String("text", "", "the text the link is shown as, if not the URL itself")
			fs.Bool("json", false, "print the verdict as JSON")
		},
		run: runCheckLink,
	})
	register(&command{
		name:    "preview",
		args:    "URL [--json] [--socks5 ADDR] [--image FILE]",
		summary: "fetch a link preview with the safe fetcher (title, description, sanitized image)",
		setFlags: func(fs *flag.FlagSet) {
			fs.Bool("json", false, "print the preview as JSON")
			fs.String("socks5", "", "fetch through this SOCKS5 proxy (host:port), e.g. Tor")
			fs.String("image", "", "write the sanitized preview image to FILE")
		},
		run: runPreview,
	})
}

// newLinkFetcher makes the fetcher preview uses. Tests replace it to reach
// a local TLS server; the command itself never opens the address policy.
var newLinkFetcher = func() *links.Fetcher { return &links.Fetcher{} }

func linkFlagString(inv *invocation, name string) string {
	return inv.flags.Lookup(name).Value.String()
}

func linkFlagBool(inv *invocation, name string) bool { return linkFlagString(inv, name) == "true" }

// linkReport is check-link's JSON output.
type linkReport struct {
	URL          string         `json:"url"`
	HostASCII    string         `json:"host_ascii"`
	HostDisplay  string         `json:"host_display"`
	HostPrefix   string         `json:"host_prefix"`
	Registrable  string         `json:"registrable_domain"`
	Risk         links.Risk     `json:"risk"`
	Reasons      []links.Reason `json:"reasons"`
	DisplayASCII bool           `json:"display_ascii"`
}

func linkReportFor(v links.Verdict) linkReport {
	return linkReport{
		URL:          v.URL,
		HostASCII:    v.HostASCII,
		HostDisplay:  v.Host.String(),
		HostPrefix:   v.Host.Prefix,
		Registrable:  v.Registrable,
		Risk:         v.Risk,
		Reasons:      v.Reasons,
		DisplayASCII: v.Host.ASCII,
	}
}

func runCheckLink(_ context.Context, inv *invocation) error {
	if len(inv.args) != 1 {
		return usageError("want one URL, got %d arguments", len(inv.args))
	}
	v := links.Analyze(inv.args[0], linkFlagString(inv, "text"))
	if linkFlagBool(inv, "json") {
		return writeLinkJSON(inv.stdout, linkReportFor(v))
	}
	printLinkVerdict(inv.stdout, v)
	return nil
}

func printLinkVerdict(w io.Writer, v links.Verdict) {
	fmt.Fprintf(w, "host:   %s[%s]\n", v.Host.Prefix, v.Host.Registrable)
	fmt.Fprintf(w, "risk:   %s\n", v.Risk)
	for _, r := range v.Reasons {
		fmt.Fprintf(w, "  %-18s %s\n", r.Code, r.Message)
	}
}

// previewReport is preview's JSON output: the preview without the image
// bytes, and the offline verdict of the link.
type previewReport struct {
	URL         string     `json:"url"`
	FinalURL    string     `json:"final_url"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	SiteName    string     `json:"site_name"`
	ImageURL    string     `json:"image_url,omitempty"`
	ImageType   string     `json:"image_type,omitempty"`
	ImageBytes  int        `json:"image_bytes"`
	ImageError  string     `json:"image_error,omitempty"`
	Link        linkReport `json:"link"`
}

func runPreview(ctx context.Context, inv *invocation) error {
	if len(inv.args) != 1 {
		return usageError("want one URL, got %d arguments", len(inv.args))
	}
	f := newLinkFetcher()
	f.SOCKS5 = linkFlagString(inv, "socks5")
	p, err := f.Preview(ctx, inv.args[0])
	if err != nil {
		return err
	}
	if out := linkFlagString(inv, "image"); out != "" && p.Image != nil {
		if err := os.WriteFile(out, p.Image, 0o600); err != nil {
			return err
		}
	}
	rep := previewReport{
		URL: p.URL, FinalURL: p.FinalURL, Title: p.Title, Description: p.Description, SiteName: p.SiteName,
		ImageURL: p.ImageURL, ImageType: p.ImageType, ImageBytes: len(p.Image), ImageError: p.ImageError,
		Link: linkReportFor(links.Analyze(p.URL, "")),
	}
	if linkFlagBool(inv, "json") {
		return writeLinkJSON(inv.stdout, rep)
	}
	printLinkVerdict(inv.stdout, links.Analyze(p.URL, ""))
	fmt.Fprintf(inv.stdout, "final:  %s\n", p.FinalURL)
	fmt.Fprintf(inv.stdout, "title:  %s\n", p.Title)
	if p.SiteName != "" {
		fmt.Fprintf(inv.stdout, "site:   %s\n", p.SiteName)
	}
	if p.Description != "" {
		fmt.Fprintf(inv.stdout, "about:  %s\n", p.Description)
	}
	switch {
	case p.Image != nil:
		fmt.Fprintf(inv.stdout, "image:  %s, %d bytes\n", p.ImageType, len(p.Image))
	case p.ImageError != "":
		fmt.Fprintf(inv.stdout, "image:  none (%s)\n", p.ImageError)
	}
	return nil
}

func writeLinkJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
