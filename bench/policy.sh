#!/bin/sh
# bench/policy.sh [N]: the policy service against postgrey, answering the
# same request streams in the same run, taking turns: requests/s over one
# connection and over 20, with the median and 99th percentile latency, the
# medians of BENCH_POLICY_ROUNDS rounds.  Then learn's rate.
# Needs root (installs postgrey; postgrey runs as its own user).
set -eu
n=${1:-10000}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MDIR_BUILD:-$top/build}/bin
[ -x "$bin/smtp-stats" ] || { echo "bench: build first (make)" >&2; exit 1; }
. "$top/bench/lib.sh"
if ! command -v postgrey >/dev/null; then
	bench_need postgrey bc socat
	service postgrey stop >/dev/null 2>&1 || true # ours runs on its own port
fi
W=$(mktemp -d /var/tmp/mdir-bench.XXXXXX)
pids=
trap 'for p in $pids; do kill $p 2>/dev/null || true; done; rm -rf "$W"' EXIT
chmod 755 "$W"
cc -O2 -o "$W/client" "$top/bench/policy-client.c"
export MDIR_ROOT=$W/root
p1=$((20000 + $$ % 10000))
p2=$((p1 + 1))
printf '[mdir]\nroot = %s\nlog_level = warning\n[receive]\nlocal_domains = example.test\n[stats]\npolicy_listen = inet:127.0.0.1:%s\n' \
	"$MDIR_ROOT" "$p1" >"$W/c.conf"
"$bin/mstore" mkdir SMTP/Accounts/jo@example.test >/dev/null
"$bin/smtp-stats" -c "$W/c.conf" policy &
pids="$pids $!"
mkdir -p "$W/postgrey"
chown postgrey "$W/postgrey" 2>/dev/null || chown nobody "$W/postgrey"
postgrey --inet=127.0.0.1:$p2 --dbdir="$W/postgrey" --delay=300 \
	--user="$(id -un postgrey 2>/dev/null || echo nobody)" >/dev/null 2>&1 &
pids="$pids $!"
up() { printf 'request=smtpd_access_policy\nclient_address=1.2.3.4\nsender=a@b\nrecipient=c@d\n\n' |
	timeout 2 socat -t 1 - TCP:127.0.0.1:$1 2>/dev/null | grep -q action; }
for p in $p1 $p2; do i=0; until up $p; do i=$((i + 1)); [ $i -lt 500 ] || exit 1; sleep 0.02; done; done

# Rounds (BENCH_POLICY_ROUNDS, 3): smtp-stats and postgrey take turns, the
# one that goes first alternating, each round on a fresh pool of triplets
# (the client's BASE) so that every run sends the same mix, new triplets
# and retries, to both.  Each figure is the median of its rounds.
rounds=${BENCH_POLICY_ROUNDS:-3}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf 'requests: %d a run, %d rounds; triplets from a pool of 5000, a new pool a round\n\n' \
	"$n" "$rounds"
printf '%-12s %-12s %5s %10s %8s %8s %10s\n' server connections round req/s p50-ms p99-ms client-cpu
for c in 1 20; do
	r=1
	while [ $r -le "$rounds" ]; do
		order="smtp-stats postgrey"
		[ $((r % 2)) = 0 ] && order="postgrey smtp-stats"
		for s in $order; do
			port=$p1
			[ $s = postgrey ] && port=$p2
			set -- $("$W/client" 127.0.0.1 $port "$n" $c $((c * 1000000 + r * 5000)))
			printf '%-12s %-12s %5s %10s %8s %8s %9ss\n' $s $c $r "$1" "$2" "$3" "$4"
			eval "all_${s%-*}_$c=\"\${all_${s%-*}_$c:-} $1\" p99all_${s%-*}_$c=\"\${p99all_${s%-*}_$c:-} $3\""
		done
		r=$((r + 1))
	done
	for s in smtp postgrey; do
		eval "r_${s}_$c=\$(median \$all_${s}_$c) p99_${s}_$c=\$(median \$p99all_${s}_$c)"
	done
done
printf '\nmedians of %d rounds:\n' "$rounds"
printf '%-12s %-12s %10s %8s\n' server connections req/s p99-ms
for c in 1 20; do
	eval "printf '%-12s %-12s %10s %8s\n' smtp-stats $c \$r_smtp_$c \$p99_smtp_$c"
	eval "printf '%-12s %-12s %10s %8s\n' postgrey $c \$r_postgrey_$c \$p99_postgrey_$c"
done
printf '\nsmtp-stats / postgrey, one connection: %.1fx\n' "$(echo "$r_smtp_1 / $r_postgrey_1" | bc -l)"
printf 'smtp-stats / postgrey, 20 connections: %.1fx\n' "$(echo "$r_smtp_20 / $r_postgrey_20" | bc -l)"
r=$(bench_ratio "$r_smtp_20" "$r_postgrey_20")
bench_result "policy: 20 connections" "$r_smtp_20 req/s" "postgrey --delay=300" "$r_postgrey_20 req/s" \
	"$r" ">= 10x" "$(bench_met "$r" ge 10)"
bench_result "policy: 20 connections, p99" "$p99_smtp_20 ms" "postgrey" "$p99_postgrey_20 ms" \
	"$(bench_ratio "$p99_smtp_20" "$p99_postgrey_20")" "< 2 ms" "$(bench_met "$p99_smtp_20" lt 2)"
bench_result "policy: 1 connection" "$r_smtp_1 req/s" "postgrey --delay=300" "$r_postgrey_1 req/s" \
	"$(bench_ratio "$r_smtp_1" "$r_postgrey_1")" "-" "-"

# learn: a spam folder of sync-client copies (files without records)
/usr/bin/python3 "$top/bench/gen-corpus.py" "$W/corpus" 1000 >/dev/null
"$bin/mstore" mkdir SMTP/Spam >/dev/null
i=0
for f in "$W"/corpus/*.eml; do
	i=$((i + 1))
	{ printf 'Received: from h (h [10.%d.%d.1])\n\tby mx.example.test\n' $((i % 200)) $((i % 7)); cat "$f"; } \
		>"$MDIR_ROOT/SMTP/Spam/$i.eml"
done
start=$(date +%s%N)
"$bin/smtp-stats" -c "$W/c.conf" learn >/dev/null
ns=$(($(date +%s%N) - start))
printf '\nlearn: %d messages in %.2f s, %.0f messages/s\n' "$i" "$(echo "$ns / 10^9" | bc -l)" \
	"$(echo "$i * 10^9 / $ns" | bc -l)"
