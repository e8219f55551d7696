#!/usr/bin/env bash
# install-deps.sh run|test — installs what `make run` or `make test` needs.
#
# Idempotent: on Debian and Ubuntu it installs only the apt packages that are
# missing (running `apt-get update` once, and only then), through sudo when not
# root. Go tools for tests go into ./bin/tools. On other systems it prints what
# to install and carries on.
set -euo pipefail

mode=${1:-run}
cd "$(dirname "$0")/.."

# Packages to build and run the Fyne app (cgo, OpenGL, X11 headers).
run_pkgs=(gcc pkg-config libgl1-mesa-dev xorg-dev)
# Extra packages for `make test`: for the smoke test a virtual display with
# software OpenGL, xwininfo (x11-utils), `import` screenshots (imagemagick)
# and OCR of the screenshot (tesseract-ocr); exiftool for the media
# sanitizer's tests.
test_pkgs=(xvfb libgl1-mesa-dri x11-utils imagemagick tesseract-ocr libimage-exiftool-perl)

# Go tools for `make test`, pinned.
staticcheck_pkg=honnef.co/go/tools/cmd/staticcheck@v0.8.2

case "$mode" in
run) pkgs=("${run_pkgs[@]}") ;;
test) pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
*)
	echo "usage: $0 run|test" >&2
	exit 2
	;;
esac

log() { echo "install-deps: $*" >&2; }

if command -v dpkg >/dev/null && command -v apt-get >/dev/null; then
	missing=()
	for p in "${pkgs[@]}"; do
		# dpkg -s succeeds for removed-but-configured packages too; check the status line.
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]})); then
		sudo=()
		if [ "$(id -u)" != 0 ]; then
			sudo=(sudo)
		fi
		log "installing ${missing[*]}"
		"${sudo[@]}" apt-get update -qq
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		log "apt packages present (${pkgs[*]})"
	fi
else
	log "not a Debian-like system: please install the equivalents of: ${pkgs[*]}"
	log "(a C compiler, pkg-config, OpenGL and X11 development headers; for tests Xvfb, xwininfo, ImageMagick, Tesseract, exiftool)"
fi

if [ "$mode" = test ]; then
	tools=$PWD/bin/tools
	want=${staticcheck_pkg##*@v}
	if [ -x "$tools/staticcheck" ] && "$tools/staticcheck" -version 2>/dev/null | grep -qF "($want)"; then
		log "staticcheck $want present"
	else
		log "installing $staticcheck_pkg into bin/tools"
		GOBIN=$tools go install "$staticcheck_pkg"
	fi
fi
