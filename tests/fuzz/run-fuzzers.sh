#!/bin/sh
# Build the libFuzzer targets with clang in a separate build folder and run
# each for DURATION seconds under ASan and UBSan.  New corpus entries go to
# the build folder; crashes to BUILD/artifacts/.  Exits non-zero on a
# finding.  Set FUZZ_BUILD_DIR to build elsewhere (default: build-fuzz at
# the top of the source tree), FUZZ_JOBS for make -j (default 2).
#
#   tests/fuzz/run-fuzzers.sh 60
set -eu

usage() {
	echo "usage: $0 DURATION_SECONDS" >&2
	exit 2
}
[ $# -eq 1 ] || usage
case $1 in
''|*[!0-9]*) usage ;;
esac
duration=$1

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$top/build-fuzz}
targets="fuzz_frame fuzz_table fuzz_mgmt_http"

if [ ! -x "$top/configure" ]; then
	(cd "$top" && autoreconf -fi)
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ] || ! grep -q '^FUZZ_CFLAGS = -fsanitize=fuzzer' Makefile; then
	"$top/configure" CC=clang --enable-fuzzing
fi
make -j"${FUZZ_JOBS:-2}" $(for t in $targets; do printf 'tests/fuzz/%s ' "$t"; done)

mkdir -p artifacts
status=0
for t in $targets; do
	mkdir -p "corpus/$t"
	echo "== $t: ${duration}s"
	if ! ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1} \
	    "./tests/fuzz/$t" -max_total_time="$duration" -print_final_stats=1 \
	    -dict="$top/tests/fuzz/amqp.dict" -artifact_prefix="artifacts/$t-" \
	    "corpus/$t" "$top/tests/fuzz/corpus/$t"; then
		echo "!! $t found a problem: see $build/artifacts/" >&2
		status=1
	fi
done
exit $status
