#!/bin/bash
# The web console on a broker with QUEUES queues (default 100,000): the
# issue asks that it stay usable at that size.  Declares them over AMQP
# (pika, one connection), puts i messages in q-0000i for i < 10 so sorting
# has something to find, then runs tests/browser/console-100k.mjs in
# headless Chromium, which prints how long each page took and how long
# the broker took for each API call.  It prints figures and fails only
# when a page never shows what it should (60 s); tests/run-all.sh runs it
# (about 15 s on a 2-core machine, most of it declaring the queues).
#   tests/bench/console-100k.sh [WARREN_BINARY]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
WARREN=${1:-$here/../../_build/release/server/warren}
QUEUES=${QUEUES:-100000}
read -r PORT MPORT < <(/usr/bin/python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*(x.getsockname()[1] for x in s))')
DATA=$(mktemp -d)
"$WARREN" --port "$PORT" --mgmt-port "$MPORT" --prometheus-port 0 --data-dir "$DATA" --log-level warning &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 50); do
	/usr/bin/python3 -c "import socket,sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', $PORT)))" && break
	sleep 0.1
done
[ -d "$here/../browser/node_modules/playwright-core" ] || (cd "$here/../browser" && npm ci --no-audit --no-fund)
start=$(date +%s%N)
/usr/bin/python3 - "$PORT" "$QUEUES" <<'PY'
import sys, pika
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", int(sys.argv[1])))
ch = c.channel()
for i in range(int(sys.argv[2])):
    ch.queue_declare("q-%05d" % i)
for i in range(10):
    for _ in range(i):
        ch.basic_publish("", "q-%05d" % i, b"x")
c.close()
PY
echo "declared $QUEUES queues in $((($(date +%s%N) - start) / 1000000)) ms; warren RSS $(awk '/VmRSS/ {print $2, $3}' /proc/$PID/status)"
(cd "$here/../browser" && BASE_URL="http://127.0.0.1:$MPORT/" QUEUES=$QUEUES node console-100k.mjs)
echo "warren RSS after: $(awk '/VmRSS/ {print $2, $3}' /proc/$PID/status)"
