#!/usr/bin/env bash
# package-check.sh — checks the packages that `make package-linux`,
# `make package-windows` and `make relay-all` wrote to $DIST (default dist/),
# and that building them again gives the same bytes. Every check that cannot
# run is a failure, not a skip. `make package-check` builds the packages first
# and then runs this.
#
#   1. version: the app (from the .deb), ephemera-cli and the relay print the
#      same version and commit;
#   2. the tarball: its listing (owners, times, files), the .desktop entry
#      (desktop-file-validate), the icon, the binary's --version, and an
#      install with its Makefile into a scratch prefix;
#   3. the .deb: its fields and listing, the hicolor icons' sizes, the .desktop
#      entry, lintian, `apt-get install --simulate ./file.deb`, and a real
#      install with `dpkg --root` into a throwaway root whose binary then runs
#      with --version;
#   4. the relay: a binary per OS and architecture, matching SHA256SUMS; the
#      systemd unit (systemd-analyze verify) and the sample configuration
#      (every variable is one the relay knows; the relay starts with it);
#   5. the Windows .exe: `file` says PE32+ GUI, and scripts/pecheck reads its
#      resources: the icon at every size, the version, the manifest; signing
#      with a throw-away certificate works; and it runs under Wine and Xvfb
#      (wine_test.go): --version, a window titled Ephemera that is not
#      blank, a clean exit when closed;
#   6. reproducibility: two copies of the source tree at different paths build
#      byte-identical relays (all six), Linux packages (binary, .tar.xz, .deb)
#      and Windows .exe; the relay also from an empty build cache.
#
#   scripts/package-check.sh                 everything
#   SKIP_WINDOWS=1 scripts/package-check.sh  all but the Windows parts (stated
#                                            in the summary, so never silent)
#   ONLY_WINDOWS=1 scripts/package-check.sh  only the Windows parts (5, and the
#                                            .exe in 6), also stated
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/package-env.sh
root=$PWD

arch=$(go env GOARCH)
debarch=$(dpkg --print-architecture)
appid=im.ephemera.app
tarball=$DIST/ephemera-$VERSION-linux-$arch.tar.xz
deb=$DIST/ephemera_$VERSION-${BUILD}_$debarch.deb
exe=$DIST/ephemera-$VERSION-windows-amd64.exe
relaydir=$DIST/relay

