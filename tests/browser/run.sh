#!/usr/bin/env bash
# warren's web console in headless Chromium (Debian's chromium driven by
# playwright-core from npm, pinned by package-lock.json).
#
# Usage: tests/browser/run.sh [--screenshots DIR] WARREN_BIN
#
# Starts WARREN_BIN on free ports with a scratch data dir, starts
# traffic.py (pika: declares the queues the tests look for, then publishes
# and consumes a little), runs console.test.mjs against the management
# port, and stops both by PID.  Screenshots of the main pages go to DIR
# (the committed ones: --screenshots docs/screenshots), else to the
# scratch dir.  npm ci runs on first use.  CHROMIUM overrides
# /usr/bin/chromium.  Exit status non-zero when a test failed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
shots=
if [ "${1:-}" = --screenshots ]; then
	shots=$2
	shift 2
fi
if [ $# -ne 1 ]; then
	echo "usage: $0 [--screenshots DIR] WARREN_BIN" >&2
	exit 2
fi
bin=$1
case "$bin" in /*) ;; *) bin=$PWD/$bin ;; esac
[ -z "$shots" ] || { mkdir -p "$shots"; shots=$(cd "$shots" && pwd); }
PYTHON=/usr/bin/python3
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
for need in node npm "$CHROMIUM" "$PYTHON"; do
	command -v "$need" >/dev/null 2>&1 || { echo "browser: $need is not installed (tests/deps.sh test)" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/warren-browser.XXXXXX")
broker_pid=
traffic_pid=
status=1
cleanup() {
	for pid in $traffic_pid $broker_pid; do
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$status" -ne 0 ] && [ -s "$tmp/warren.log" ]; then
		echo "==== warren log (last 100 lines)"; tail -n 100 "$tmp/warren.log"
		echo "==== traffic.py log"; cat "$tmp/traffic.log" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -d "$here/node_modules/playwright-core" ]; then
	echo "browser: npm ci in $here"
	(cd "$here" && timeout 300 npm ci --no-audit --no-fund)
fi

read -r amqp mgmt prom < <("$PYTHON" -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
mkdir -p "$tmp/data"
"$bin" --port "$amqp" --mgmt-port "$mgmt" --prometheus-port "$prom" --data-dir "$tmp/data" \
	>"$tmp/warren.log" 2>&1 &
broker_pid=$!
for _ in $(seq 1 100); do
	"$PYTHON" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $mgmt)))" 2>/dev/null && break
	kill -0 "$broker_pid" 2>/dev/null || { echo "browser: warren exited at start-up" >&2; exit 1; }
	sleep 0.1
done

"$PYTHON" "$here/traffic.py" "$amqp" "$tmp/ready" >"$tmp/traffic.log" 2>&1 &
traffic_pid=$!
for _ in $(seq 1 100); do
	[ -e "$tmp/ready" ] && break
	kill -0 "$traffic_pid" 2>/dev/null || { echo "browser: traffic.py failed" >&2; exit 1; }
	sleep 0.1
done
[ -e "$tmp/ready" ] || { echo "browser: traffic.py did not declare its queues" >&2; exit 1; }

echo "browser: warren on AMQP $amqp, management http://127.0.0.1:$mgmt/"
set +e
(cd "$here" && BASE_URL="http://127.0.0.1:$mgmt/" SCREENSHOTS="${shots:-$tmp/screenshots}" \
	CHROMIUM="$CHROMIUM" timeout -k 5 300 node console.test.mjs)
status=$?
set -e
exit $status
