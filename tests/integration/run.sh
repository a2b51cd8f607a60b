#!/usr/bin/env bash
# warren integration tests: real clients against a real broker.
#
# Usage:
#   tests/integration/run.sh [--broker warren|external] [--host H] [--port P]
#                            [--warren PATH] [PATTERN]
#
#   --broker warren    (default) start warren on a free port with a scratch
#                      data dir, run everything against it, stop it.  The
#                      binary: --warren PATH, else $WARREN, else server/warren
#                      under the current directory (an out-of-tree build dir),
#                      else server/warren in the source tree.
#   --broker external  aim at a broker that is already running (e.g. RabbitMQ:
#                      --host 127.0.0.1 --port 5672, guest/guest).
#   PATTERN            only tests whose id ("test_queue.QueueOpsTests.test_purge",
#                      "amqplib.<test name>") contains it (or matches it, with
#                      * ? [ as in a shell pattern).
#
# Tests get AMQP_HOST, AMQP_PORT, and WARREN_PID when this script started the
# broker (tests that signal the broker, DESTRUCTIVE = True in their module,
# skip themselves without it).  Those run last, one module at a time, each on
# a freshly (re)started broker.  Phases: Python (stdlib unittest, Debian's
# pika / py-amqp / kombu under /usr/bin/python3, amqp-tools via subprocess,
# raw sockets), then amqplib under node's built-in test runner (npm ci on
# first use; skipped with a message when node/npm are missing), then the
# destructive modules.  Exit status non-zero when anything failed; the last
# line is "integration: N passed, N failed, N skipped".
#
# Every test has a time limit (helpers.TEST_TIMEOUT, 30 s, via SIGALRM; socket
# timeouts in every client; node:test timeouts), and each phase runs under
# timeout(1).  Against RabbitMQ 3.10.8 the whole suite takes about 65 s
# (the slowest: the 10 s handshake timeout, heartbeats, and RabbitMQ's 3 s
# delay before it drops a failed login).
#
# ---------------------------------------------------------------------------
# RabbitMQ 3.10.8 behaviour established by experiment (the tests check these;
# "ch" = channel.close, "conn" = connection.close; texts verbatim; X, Q, N
# stand for the names / numbers of the request; class-id/method-id given
# where RabbitMQ sets them, else they are 0/0)
#
# Handshake and connection
#   bad protocol header (AMQP 0-9-0, AMQP 1-0-0, "HTTP/1.1", "GET / ...")
#     -> broker writes "AMQP\x00\x00\x09\x01" and closes the socket
#   connection.start: version 0-9, mechanisms "AMQPLAIN PLAIN", locales
#     "en_US", capabilities publisher_confirms exchange_exchange_bindings
#     basic.nack consumer_cancel_notify connection.blocked consumer_priorities
#     authentication_failure_close per_consumer_qos direct_reply_to = true
#   connection.tune: channel_max 2047, frame_max 131072, heartbeat 60;
#     the client's smaller values win (tune-ok)
#   wrong password / unknown user, client has authentication_failure_close:
#     conn 403 "ACCESS_REFUSED - Login was refused using authentication
#     mechanism PLAIN. For details see the broker logfile." (AMQPLAIN: same
#     text with AMQPLAIN)
#   same without that capability, unknown mechanism, malformed PLAIN
#     response, connection.open before start-ok: socket closed with no frame,
#     ~3 s later (RabbitMQ's silent-close delay)
#   silent client (no protocol header): socket closed after 10 s
#   unknown vhost: conn 530 "NOT_ALLOWED - vhost V not found" (10,40)
#   channel.open beyond the negotiated channel_max:
#     conn 530 "NOT_ALLOWED - number of channels opened (2) has reached the
#     negotiated channel_max (2)"  (0,0)
#   connection.update-secret(new secret "guest") -> update-secret-ok
#   heartbeat 1 s negotiated: broker sends heartbeats every ~0.5 s; a silent
#     client's socket is closed (no close frame) ~3 s later
#   SIGTERM (shutdown): conn 320 "CONNECTION_FORCED - broker forced connection
#     closure with reason 'shutdown'" (0,0) to every client
#
# Frames (all conn errors)
#   bad frame-end octet: 501 "FRAME_ERROR - type 1, all octets =
#     <<0,20,0,10,0>>: {invalid_frame_end_marker,0}"  (the frame's payload
#     bytes, then the end octet found)
#   frame above frame_max (4096 negotiated): 501 "FRAME_ERROR - type 3, all
#     octets = <<>>: {frame_too_large,5000,4088}" (payload size, frame_max-8)
#   method args truncated: 501 "FRAME_ERROR - cannot decode <<0,0,6,97,98>>"
#     (class,method of the method; the argument bytes)
#   method frame of 2 bytes: 501 "FRAME_ERROR - type 1, all octets = <<0,50>>:
#     unknown_frame"
#   frame type 7: 501 "FRAME_ERROR - type 7, all octets = <<"abc">>: unknown_frame"
#   heartbeat with payload: 501 "FRAME_ERROR - type 8, all octets = <<"xx">>:
#     unknown_frame"
#   heartbeat on channel 1: 505 "UNEXPECTED_FRAME - type 8, all octets = <<>>"
#   unknown method id / class id (e.g. 60,999): no frame, socket dropped (the
#     connection process crashes); the test also accepts a 540/503 close
#   content header or body with no publish (also on an unopened channel):
#     505 "UNEXPECTED_FRAME - expected method frame, got non method frame instead"
#   method or body where the content header should be: 505 "UNEXPECTED_FRAME -
#     expected content header for class 60, got non content header frame
#     instead" (60,40); header of class 50: "... got one for class 50 instead"
#   bad field type in a content header's table, or truncated properties:
#     541 "INTERNAL_ERROR"; bad table in a method's arguments: socket dropped
#   method on an unopened channel: 504 "CHANNEL_ERROR - expected
#     'channel.open'" (class,method of it)
#   channel.open on an open channel: 504 "CHANNEL_ERROR - second
#     'channel.open' seen" (20,10)
#   channel-class or basic method on channel 0, or a second connection.open:
#     504 "CHANNEL_ERROR - unexpected method in connection state running"
#   channel.close-ok nobody asked for: 503 "COMMAND_INVALID - unimplemented
#     method" (20,41)
#   after a conn error the broker waits for connection.close-ok and then
#     closes the socket at once (after a 501 FRAME_ERROR its parser may be
#     out of step and miss the close-ok, so no test insists there)
#   after a broker channel.close, frames on that channel are dropped until the
#     client's close-ok; after it the number can be reopened
#   a body of size 0 needs no body frame
#
# Exchanges
#   passive declare of a missing one: ch 404 "NOT_FOUND - no exchange 'X' in
#     vhost '/'" (also publish to, bind to / from a missing exchange)
#   unknown type: conn 503 "COMMAND_INVALID - unknown exchange type 'T'"
#   redeclare with other type / durable / auto_delete / internal: ch 406
#     "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'X' in vhost
#     '/': received 'fanout' but current is 'direct'" (args durable,
#     auto_delete, internal: received 'true' but current is 'false')
#   passive declare ignores type and flags
#   declare amq.*: ch 403 "ACCESS_REFUSED - exchange name 'amq.X' contains
#     reserved prefix 'amq.*'"
#   delete amq.direct: ch 403 "ACCESS_REFUSED - deletion of system exchange
#     'amq.direct' in vhost '/' not allowed"
#   declare / passive declare / delete "", bind or unbind a queue to "",
#     exchange.bind with source "": ch 403 "ACCESS_REFUSED - operation not
#     permitted on the default exchange"
#   delete if-unused with bindings (as source): ch 406 "PRECONDITION_FAILED -
#     exchange 'X' in vhost '/' in use"; only being a destination is unused
#   delete a missing exchange, unbind a missing binding / queue / exchange: ok
#   publish to an internal exchange: ch 403 "ACCESS_REFUSED - cannot publish
#     to internal exchange 'X' in vhost '/'"
#   auto-delete exchange goes when its last binding goes
#   alternate-exchange: unroutable goes there (chains too); no basic.return;
#     AE missing -> unroutable, mandatory returns it
#
# Queues
#   server-named: "amq.gen-" + 22 chars
#   passive declare of a missing one: ch 404 "NOT_FOUND - no queue 'Q' in
#     vhost '/'" (also basic.get, basic.consume, queue.purge, bind)
#   declare amq.*: ch 403 "ACCESS_REFUSED - queue name 'amq.Q' contains
#     reserved prefix 'amq.*'"
#   exclusive queue touched from another connection (declare, passive
#     declare, consume, get, purge, delete, bind), or redeclared with a
#     different exclusive flag even by its owner: ch 405 "RESOURCE_LOCKED -
#     cannot obtain exclusive access to locked queue 'Q' in vhost '/'. It
#     could be originally declared on another connection or the exclusive
#     property value does not match that of the original declaration."
#     (publishing to it from elsewhere is fine)
#   redeclare with other durable / auto_delete: ch 406 "PRECONDITION_FAILED -
#     inequivalent arg 'durable' for queue 'Q' in vhost '/': received 'true'
#     but current is 'false'"
#   redeclare with other x-arg value: "... inequivalent arg 'x-message-ttl'
#     for queue 'Q' in vhost '/': received '2000' but current is '1000'";
#     arg missing on one side: "received none but current is the value '10'
#     of type 'signedint'" / "received the value '60000' of type 'signedint'
#     but current is none"; unknown (non x-) args are not compared
#   x-max-length -1: ch 406 "PRECONDITION_FAILED - invalid arg 'x-max-length'
#     for queue 'Q' in vhost '/': {value_negative,-1}"; x-message-ttl
#     "soon": "... invalid arg 'x-message-ttl' for queue 'Q' in vhost '/':
#     \"expected integer, got longstr\"" (with the double quotes)
#   delete if-unused with consumers: ch 406 "PRECONDITION_FAILED - queue 'Q'
#     in vhost '/' in use"; if-empty with ready messages: "... queue 'Q' in
#     vhost '/' not empty" (unacked messages do not count: delete-ok 0)
#   delete of a missing queue: delete-ok message_count 0
#   purge: purge-ok counts ready messages only; unacked stay
#   declare-ok counts ready messages and consumers (with two prefetch-1
#     consumers holding one each of 3 messages: 1 and 2)
#   exclusive queue goes with its connection (not with its channel);
#   auto-delete queue goes when its last consumer is cancelled or its
#     channel closes, never if it never had one
#   x-max-length drops the head; x-overflow reject-publish nacks the confirm
#
# Routing
#   topic: words split on "."; "" is zero words ("#" and "" match it, "*"
#     does not); "a.#" matches "a"; the full table is in test_routing.py
#   headers: x-match all (default) / any / all-with-x / any-with-x; x-* keys
#     ignored by all/any; void binding value = presence only; values must
#     match in type too (1 != "1"); "all" with no keys matches everything,
#     "any" with none matches nothing.  x-match "foo": ch 406
#     "PRECONDITION_FAILED - Invalid x-match field value <<"foo">>; expected
#     all, any, all-with-x, or any-with-x"; x-match 5: "PRECONDITION_FAILED -
#     Invalid x-match field type signedint (value 5); expected longstr"
#
# basic
#   mandatory unroutable: basic.return 312 "NO_ROUTE" (before the confirm ack)
#   immediate=true: conn 540 "NOT_IMPLEMENTED - immediate=true"
#   consumer tags from the server: "amq.ctag-" + 22 chars
#   exclusive consume on a queue with consumers, or consume on a queue with
#     an exclusive consumer: ch 403 "ACCESS_REFUSED - queue 'Q' in vhost '/'
#     in exclusive use"
#   reused consumer tag on a channel: conn 530 "NOT_ALLOWED - attempt to
#     reuse consumer tag 'T'" (60,20)
#   cancel of an unknown tag: cancel-ok
#   queue deleted under a consumer: broker sends basic.cancel(tag)
#   ack / nack / reject of an unknown tag (also 0 single, also multiple with
#     a tag above the last, double ack, ack from another channel): ch 406
#     "PRECONDITION_FAILED - unknown delivery tag N"; ack(0, multiple) with
#     nothing outstanding is fine
#   requeued messages go back to their original position (ahead of later
#     ones), redelivered=true; basic.recover(requeue=true) likewise, with new
#     delivery tags; recover(requeue=false): conn 540 "NOT_IMPLEMENTED -
#     requeue=false"
#   qos prefetch_size != 0: conn 540 "NOT_IMPLEMENTED - prefetch_size!=0 (N)"
#   qos: per-consumer (global=false) limit is taken at basic.consume time;
#     global=true limits the channel's unacked total; qos(2) then
#     qos(3, global): two consumers get 2 + 1; qos(global=false) AFTER a
#     global one removes the global limit; no-ack consumers are not limited
#   channel.flow(active=false): conn 540 "NOT_IMPLEMENTED - active=false";
#     flow(true) -> flow-ok(true)
#   user_id property not the login: ch 406 "PRECONDITION_FAILED - user_id
#     property set to 'U' but authenticated user was 'guest'"
#   confirm after tx.select: ch 406 "PRECONDITION_FAILED - cannot switch from
#     tx to confirm mode"; tx.select after confirm: "PRECONDITION_FAILED -
#     cannot switch from confirm to tx mode"; tx.commit / tx.rollback without
#     tx.select: "PRECONDITION_FAILED - channel is not transactional"
#   direct reply-to: consume amq.rabbitmq.reply-to without no-ack: ch 406
#     "PRECONDITION_FAILED - reply consumer cannot acknowledge"; publish with
#     reply_to=amq.rabbitmq.reply-to on a channel not consuming it: ch 406
#     "PRECONDITION_FAILED - fast reply consumer does not exist"; declare of
#     amq.rabbitmq.reply-to (passive or not) -> declare-ok (name, 0, 1)
# ---------------------------------------------------------------------------

