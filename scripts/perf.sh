#!/usr/bin/env bash
# perf.sh [RELAY_BINARY] — reproduces the relay figures of docs/PERFORMANCE.md.
#
# Each scenario starts the relay on 127.0.0.1:0 with a fresh temporary data
# directory (fsync on, as in production), runs `ephemera-relay loadtest`
# against it, stops the relay, and prints the load tool's one JSON line on
# stdout. Progress goes to stderr. Without RELAY_BINARY the release binary
# is built first (go build -trimpath, CGO_ENABLED=0).
#
# Scenarios (SCENARIOS, default "throughput latency idle"):
#   throughput  CLIENTS clients (1000) with 1 KiB envelopes, each sending as
#               fast as the relay answers, for DURATION (25s): messages/s end
#               to end and the latency that comes with it.
#   latency     the same clients paced to RATE messages/s in all (2000):
#               delivery latency below saturation.
#   idle        IDLE (10000) idle authenticated connections: relay memory
#               per connection.
#   hoard       the attack of subscribers that never read (issue 16): HOARD
#               (1000) connections that authenticate and read nothing, first
#               all on one mailbox holding 64 envelopes of 256 KiB, then
#               spread over HOARD/8 mailboxes of 16 such envelopes each; a
#               canary client on its own mailbox meanwhile. The relay's peak
#               RSS comes from /proc/PID/status (VmHWM).
#
# Traffic stays on the loopback interface; every step is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-1000}
SIZE=${SIZE:-1024}
DURATION=${DURATION:-25s}
RATE=${RATE:-2000}
IDLE=${IDLE:-10000}
HOARD=${HOARD:-1000}
SCENARIOS=${SCENARIOS:-throughput latency idle hoard}

work=$(mktemp -d)
relay_pid=
stop_relay() {
	[ -n "$relay_pid" ] || return 0
	kill -TERM "$relay_pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$relay_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$relay_pid" 2>/dev/null || true
	wait "$relay_pid" 2>/dev/null || true
	relay_pid=
}
cleanup() {
	stop_relay
	rm -rf "$work"
}
trap cleanup EXIT

relay=${1:-}
if [ -z "$relay" ]; then
	relay=$work/ephemera-relay
	echo "perf: building $relay" >&2
	CGO_ENABLED=0 go build -trimpath -o "$relay" ./cmd/ephemera-relay
fi
[ -x "$relay" ] || { echo "perf: $relay is not an executable (make relay)" >&2; exit 1; }

# Both ends of every connection are on this machine: the load tool needs a
# descriptor per connection, and so does the relay, which inherits this.
want=$((IDLE + CLIENTS + HOARD + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
	ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

echo "perf: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)), $(go version 2>/dev/null || echo 'go not on PATH'), ulimit -n $(ulimit -n)" >&2

url=
start_relay() {
	local data=$work/data-$1
	mkdir -p "$data"
	"$relay" --listen 127.0.0.1:0 --data "$data" 2>"$work/relay-$1.log" &
	relay_pid=$!
	url=
	# The relay logs `listening url=ws://127.0.0.1:PORT/v1/ws` once it listens.
	for _ in $(seq 200); do
		url=$(sed -n 's/.*listening url=\([^ ]*\).*/\1/p' "$work/relay-$1.log" | head -n1)
		[ -n "$url" ] && return 0
		kill -0 "$relay_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "perf: relay did not start within 20s:" >&2
	cat "$work/relay-$1.log" >&2
	exit 1
}

scenario() {
	local name=$1
	shift
	start_relay "$name"
	# RELAY_PID in the arguments is the running relay's process id.
	local args=()
	for a in "$@"; do args+=("${a//RELAY_PID/$relay_pid}"); done
	echo "perf: $name: $relay loadtest --url $url ${args[*]}" >&2
	local rc=0
	timeout 20m "$relay" loadtest --url "$url" --label "$name" "${args[@]}" || rc=$?
	stop_relay
	[ "$rc" -eq 0 ] || echo "perf: $name: load tool exited $rc" >&2
	return 0
}

for s in $SCENARIOS; do
	case $s in
	throughput)
		scenario "throughput-${CLIENTS}x${SIZE}B" --clients "$CLIENTS" --size "$SIZE" \
			--messages 2000 --duration "$DURATION" --timeout 5m
		;;
	latency)
		scenario "latency-${CLIENTS}x${SIZE}B-at-${RATE}-per-s" --clients "$CLIENTS" --size "$SIZE" \
			--messages 2000 --rate "$RATE" --duration "$DURATION" --timeout 5m
		;;
	idle)
		scenario "idle-${IDLE}" --idle "$IDLE" --timeout 5m
		;;
	hoard)
		scenario "hoard-${HOARD}-on-1-mailbox-64x256KiB" --hoard "$HOARD" --mailboxes 1 --envelopes 64 \
			--relay-pid RELAY_PID --timeout 10m
		scenario "hoard-${HOARD}-on-$((HOARD / 8))-mailboxes-16x256KiB" --hoard "$HOARD" --mailboxes $((HOARD / 8)) \
			--envelopes 16 --relay-pid RELAY_PID --timeout 10m
		;;
	*)
		echo "perf: unknown scenario $s" >&2
		exit 2
		;;
	esac
done
