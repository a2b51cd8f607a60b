#!/bin/sh
# Build warren and run every test:
#   1. a -Werror build, `make check` (Check unit tests, generated-code
#      staleness, fuzz corpus replay) and `make check-symbols`;
#   2. the integration tests (real clients over real sockets) against it,
#      then the web console's browser tests (headless Chromium), also on
#      a broker with 100,000 queues, and tests/install-check.sh (make install
#      DESTDIR=..., systemd-analyze verify on the unit, man -l on both pages);
#   3. the same unit and integration tests built with ASan + UBSan;
#   4. the libFuzzer targets for FUZZ_SECONDS each (default 40) under ASan.
# Usage: tests/run-all.sh [--install]   (--install first runs tests/deps.sh test)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
[ "${1:-}" = --install ] && "$top/tests/deps.sh" test
jobs=$(nproc 2>/dev/null || echo 2)
step() { printf '\n=== %s\n' "$*"; }

cd "$top"
step "autoreconf"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi

step "release build (-Werror)"
mkdir -p _build/release
(cd _build/release && "$top/configure" --enable-werror -q && make -s -j"$jobs")

step "unit tests (make check)"
(cd _build/release && make -s -j"$jobs" check) || { cat _build/release/test-suite.log 2>/dev/null; exit 1; }
(cd _build/release && make -s check-symbols)

step "integration tests"
"$top/tests/integration/run.sh" --warren "$top/_build/release/server/warren"

step "browser tests (the web console in headless Chromium)"
"$top/tests/browser/run.sh" "$top/_build/release/server/warren"
step "the web console with 100,000 queues (figures; about 15 s)"
"$top/tests/bench/console-100k.sh" "$top/_build/release/server/warren"

step "install check (make install DESTDIR, systemd-analyze verify, man -l)"
"$top/tests/install-check.sh" "$top/_build/release"

step "sanitizer build (ASan + UBSan)"
mkdir -p _build/asan
(cd _build/asan && "$top/configure" --enable-werror --enable-sanitizers -q && make -s -j"$jobs")
(cd _build/asan && ASAN_OPTIONS=detect_leaks=1 make -s -j"$jobs" check) ||
	{ cat _build/asan/test-suite.log 2>/dev/null; exit 1; }
step "integration tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	"$top/tests/integration/run.sh" --warren "$top/_build/asan/server/warren"

step "fuzzing (${FUZZ_SECONDS:-40} s per target)"
"$top/tests/fuzz/run-fuzzers.sh" "${FUZZ_SECONDS:-40}"

step "all tests passed"
