package domains

import (
	"strings"
	"testing"
)

func TestLists(t *testing.T) {
	for _, tc := range []struct {
		name string
		list []string
		min  int
	}{
		{"popular", Popular(), 1000},
		{"phished", Phished(), 150},
	} {
		if len(tc.list) < tc.min {
			t.Errorf("%s: got %d entries, want at least %d", tc.name, len(tc.list), tc.min)
		}
		for _, d := range tc.list {
			if d != strings.ToLower(d) || strings.ContainsAny(d, " \t#/") || strings.Contains(d, "..") || !strings.Contains(d, ".") {
				t.Errorf("%s: malformed entry %q", tc.name, d)
			}
		}
	}
	if got := Popular()[0]; got != "google.com" {
		t.Errorf("first popular entry: got %q, want google.com", got)
	}
}
