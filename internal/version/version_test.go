package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		{"nothing at all", "", "", nil, Info{"devel", "unknown"}},
		{"devel module, no vcs", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, Info{"devel", "unknown"}},
		{"ldflags win", "1.2.3", "abc", &debug.BuildInfo{
			Main:     debug.Module{Version: "v9.9.9"},
			Settings: settings("vcs.revision", "def", "vcs.modified", "true"),
		}, Info{"1.2.3", "abc"}},
		{"go install module@version", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}}, Info{"v0.2.0", "unknown"}},
		{"vcs stamping", "", "", &debug.BuildInfo{
			Main:     debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "0123abcd", "vcs.modified", "false"),
		}, Info{"devel", "0123abcd"}},
		{"dirty tree", "", "", &debug.BuildInfo{
			Settings: settings("vcs.modified", "true", "vcs.revision", "0123abcd"),
		}, Info{"devel", "0123abcd-dirty"}},
		{"modified without revision", "", "", &debug.BuildInfo{Settings: settings("vcs.modified", "true")}, Info{"devel", "unknown"}},
		{"version by ldflags, commit by vcs", "0.1.0", "", &debug.BuildInfo{
			Settings: settings("vcs.revision", "feed"),
		}, Info{"0.1.0", "feed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolve(tc.version, tc.commit, tc.bi); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGetUsesLinkTimeValues(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "7.8.9", "cafe"
	if got, want := Get(), (Info{"7.8.9", "cafe"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestLine(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "0.1.0", "0123abcd"
	got := Line("ephemera-cli")
	want := "ephemera-cli 0.1.0 " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + " (commit 0123abcd)"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if strings.Contains(got, "\n") {
		t.Errorf("Line(%q) contains a newline: %q", "ephemera-cli", got)
	}
}

func TestInfoString(t *testing.T) {
	if got, want := (Info{"0.1.0", "abc"}).String(), "0.1.0 (commit abc)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
