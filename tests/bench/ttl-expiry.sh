#!/bin/bash
# Expiry under load (the lifecycle issue): 1,000,000 messages published into
# a queue with a message TTL (set by a policy) and no consumer.  Prints how
# long after the last publish the queue is empty, and the broker's CPU and
# resident memory once it is: expiry must finish in bounded time and leave
# the broker idle.  A benchmark that prints figures, not a test.
#   tests/bench/ttl-expiry.sh [WARREN_BINARY]    (AMQP_PERF=path/to/amqp-perf)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
WARREN=${1:-$here/../../_build/release/server/warren}
PERF=${AMQP_PERF:-$here/../../../shared/bench/amqp-perf}
N=${N:-1000000}
TTL=${TTL:-2000}
read -r PORT MPORT < <(/usr/bin/python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(*(x.getsockname()[1] for x in s))')
DATA=$(mktemp -d)
"$WARREN" --port "$PORT" --mgmt-port "$MPORT" --prometheus-port 0 --data-dir "$DATA" --log-level warning &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$MPORT/api/overview" -u guest:guest && break; sleep 0.1; done
curl -s -u guest:guest -X PUT -H 'content-type: application/json' \
	"http://127.0.0.1:$MPORT/api/policies/%2F/ttl-bench" \
	-d "{\"pattern\":\"^ttl-bench\$\",\"definition\":{\"message-ttl\":$TTL},\"apply-to\":\"queues\"}"
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
"$PERF" -P "$PORT" --producer-only --pmessages "$N" --size 16 --queue ttl-bench --keep \
	>/tmp/ttl-bench-perf.log 2>&1
t_pub=$(date +%s.%N)
echo "published $N messages (TTL $TTL ms); resident memory $(( $(rss) / 1024 )) MiB"
while :; do
	n=$(curl -s -u guest:guest "http://127.0.0.1:$MPORT/api/queues/%2F/ttl-bench?columns=messages" |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
	[ "$n" = 0 ] && break
	sleep 0.05
done
t_empty=$(date +%s.%N)
c0=$(cpu); sleep 3; c1=$(cpu)
hz=$(getconf CLK_TCK)
printf 'queue empty %.2f s after the last publish (TTL %.1f s)\n' \
	"$(echo "$t_empty - $t_pub" | bc)" "$(echo "$TTL / 1000" | bc -l)"
printf 'broker CPU over the next 3 s: %.1f%%; resident memory %d MiB\n' \
	"$(echo "($c1 - $c0) * 100 / $hz / 3" | bc -l)" $(( $(rss) / 1024 ))
