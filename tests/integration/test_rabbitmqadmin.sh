#!/bin/bash
# rabbitmqadmin (Debian's /usr/bin/rabbitmqadmin, unchanged) against the
# management API on MGMT_PORT: runs rabbitmqadmin-smoke.sh, a copy of
# ../shared/mgmt-samples/rabbitmqadmin-smoke.sh (CI cannot see that folder),
# and fails unless every command passes.  Skips (exit 77) without MGMT_PORT
# or without rabbitmqadmin.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${MGMT_PORT:-}" ]; then
	echo "test_rabbitmqadmin.sh: SKIP: MGMT_PORT is not set"
	exit 77
fi
RA=${RABBITMQADMIN:-/usr/bin/rabbitmqadmin}
if [ ! -e "$RA" ]; then
	echo "test_rabbitmqadmin.sh: SKIP: $RA not found (Debian package rabbitmq-server)"
	exit 77
fi
# The smoke script lists queues and bindings first and wants a row in each:
# give a fresh broker one queue (its default binding is the binding row).
seed() { # seed PUT|DELETE
	"${PYTHON:-/usr/bin/python3}" - "$1" <<PY
import base64, sys, urllib.request
req = urllib.request.Request("http://${MGMT_HOST:-127.0.0.1}:$MGMT_PORT/api/queues/%2F/mgmt-smoke-seed",
                             data=b"{}" if sys.argv[1] == "PUT" else None, method=sys.argv[1])
req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
try:
    urllib.request.urlopen(req, timeout=10)
except Exception as e:
    print("seed %s: %s" % (sys.argv[1], e))
PY
}
seed PUT
trap 'seed DELETE' EXIT
out=$(PORT=$MGMT_PORT RABBITMQADMIN=$RA PYTHON=${PYTHON:-/usr/bin/python3} \
	bash "$HERE/rabbitmqadmin-smoke.sh" 2>&1)
rc=$?
echo "$out"
echo
last=$(tail -n 1 <<<"$out")
case $last in
*" passed, 0 failed") [ $rc -eq 0 ] && exit 0 ;;
esac
echo "test_rabbitmqadmin.sh: FAIL ($last, exit $rc)" >&2
exit 1
