#!/usr/bin/env bash
# perf-nats.sh — the relay on NATS JetStream against the relay on bbolt, in
# one run with the same load (docs/PERFORMANCE.md, "Relay on NATS
# JetStream (issue 10)").
#
# Scenarios, each on fresh storage, each printing the load tool's JSON
# line on stdout (progress on stderr):
#   bbolt-1  one relay node, --store bbolt (fsync per commit)
#   nats-1   one relay node, --store nats, one JetStream server
#   nats-2   two relay nodes on the same JetStream server; the clients are
#            spread over both, so most envelopes cross nodes (wake-ups)
#   nats-1-interval, nats-2-interval
#            the same with nats-server's default fsync (every two minutes;
#            a replicated cluster relies on its replicas instead)
# The load is the same for all: CLIENTS (200) clients with SIZE (1024)
# byte envelopes, each sending as fast as the relay answers for DURATION
# (20s), every client to all the others in turn.
#
# The JetStream server is nats-server embedded in a small helper
# (net/store/natsstore/internal/natsperf); in nats-1 and nats-2 it fsyncs
# every write (sync_interval: always), as bbolt fsyncs every commit.
# Everything runs on loopback and is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-200}
SIZE=${SIZE:-1024}
DURATION=${DURATION:-20s}
MESSAGES=${MESSAGES:-100000}
SCENARIOS=${SCENARIOS:-bbolt-1 nats-1 nats-2 nats-1-interval nats-2-interval}

work=$(mktemp -d)
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

echo "perf-nats: building" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/ephemera-relay" ./cmd/ephemera-relay
CGO_ENABLED=0 go build -trimpath -o "$work/natsperf" ./net/store/natsstore/internal/natsperf
want=$((2 * CLIENTS + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
	ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
echo "perf-nats: $(nproc) CPUs, $(go version), load avg $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# wait_for FILE SED-EXPR: set found to the first match of SED-EXPR in
# FILE, waiting up to 30s.
found=
wait_for() {
	for _ in $(seq 300); do
		found=$(sed -n "$2" "$1" 2>/dev/null | head -n1) || true
		[ -n "$found" ] && return 0
		sleep 0.1
	done
	echo "perf-nats: nothing in $1 after 30s:" >&2
	cat "$1" >&2
	exit 1
}

# start_nats NAME SYNC: start a JetStream server (SYNC: always or
# interval); its URL in found.
start_nats() {
	mkdir -p "$work/js-$1"
	local flags=(--dir "$work/js-$1")
	if [ "$2" = always ]; then flags+=(--sync-always); fi
	"$work/natsperf" server "${flags[@]}" >"$work/nats-$1.out" 2>&1 &
	pids+=($!)
	wait_for "$work/nats-$1.out" 's/^listening \(nats:.*\)/\1/p'
}

# start_relay NAME ARGS...: start a relay node; its WebSocket URL in found.
start_relay() {
	local name=$1
	shift
	"$work/ephemera-relay" --listen 127.0.0.1:0 "$@" 2>"$work/relay-$name.log" &
	pids+=($!)
	wait_for "$work/relay-$name.log" 's/.*listening url=\([^ ]*\).*/\1/p'
}

metrics_of() { echo "$1" | sed 's|^ws://|http://|; s|/v1/ws$|/metrics|'; }

run_load() {
	local label=$1 urls=$2 first=${2%%,*}
	echo "perf-nats: $label: load on $urls" >&2
	local rc=0
	timeout 10m "$work/natsperf" load --urls "$urls" --metrics-url "$(metrics_of "$first")" --label "$label" \
		--clients "$CLIENTS" --size "$SIZE" --messages "$MESSAGES" --duration "$DURATION" --timeout 5m || rc=$?
	[ "$rc" -eq 0 ] || echo "perf-nats: $label: load exited $rc" >&2
	stop_all
}

for s in $SCENARIOS; do
	case $s in
	bbolt-1)
		start_relay bbolt --data "$work/bbolt"
		run_load "bbolt-1node-${CLIENTS}x${SIZE}B" "$found"
		;;
	nats-1 | nats-1-interval)
		sync=always
		[ "$s" = nats-1 ] || sync=interval
		start_nats "$s" "$sync"
		start_relay "$s" --store nats --nats-url "$found"
		run_load "nats-1node-sync-$sync-${CLIENTS}x${SIZE}B" "$found"
		;;
	nats-2 | nats-2-interval)
		sync=always
		[ "$s" = nats-2 ] || sync=interval
		start_nats "$s" "$sync"
		n=$found
		start_relay "$s-a" --store nats --nats-url "$n"
		u1=$found
		start_relay "$s-b" --store nats --nats-url "$n"
		run_load "nats-2nodes-sync-$sync-${CLIENTS}x${SIZE}B" "$u1,$found"
		;;
	*)
		echo "perf-nats: unknown scenario $s" >&2
		exit 2
		;;
	esac
done
