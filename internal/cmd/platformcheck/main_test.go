package main

import (
	"strings"
	"testing"
)

// TestCatchesUnixOnlyCall: testdata/app calls syscall.SIGUSR1 in main.go
// and reads Rusage.Maxrss in a test, both Unix-only; its dependency
// testdata/dep does not type-check on Windows. For windows/amd64 the
// check reports the app's two errors and none of the dependency's; for
// linux and darwin it reports nothing.
func TestCatchesUnixOnlyCall(t *testing.T) {
	for _, tc := range []struct {
		goos, goarch string
		want         []string // substrings, one per expected error
	}{
		{"windows", "amd64", []string{"main.go:16:", "undefined: syscall.SIGUSR1", "ok_test.go:11:", "Maxrss"}},
		{"linux", "amd64", nil},
		{"darwin", "arm64", nil},
	} {
		t.Run(tc.goos, func(t *testing.T) {
			errs, n, err := check("testdata/app", tc.goos, tc.goarch, "", []string{"./..."})
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatal("checked no package")
			}
			all := strings.Join(errs, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("errors do not mention %q; got:\n%s", w, all)
				}
			}
			if tc.want == nil && len(errs) > 0 {
				t.Errorf("got errors, want none:\n%s", all)
			}
			if strings.Contains(all, "broken_windows.go") || strings.Contains(all, "not an int") {
				t.Errorf("a dependency's own error was reported:\n%s", all)
			}
			if tc.want != nil && len(errs) != 2 {
				t.Errorf("got %d errors, want 2 (one in main.go, one in ok_test.go):\n%s", len(errs), all)
			}
		})
	}
}

// TestNoPackages: a pattern that matches nothing is an error, not a pass.
func TestNoPackages(t *testing.T) {
	_, _, err := check("testdata/app", "linux", "amd64", "", []string{"./nothing/..."})
	if err == nil {
		t.Fatal("a pattern matching no package of the module gave no error")
	}
}
