// Command platformcheck type-checks this module's packages, tests
// included, for other operating systems than the one it runs on, so that
// `make test` on Linux fails in seconds when a change breaks the Windows or
// macOS build (a Unix-only signal in main.go once did, unnoticed until a
// release build).
//
//	go run ./internal/cmd/platformcheck [-targets windows/amd64,darwin/arm64] [-tags T] [patterns]
//
// The default patterns are ./... and the default targets windows/amd64,
// darwin/arm64 and linux/amd64.
//
// It type-checks from source with cgo off, which needs no cross compiler:
// our own packages have no cgo, so every file of theirs is checked. Of the
// dependencies, files that need cgo (Fyne's OpenGL driver and its macOS
// glue) drop out and leave type errors in those packages; such errors are
// the dependencies' own and are not reported — only errors in this
// module's packages are. The real cgo cross-build of the Windows app, and
// its run under Wine, are in `make package-check`.
//
// Exit status: 0 when every target type-checks, 1 when one does not (each
// error is printed as file:line:col: target: message), 2 on bad usage or
// when no package of this module was loaded.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/tools/go/packages"
)

func main() {
	targets := flag.String("targets", "windows/amd64,darwin/arm64,linux/amd64", "comma-separated GOOS/GOARCH pairs to type-check for")
	tags := flag.String("tags", "", "build tags, as for go build -tags")
	flag.Parse()
	patterns := flag.Args()
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	failed := false
	for _, t := range strings.Split(*targets, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(t), "/")
		if !ok || goos == "" || goarch == "" {
			fmt.Fprintf(os.Stderr, "platformcheck: bad target %q, want GOOS/GOARCH\n", t)
			os.Exit(2)
		}
		errs, n, err := check("", goos, goarch, *tags, patterns)
		if err != nil {
			fmt.Fprintf(os.Stderr, "platformcheck: %s/%s: %v\n", goos, goarch, err)
			os.Exit(2)
		}
		for _, e := range errs {
			fmt.Println(e)
		}
		if len(errs) > 0 {
			failed = true
			fmt.Fprintf(os.Stderr, "platformcheck: %s/%s: %d errors in %d packages\n", goos, goarch, len(errs), n)
		} else {
			fmt.Fprintf(os.Stderr, "platformcheck: %s/%s: %d packages type-check\n", goos, goarch, n)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// check loads patterns in dir (empty: the current directory) for
// goos/goarch and returns the errors found in the main module's packages
// (their test variants included) and how many such packages it checked.
func check(dir, goos, goarch, tags string, patterns []string) (errs []string, n int, err error) {
	cfg := &packages.Config{
		Mode:  packages.LoadAllSyntax | packages.NeedModule,
		Dir:   dir,
		Env:   append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0"),
		Tests: true,
	}
	if tags != "" {
		cfg.BuildFlags = []string{"-tags=" + tags}
	}
	pkgs, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, 0, err
	}
	target := goos + "/" + goarch
	seen := map[string]bool{}
	for _, p := range pkgs {
		if p.Module == nil || !p.Module.Main {
			continue
		}
		n++
		for _, e := range p.Errors {
			line := fmt.Sprintf("%s: %s: %s", position(e), target, e.Msg)
			if !seen[line] { // a package and its test variant share files
				seen[line] = true
				errs = append(errs, line)
			}
		}
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("no package of the main module matches %v", patterns)
	}
	slices.Sort(errs)
	return errs, n, nil
}

func position(e packages.Error) string {
	if e.Pos == "" || e.Pos == "-" {
		return "(package)"
	}
	return e.Pos
}
