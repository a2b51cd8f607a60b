#!/bin/sh
# Fails when the committed amqp/spec_gen.{h,c} differ from a fresh run of
# amqp/gen_spec.py on the spec JSON (CI's regen check).  The JSON is not in
# the tree: $SPEC_JSON, else ../shared/spec/ next to the source tree, else
# /work/shared/spec/; without one the test is skipped.
top=${srcdir:-$(cd "$(dirname "$0")/../../.." && pwd)}
name=amqp-rabbitmq-0.9.1.json

if [ -n "${SPEC_JSON:-}" ]; then
	if [ ! -r "$SPEC_JSON" ]; then
		echo "FAIL: SPEC_JSON=$SPEC_JSON is not readable" >&2
		exit 1
	fi
	json=$SPEC_JSON
else
	json=
	for f in "$top/../shared/spec/$name" "/work/shared/spec/$name"; do
		if [ -r "$f" ]; then
			json=$f
			break
		fi
	done
fi
if [ -z "$json" ]; then
	echo "SKIP: $name not found (set SPEC_JSON)"
	exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 not found"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/warren-regen.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

if ! python3 "$top/amqp/gen_spec.py" "$json" "$tmp"; then
	echo "FAIL: amqp/gen_spec.py failed on $json" >&2
	exit 1
fi
status=0
for f in spec_gen.h spec_gen.c; do
	if ! diff -u "$top/amqp/$f" "$tmp/$f"; then
		echo "FAIL: amqp/$f differs from a fresh regen: run make regen" >&2
		status=1
	fi
done
[ $status -eq 0 ] && echo "amqp/spec_gen.{h,c} are up to date ($json)"
exit $status