set -u

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}

BROKER=warren
HOST=127.0.0.1
PORT=
WARREN_BIN=${WARREN:-}
PATTERN=

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case "$1" in
	--broker) BROKER=$2; shift 2 ;;
	--broker=*) BROKER=${1#*=}; shift ;;
	--host) HOST=$2; shift 2 ;;
	--host=*) HOST=${1#*=}; shift ;;
	--port) PORT=$2; shift 2 ;;
	--port=*) PORT=${1#*=}; shift ;;
	--warren) WARREN_BIN=$2; shift 2 ;;
	--warren=*) WARREN_BIN=${1#*=}; shift ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) PATTERN=$1; shift ;;
	esac
done

case "$BROKER" in
warren|external) ;;
*) echo "run.sh: --broker must be warren or external" >&2; exit 2 ;;
esac

if [ ! -x "$PYTHON" ]; then
	echo "run.sh: $PYTHON not found (Debian's python3 with python3-pika is needed)" >&2
	exit 2
fi

TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
FAILED_PHASES=()
BROKER_PID=
TMPDIR_RUN=
BROKER_LOG=

# ----------------------------------------------------------------- broker

free_ports() {
	# three distinct free ports (held open together while chosen)
	"$PYTHON" - <<-'EOF'
	import socket
	s = [socket.socket() for _ in range(3)]
	for x in s:
	    x.bind(("127.0.0.1", 0))
	print(*(x.getsockname()[1] for x in s))
	EOF
}

