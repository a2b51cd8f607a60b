#!/bin/sh
# Install what building and testing warren needs, from Debian 12 packages.
#   tests/deps.sh build   the build only (compiler, autotools, libraries)
#   tests/deps.sh test    the build, the test clients, clang for sanitizers/fuzzing
set -eu
what=${1:-test}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
build_pkgs="build-essential autoconf automake pkg-config libev-dev libssl-dev libjansson-dev check libhttp-parser-dev"
# rabbitmqadmin comes with Debian's rabbitmq-server package (the broker itself is not started)
# chromium: the web console's browser tests (tests/browser/, driven by playwright-core from npm)
test_pkgs="chromium python3 python3-pika python3-amqp python3-kombu python3-prometheus-client amqp-tools rabbitmq-server clang libclang-rt-14-dev librabbitmq-dev"
# tests/install-check.sh: systemd-analyze verify, man -l; test_tls: the openssl CLI makes its certificates
test_pkgs="$test_pkgs systemd man-db openssl"
# amqplib's and the browser tests need node and npm; keep a Node.js that is already there.
command -v npm >/dev/null 2>&1 || test_pkgs="$test_pkgs nodejs npm"
pkgs=$build_pkgs
[ "$what" = test ] && pkgs="$build_pkgs $test_pkgs"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