scratch=$(mktemp -d /tmp/ephemera-package-check.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

passed=0
ok() {
	passed=$((passed + 1))
	echo "ok   $*"
}
section() { echo "--- $*"; }
need() { for t; do command -v "$t" >/dev/null || die "$t missing: run scripts/install-deps.sh package"; done; }
need file desktop-file-validate dpkg-deb lintian xz tar apt-get systemd-analyze openssl

[ -n "${SKIP_WINDOWS:-}" ] && [ -n "${ONLY_WINDOWS:-}" ] && die "SKIP_WINDOWS and ONLY_WINDOWS together check nothing"
if [ -z "${ONLY_WINDOWS:-}" ]; then
	for f in "$tarball" "$deb" "$relaydir/SHA256SUMS"; do
		[ -f "$f" ] || die "$f missing: run make package-linux relay-all first"
	done
fi
if [ -z "${SKIP_WINDOWS:-}" ]; then
	[ -f "$exe" ] || die "$exe missing: run make package-windows first"
fi

# The line every binary's --version prints, less the program's name.
want_rest="$VERSION $(go env GOVERSION) linux/$arch (commit $COMMIT)"

if [ -z "${ONLY_WINDOWS:-}" ]; then
section "1. version stamping"
go build "${GO_BUILDFLAGS[@]}" -ldflags "$GO_LDFLAGS" -o "$scratch/ephemera-cli" ./cmd/ephemera-cli
cli=$("$scratch/ephemera-cli" --version)
[ "$cli" = "ephemera-cli $want_rest" ] || die "ephemera-cli --version: got '$cli', want 'ephemera-cli $want_rest'"
relay=$("$relaydir/ephemera-relay-$VERSION-linux-$arch" --version)
[ "$relay" = "ephemera-relay $want_rest" ] || die "ephemera-relay --version: got '$relay', want 'ephemera-relay $want_rest'"
ok "ephemera-cli and ephemera-relay print '$want_rest'"

section "2. tarball $tarball"
tar -tvJf "$tarball" >"$scratch/tar.list"
cat "$scratch/tar.list"
# Owners root/root and every time at SOURCE_DATE_EPOCH.
want_time=$(TZ=UTC date -d "@$SOURCE_DATE_EPOCH" '+%Y-%m-%d %H:%M')
awk -v t="$want_time" '$2 != "0/0" || ($4 " " $5) != t { bad = 1; print "bad owner or time: " $0 } END { exit bad }' \
	<(TZ=UTC tar --numeric-owner -tvJf "$tarball") || die "tarball entries must be 0/0 at $want_time (SOURCE_DATE_EPOCH)"
ok "every entry owned by 0/0, dated $want_time UTC"
mkdir "$scratch/tar"
tar -C "$scratch/tar" -xJf "$tarball"
t=$scratch/tar/ephemera
prefix=usr/local
[ -d "$t/usr/local" ] || prefix=usr
for f in Makefile "$prefix/bin/ephemera" "$prefix/share/applications/$appid.desktop" "$prefix/share/pixmaps/$appid.png"; do
	[ -f "$t/$f" ] || die "tarball lacks ephemera/$f"
done
[ -x "$t/$prefix/bin/ephemera" ] || die "tarball's ephemera is not executable"
ok "tarball holds the binary, the .desktop entry, the icon and the Makefile"
file -b "$t/$prefix/bin/ephemera" | grep -q 'ELF 64-bit LSB pie executable' || die "tarball binary: $(file -b "$t/$prefix/bin/ephemera")"
file -b "$t/$prefix/share/pixmaps/$appid.png" | grep -q 'PNG image data, 512 x 512' || die "tarball icon: $(file -b "$t/$prefix/share/pixmaps/$appid.png")"
desktop-file-validate "$t/$prefix/share/applications/$appid.desktop" || die "desktop-file-validate failed on the tarball's entry"
ok "desktop-file-validate: $appid.desktop is valid; icon 512x512 PNG; binary is a PIE"
v=$("$t/$prefix/bin/ephemera" --version)
[ "$v" = "ephemera $want_rest" ] || die "tarball's ephemera --version: got '$v', want 'ephemera $want_rest'"
ok "tarball's binary --version: $v"
make -s -C "$t" install DESTDIR="$scratch/tarinstall" PREFIX=/opt/ephemera >/dev/null
for f in bin/ephemera "share/applications/$appid.desktop" "share/pixmaps/$appid.png"; do
	[ -f "$scratch/tarinstall/opt/ephemera/$f" ] || die "make install from the tarball did not install $f"
done
ok "make install DESTDIR=... PREFIX=/opt/ephemera from the tarball installs binary, entry and icon"

section "3. deb $deb"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb" | tee "$scratch/deb.list"
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = ephemera ] || die "Package: $(field Package)"
[ "$(field Version)" = "$VERSION-$BUILD" ] || die "Version: $(field Version), want $VERSION-$BUILD"
[ "$(field Architecture)" = "$debarch" ] || die "Architecture: $(field Architecture)"
depends=$(field Depends)
for lib in libc6 libgl1 libx11-6; do
	[[ $depends == *"$lib"* ]] || die "Depends ($depends) lacks $lib: dpkg-shlibdeps did not run?"
done
ok "control: ephemera $VERSION-$BUILD $debarch, Depends: $depends"
awk '$2 != "root/root" { bad = 1; print "not root/root: " $0 } END { exit bad }' "$scratch/deb.list" || die "deb files must belong to root"
mkdir "$scratch/deb"
dpkg-deb -x "$deb" "$scratch/deb"
d=$scratch/deb
for f in usr/bin/ephemera "usr/share/applications/$appid.desktop" usr/share/man/man1/ephemera.1.gz \
	usr/share/doc/ephemera/copyright usr/share/doc/ephemera/changelog.Debian.gz; do
	[ -f "$d/$f" ] || die "deb lacks /$f"
done
n=0
for size in 16 24 32 48 64 128 256 512; do
	icon=$d/usr/share/icons/hicolor/${size}x$size/apps/$appid.png
	[ -f "$icon" ] || die "deb lacks the ${size}x$size icon"
	file -b "$icon" | grep -q "PNG image data, $size x $size" || die "${size}x$size icon: $(file -b "$icon")"
	n=$((n + 1))
