#!/usr/bin/env bash
# package-windows.sh — the Windows app, cross-compiled here with MinGW-w64 and
# cgo: $DIST/ephemera-VERSION-windows-amd64.exe, a GUI-subsystem PE32+ (no
# console window) with the icon, a version resource and an application
# manifest embedded. This is what `fyne package -os windows` does (a .syso
# from goversioninfo, -H=windowsgui), done by hand so that the .syso never
# sits unsuffixed in the shared source tree and the build stays reproducible.
#
# Optional Authenticode signing with osslsigncode, when a certificate is given:
#   WINDOWS_SIGN_PFX        PKCS#12 file holding the certificate and key
#   WINDOWS_SIGN_PASSWORD   its password (optional)
#   WINDOWS_SIGN_TIMESTAMP  RFC 3161 time-stamp server URL (optional; without
#                           one, the signature expires with the certificate)
# The unsigned build stays next to it as ...-unsigned.exe (that one is
# reproducible; a signature is not, it holds the signing time).
#
#   scripts/package-windows.sh               build (and sign) the .exe
#   scripts/package-windows.sh --exe OUT     only build the unsigned .exe into OUT
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/package-env.sh

cc=x86_64-w64-mingw32-gcc
command -v "$cc" >/dev/null || die "$cc missing: run scripts/install-deps.sh package"
goversioninfo=$PWD/bin/tools/goversioninfo
[ -x "$goversioninfo" ] || die "no $goversioninfo: run scripts/install-deps.sh package"

# The file version has four numbers: VERSION's first three (any pre-release
# suffix dropped) and BUILD.
IFS=. read -r major minor patch _ <<<"${VERSION%%[-+]*}.0.0"
major=${major:-0} minor=${minor:-0} patch=${patch:-0}
version4=$major.$minor.$patch.$BUILD

work=$DIST/windows-amd64
rm -rf "$work"
mkdir -p "$work"

sed "s/@VERSION4@/$version4/" packaging/windows/ephemera.exe.manifest >"$work/ephemera.exe.manifest"
"$goversioninfo" -64 -o "$work/rsrc.syso" \
	-icon assets/icons/ephemera.ico -manifest "$work/ephemera.exe.manifest" \
	-ver-major "$major" -ver-minor "$minor" -ver-patch "$patch" -ver-build "$BUILD" \
	-product-ver-major "$major" -product-ver-minor "$minor" -product-ver-patch "$patch" -product-ver-build "$BUILD" \
	-file-version "$version4" -product-version "$VERSION ($COMMIT)" \
	packaging/windows/versioninfo.json

# The go command links every .syso of the main package's folder; overlays do
# not cover them, so the resource goes into the source tree for the build.
# The _windows_amd64 suffix keeps it out of every other platform's build (an
# engineer's Linux build running meanwhile is unaffected), and the trap
# removes it.
syso=zz_ephemera_windows_amd64.syso
cp "$work/rsrc.syso" "$syso"
trap 'rm -f "$syso"' EXIT

if [ "${1:-}" = --exe ]; then
	out=${2:?usage: $0 --exe OUT}
else
	out=$DIST/ephemera-$VERSION-windows-amd64.exe
fi
log "building $out (cgo cross-build with $cc; a cold build takes ten minutes)"
CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=$cc CXX=x86_64-w64-mingw32-g++ \
	go build "${GO_BUILDFLAGS[@]}" -tags "$FYNE_TAGS" \
	-ldflags "$GO_LDFLAGS -H=windowsgui" -o "$out" .
rm -f "$syso"
trap - EXIT
[ "${1:-}" = --exe ] && exit 0

if [ -n "${WINDOWS_SIGN_PFX:-}" ]; then
	command -v osslsigncode >/dev/null || die "osslsigncode missing: run scripts/install-deps.sh package"
	unsigned=${out%.exe}-unsigned.exe
	mv "$out" "$unsigned"
	args=(sign -pkcs12 "$WINDOWS_SIGN_PFX" -h sha256 -n Ephemera -i https://github.com/ephemera-im/ephemera)
	if [ -n "${WINDOWS_SIGN_PASSWORD:-}" ]; then
		# From a private file rather than the command line, where ps would show it.
		passfile=$(mktemp)
		trap 'rm -f "$passfile"' EXIT
		printf %s "$WINDOWS_SIGN_PASSWORD" >"$passfile"
		args+=(-readpass "$passfile")
	fi
	[ -n "${WINDOWS_SIGN_TIMESTAMP:-}" ] && args+=(-ts "$WINDOWS_SIGN_TIMESTAMP")
	log "signing $out with osslsigncode"
	osslsigncode "${args[@]}" -in "$unsigned" -out "$out" >/dev/null
	osslsigncode verify -ignore-timestamp -in "$out" >/dev/null 2>&1 ||
		log "note: the signature does not verify against the system's CAs (self-signed or private CA?)"
else
	log "not signing: set WINDOWS_SIGN_PFX (and WINDOWS_SIGN_PASSWORD) to sign"
fi
(cd "$DIST" && sha256sum "${out##*/}")
