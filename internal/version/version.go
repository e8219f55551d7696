// Package version says which build of Ephemera is running. The app
// (ephemera), the headless client (ephemera-cli) and the relay
// (ephemera-relay) all print it the same way for --version, so a bug
// report names one release and one commit whatever binary it came from.
//
// Release builds set both variables at link time:
//
//	go build -ldflags "-X github.com/ephemera-im/ephemera/internal/version.Version=0.1.0 \
//	  -X github.com/ephemera-im/ephemera/internal/version.Commit=0123abcd..."
//
// (the Makefile's packaging targets do this from FyneApp.toml and git).
// A binary built without them falls back to what the Go toolchain recorded
// in its build information: the module version for `go install
// module@version`, and the VCS revision when VCS stamping was on. The
// packaging targets build with -buildvcs=false, so that the same source
// gives the same bytes whether or not it sits in a git checkout; the commit
// then comes from -X alone.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version and Commit are set with -ldflags -X; empty means "not stamped".
var (
	Version string
	Commit  string
)

// Fallbacks when neither -X nor the build information says anything.
const (
	develVersion  = "devel"
	unknownCommit = "unknown"
)

// Info is what a build knows about itself.
type Info struct {
	Version string // release version such as 0.1.0, or "devel"
	Commit  string // full VCS revision, with "-dirty" when the tree was modified; or "unknown"
}

// Get returns the running binary's version and commit.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Version, Commit, bi)
}

// resolve prefers the link-time values, then the build information.
func resolve(version, commit string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Commit == "" {
			var rev string
			var modified bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					modified = s.Value == "true"
				}
			}
			if rev != "" && modified {
				rev += "-dirty"
			}
			info.Commit = rev
		}
	}
	if info.Version == "" {
		info.Version = develVersion
	}
	if info.Commit == "" {
		info.Commit = unknownCommit
	}
	return info
}

// String formats the info as "VERSION (commit COMMIT)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s)", i.Version, i.Commit)
}

// Line is what `PROGRAM --version` prints, without the newline:
//
//	ephemera-relay 0.1.0 go1.26.8 linux/amd64 (commit 0123abcd…)
//
// The version comes right after the program name so that scripts can take
// the second field; apart from the name, the line is the same for every
// Ephemera binary of one build and platform.
func Line(program string) string {
	i := Get()
	return fmt.Sprintf("%s %s %s %s/%s (commit %s)", program, i.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, i.Commit)
}
