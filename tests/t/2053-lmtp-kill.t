#!/bin/sh
# kill -9 at random moments, over LMTP: the resident server's session
# processes are killed again and again while four clients deliver, and
# the server itself now and then (started again at once); a client
# tries again on a new connection after a lost one or a 4xx, as Postfix
# does.  Then mdird files what was queued.  Exactly once per (message,
# recipient), nothing partial, fsck clean: no message that got a 250 is
# lost, none is filed twice (tests/stress/lib.sh checks).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
. "$MDIR_SRC/tests/stress/lib.sh"
command -v python3 >/dev/null || skip_all "no python3"
plan 8

n=$(st_scale 2000 400)
st_setup
st_messages "$n"
st_list 1 "$n" >"$T/list"
S=$T/lmtp.sock
printf '[receive]\nlmtp_max_sessions = 10\n' >>"$MD_CONF"

start_server() {
	mdir-receive -c "$MD_CONF" --lmtp=unix:"$S" >>"$T/server.log" 2>&1 &
	echo $! >"$T/server.pid"
}
stop_server() { kill "$(cat "$T/server.pid")" 2>/dev/null; true; }
at_exit stop_server
start_server
wait_for 10 test -S "$S" || { echo "Bail out! the LMTP server did not start"; exit 1; }

# the killer: a session process every 5..50 ms, the server every tenth time
killer() {
	i=0
	while [ ! -e "$T/stop-killer" ]; do
		sleep "$(printf '0.%03d' $((5 + $(rand) % 45)))"
		i=$((i + 1))
		srv=$(cat "$T/server.pid")
		if [ $((i % 10)) = 0 ]; then
			kill -9 "$srv" 2>/dev/null && echo s >>"$T/kills"
			wait "$srv" 2>/dev/null
			start_server
			continue
		fi
		child=$(pgrep -P "$srv" | shuf -n 1)
		[ -n "$child" ] && kill -9 "$child" 2>/dev/null && echo c >>"$T/kills"
	done
}
: >"$T/kills"
killer &
KILLER=$!
for r in jo@example.org ann@example.org; do
	grep "^$r " "$T/list" | cut -d' ' -f2 |
		xargs -n 25 -P 4 python3 "$MDIR_SRC/tests/lib/lmtp-deliver.py" "$S" "$T/results" "$r"
done
touch "$T/stop-killer"
wait "$KILLER"
ok "$([ "$(grep -c c "$T/kills")" -gt 0 ] && [ "$(grep -c s "$T/kills")" -gt 0 ]; echo $?)" \
	"sessions ($(grep -c c "$T/kills")) and the server ($(grep -c s "$T/kills")) killed while they delivered"
md_start || { echo "Bail out! mdird did not start"; exit 1; }
md_idle 120
ok $? "mdird drains the queue"
st_check '0|75|137'
st_figures lmtp-kill "session kills $(grep -c c "$T/kills"), server kills $(grep -c s "$T/kills")"
