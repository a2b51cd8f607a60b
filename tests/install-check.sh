#!/bin/sh
# What `make install` puts on a machine, checked in a scratch DESTDIR:
#   1. the files: warren and warrenctl in sbin, both man pages, warren.conf,
#      the systemd unit and the sysusers.d entry, under the default prefix
#      and under --prefix=/usr --sysconfdir=/etc (the unit names the
#      binaries and the configuration where that prefix put them);
#   2. `systemd-analyze verify` accepts the unit.  verify insists that
#      ExecStart's binary exists, so it is run on a copy whose binary paths
#      point into DESTDIR; MANPATH points at the installed pages, so the
#      unit's Documentation=man:warren(8) man:warrenctl(8) must resolve;
#   3. `man -l` renders both pages, with no warnings from groff;
#   4. the installed warren starts with the installed warren.conf, and with
#      every commented key in it uncommented (so the file only shows keys
#      the broker understands), and the installed warrenctl talks to it and
#      stops it;
#   5. `make uninstall` leaves no file behind.
# Usage: tests/install-check.sh [BUILD_DIR]   (default: the current folder)
set -eu
build=$(cd "${1:-.}" && pwd)
[ -f "$build/Makefile" ] || { echo "install-check: no Makefile in $build" >&2; exit 2; }
tmp=$(mktemp -d /tmp/warren-install.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail() { echo "install-check: FAIL: $*" >&2; exit 1; }
ok() { echo "install-check: ok: $*"; }

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# $1 = DESTDIR, $2 = prefix, $3 = sysconfdir; extra make arguments follow
install_into() {
	dest=$1 prefix=$2 sysconf=$3
	shift 3
	make -s -C "$build" install DESTDIR="$dest" prefix="$prefix" sysconfdir="$sysconf" "$@" \
		>"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make install prefix=$prefix"; }
	for f in "$prefix/sbin/warren" "$prefix/sbin/warrenctl" "$prefix/share/man/man8/warren.8" \
	         "$prefix/share/man/man8/warrenctl.8" "$sysconf/warren/warren.conf" \
	         "$prefix/lib/systemd/system/warren.service" "$prefix/lib/sysusers.d/warren.conf"; do
		[ -f "$dest$f" ] || fail "make install prefix=$prefix: $f missing"
	done
	[ -x "$dest$prefix/sbin/warren" ] && [ -x "$dest$prefix/sbin/warrenctl" ] ||
		fail "the binaries are not executable"
	unit=$dest$prefix/lib/systemd/system/warren.service
	grep -qx "ExecStart=$prefix/sbin/warren --config $sysconf/warren/warren.conf --data-dir /var/lib/warren" "$unit" ||
		fail "ExecStart does not name $prefix/sbin/warren and $sysconf/warren/warren.conf: $(grep ExecStart= "$unit")"
	for k in Type=notify User=warren StateDirectory=warren WatchdogSec=; do
		grep -q "^$k" "$unit" || fail "the unit has no $k"
	done
	ok "make install DESTDIR prefix=$prefix sysconfdir=$sysconf: $(cd "$dest" && find . -type f | wc -l) files"
}

install_into "$tmp/usr" /usr /etc
make -s -C "$build" uninstall DESTDIR="$tmp/usr" prefix=/usr sysconfdir=/etc >/dev/null 2>&1 ||
	fail "make uninstall"
left=$(find "$tmp/usr" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
ok "make uninstall removes every installed file"

dest=$tmp/root
install_into "$dest" /usr/local /usr/local/etc
prefix=/usr/local

# 2. systemd-analyze verify
command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (Debian package systemd)"
mkdir -p "$tmp/verify"
sed "s|$prefix/sbin/|$dest$prefix/sbin/|g" "$dest$prefix/lib/systemd/system/warren.service" \
	>"$tmp/verify/warren.service"
MANPATH=$dest$prefix/share/man systemd-analyze verify "$tmp/verify/warren.service" \
	>"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log"; fail "systemd-analyze verify"; }
[ -s "$tmp/verify.log" ] && { cat "$tmp/verify.log"; fail "systemd-analyze verify printed warnings"; }
ok "systemd-analyze verify warren.service (Documentation= pages found)"

# 3. man -l
command -v man >/dev/null || fail "man not found (Debian package man-db)"
for page in warren warrenctl; do
	f=$dest$prefix/share/man/man8/$page.8
	MANWIDTH=80 man -l "$f" >"$tmp/$page.txt" 2>"$tmp/$page.err" || fail "man -l $page.8"
	upper=$(echo "$page" | tr a-z A-Z)
	head -1 "$tmp/$page.txt" | grep -q "^$upper(8)" || fail "man -l $page.8: no $upper(8) header"
	grep -q "^NAME" "$tmp/$page.txt" && grep -q "^SYNOPSIS" "$tmp/$page.txt" ||
		fail "man -l $page.8: no NAME or SYNOPSIS section"
	man --warnings -l "$f" 2>"$tmp/$page.warn" >/dev/null
	[ -s "$tmp/$page.warn" ] && { cat "$tmp/$page.warn"; fail "man --warnings $page.8"; }
	ok "man -l $page.8 renders ($(wc -l <"$tmp/$page.txt") lines, no warnings)"
done

# 4. the installed binaries with the installed configuration
run_with_conf() {
	conf=$1 what=$2
	port=$(free_port)
	data=$tmp/data.$$.$port
	"$dest$prefix/sbin/warren" --config "$conf" --port "$port" --mgmt-port 0 \
		--prometheus-port 0 --data-dir "$data" >"$tmp/warren.log" 2>&1 &
	pid=$!
	"$dest$prefix/sbin/warrenctl" --socket "$data/warren.sock" --timeout 10 await_startup ||
		{ cat "$tmp/warren.log"; fail "$what: the broker did not start"; }
	"$dest$prefix/sbin/warrenctl" --socket "$data/warren.sock" -q list_vhosts | grep -qx / ||
		fail "$what: warrenctl list_vhosts"
	"$dest$prefix/sbin/warrenctl" --socket "$data/warren.sock" stop >/dev/null ||
		fail "$what: warrenctl stop"
	wait "$pid" || fail "$what: warren exited with status $?"
	pid=
	ok "$what: warren starts, warrenctl lists and stops it"
}
conf=$dest$prefix/etc/warren/warren.conf
run_with_conf "$conf" "installed warren.conf"
# every "# key = value" line, uncommented (the log file lines need /var/log/warren)
sed -n 's/^# \([a-z_][a-z_.]* = \)/\1/p' "$conf" | grep -v '^log\.\(dir\|file\) ' >"$tmp/all.conf"
n=$(wc -l <"$tmp/all.conf")
[ "$n" -ge 15 ] || fail "only $n keys found in warren.conf"
run_with_conf "$tmp/all.conf" "warren.conf with its $n keys uncommented"

echo "install-check: all passed"
