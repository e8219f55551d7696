#!/usr/bin/env bash
# fuzz.sh [FUZZTIME] — runs every fuzz target in the module for FUZZTIME
# (default 10s) each, one after another. Inputs that fail are saved under the
# package's testdata/fuzz/ by go test, so they become regression tests.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}

mod=$(go list -m)
found=0
# Only packages whose tests declare a Fuzz function: go test -list would
# build every package's tests, the GUI's among them.
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u); do
	pkg=$mod/${dir#./}
	[ "$dir" = . ] && pkg=$mod
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		found=$((found + 1))
		echo "fuzz: $pkg $target for $fuzztime" >&2
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"
	done
done
echo "fuzz: $found targets run" >&2
[ "$found" -gt 0 ] || { echo "fuzz: no fuzz targets found" >&2; exit 1; }