port_open() {
	"$PYTHON" -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('$HOST', $PORT)))" 2>/dev/null
}

start_broker() {
	"$WARREN_BIN" --port "$PORT" --mgmt-port "$MGMT_PORT" --prometheus-port "$PROM_PORT" \
		--data-dir "$TMPDIR_RUN/data" --log-level info >>"$BROKER_LOG" 2>&1 &
	BROKER_PID=$!
	local i
	for i in $(seq 1 $((${WARREN_START_TIMEOUT:-10} * 10))); do
		if port_open; then
			export WARREN_PID=$BROKER_PID
			return 0
		fi
		if ! kill -0 "$BROKER_PID" 2>/dev/null; then
			echo "run.sh: warren exited during start-up" >&2
			wait "$BROKER_PID" 2>/dev/null
			BROKER_PID=
			return 1
		fi
		sleep 0.1
	done
	echo "run.sh: warren did not accept connections on port $PORT within ${WARREN_START_TIMEOUT:-10} s" >&2
	return 1
}

broker_alive() {
	[ -n "$BROKER_PID" ] && kill -0 "$BROKER_PID" 2>/dev/null &&
		! grep -q '^State:.*Z' "/proc/$BROKER_PID/status" 2>/dev/null
}

stop_broker() {
	[ -n "$BROKER_PID" ] || return 0
	if kill -0 "$BROKER_PID" 2>/dev/null; then
		kill -TERM "$BROKER_PID" 2>/dev/null
		local i
		for i in $(seq 1 50); do
			broker_alive || break
			sleep 0.1
		done
		if broker_alive; then
			echo "run.sh: warren ignored SIGTERM for 5 s; kill -9" >&2
			kill -KILL "$BROKER_PID" 2>/dev/null
		fi
	fi
	wait "$BROKER_PID" 2>/dev/null
	BROKER_PID=
	unset WARREN_PID
}

