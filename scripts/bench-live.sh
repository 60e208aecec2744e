#!/usr/bin/env bash
# Live relay load benchmark: many concurrent SSE, WebSocket and Socket.IO connections while scan
# events are appended at a steady rate through the real pipeline (event store ->
# projection -> user_feed -> hub -> transport). Prints append-to-client latency,
# delivered/expected, server CPU per delivered message and server memory per connection
# (`scanledger loadgen`).
#
# Usage: scripts/bench-live.sh [conns] [rate] [duration]   (default 10000 1000 30s)
# Environment: LOADGEN_FLAGS adds flags to the main run (see `scanledger loadgen -h`).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=$(scripts/ensure-go.sh)
conns=${1:-10000}
rate=${2:-1000}
duration=${3:-30s}

# Every connection is a file descriptor in the server and another in the clients.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((conns + 1000)) ]; then
  echo "bench-live: the open-file limit is $(ulimit -n), too low for $conns connections;" \
    "raise the hard limit (ulimit -Hn) or pass fewer connections" >&2
  exit 1
fi

bin=$(mktemp -d)/scanledger
trap 'rm -rf "$(dirname "$bin")"' EXIT
"$GO" build -o "$bin" ./cmd/scanledger

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), open-file limit $(ulimit -n)"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== memory per connection by transport (2000 connections each, light load)"
for mix in "SSE -ws 0" "WebSocket -ws 1" "Socket.IO -ws 0 -sio 1"; do
  set -- $mix
  echo "-- $1"
  shift
  "$bin" loadgen -conns 2000 "$@" -rate 100 -duration 5s -drain 10s | grep -E 'delivered|memory per connection'
done
echo "== warm-up: 1000 connections, $rate msg/s for 10s"
"$bin" loadgen -conns 1000 -rate "$rate" -duration 10s | grep -E 'delivered|latency'
echo "== $conns connections (half SSE, half WebSocket), $rate msg/s for $duration"
# shellcheck disable=SC2086 # LOADGEN_FLAGS is a list of flags
"$bin" loadgen -conns "$conns" -rate "$rate" -duration "$duration" ${LOADGEN_FLAGS:-}
echo "== $conns connections, 40% WebSocket, 20% Socket.IO, 40% SSE, $rate msg/s for $duration"
"$bin" loadgen -conns "$conns" -ws 0.4 -sio 0.2 -rate "$rate" -duration "$duration"
# With 100 users at this rate every scan runs its whole length (Created, upload,
# processing, 20 progress reports, Completed): the command path on long streams.
echo "== long scans: 2000 connections of 100 users, the same mix, $rate msg/s for $duration"
"$bin" loadgen -conns 2000 -users 100 -ws 0.4 -sio 0.2 -rate "$rate" -duration "$duration"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
