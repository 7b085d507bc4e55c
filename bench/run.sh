#!/bin/sh
# bench/run.sh [--build DIR]: make bench.  Runs every benchmark of bench/
# one after the other, each with a time limit, its whole report kept in
# a log, and prints ONE table at the end: benchmark, mdir's figure, the
# program it is measured against, that program's figure, the ratio, the
# issue's target and whether it is met.  A benchmark that fails or runs
# out of time is a line of the table, not the end of the run.
#
# Sizes (environment), the defaults keeping a run under about 8 minutes
# on a 2-core VM:
#   BENCH_RECEIVE_N=400   messages, bench/receive.sh
#   BENCH_LMTP_N=400      messages, bench/lmtp.sh (BENCH_LMTP_SESSIONS=4,
#                         BENCH_LMTP_ROUNDS=3)
#   BENCH_CLASSIFY_N=200  messages, bench/classify.sh, the many-rules case too
#   BENCH_POLICY_N=10000  requests, bench/policy.sh (BENCH_POLICY_ROUNDS=3, medians)
#   BENCH_OUTBOX_N=200    messages, bench/outbox.sh (BENCH_OUTBOX_CHUNK=25)
#   BENCH_PARTS=100000    parts, bench/many-parts.sh
#   BENCH_BATCH_PARTS=10000 parts, bench/big-batch.sh
#   BENCH_LIMIT=300       seconds a benchmark may take
#   BENCH_ONLY="lmtp outbox" only those
#   BENCH_LOG=DIR         where the logs go (default: BUILD/bench)
# Needs root for most (Dovecot, maildrop and postgrey run as other users,
# Postfix's private instance); run as another user, those are lines that
# say so.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
if [ "${1:-}" = --build ]; then
	build=$(cd "$2" && pwd) || exit 1
fi
export MDIR_BUILD=$build
log=${BENCH_LOG:-$build/bench}
mkdir -p "$log" || exit 1
export BENCH_RESULTS="$log/results.tsv"
: >"$BENCH_RESULTS"
limit=${BENCH_LIMIT:-300}
only=${BENCH_ONLY:-}

began=$(date +%s)
load0=$(cut -d ' ' -f 1-3 /proc/loadavg)
echo "make bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $load0;" \
	"commit $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?'); logs in $log"

# one NAME LABEL SCRIPT ARGS...: runs bench/SCRIPT, its output to
# $log/NAME.log; a failure or a time-out becomes the table's line
one() {
	name=$1 label=$2 script=$3
	shift 3
	case " ${only:-$name} " in *" $name "*) ;; *) return 0 ;; esac
	lines=$(wc -l <"$BENCH_RESULTS")
	t=$(date +%s)
	printf 'bench: %-12s %s ... ' "$name" "$label"
	# timeout puts the benchmark in a process group of its own and, at
	# the limit, signals all of it: servers it started end with it
	timeout -k 10 "$limit" sh "$top/bench/$script" "$@" >"$log/$name.log" 2>&1
	rc=$?
	secs=$(($(date +%s) - t))
	case $rc in
	0) echo "$secs s" ;;
	124 | 137) echo "out of time after $secs s (BENCH_LIMIT=$limit)"
		printf '%s\t%s\t-\t-\t-\t-\t-\n' "$name: out of time, see $log/$name.log" "-" >>"$BENCH_RESULTS" ;;
	*) echo "failed, exit $rc after $secs s: $(tail -n 1 "$log/$name.log")"
		printf '%s\t%s\t-\t-\t-\t-\t-\n' "$name: failed (exit $rc), see $log/$name.log" "-" \
			>>"$BENCH_RESULTS" ;;
	esac
	# a benchmark that ended well but wrote no figure says so too
	if [ $rc = 0 ] && [ "$(wc -l <"$BENCH_RESULTS")" = "$lines" ]; then
		printf '%s\t-\t-\t-\t-\t-\t-\n' "$name: no figures, see $log/$name.log" >>"$BENCH_RESULTS"
	fi
}

one receive "pipe mode vs dovecot-lda, ${BENCH_RECEIVE_N:-400} messages" \
	receive.sh "${BENCH_RECEIVE_N:-400}"
one lmtp "LMTP vs dovecot-lmtpd and the floor, ${BENCH_LMTP_N:-400} messages" \
	lmtp.sh "${BENCH_LMTP_N:-400}" "${BENCH_LMTP_SESSIONS:-4}"
one classify "rules vs maildrop and Sieve, 100 rules, ${BENCH_CLASSIFY_N:-200} messages" \
	classify.sh "${BENCH_CLASSIFY_N:-200}"
one policy "smtp-stats policy vs postgrey, ${BENCH_POLICY_N:-10000} requests" \
	policy.sh "${BENCH_POLICY_N:-10000}"
one outbox "mdir-outbox vs Postfix's sendmail, ${BENCH_OUTBOX_N:-200} messages" \
	outbox.sh "${BENCH_OUTBOX_N:-200}"
one many-parts "one message of ${BENCH_PARTS:-100000} parts" many-parts.sh "${BENCH_PARTS:-100000}"
one big-batch "mdird and one batch of ${BENCH_BATCH_PARTS:-10000} parts" \
	big-batch.sh "${BENCH_BATCH_PARTS:-10000}"

echo
echo "make bench: $(($(date +%s) - began)) s; load average $load0 before, $(cut -d ' ' -f 1-3 /proc/loadavg) after"
echo
# the table: ratios are mdir's figure over the other's (for times and
# sizes, below 1 is better; for rates, above 1)
awk -F '\t' '
BEGIN { h[1] = "benchmark"; h[2] = "mdir"; h[3] = "compared with"; h[4] = "its figure"
	h[5] = "ratio"; h[6] = "target"; h[7] = "met"
	for (i = 1; i <= 7; i++) w[i] = length(h[i]) }
{ n++; for (i = 1; i <= 7; i++) { c[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
END {
	for (i = 1; i <= 7; i++) printf "%-*s%s", w[i], h[i], i < 7 ? "  " : "\n"
	for (i = 1; i <= 7; i++) { s = ""; for (j = 0; j < w[i]; j++) s = s "-"; printf "%s%s", s, i < 7 ? "  " : "\n" }
	for (r = 1; r <= n; r++)
		for (i = 1; i <= 7; i++) printf "%-*s%s", w[i], c[r, i], i < 7 ? "  " : "\n"
}' "$BENCH_RESULTS"
nmet=$(awk -F '\t' '$7 == "met"' "$BENCH_RESULTS" | wc -l)
nnot=$(awk -F '\t' '$7 == "not met"' "$BENCH_RESULTS" | wc -l)
nfail=$(awk -F '\t' '$1 ~ /: (failed|out of time|no figures)/' "$BENCH_RESULTS" | wc -l)
echo
echo "targets: $nmet met, $nnot not met; benchmarks failed: $nfail"
exit 0