show_log() {
	[ -n "$BROKER_LOG" ] && [ -s "$BROKER_LOG" ] || return 0
	echo "==================== warren log (last 300 lines of $BROKER_LOG) ===================="
	tail -n 300 "$BROKER_LOG"
	echo "==================== end of warren log ===================="
}

# Stop the broker, show its log if anything failed, remove the scratch dir.
# Runs before the summary (so the summary stays the last line) and again,
# harmlessly, on exit.
cleanup() {
	stop_broker
	if [ -n "$TMPDIR_RUN" ]; then
		if [ ${#FAILED_PHASES[@]} -gt 0 ] || [ "$TOTAL_FAIL" -gt 0 ]; then
			show_log
		fi
		rm -rf "$TMPDIR_RUN"
		TMPDIR_RUN=
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$BROKER" = warren ]; then
	if [ -z "$WARREN_BIN" ]; then
		if [ -x "$PWD/server/warren" ]; then
			WARREN_BIN=$PWD/server/warren
		else
			WARREN_BIN=$SRC_ROOT/server/warren
		fi
	fi
	case "$WARREN_BIN" in /*) ;; *) WARREN_BIN=$PWD/$WARREN_BIN ;; esac
	if [ ! -x "$WARREN_BIN" ]; then
		echo "run.sh: no warren binary at $WARREN_BIN (build it, or pass --warren PATH / WARREN=...)" >&2
		exit 2
	fi
	# tests that need a broker of their own (another configuration, a
	# restart) start this binary themselves: helpers.start_warren()
	export WARREN_BIN
	HOST=127.0.0.1
	read -r PORT MGMT_PORT PROM_PORT < <(free_ports)
	TMPDIR_RUN=$(mktemp -d "${TMPDIR:-/tmp}/warren-it.XXXXXX")
	mkdir -p "$TMPDIR_RUN/data"
	BROKER_LOG=$TMPDIR_RUN/warren.log
	echo "run.sh: starting $WARREN_BIN on $HOST:$PORT (data $TMPDIR_RUN/data)"
	if ! start_broker; then
		FAILED_PHASES+=("start")
		TOTAL_FAIL=$((TOTAL_FAIL + 1))
		cleanup
		echo "integration: 0 passed, 1 failed, 0 skipped"
		exit 1
	fi
else
	PORT=${PORT:-5672}
	MGMT_PORT=${MGMT_PORT:-15672}
	PROM_PORT=${PROM_PORT:-15692}
	unset WARREN_PID WARREN_BIN
fi
export AMQP_HOST=$HOST AMQP_PORT=$PORT MGMT_PORT PROM_PORT
echo "run.sh: target $AMQP_HOST:$AMQP_PORT (broker: $BROKER)"

# ----------------------------------------------------------------- phases

# run_python LABEL TIMEOUT ARGS...: run runtests.py and add up its RESULT line.
run_python() {
	local label=$1 limit=$2
	shift 2
	local out rc line
	out=$(mktemp)
	timeout -k 5 "$limit" "$PYTHON" "$SCRIPT_DIR/runtests.py" "$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep '^RESULT ' "$out" | tail -1)
	rm -f "$out"
	if [ -z "$line" ]; then
		echo "run.sh: $label: no result (exit status $rc; 124 means it timed out)" >&2
		FAILED_PHASES+=("$label")
		TOTAL_FAIL=$((TOTAL_FAIL + 1))
		return
	fi
	local p f s
	p=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$line")
	f=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
	s=$(sed -E 's/.*skipped=([0-9]+).*/\1/' <<<"$line")
	TOTAL_PASS=$((TOTAL_PASS + p))
	TOTAL_FAIL=$((TOTAL_FAIL + f))
	TOTAL_SKIP=$((TOTAL_SKIP + s))
	if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
		FAILED_PHASES+=("$label")
		[ "$f" -eq 0 ] && TOTAL_FAIL=$((TOTAL_FAIL + 1))
	fi
	echo "run.sh: $label: $p passed, $f failed, $s skipped"
}

pattern_args=()
[ -n "$PATTERN" ] && pattern_args=(-k "$PATTERN")

START=$(date +%s)

echo "==================== python tests ===================="
run_python python 600 "${pattern_args[@]}"

# rabbitmqadmin (Debian's, unchanged) runs the common commands against the API
if [ -z "$PATTERN" ] || [[ "rabbitmqadmin" == *"$PATTERN"* ]]; then
	echo "==================== rabbitmqadmin ===================="
	timeout -k 5 300 "$SCRIPT_DIR/test_rabbitmqadmin.sh"
	rc=$?
	case $rc in
	0) TOTAL_PASS=$((TOTAL_PASS + 1)); echo "run.sh: rabbitmqadmin: passed" ;;
	77) TOTAL_SKIP=$((TOTAL_SKIP + 1)); echo "run.sh: rabbitmqadmin: skipped" ;;
	*) TOTAL_FAIL=$((TOTAL_FAIL + 1)); FAILED_PHASES+=("rabbitmqadmin"); echo "run.sh: rabbitmqadmin: failed ($rc)" ;;
	esac
