# tests/lib/clock.sh: a clock the test sets, for the programs it starts
# under libfaketime, so that a delay is tested on both sides of its
# boundary instead of by sleeping past it.  Source it after tests/lib.sh:
#
#   clock_require         skip the whole file unless libfaketime is installed
#   clock_set EPOCH       the clock stands still at EPOCH (seconds) until set again
#   clock_run CMD...      CMD (and its children) read the clock
#   clock_exec CMD... &   the same in the background: the subshell becomes
#                         CMD, so $! is CMD's PID (to kill it at exit)
#
# Only the wall clock is faked: timers and time-outs (CLOCK_MONOTONIC) run,
# and files keep their true times (NO_FAKE_STAT).

CLOCK_LIB=
for _l in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
	[ -f "$_l" ] && { CLOCK_LIB=$_l; break; }
done
CLOCK_FILE=$T/clock

clock_require() {
	[ -n "$CLOCK_LIB" ] || skip_all "libfaketime is not installed (make deps)"
}

clock_set() {
	TZ=UTC date -d "@$1" '+%Y-%m-%d %H:%M:%S' >"$CLOCK_FILE.new" &&
		chmod 644 "$CLOCK_FILE.new" && mv "$CLOCK_FILE.new" "$CLOCK_FILE"
}

clock_run() { (clock_exec "$@"); }

clock_exec() {
	[ -f "$CLOCK_FILE" ] || clock_set "$(date +%s)"
	exec env -u FAKETIME TZ=UTC LD_PRELOAD="$CLOCK_LIB" FAKETIME_TIMESTAMP_FILE="$CLOCK_FILE" \
		FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 NO_FAKE_STAT=1 \
		ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" "$@"
}
