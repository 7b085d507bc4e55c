# tests/lib/mdird.sh: an mdird of the test's own, on its temporary root.
# Source it after tests/lib.sh:
#
#   md_start [ARGS]      mdird -F -c $MD_CONF in the background; waits for
#                        its socket; sets $MD_PID; stopped at exit
#   md_ask LINES...      sends LINES (and QUIT) with socat; the reply, with
#                        CRs removed, on stdout
#   md_stop [SIGNAL]     signals mdird (TERM) and waits for it; sets $MD_RC
#   md_idle [SECONDS]    polls until the queue is empty (10 s at most)
#   md_drain [SECONDS]   polls until the queue is empty, failing only when
#                        no batch was filed for SECONDS (30): as slow as the
#                        build is (the sanitizer's), as long as it moves
#
# $MD_CONF is $T/mdird.conf: the socket at $T/mdird.sock, logs at debug
# level in $T/mdird.log.  Append to it before md_start.

MD_CONF=$T/mdird.conf
MD_SOCK=$T/mdird.sock
MD_LOG=$T/mdird.log
MD_PID=
printf '[mdir]\nroot = %s\nsocket = %s\nlog_level = debug\n' "$MDIR_ROOT" "$MD_SOCK" >"$MD_CONF"

_md_cleanup() { [ -n "$MD_PID" ] && kill -9 "$MD_PID" 2>/dev/null; true; }
at_exit _md_cleanup

md_start() {
	mdird -F -c "$MD_CONF" "$@" >>"$MD_LOG" 2>&1 &
	MD_PID=$!
	wait_for 10 test -S "$MD_SOCK" || { echo "# mdird did not start"; cat "$MD_LOG" | sed 's/^/# /'; return 1; }
}

md_ask() {
	{ for l in "$@"; do printf '%s\r\n' "$l"; done; printf 'QUIT\r\n'; } |
		timeout 10 socat -t 5 - UNIX-CONNECT:"$MD_SOCK" | tr -d '\r'
}

md_stop() {
	kill -"${1:-TERM}" "$MD_PID" 2>/dev/null
	wait "$MD_PID"
	MD_RC=$?
	MD_PID=
}

_md_queue_empty() {
	[ -z "$(ls "$MDIR_ROOT/.mdird/queue" 2>/dev/null)" ] &&
		[ -z "$(ls "$MDIR_ROOT/.mdird/work" 2>/dev/null)" ]
}
md_idle() { wait_for "${1:-10}" _md_queue_empty; }

_md_batches() {
	{ ls -1 "$MDIR_ROOT/.mdird/queue"; ls -1 "$MDIR_ROOT/.mdird/work"; } 2>/dev/null | wc -l
}

_md_fewer() { [ "$(_md_batches)" -lt "$_left" ]; }

md_drain() {
	_stall=${1:-30}
	_left=$(_md_batches)
	while [ "$_left" -gt 0 ]; do
		wait_for "$_stall" _md_fewer || return 1
		_left=$(_md_batches)
	done
	return 0
}
