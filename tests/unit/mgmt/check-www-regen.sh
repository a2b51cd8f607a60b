#!/bin/sh
# Fails when the committed mgmt/www_gen.c differs from a fresh run of
# mgmt/gen_www.py over mgmt/www/ (edit the console, then `make regen-www`).
top=${srcdir:-$(cd "$(dirname "$0")/../../.." && pwd)}

if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 not found"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/warren-www.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

if ! python3 "$top/mgmt/gen_www.py" "$top/mgmt/www" "$tmp"; then
	echo "FAIL: mgmt/gen_www.py failed" >&2
	exit 1
fi
if ! diff -u "$top/mgmt/www_gen.c" "$tmp/www_gen.c" >"$tmp/diff"; then
	head -n 40 "$tmp/diff"
	echo "FAIL: mgmt/www_gen.c differs from mgmt/www/: run make regen-www" >&2
	exit 1
fi
echo "mgmt/www_gen.c is up to date"
