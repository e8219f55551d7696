#!/usr/bin/env bash
# package-linux.sh — the Linux packages of the app, in $DIST/ (default dist/):
#
#   ephemera-VERSION-linux-ARCH.tar.xz   made by `fyne package`: the binary, a
#                                        .desktop entry, the icon and a Makefile
#                                        (`sudo make install`, `make user-install`)
#   ephemera_VERSION-BUILD_ARCH.deb      made with dpkg-deb, library dependencies
#                                        from dpkg-shlibdeps, checked by lintian
#
# Both are reproducible: the binary is built with -trimpath and no VCS or
# time stamps, and the archives are written with sorted names, fixed owners
# and SOURCE_DATE_EPOCH as every file's time (scripts/package-env.sh).
#
#   scripts/package-linux.sh          build both (what `make package-linux` runs)
#   scripts/package-linux.sh --bin-only OUT   build only the binary, into OUT
#   APP_BIN=FILE scripts/package-linux.sh     package FILE instead of building
#                                        (to try the packaging steps quickly)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/package-env.sh

root=$PWD
arch=$(go env GOARCH)
debarch=$(dpkg --print-architecture 2>/dev/null || echo "$arch")
appid=im.ephemera.app

# build_app OUT: the app binary, as a distribution wants it: position
# independent, with the hardening flags Debian uses for C code (the cgo parts:
# GLFW and OpenGL bindings), full RELRO and immediate binding.
build_app() {
	log "building $1 (cgo; a cold build takes minutes)"
	CGO_ENABLED=1 \
		CGO_CFLAGS="-O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wformat -Werror=format-security" \
		CGO_LDFLAGS="-Wl,-z,relro -Wl,-z,now" \
		go build "${GO_BUILDFLAGS[@]}" -buildmode=pie -tags "$FYNE_TAGS" \
		-ldflags "$GO_LDFLAGS" -o "$1" .
}

if [ "${1:-}" = --bin-only ]; then
	build_app "${2:?usage: $0 --bin-only OUT}"
	exit 0
fi

fyne=$root/bin/tools/fyne
[ -x "$fyne" ] || die "no $fyne: run scripts/install-deps.sh package"
for t in dpkg-deb dpkg-shlibdeps lintian xz; do
	command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh package"
done

work=$DIST/linux-$arch
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
if [ -n "${APP_BIN:-}" ]; then
	cp "$APP_BIN" "$work/ephemera"
else
	build_app "$work/ephemera"
fi

# normalize DIR: fixed permissions and every time stamp at SOURCE_DATE_EPOCH,
# so the archives do not depend on umask or on when the files were written.
normalize() {
	find "$1" -type d -exec chmod 0755 {} +
	find "$1" -type f -exec chmod go-w,u+rw,a+r {} +
	find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

# --- the tarball, by fyne package ---------------------------------------
# fyne package stages in ./tmp-pkg and, when done, rewrites the source
# folder's FyneApp.toml with Build incremented. So it runs in the work folder
# on a copy of the metadata (FyneApp.toml, the icon, and a .go file, which it
# looks for), never in the source tree; --exe hands it the binary built above
# instead of letting it build its own.
tarball=$DIST/ephemera-$VERSION-linux-$arch.tar.xz
log "fyne package -os linux -> $tarball"
meta=$work/fyne-src
mkdir -p "$meta/assets"
cp FyneApp.toml "$meta/"
cp assets/icon.png "$meta/assets/"
printf 'package main\n\nfunc main() {}\n' >"$meta/main.go"
(cd "$work" && "$fyne" package -os linux --src "$meta" --exe "$work/ephemera" \
	--app-version "$VERSION" --app-build "$BUILD" --release)
[ -f "$work/Ephemera.tar.xz" ] || die "fyne package wrote no Ephemera.tar.xz"
# fyne's own archive carries the packaging machine's owners and times: unpack
# it and write it again reproducibly, same files, same layout.
mkdir "$work/tar"
tar -C "$work/tar" -xJf "$work/Ephemera.tar.xz"
rm "$work/Ephemera.tar.xz"
normalize "$work/tar"
(cd "$work/tar" && tar --sort=name --owner=0 --group=0 --numeric-owner \
	--mtime="@$SOURCE_DATE_EPOCH" --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-cf - ephemera) | xz -T1 -6 >"$tarball"

desktop=$(find "$work/tar" -name "$appid.desktop" | head -n1)
[ -n "$desktop" ] || die "fyne package made no $appid.desktop"

# --- the .deb -----------------------------------------------------------
debver=$VERSION-$BUILD
# Staged as a source package would stage it (debian/ephemera), which is
# where dpkg-shlibdeps expects the binaries it analyzes.
src=$work/deb
pkgdir=$src/debian/ephemera
deb=$DIST/ephemera_${debver}_$debarch.deb
log "dpkg-deb -> $deb"
install -D -m 0755 "$work/ephemera" "$pkgdir/usr/bin/ephemera"
install -D -m 0644 "$desktop" "$pkgdir/usr/share/applications/$appid.desktop"
for png in assets/icons/*x*.png; do
	size=$(basename "$png" .png)
	install -D -m 0644 "$png" "$pkgdir/usr/share/icons/hicolor/$size/apps/$appid.png"
done
install -d "$pkgdir/usr/share/man/man1" "$pkgdir/usr/share/doc/ephemera"
gzip -9n <packaging/linux/ephemera.1 >"$pkgdir/usr/share/man/man1/ephemera.1.gz"
install -m 0644 packaging/deb/copyright "$pkgdir/usr/share/doc/ephemera/copyright"
install -D -m 0644 packaging/deb/lintian-overrides "$pkgdir/usr/share/lintian/overrides/ephemera"
# A Debian changelog entry for this build, dated SOURCE_DATE_EPOCH.
sed -e "s/@VERSION@/$debver/" -e "s/@COMMIT@/$COMMIT/" \
	-e "s/@DATE@/$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")/" \
	packaging/deb/changelog.in | gzip -9n >"$pkgdir/usr/share/doc/ephemera/changelog.Debian.gz"

# Library dependencies. dpkg-shlibdeps runs from a source package's top
# folder, which needs only a debian/control naming the package.
printf 'Source: ephemera\n\nPackage: ephemera\nArchitecture: any\n' >"$src/debian/control"
depends=$(cd "$src" && dpkg-shlibdeps -O -edebian/ephemera/usr/bin/ephemera | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || die "dpkg-shlibdeps found no library dependencies"
log "Depends: $depends"

mkdir -p "$pkgdir/DEBIAN"
sed -e "s/@VERSION@/$debver/" -e "s/@ARCH@/$debarch/" -e "s/@DEPENDS@/$depends/" \
	-e "s/@SIZE@/$(du -sk --apparent-size "$pkgdir/usr" | cut -f1)/" \
	packaging/deb/control.in >"$pkgdir/DEBIAN/control"
(cd "$pkgdir" && find usr -type f | LC_ALL=C sort | xargs md5sum >DEBIAN/md5sums)
normalize "$pkgdir"
dpkg-deb --root-owner-group -Zxz --build "$pkgdir" "$deb" >/dev/null

log "lintian $deb"
# Errors and warnings fail the build; each accepted tag is overridden, with
# the reason, in packaging/deb/lintian-overrides.
lintian --fail-on error,warning --display-info "$deb" || die "lintian found problems in $deb"

(cd "$DIST" && sha256sum "${tarball##*/}" "${deb##*/}")
