#!/bin/sh
# make check-symbols: every symbol a module library exports (global and
# defined) carries its module's prefix (STYLE.md section 2).  Arguments
# are the libraries' paths; a library that does not exist (not built, or
# not written yet) is skipped, and so is one this script has no rule for.
#
#   tests/check-symbols.sh amqp/libamqp.a server/libserver.a
NM=${NM:-nm}

prefixes() {
	case $1 in
	*amqp/libamqp.a) echo "amqp_" ;;
	*server/libserver.a)
		echo "conn_ chan_ queue_ exchange_ msg_ broker config_ listener_ hmap_ persist_" \
		     "transport_ log_ fatalx topic_ headers_ vhost_ user_" \
		     "consumer_ main def_ auth_ inspect_ policy_ notify_" ;;
	*storage/libstorage.a) echo "store_" ;;
	*mgmt/libmgmt.a) echo "mgmt_" ;;
	*) echo "" ;;
	esac
}

status=0
for lib in "$@"; do
	if [ ! -f "$lib" ]; then
		echo "check-symbols: $lib: not built, skipped"
		continue
	fi
	allowed=$(prefixes "$lib")
	if [ -z "$allowed" ]; then
		echo "check-symbols: $lib: no prefix rule, skipped"
		continue
	fi
	# nm -P: "name type value size"; upper-case types are global, U is
	# undefined.  Names the compiler makes for sanitizers and coverage
	# are not ours.
	if ! syms=$($NM -g -P "$lib"); then
		echo "check-symbols: $lib: $NM failed" >&2
		status=1
		continue
	fi
	bad=$(printf '%s\n' "$syms" | awk -v allowed="$allowed" '
		NF >= 2 && $2 ~ /^[A-TV-Z]$/ {
			name = $1
			if (name ~ /^(__asan|__odr_asan|__ubsan|__sancov|__sanitizer|asan\.|sancov\.)/)
				next
			n = split(allowed, p, " ")
			ok = 0
			for (i = 1; i <= n; i++)
				if (substr(name, 1, length(p[i])) == p[i]) {
					ok = 1
					break
				}
			if (!ok)
				print name
		}' | sort -u)
	if [ -n "$bad" ]; then
		echo "check-symbols: $lib exports symbols without a prefix ($allowed):" >&2
		echo "$bad" | sed 's/^/  /' >&2
		status=1
	else
		echo "check-symbols: $lib: ok"
	fi
done
exit $status
