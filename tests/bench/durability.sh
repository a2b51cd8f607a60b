#!/bin/bash
# Durability figures (the durability issue), printed, not asserted:
#   1. a backlog of N persistent messages of SIZE bytes published with
#      confirms into a durable queue (default 4,000,000 x 1 KiB = 4 GiB):
#      the publish rate and the broker's resident memory once it is in;
#   2. kill -9, restart: how long recovery takes until it accepts connections;
#   3. drain it all: the drain rate, resident memory, and the data folder's
#      size afterwards.
#   tests/bench/durability.sh [WARREN_BINARY]    (AMQP_PERF=path/to/amqp-perf; N, SIZE)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
WARREN=${1:-$here/../../_build/release/server/warren}
PERF=${AMQP_PERF:-$here/../../../shared/bench/amqp-perf}
N=${N:-4000000}
SIZE=${SIZE:-1024}
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA=$(mktemp -d)
start() {
	"$WARREN" --port "$PORT" --mgmt-port 0 --prometheus-port 0 --data-dir "$DATA" \
		--log-level info >"$DATA.log" 2>&1 &
	PID=$!
	for _ in $(seq 600); do grep -q "accepting AMQP" "$DATA.log" && return; sleep 0.1; done
	echo "warren did not start"; exit 1
}
rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$PID/status"; }
trap 'kill -9 $PID 2>/dev/null; rm -rf "$DATA" "$DATA.log"' EXIT
start
"$PERF" -P "$PORT" --producer-only --persistent --confirm 500 --pmessages "$N" --size "$SIZE" \
	--queue dur-bench --keep --idle-timeout 30 >"$DATA.perf" 2>&1 || { tail -5 "$DATA.perf"; }
echo "publish: $(awk '/^sent/ {print $5}' "$DATA.perf") msg/s confirmed; backlog $N x $SIZE B;" \
	"resident memory $(rss) MiB; data folder $(du -sm "$DATA" | cut -f1) MiB"
kill -9 $PID; wait $PID 2>/dev/null || true
t0=$(date +%s.%N)
start
t1=$(date +%s.%N)
echo "recovery after kill -9: $(echo "$t1 - $t0" | bc) s to accepting connections" \
	"($(grep -o 'started in [0-9.]* ms' "$DATA.log")); resident memory $(rss) MiB"
"$PERF" -P "$PORT" --consumer-only --persistent --prefetch 1000 --multi-ack 100 --cmessages "$N" --queue dur-bench \
	--keep --time 3600 --idle-timeout 30 >"$DATA.perf" 2>&1 || { tail -5 "$DATA.perf"; }
echo "drain: $(awk '/^received/ {print $5}' "$DATA.perf") msg/s; resident memory $(rss) MiB;" \
	"data folder afterwards $(du -sm "$DATA" | cut -f1) MiB"
rm -f "$DATA.perf"