done
ok "deb holds /usr/bin/ephemera, the .desktop entry, $n hicolor icons of the right sizes, man page, copyright, changelog"
desktop-file-validate "$d/usr/share/applications/$appid.desktop" || die "desktop-file-validate failed on the deb's entry"
grep -qx "Icon=$appid" "$d/usr/share/applications/$appid.desktop" || die ".desktop Icon= is not $appid"
grep -qx "Exec=ephemera" "$d/usr/share/applications/$appid.desktop" || die ".desktop Exec= is not ephemera"
ok "desktop-file-validate: the deb's entry is valid, Exec=ephemera, Icon=$appid"
lintian --fail-on error,warning "$deb" || die "lintian"
ok "lintian: no errors or warnings (overrides explained in packaging/deb/lintian-overrides)"
apt-get install --simulate "./$deb" >"$scratch/apt.out" 2>&1 || {
	cat "$scratch/apt.out"
	die "apt-get install --simulate ./$deb"
}
grep -q '^Inst ephemera ' "$scratch/apt.out" || grep -q 'ephemera is already the newest version' "$scratch/apt.out" || {
	cat "$scratch/apt.out"
	die "apt-get would not install ephemera"
}
ok "apt-get install --simulate ./$deb resolves its dependencies"
# A throwaway root with an empty dpkg database: dpkg installs the files and
# records them there. The libraries come from this machine, so --force-depends
# (the root has none of them installed) and the binary then runs as installed.
r=$scratch/root
mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers"
: >"$r/var/lib/dpkg/status"
: >"$r/var/lib/dpkg/available"
dpkg --root="$r" --force-depends --force-not-root --log=/dev/null -i "$deb" >"$scratch/dpkg.out" 2>&1 || {
	cat "$scratch/dpkg.out"
	die "dpkg --root -i"
}
dpkg --root="$r" -s ephemera | grep -qx 'Status: install ok installed' || die "dpkg --root: ephemera not installed"
dpkg --root="$r" -L ephemera | grep -qx /usr/bin/ephemera || die "dpkg --root -L lacks /usr/bin/ephemera"
v=$("$r/usr/bin/ephemera" --version)
[ "$v" = "ephemera $want_rest" ] || die "installed ephemera --version: got '$v', want 'ephemera $want_rest'"
ok "dpkg --root installs it; the installed binary prints '$v'"
ok "the app, ephemera-cli and ephemera-relay agree: version $VERSION, commit $COMMIT"

section "4. relay $relaydir"
(cd "$relaydir" && sha256sum --check --strict SHA256SUMS) || die "relay SHA256SUMS do not match"
for t in linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64; do
	goos=${t%/*} goarch=${t#*/}
	f=$relaydir/ephemera-relay-$VERSION-$goos-$goarch
	[ "$goos" = windows ] && f=$f.exe
	[ -f "$f" ] || die "missing $f"
	desc=$(file -b "$f")
	case $t in
	linux/amd64) want='ELF 64-bit LSB executable, x86-64.*statically linked' ;;
	linux/arm64) want='ELF 64-bit LSB executable, ARM aarch64.*statically linked' ;;
	windows/amd64) want='PE32\+ executable \(console\) x86-64' ;;
	windows/arm64) want='PE32\+ executable \(console\) Aarch64' ;;
	darwin/amd64) want='Mach-O 64-bit x86_64 executable' ;;
	darwin/arm64) want='Mach-O 64-bit arm64 executable' ;;
	esac
	[[ $desc =~ $want ]] || die "$f: file says '$desc', want /$want/"
done
ok "six static relay binaries (linux, windows, darwin × amd64, arm64) match SHA256SUMS and file(1)"
# The unit, with ExecStart pointing at the real binary for the check.
sed "s|/usr/local/bin/ephemera-relay|$root/$relaydir/ephemera-relay-$VERSION-linux-$arch|" \
	packaging/ephemera-relay.service >"$scratch/ephemera-relay.service"
systemd-analyze verify "$scratch/ephemera-relay.service" 2>&1 | tee "$scratch/verify.out"
grep -v -e '^$' "$scratch/verify.out" | grep -q . && die "systemd-analyze verify complained about the unit"
for opt in DynamicUser=yes ProtectSystem=strict StateDirectory=ephemera-relay NoNewPrivileges=yes ProtectHome=yes \
	PrivateTmp=yes PrivateDevices=yes CapabilityBoundingSet= RestrictAddressFamilies= SystemCallFilter=@system-service; do
	grep -q "^$opt" packaging/ephemera-relay.service || die "unit lacks $opt"
