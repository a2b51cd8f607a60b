#!/bin/bash
# The performance issue's table in one run, warren beside RabbitMQ:
# S1..S6 through ../shared/bench/compare.sh (A = RabbitMQ, B = warren,
# medians of -r rounds, broker CPU and RSS from their PIDs), idle resident
# memory of both, start-up time, and warren's memory per idle connection
# and per idle queue (tests/bench/idle_mem.py; RabbitMQ's too with
# RABBIT_SCALE=1, which needs its open-files limit above 10,000).
# Loopback only; every step is bounded by compare.sh's own limits.
#
#   tests/bench/perf-table.sh WARREN_BINARY [RABBIT_HOST:PORT [RABBIT_PID]]
#   environment: ROUNDS (default 3), SECS (default 10), COMPARE (compare.sh),
#                OUT (folder for the logs; default a new one in /tmp)
set -u
here=$(cd "$(dirname "$0")" && pwd)
WARREN=${1:?usage: perf-table.sh WARREN_BINARY [RABBIT_HOST:PORT [RABBIT_PID]]}
RABBIT=${2:-127.0.0.1:5672}
RPID=${3:-$(pgrep -f 'beam.smp.*rabbit' | head -1)}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
COMPARE=${COMPARE:-$here/../../../shared/bench/compare.sh}
OUT=${OUT:-$(mktemp -d /tmp/perf-table.XXXXXX)}
mkdir -p "$OUT"
[ -n "$RPID" ] || { echo "perf-table: no RabbitMQ PID (pass it as the third argument)"; exit 1; }
[ -x "$COMPARE" ] || { echo "perf-table: no compare.sh at $COMPARE"; exit 1; }

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

PORT=$(free_port)
DATA=$(mktemp -d)
"$WARREN" --port "$PORT" --mgmt-port 0 --prometheus-port 0 --data-dir "$DATA" \
	--log-level warning >"$OUT/warren.log" 2>&1 &
WPID=$!
cleanup() { kill "$WPID" 2>/dev/null; wait "$WPID" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
sleep 1
kill -0 "$WPID" 2>/dev/null || { cat "$OUT/warren.log"; exit 1; }

echo "perf-table: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p')), $(uname -r)"
echo "perf-table: RabbitMQ $RABBIT (pid $RPID), warren 127.0.0.1:$PORT (pid $WPID), $ROUNDS rounds of $SECS s; logs in $OUT"
IDLE_R=$(rss_mib "$RPID")
IDLE_W=$(rss_mib "$WPID")
# A second of traffic first: amqp-perf takes a broker that has used no CPU
# tick yet (warren after a 5 ms start) for one it cannot measure.
"$(dirname "$COMPARE")/amqp-perf" -P "$PORT" --time 1 >/dev/null 2>&1

for s in S1 S2 S3 S4 S5 S6; do
	echo "perf-table: $s ..."
	"$COMPARE" -r "$ROUNDS" -t "$SECS" -p "$RPID,$WPID" -o "$OUT/$s" "$s" "$RABBIT" "127.0.0.1:$PORT" \
		>"$OUT/$s.txt" 2>&1
	sed -n '/^metric/,/^(rates/p' "$OUT/$s.txt"
done

echo "perf-table: start-up ..."
/usr/bin/python3 "$here/startup.py" "$WARREN" -r 11 --queues 1000 --messages 100 >"$OUT/startup.txt" 2>&1
cat "$OUT/startup.txt"

echo "perf-table: idle connections and queues (warren) ..."
/usr/bin/python3 "$here/idle_mem.py" --port "$PORT" --pid "$WPID" --conns 10000 --queues 100000 \
	>"$OUT/idle-warren.txt" 2>&1
cat "$OUT/idle-warren.txt"
if [ "${RABBIT_SCALE:-0}" = 1 ]; then
	echo "perf-table: idle connections and queues (RabbitMQ) ..."
	/usr/bin/python3 "$here/idle_mem.py" --host "${RABBIT%:*}" --port "${RABBIT#*:}" --pid "$RPID" \
		--conns 10000 --queues 100000 >"$OUT/idle-rabbit.txt" 2>&1
	cat "$OUT/idle-rabbit.txt"
fi

# The table: the figure each target is about, from compare.sh's medians
# (its rows are "%-22s %12s %12s %8s": label, RabbitMQ, warren, ratio).
col() { # scenario label column(1 = RabbitMQ, 2 = warren, 3 = ratio)
	awk -v m="$2" -v c="$3" 'substr($0, 1, 22) == sprintf("%-22s", m) {
		v = c == 1 ? substr($0, 24, 12) : c == 2 ? substr($0, 37, 12) : substr($0, 50)
		gsub(/ /, "", v); print v; exit }' "$OUT/$1.txt"
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.3f", a / b }'; }
us_per_msg() { awk -v c="$1" -v r="$2" 'BEGIN { if (c == "" || r == "" || r == 0) print "-"; else printf "%.2f", c * 10000 / r }'; }
row() { printf '%-32s %12s %12s %8s   %s\n' "$1" "$2" "$3" "$4" "$5"; }
echo
row "scenario" "RabbitMQ" "warren" "w/R" "target (w/R)"
for s in S1 S2 S4; do
	row "$s received msg/s" "$(col $s 'recv msg/s' 1)" "$(col $s 'recv msg/s' 2)" "$(col $s 'recv msg/s' 3)" ">= 5"
done
cr=$(us_per_msg "$(col S1 'broker CPU %' 1)" "$(col S1 'recv msg/s' 1)")
cw=$(us_per_msg "$(col S1 'broker CPU %' 2)" "$(col S1 'recv msg/s' 2)")
row "S1 broker CPU us/msg" "$cr" "$cw" "$(div "$cw" "$cr")" "<= 0.067"
row "S3 confirmed msg/s" "$(col S3 'send msg/s' 1)" "$(col S3 'send msg/s' 2)" "$(col S3 'send msg/s' 3)" ">= 5"
row "S5 p99 latency us" "$(col S5 'p99 latency us' 1)" "$(col S5 'p99 latency us' 2)" \
	"$(col S5 'p99 latency us' 3)" "<= 0.2"
row "S6 fill msg/s" "$(col S6 'fill msg/s' 1)" "$(col S6 'fill msg/s' 2)" "$(col S6 'fill msg/s' 3)" ">= 4"
row "S6 drain msg/s" "$(col S6 'drain msg/s' 1)" "$(col S6 'drain msg/s' 2)" "$(col S6 'drain msg/s' 3)" ">= 4"
row "S6 RSS after fill MiB" "$(col S6 'broker RSS MiB (full)' 1)" "$(col S6 'broker RSS MiB (full)' 2)" \
	"$(col S6 'broker RSS MiB (full)' 3)" "<= 0.2"
row "resident memory idle MiB" "$IDLE_R" "$IDLE_W" "$(div "$IDLE_W" "$IDLE_R")" "<= 0.1"
row "start-up empty ms" "" "$(awk '/^empty/ {print $5; exit}' "$OUT/startup.txt")" "" "<= 50 ms"
