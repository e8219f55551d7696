# package-env.sh — sourced by the scripts/package-*.sh scripts: the version,
# commit and flags every release build uses, so that the app, the CLI and the
# relay are stamped alike and the same source gives the same bytes.
#
# Each value may be given in the environment instead (a CI job, or a build
# from a copy of the tree without .git):
#   VERSION             release version; default: Details.Version in FyneApp.toml
#   BUILD               package build number; default: Details.Build in FyneApp.toml
#   COMMIT              VCS revision; default: `git rev-parse HEAD`, "-dirty"
#                       appended when the work tree has changes; "unknown" outside git
#   SOURCE_DATE_EPOCH   the time stamp written into archives (tar, deb, gzip);
#                       default: the last commit's time, or 0 outside git
#   DIST                output folder; default: dist
# shellcheck shell=bash

toml_value() { # toml_value KEY: the first `KEY = value` in FyneApp.toml, unquoted
	sed -n "s/^$1[[:space:]]*=[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*\$/\1/p" FyneApp.toml | head -n1
}

: "${VERSION:=$(toml_value Version)}"
: "${BUILD:=$(toml_value Build)}"
if [ -z "${COMMIT:-}" ]; then
	if COMMIT=$(git rev-parse HEAD 2>/dev/null); then
		if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
			COMMIT=$COMMIT-dirty
		fi
	else
		COMMIT=unknown
	fi
fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
fi
: "${DIST:=dist}"
export VERSION BUILD COMMIT SOURCE_DATE_EPOCH DIST

if [ -z "$VERSION" ] || [ -z "$BUILD" ]; then
	echo "package-env: cannot read Version and Build from FyneApp.toml" >&2
	exit 1
fi

# Reproducible builds: -trimpath drops file system paths, -buildvcs=false
# keeps VCS state out of the binary (the commit comes from -X instead, so a
# copy of the tree without .git builds the same bytes), -s -w drops the
# symbol table and DWARF (smaller; and nothing for a path to hide in), and
# an empty -buildid is avoided on purpose: Go's build ID is a hash of the
# inputs, so it is reproducible as it is.
version_pkg=github.com/ephemera-im/ephemera/internal/version
GO_LDFLAGS="-s -w -X $version_pkg.Version=$VERSION -X $version_pkg.Commit=$COMMIT"
GO_BUILDFLAGS=(-trimpath -buildvcs=false)
# Build tags `fyne package` adds for FyneApp.toml's [Migrations] fyneDo = true.
FYNE_TAGS=migrated_fynedo

log() { echo "${0##*/}: $*" >&2; }
die() {
	echo "${0##*/}: FAIL: $*" >&2
	exit 1
}
