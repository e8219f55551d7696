#!/usr/bin/env bash
# install-deps.sh run|test|package — installs what `make run`, `make test` or
# the packaging targets (`make package-linux`, `package-windows`,
# `package-check`) need.
#
# Idempotent: on Debian and Ubuntu it installs only the apt packages that are
# missing (running `apt-get update` once, and only then), through sudo when not
# root. Go tools for tests go into ./bin/tools. On other systems it prints what
# to install and carries on.
set -euo pipefail

mode=${1:-run}
cd "$(dirname "$0")/.."

# Packages to build and run the Fyne app (cgo, OpenGL, X11 headers), and
# fonts for the scripts Fyne's bundled fonts lack, found by its fallback:
# Arabic and Hebrew (DejaVu), Chinese, Japanese and Korean (WenQuanYi).
run_pkgs=(gcc pkg-config libgl1-mesa-dev xorg-dev fonts-dejavu-core fonts-wqy-microhei)
# Extra packages for `make test`: for the smoke test a virtual display with
# software OpenGL, xwininfo (x11-utils), `import` screenshots (imagemagick),
# OCR of the screenshot (tesseract-ocr), xdotool to type into the window
# (the unlock screen) and dbus-daemon for a private session bus (the tray);
# exiftool for the media sanitizer's tests.
test_pkgs=(xvfb libgl1-mesa-dri x11-utils imagemagick tesseract-ocr xdotool dbus-daemon libimage-exiftool-perl)

# Extra packages for packaging: dpkg-deb and dpkg-shlibdeps (dpkg-dev),
# lintian, desktop-file-validate (desktop-file-utils), xz for the tarball,
# the MinGW-w64 cross compiler for the Windows build (cgo), osslsigncode for
# Authenticode signing; for `make package-check` file(1), openssl (a
# throw-away signing certificate) and systemd-analyze (systemd) to verify
# the relay's unit; and to run the Windows .exe there (wine_test.go), Wine
# with a virtual display, software OpenGL, xwininfo, xdotool and `import`.
# (dpkg-deb --root-owner-group makes fakeroot unneeded.)
# For `make perf`: mat2, the second reference the sanitizer is measured
# against (exiftool is in the test list).
perf_pkgs=(mat2)

package_pkgs=(dpkg-dev lintian desktop-file-utils xz-utils gcc-mingw-w64-x86-64 osslsigncode file openssl systemd
	wine64 xvfb libgl1-mesa-dri x11-utils xdotool imagemagick)

# Go tools, pinned: staticcheck for `make test`; for packaging the fyne
# command (`fyne package`) and goversioninfo, which writes the Windows
# resource .syso (icon, version, manifest) the same way `fyne package -os
# windows` does, at the version fyne.io/tools v1.7.4 uses.
staticcheck_pkg=honnef.co/go/tools/cmd/staticcheck@v0.8.2
fyne_pkg=fyne.io/tools/cmd/fyne@v1.7.4
goversioninfo_pkg=github.com/josephspurrier/goversioninfo/cmd/goversioninfo@v1.7.0

case "$mode" in
run) pkgs=("${run_pkgs[@]}") ;;
test) pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
package) pkgs=("${run_pkgs[@]}" "${package_pkgs[@]}") ;;
perf) pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}" "${perf_pkgs[@]}") ;;
*)
	echo "usage: $0 run|test|package|perf" >&2
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
	log "(a C compiler, pkg-config, OpenGL and X11 development headers; for tests Xvfb, xwininfo, ImageMagick, Tesseract, exiftool;"
	log " for packaging dpkg-dev, lintian, desktop-file-utils, xz, fakeroot, the MinGW-w64 x86-64 gcc, osslsigncode, file)"
fi

tools=$PWD/bin/tools

if [ "$mode" = test ]; then
	want=${staticcheck_pkg##*@v}
	if [ -x "$tools/staticcheck" ] && "$tools/staticcheck" -version 2>/dev/null | grep -qF "($want)"; then
		log "staticcheck $want present"
	else
		log "installing $staticcheck_pkg into bin/tools"
		GOBIN=$tools go install "$staticcheck_pkg"
	fi
fi

if [ "$mode" = package ]; then
	want=${fyne_pkg##*@}
	# `fyne version` prints "fyne cli version: v1.7.4" (captured first: grep -q
	# closing the pipe early would fail the pipeline under pipefail).
	have=$("$tools/fyne" version 2>/dev/null || true)
	if [[ $have == *"cli version: $want"* ]]; then
		log "fyne $want present"
	else
		log "installing $fyne_pkg into bin/tools"
		GOBIN=$tools go install "$fyne_pkg"
	fi
	# goversioninfo has no version flag: a stamp file next to it records
	# which version was installed.
	stamp=$tools/.goversioninfo.version
	if [ -x "$tools/goversioninfo" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$goversioninfo_pkg" ]; then
		log "goversioninfo ${goversioninfo_pkg##*@} present"
	else
		log "installing $goversioninfo_pkg into bin/tools"
		GOBIN=$tools go install "$goversioninfo_pkg"
		echo "$goversioninfo_pkg" >"$stamp"
	fi
fi
