#!/usr/bin/env bash
# The desktop app's performance figures (docs/PERFORMANCE.md, "The desktop
# app"): start to first frame and resident memory, against a minimal Fyne
# window built the same way, under Xvfb. The work is TestPerfGUI in
# main_test.go. Environment: EPHEMERA_PERF_GUI_RUNS (first-frame runs of
# each, default 11), EPHEMERA_PERF_GUI_MESSAGES (messages in each of the
# 10 conversations, default 10000).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "load: $(uptime)"
EPHEMERA_PERF_GUI=1 go test -count=1 -v -timeout 60m -run '^TestPerfGUI$' .
echo "load: $(uptime)"