done
# systemd's own rating of the sandbox: 0 (locked down) to 10 (exposed).
systemd-analyze security --offline=yes --threshold=20 "$scratch/ephemera-relay.service" >"$scratch/security.out" 2>&1 || {
	cat "$scratch/security.out"
	die "systemd-analyze security rates the unit above 2.0"
}
ok "systemd-analyze verify: unit is clean; hardening options present; $(grep -o 'exposure level.*' "$scratch/security.out")"
# Every variable in the sample is one the relay's -h lists.
"$relaydir/ephemera-relay-$VERSION-linux-$arch" -h 2>"$scratch/relay-help" || true
vars=$(grep -o 'EPHEMERA_RELAY_[A-Z][A-Z_]*' packaging/ephemera-relay.env | sort -u)
for v in $vars; do
	grep -q "\$$v\]" "$scratch/relay-help" || die "packaging/ephemera-relay.env names $v, which ephemera-relay -h does not list"
done
# And the relay starts with the sample's active settings (on a free port).
(
	set -a
	# shellcheck disable=SC1091
	. packaging/ephemera-relay.env
	set +a
	exec "$relaydir/ephemera-relay-$VERSION-linux-$arch" --listen 127.0.0.1:0 --data "$scratch/relaydata"
) 2>"$scratch/relay.log" &
rpid=$!
for _ in $(seq 50); do
	grep -q 'listening' "$scratch/relay.log" && break
	sleep 0.2
done
kill "$rpid" 2>/dev/null || true
wait "$rpid" 2>/dev/null || true
grep -q 'listening url=ws://127.0.0.1:' "$scratch/relay.log" || {
	cat "$scratch/relay.log"
	die "the relay did not start with packaging/ephemera-relay.env"
}
ok "ephemera-relay.env: $(echo "$vars" | wc -l) variables, all known; the relay starts with it"

fi # ONLY_WINDOWS

if [ -z "${SKIP_WINDOWS:-}" ]; then
	section "5. Windows $exe"
	desc=$(file -b "$exe")
	echo "$desc"
	[[ $desc =~ ^PE32\+\ executable\ \(GUI\)\ x86-64.*for\ MS\ Windows ]] || die "file says '$desc', want PE32+ GUI x86-64"
	ok "file: PE32+ executable (GUI) x86-64"
	IFS=. read -r major minor patch _ <<<"${VERSION%%[-+]*}.0.0"
	go run ./scripts/pecheck -version "${major:-0}.${minor:-0}.${patch:-0}.$BUILD" \
		-product-version "$VERSION ($COMMIT)" -icons 16,24,32,48,64,128,256 "$exe" || die "pecheck"
	ok "pecheck: GUI subsystem, icon at 7 sizes, version ${major:-0}.${minor:-0}.${patch:-0}.$BUILD, manifest"
	# Authenticode signing as package-windows.sh does it, with a throw-away
	# self-signed certificate; the signed copy verifies against it.
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=Ephemera-test \
		-keyout "$scratch/key.pem" -out "$scratch/cert.pem" 2>/dev/null
	openssl pkcs12 -export -passout pass:test -inkey "$scratch/key.pem" -in "$scratch/cert.pem" \
		-out "$scratch/test.pfx"
	osslsigncode sign -pkcs12 "$scratch/test.pfx" -pass test -h sha256 -n Ephemera \
		-in "$exe" -out "$scratch/signed.exe" >/dev/null
	osslsigncode verify -CAfile "$scratch/cert.pem" -ignore-timestamp -in "$scratch/signed.exe" >"$scratch/verify.out" 2>&1 || {
		cat "$scratch/verify.out"
		die "osslsigncode verify"
	}
	ok "osslsigncode signs it and the signature verifies"
	# It runs: under Wine and Xvfb, --version, a window on a fresh profile
	# that is not blank, and a clean exit on Alt+F4 (wine_test.go).
	want_win="ephemera $VERSION $(go env GOVERSION) windows/amd64 (commit $COMMIT)"
	EPHEMERA_WINE_EXE=$exe EPHEMERA_WINE_WANT_VERSION=$want_win \
		EPHEMERA_WINE_SCREENSHOT=$DIST/windows-amd64/wine-window.png \
		go test -count=1 -v -timeout 20m -run '^TestWindowsUnderWine$' . >"$scratch/wine.out" 2>&1 || {
		cat "$scratch/wine.out"
		die "the Windows app under Wine (TestWindowsUnderWine)"
	}
	grep -q -- '--- PASS: TestWindowsUnderWine' "$scratch/wine.out" || {
		cat "$scratch/wine.out"
		die "TestWindowsUnderWine did not pass (skipped?)"
	}
	ok "under Wine: $(grep -o -- '--version: .*' "$scratch/wine.out" | head -1); $(grep -o 'window 0x[0-9a-f]* is .*' "$scratch/wine.out" | head -1); exits 0 on Alt+F4"
