#!/bin/sh
# tests/stress/deliver.sh CONF RESULTS KILL_PERCENT RECIPIENT FILE...
#
# Delivers each FILE to RECIPIENT as Postfix's pipe(8) does: mdir-receive
# is run again after a 75 or a signal, until it exits 0 or 67 (at most 50
# tries).  With KILL_PERCENT > 0, each try is killed -9 with that chance
# at a random moment of its first 50 ms (a delivery takes about 20), so
# kills land at every step.  Appends one line per FILE to RESULTS:
#   FILE RECIPIENT FINAL-CODE TRIES KILLS CODE,CODE,...
# (one short write with O_APPEND: lines of parallel runs do not mix).
conf=$1 results=$2 pct=$3 rcpt=$4
shift 4
rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }
for file in "$@"; do
	tries=0 kills=0 codes= rc=
	while [ "$tries" -lt 50 ]; do
		tries=$((tries + 1))
		if [ "$pct" -gt 0 ] && [ $(($(rand) % 100)) -lt "$pct" ]; then
			mdir-receive -c "$conf" -- "$rcpt" <"$file" >/dev/null 2>&1 &
			pid=$!
			sleep "$(printf '0.%03d' $(($(rand) % 50)))"
			kill -9 "$pid" 2>/dev/null
			{ wait "$pid"; } 2>/dev/null
			rc=$?
		else
			mdir-receive -c "$conf" -- "$rcpt" <"$file" >/dev/null 2>&1
			rc=$?
		fi
		[ "$rc" = 137 ] && kills=$((kills + 1))
		codes=$codes$rc,
		case $rc in 0 | 67) break ;; esac
	done
	echo "$file $rcpt $rc $tries $kills $codes" >>"$results"
done
