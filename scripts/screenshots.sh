#!/usr/bin/env bash
# Screenshots of the app's main screens, taken under Xvfb, into
# docs/screenshots/ (or the folder given): onboarding, unlock, a
# conversation, the invite dialog. The work is TestScreenshots in
# main_test.go, which runs the real binary on prepared profiles.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/screenshots}")
mkdir -p "$out"
EPHEMERA_SCREENSHOTS="$out" go test -count=1 -v -timeout 10m -run '^TestScreenshots$' .
ls -l "$out"