fi

# amqplib runs when no pattern is given, or when it matches "amqplib.<name>"
node_wanted=0
node_filter=
if [ -z "$PATTERN" ]; then
	node_wanted=1
elif [[ "amqplib" == *"$PATTERN"* ]]; then
	node_wanted=1
elif [[ "$PATTERN" == amqplib.* ]]; then
	node_wanted=1
	node_filter=${PATTERN#amqplib.}
fi

if [ "$node_wanted" = 1 ]; then
	echo "==================== amqplib (node) tests ===================="
	NODE_DIR=$SCRIPT_DIR/amqplib
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		echo "run.sh: SKIP amqplib tests: node or npm is not installed"
		TOTAL_SKIP=$((TOTAL_SKIP + 1))
	else
		npm_ok=1
		if [ ! -d "$NODE_DIR/node_modules/amqplib" ]; then
			echo "run.sh: npm ci in $NODE_DIR"
			if ! (cd "$NODE_DIR" && timeout 300 npm ci --no-audit --no-fund); then
				echo "run.sh: npm ci failed" >&2
				npm_ok=0
				FAILED_PHASES+=("amqplib-npm-ci")
				TOTAL_FAIL=$((TOTAL_FAIL + 1))
			fi
		fi
		if [ "$npm_ok" = 1 ]; then
			node_args=(--test --test-reporter=tap)
			[ -n "$node_filter" ] && node_args+=(--test-name-pattern="$node_filter")
			out=$(mktemp)
			(cd "$NODE_DIR" && timeout -k 5 180 node "${node_args[@]}" test.js queue_types.js) 2>&1 | tee "$out"
			rc=${PIPESTATUS[0]}
			p=$(grep -E '^# pass [0-9]+' "$out" | awk '{print $3}' | tail -1)
			f=$(grep -E '^# fail [0-9]+' "$out" | awk '{print $3}' | tail -1)
			c=$(grep -E '^# cancelled [0-9]+' "$out" | awk '{print $3}' | tail -1)
			s=$(grep -E '^# skipped [0-9]+' "$out" | awk '{print $3}' | tail -1)
			rm -f "$out"
			p=${p:-0} f=${f:-0} c=${c:-0} s=${s:-0}
			f=$((f + c))
			if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
				f=1
			fi
			TOTAL_PASS=$((TOTAL_PASS + p))
			TOTAL_FAIL=$((TOTAL_FAIL + f))
			TOTAL_SKIP=$((TOTAL_SKIP + s))
			[ "$f" -ne 0 ] && FAILED_PHASES+=("amqplib")
			echo "run.sh: amqplib: $p passed, $f failed, $s skipped"
		fi
	fi
fi

# Destructive modules (they stop or signal the broker) run last, one by one,
# each on a running broker: restarted here when an earlier one stopped it.
mapfile -t DESTRUCTIVE < <("$PYTHON" "$SCRIPT_DIR/runtests.py" --destructive list "${pattern_args[@]}")
for mod in "${DESTRUCTIVE[@]}"; do
	[ -n "$mod" ] || continue
	echo "==================== $mod (destructive) ===================="
	if [ "$BROKER" = warren ] && ! broker_alive; then
		stop_broker
		echo "run.sh: restarting warren for $mod"
		if ! start_broker; then
			FAILED_PHASES+=("restart for $mod")
			TOTAL_FAIL=$((TOTAL_FAIL + 1))
			continue
		fi
	fi
	run_python "$mod" 120 --module "$mod" "${pattern_args[@]}"
done

END=$(date +%s)
cleanup
echo "==================== summary ===================="
echo "target: $BROKER $AMQP_HOST:$AMQP_PORT; $((END - START)) s"
if [ ${#FAILED_PHASES[@]} -gt 0 ]; then
	echo "failed phases: ${FAILED_PHASES[*]}"
fi
echo "integration: $TOTAL_PASS passed, $TOTAL_FAIL failed, $TOTAL_SKIP skipped"
if [ "$TOTAL_FAIL" -eq 0 ] && [ ${#FAILED_PHASES[@]} -eq 0 ]; then
	exit 0
fi
exit 1
