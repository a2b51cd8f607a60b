#!/bin/sh
# make check without --enable-fuzzing: run each fuzz target's replay build
# over its corpus, so every input that once crashed is retested.
top=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
status=0
for t in fuzz_frame fuzz_table fuzz_mgmt_http; do
	if ! "./tests/fuzz/$t" "$top/tests/fuzz/corpus/$t"; then
		echo "FAIL: $t over tests/fuzz/corpus/$t" >&2
		status=1
	fi
done
exit $status
