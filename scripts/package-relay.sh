#!/usr/bin/env bash
# package-relay.sh — the relay as static binaries (no cgo) for Linux, Windows
# and macOS on amd64 and arm64, in $DIST/relay/, with SHA256SUMS.
#
#   scripts/package-relay.sh                  # all six
#   scripts/package-relay.sh linux/amd64 ...  # only these
#
# Version, commit and flags: see scripts/package-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/package-env.sh

targets=("$@")
if ((${#targets[@]} == 0)); then
	targets=(linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64)
fi

out=$DIST/relay
mkdir -p "$out"
for t in "${targets[@]}"; do
	goos=${t%/*} goarch=${t#*/}
	exe=ephemera-relay-$VERSION-$goos-$goarch
	[ "$goos" = windows ] && exe=$exe.exe
	log "building $out/$exe"
	CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch \
		go build "${GO_BUILDFLAGS[@]}" -ldflags "$GO_LDFLAGS" -o "$out/$exe" ./cmd/ephemera-relay
done
# Checksums of every relay binary in the folder, sorted by name.
(cd "$out" && find . -maxdepth 1 -name 'ephemera-relay-*' -type f -printf '%f\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
log "wrote $out/SHA256SUMS"
