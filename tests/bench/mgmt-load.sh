#!/bin/bash
# The cost of the management API under load (the management issue):
# 10,000 queues declared, then S2 of ../shared/bench/compare.sh (1 -> 1,
# 1 KiB, manual ack, prefetch 100) without and with a client polling
# /api/queues every second.  Prints both rates, their ratio, and how long
# the listing took.  A benchmark that prints figures, not a test.
#   tests/bench/mgmt-load.sh [WARREN_BINARY]    (AMQP_PERF=path/to/amqp-perf)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
WARREN=${1:-$here/../../_build/release/server/warren}
PERF=${AMQP_PERF:-$here/../../../shared/bench/amqp-perf}
QUEUES=${QUEUES:-10000}
SECS=${SECS:-10}
read -r PORT MPORT < <(/usr/bin/python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*(x.getsockname()[1] for x in s))')
DATA=$(mktemp -d)
"$WARREN" --port "$PORT" --mgmt-port "$MPORT" --prometheus-port 0 --data-dir "$DATA" --log-level warning &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
sleep 0.3
/usr/bin/python3 - "$PORT" "$QUEUES" <<'PY'
import sys, pika
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", int(sys.argv[1])))
ch = c.channel()
for i in range(int(sys.argv[2])):
    ch.queue_declare("idle-%05d" % i)
c.close()
PY
s2() { "$PERF" -P "$PORT" --producers 1 --consumers 1 --size 1024 --prefetch 100 --multi-ack 10 \
	-z "$SECS" 2>&1 | awk '/^received/ {print $5}'; }
base=$(s2)
(while :; do
	curl -s -o /dev/null -w '%{time_total}\n' -u guest:guest "http://127.0.0.1:$MPORT/api/queues" >>/tmp/mgmt-load.times
	sleep 1
done) &
POLLER=$!
: >/tmp/mgmt-load.times
polled=$(s2)
kill $POLLER
echo "queues: $QUEUES; S2 received msg/s without polling: $base, with /api/queues every second: $polled"
echo "ratio: $(echo "scale=3; $polled / $base" | bc)"
echo "listing time (s): $(sort -n /tmp/mgmt-load.times | awk '{a[NR]=$1} END {print "min " a[1] ", median " a[int((NR+1)/2)] ", max " a[NR] " over " NR " calls"}')"
