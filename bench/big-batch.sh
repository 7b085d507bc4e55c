#!/bin/sh
# bench/big-batch.sh [N [same]]: one message of N tiny parts (default
# 20000; "same" names them all many.txt, as the issue's attack did) queued
# for mdird, then an ordinary message behind it.  Prints how long mdir-receive
# took for the big one, how long until mdird filed the ordinary one (target:
# within 5 s), how long the big batch took in all, and how long mdird took
# to stop on SIGTERM in the middle of it (target: within 1 s).  Needs no
# root and installs nothing.
set -eu
n=${1:-20000}
same=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MDIR_BUILD:-$top/build}/bin
[ -x "$bin/mdird" ] || { echo "bench: build first (make)" >&2; exit 1; }
. "$top/bench/lib.sh"

W=$(mktemp -d /var/tmp/mdir-bench.XXXXXX) # on disk, as mail is: not a tmpfs
md_pid=
stop_md() {
	if [ -n "$md_pid" ]; then
		kill "$md_pid" 2>/dev/null || true
		wait "$md_pid" 2>/dev/null || true
	fi
	md_pid=
}
trap 'stop_md; rm -rf "$W"' EXIT
export MDIR_ROOT="$W/root"
conf=$W/mdir.conf
printf '[mdir]\nroot = %s\nlog_level = warning\n[receive]\nmax_parts = %s\n' "$MDIR_ROOT" \
	"$((n + 10))" >"$conf"
jo=SMTP/Accounts/jo@example.org
now() { date +%s%N; }
ms() { echo $((($(now) - $1) / 1000000)); }

python3 - "$W/big.eml" "$n" "$same" <<'PY'
import sys
path, n, same = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "same"
with open(path, "w", newline="") as f:
    f.write("From: a@example.org\r\nTo: jo@example.org\r\nSubject: many\r\n"
            "Message-ID: <big@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n")
    for i in range(n):
        name = "many.txt" if same else "p%06d.txt" % i
        f.write("--b\r\nContent-Type: text/plain; name=%s\r\n\r\nx\r\n" % name)
    f.write("--b--\r\n")
PY
printf 'From: b@example.org\r\nTo: jo@example.org\r\nSubject: ordinary\r\nMessage-ID: <small@example.org>\r\n\r\nhello\r\n' >"$W/small.eml"

fresh() {
	stop_md
	rm -rf "$MDIR_ROOT"
	"$bin/mstore" -c "$conf" mkdir "$jo" >/dev/null 2>&1 || "$bin/mstore" mkdir "$jo" >/dev/null
}
receive() { "$bin/mdir-receive" -c "$conf" -f s@sender.test -- jo@example.org <"$1" >/dev/null; }
start_md() {
	"$bin/mdird" -F -c "$conf" 2>>"$W/mdird.log" &
	md_pid=$!
}
work_busy() { [ -n "$(ls "$MDIR_ROOT/.mdird/work" 2>/dev/null)" ]; }
wait_for() { # COMMAND...: polls, at most 10 minutes
	_end=$(($(date +%s) + 600))
	while ! "$@"; do
		[ "$(date +%s)" -lt "$_end" ] || { echo "bench: timed out: $*" >&2; exit 1; }
		sleep 0.01
	done
}
small_filed() { grep -q ' + ordinary' "$MDIR_ROOT/$jo/.changes" 2>/dev/null; }
all_done() { [ -z "$(ls "$MDIR_ROOT/.mdird/queue")" ] && ! work_busy; }

printf 'one message of %d parts (%s), then an ordinary one; bench/big-batch.sh\n\n' "$n" \
	"${same:+all named many.txt}${same:-each its own name}"
fresh
t=$(now)
receive "$W/big.eml"
printf 'mdir-receive, the big message:        %6d ms (%s bytes)\n' "$(ms "$t")" \
	"$(wc -c <"$W/big.eml")"
start_md
wait_for work_busy
t=$(now)
receive "$W/small.eml"
wait_for small_filed
ms_small=$(ms "$t")
printf 'the ordinary message, queued behind:  %6d ms after its delivery (target 5000)\n' "$ms_small"
bench_result "big-batch: $n parts, the next message" "$ms_small ms" "-" "-" "-" "< 5000 ms" \
	"$(bench_met "$ms_small" lt 5000)"
wait_for all_done
printf 'the big batch, filed whole:           %6d entries in %s\n' \
	"$(grep -c ' + ' "$MDIR_ROOT/$jo/.changes")" "$jo"
stop_md

fresh
receive "$W/big.eml"
t=$(now)
start_md
wait_for all_done
printf 'mdird alone, the big batch:           %6d ms\n' "$(ms "$t")"
stop_md

fresh
receive "$W/big.eml"
start_md
wait_for work_busy
sleep 0.5
t=$(now)
kill -TERM "$md_pid"
wait "$md_pid" || true
md_pid=
ms_term=$(ms "$t")
printf 'SIGTERM in the middle of it:          %6d ms to exit (target 1000)\n' "$ms_term"
bench_result "big-batch: SIGTERM in the middle" "$ms_term ms" "-" "-" "-" "< 1000 ms" \
	"$(bench_met "$ms_term" lt 1000)"
start_md
wait_for all_done
stop_md
printf 'then restarted, filed whole:          %6d entries, each once\n' \
	"$(grep -c ' + ' "$MDIR_ROOT/$jo/.changes")"
