#!/bin/bash
# Throughput by message size, warren beside RabbitMQ: S1's shape (1
# producer, 1 consumer, autoack, transient) at 16 B to 64 KiB, each size
# run against both brokers alternately through ../shared/bench/compare.sh;
# writes SIZE RABBITMQ WARREN (received msg/s and MiB/s) to a .dat file
# and draws it with gnuplot (apt-get install gnuplot-nox).
#
#   tests/bench/size-chart.sh WARREN_BINARY [RABBIT_HOST:PORT] [OUT.svg]
#   environment: ROUNDS (default 1), SECS (default 5), COMPARE (compare.sh),
#                PLOT_ONLY=1 (draw the existing .dat again, measure nothing)
set -u
here=$(cd "$(dirname "$0")" && pwd)
WARREN=${1:?usage: size-chart.sh WARREN_BINARY [RABBIT_HOST:PORT] [OUT.svg]}
RABBIT=${2:-127.0.0.1:5672}
SVG=${3:-$here/../../docs/perf-size.svg}
ROUNDS=${ROUNDS:-1}
SECS=${SECS:-5}
COMPARE=${COMPARE:-$here/../../../shared/bench/compare.sh}
command -v gnuplot >/dev/null || { echo "size-chart: needs gnuplot (apt-get install gnuplot-nox)"; exit 1; }

DAT=${SVG%.svg}.dat
if [ "${PLOT_ONLY:-0}" != 1 ]; then
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATA=$(mktemp -d)
"$WARREN" --port "$PORT" --mgmt-port 0 --prometheus-port 0 --data-dir "$DATA/data" \
	--log-level warning >"$DATA/warren.log" 2>&1 &
WPID=$!
trap 'kill $WPID 2>/dev/null; wait $WPID 2>/dev/null; rm -rf "$DATA"' EXIT
trap 'exit 130' INT TERM
sleep 1

echo "# size_bytes rabbitmq_msg_s warren_msg_s rabbitmq_MiB_s warren_MiB_s ($(date -u '+%Y-%m-%d'), $(nproc) cores)" >"$DAT"
for size in 16 64 256 1024 4096 16384 65536; do
	"$COMPARE" -r "$ROUNDS" -t "$SECS" -w 1 S1 "$RABBIT" "127.0.0.1:$PORT" -- --size "$size" \
		>"$DATA/$size.txt" 2>&1
	read -r a b < <(awk 'substr($0, 1, 22) == sprintf("%-22s", "recv msg/s") {
		print substr($0, 24, 12) + 0, substr($0, 37, 12) + 0; exit }' "$DATA/$size.txt")
	echo "$size ${a:-0} ${b:-0}" | awk '{ printf "%d %d %d %.1f %.1f\n", $1, $2, $3,
		$1 * $2 / 1048576, $1 * $3 / 1048576 }' | tee -a "$DAT"
done
fi

gnuplot <<EOF
set terminal svg size 800,420 font "sans,12" background rgb "white"
set output "$SVG"
set title "1 producer -> 1 consumer, autoack: received messages per second"
set logscale x 2
set xrange [12:90000]
set logscale y 10
set xlabel "message size (bytes)"
set ylabel "messages/s"
set key top right
set grid
set xtics ("16 B" 16, "64 B" 64, "256 B" 256, "1 KiB" 1024, "4 KiB" 4096, "16 KiB" 16384, "64 KiB" 65536)
set format y "%.0f"
plot "$DAT" using 1:3 with linespoints lw 2 pt 7 title "warren", \
     "$DAT" using 1:2 with linespoints lw 2 pt 5 title "RabbitMQ 3.10.8"
EOF
echo "size-chart: $DAT and $SVG"
