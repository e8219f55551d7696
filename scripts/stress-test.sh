#!/usr/bin/env bash
# stress-test.sh [make args] — runs `make test` beside two busy loops per
# core, as on a shared CI machine running other builds (load average well
# above the number of cores). Every test must pass here too: deadlines
# sized to the work, waits on events rather than sleeps, counters read
# after what they count. The loops end with the script, however it ends.
#
#   scripts/stress-test.sh                 make test under load
#   STRESS_LOOPS=8 scripts/stress-test.sh  another number of busy loops
#   scripts/stress-test.sh test-race       any other make target
set -euo pipefail
cd "$(dirname "$0")/.."

loops=${STRESS_LOOPS:-$(($(nproc) * 2))}
pids=()
stop() {
	((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null
	wait 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq "$loops"); do
	(while :; do :; done) &
	pids+=($!)
done

targets=("$@")
((${#targets[@]})) || targets=(test)
echo "stress-test: $loops busy loops on $(nproc) cores; make ${targets[*]}"
start=$(date +%s)
status=0
make "${targets[@]}" || status=$?
echo "stress-test: make ${targets[*]} $([ $status = 0 ] && echo passed || echo FAILED) beside $loops busy loops in $(($(date +%s) - start)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
exit $status
