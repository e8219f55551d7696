# Ephemera — build, run and test. `make help` lists the targets.

GO        ?= go
RELAY     ?=
TOOLS     := $(CURDIR)/bin/tools
FUZZTIME  ?= 10s
BENCHTIME ?= 1s

# Packages tested with the race detector: everything but the GUI and the
# root package (the app binary), whose cgo/OpenGL code is slow under -race.
MODULE     := $(shell $(GO) list -m)
RACE_PKGS   = $(shell $(GO) list ./... | grep -v -e '^$(MODULE)$$' -e '^$(MODULE)/gui')

.PHONY: help run build relay test deps-run deps-test fmt-check vet platform-check staticcheck \
	test-race test-gui test-smoke screenshots demo perf perf-gui fuzz clean \
	deps-package relay-all package package-linux package-windows package-check

help:
	@echo "make run          build and start the app (RELAY=wss://... to use a relay; default: embedded local relay)"
	@echo "make demo         two profiles that know each other, in two windows, on a local relay"
	@echo "make test         everything CI runs: gofmt, vet, type-check for windows and darwin, staticcheck, race tests, GUI tests, Xvfb smoke test"
	@echo "make relay        static relay daemon in bin/ephemera-relay"
	@echo "make relay-all    release relays for linux, windows, darwin x amd64, arm64 in dist/relay/"
	@echo "make package-linux    dist/ephemera-VERSION-linux-ARCH.tar.xz (fyne package) and a lintian-clean .deb"
	@echo "make package-windows  dist/ephemera-VERSION-windows-amd64.exe, cross-built (cgo, MinGW); signed if WINDOWS_SIGN_PFX is set"
	@echo "make package-check    build all packages, check their contents, installs and reproducibility (slow: ~15 min cold)"
	@echo "make screenshots  PNGs of the main screens in docs/screenshots/ (Xvfb)"
	@echo "make perf         benchmarks and relay load scenarios"
	@echo "make perf-gui     the app's first frame and memory against a minimal Fyne window (Xvfb)"
	@echo "make fuzz         each fuzz target for FUZZTIME (default $(FUZZTIME))"
	@echo "make clean        remove build outputs"

## Running

run: deps-run build
	bin/ephemera $(if $(RELAY),--relay '$(RELAY)')

demo: deps-run build
	bin/ephemera --demo

build:
	$(GO) build -o bin/ephemera .

relay:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ephemera-relay ./cmd/ephemera-relay

deps-run:
	scripts/install-deps.sh run

deps-test:
	scripts/install-deps.sh test

deps-package:
	scripts/install-deps.sh package

## Testing

test: deps-test fmt-check vet platform-check staticcheck test-race test-gui test-smoke

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The app and every package, tests included, type-check for Windows and
# macOS too (internal/cmd/platformcheck: from source, cgo off, no cross
# compiler). The real Windows cross-build and its run under Wine are in
# package-check.
platform-check:
	$(GO) run ./internal/cmd/platformcheck -targets windows/amd64,darwin/arm64

staticcheck:
	$(TOOLS)/staticcheck ./...

test-race:
	$(GO) test -race -timeout 20m $(RACE_PKGS)

# Headless (Fyne's test driver) and without cgo: gui/ must not need the
# real driver, which only main.go links.
test-gui:
	CGO_ENABLED=0 $(GO) test -timeout 10m ./gui/...

# The real app in a real X window (Xvfb); fails if Xvfb or the tools are missing.
test-smoke:
	EPHEMERA_SMOKE=1 $(GO) test -count=1 -v -timeout 5m -run '^TestSmoke' .

screenshots: deps-test
	scripts/screenshots.sh docs/screenshots

## Packages (docs/PACKAGING.md). Version from FyneApp.toml, commit from git;
## reproducible: -trimpath, no VCS stamps, archive times at SOURCE_DATE_EPOCH.

# One stamp for all packages of one make run, even if a commit lands
# meanwhile (scripts/package-env.sh computes the same when run alone).
PKG_COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(if $(shell git status --porcelain --untracked-files=no 2>/dev/null),-dirty)
PKG_EPOCH  := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
relay-all package-linux package-windows package-check: export COMMIT ?= $(PKG_COMMIT)
relay-all package-linux package-windows package-check: export SOURCE_DATE_EPOCH ?= $(PKG_EPOCH)

relay-all:
	scripts/package-relay.sh

package-linux: deps-package
	scripts/package-linux.sh

# The Windows cross-build takes about ten minutes cold: not part of `make test`.
package-windows: deps-package
	scripts/package-windows.sh

package: package-linux package-windows relay-all

package-check: deps-package package-linux package-windows relay-all
	scripts/package-check.sh

## Performance and robustness

# Everything measured in docs/PERFORMANCE.md. The messenger's file
# benchmark moves 1 GiB here (64 MiB in a plain go test -bench).
perf: relay
	scripts/install-deps.sh perf
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./net/...
	$(GO) test -run='^$$' -bench=. -benchtime=$(BENCHTIME) ./core/session ./core/links ./storage/...
	$(GO) test -run='^$$' -bench='SanitizeJPEG12MP|Container' -benchtime=10x ./core/media
	$(GO) test -run='^$$' -bench='SanitizeProcess12MP' -benchtime=10x ./cmd/ephemera-cli
	$(GO) test -run='^$$' -bench='TextThroughput' -benchtime=5000x ./core/messenger
	EPHEMERA_BENCH_FILE_MIB=1024 $(GO) test -run='^$$' -bench='FileTransfer' -benchtime=1x -timeout 30m ./core/messenger
	scripts/perf.sh bin/ephemera-relay
	scripts/perf-nats.sh
	$(MAKE) perf-gui

# The app against a minimal Fyne window, under Xvfb (docs/PERFORMANCE.md).
perf-gui: deps-test
	scripts/perf-gui.sh
	EPHEMERA_BENCH_GUI_MSGS=100000 $(GO) test -run='^$$' -bench='OpenConversation' -benchtime=20x -timeout 30m ./gui

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin/ephemera bin/ephemera-relay dist/
	$(GO) clean -testcache