fi

section "6. reproducibility"
# Two snapshots of the work tree (tracked and untracked files, not ignored
# ones; a tracked file deleted in the work tree is left out) at different
# paths, without .git: VERSION and COMMIT come from here.
git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do if [ -f "$f" ]; then printf '%s\0' "$f"; fi; done >"$scratch/files"
for c in a b; do
	mkdir -p "$scratch/src-$c/tree-$c"
	xargs -0 cp --parents -t "$scratch/src-$c/tree-$c" <"$scratch/files"
	rm -rf "$scratch/src-$c/tree-$c/bin" && mkdir -p "$scratch/src-$c/tree-$c/bin/tools"
	cp bin/tools/fyne bin/tools/goversioninfo "$scratch/src-$c/tree-$c/bin/tools/"
done
a=$scratch/src-a/tree-a b=$scratch/src-b/tree-b
build() { # build TREE CMD...: run a build in a snapshot with this build's stamps
	local tree=$1
	shift
	(cd "$tree" && VERSION=$VERSION BUILD=$BUILD COMMIT=$COMMIT SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH DIST=out "$@")
}
same() { # same A B: byte-identical, or fail showing both hashes
	cmp -s "$1" "$2" || die "not reproducible: $(sha256sum "$1" "$2" | tr '\n' ' ')"
	ok "identical: ${1#"$a/"} ($(sha256sum <"$1" | cut -c1-16))"
}
if [ -z "${ONLY_WINDOWS:-}" ]; then
build "$a" scripts/package-relay.sh >/dev/null 2>&1 || die "relay build in snapshot a"
build "$b" scripts/package-relay.sh >/dev/null 2>&1 || die "relay build in snapshot b"
for f in "$a"/out/relay/ephemera-relay-*; do same "$f" "$b/out/relay/${f##*/}"; done
# And from an empty build cache: nothing in the cache may leak into the output.
GOCACHE=$scratch/gocache build "$b" scripts/package-relay.sh linux/amd64 >/dev/null 2>&1 || die "cold relay build"
same "$a/out/relay/ephemera-relay-$VERSION-linux-$arch" "$b/out/relay/ephemera-relay-$VERSION-linux-$arch"
echo "    (relay rebuilt from an empty GOCACHE)"
build "$a" scripts/package-linux.sh >"$scratch/linux-a.log" 2>&1 || { cat "$scratch/linux-a.log"; die "package-linux in snapshot a"; }
build "$b" scripts/package-linux.sh >"$scratch/linux-b.log" 2>&1 || { cat "$scratch/linux-b.log"; die "package-linux in snapshot b"; }
same "$a/out/linux-$arch/ephemera" "$b/out/linux-$arch/ephemera"
same "$a/out/${tarball##*/}" "$b/out/${tarball##*/}"
same "$a/out/${deb##*/}" "$b/out/${deb##*/}"
fi # ONLY_WINDOWS
if [ -z "${SKIP_WINDOWS:-}" ]; then
	build "$a" scripts/package-windows.sh --exe out/ephemera.exe >/dev/null 2>&1 || die "Windows build in snapshot a"
	build "$b" scripts/package-windows.sh --exe out/ephemera.exe >/dev/null 2>&1 || die "Windows build in snapshot b"
	same "$a/out/ephemera.exe" "$b/out/ephemera.exe"
fi

echo
if [ -n "${SKIP_WINDOWS:-}" ]; then
	echo "package-check: $passed passed, 0 failed (SKIP_WINDOWS set: the Windows checks did not run)"
elif [ -n "${ONLY_WINDOWS:-}" ]; then
	echo "package-check: $passed passed, 0 failed (ONLY_WINDOWS set: only the Windows checks ran)"
else
	echo "package-check: $passed passed, 0 failed"
fi
