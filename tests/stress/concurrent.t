#!/bin/sh
# 20 concurrent senders of 500 messages each, mdird filing as they come.
# Exactly once per (message, recipient), nothing partial, fsck clean.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
. "$MDIR_SRC/tests/stress/lib.sh"
plan 8

per=$(st_scale 500 6)
n=$((20 * per))
st_setup
st_messages "$n"
st_list 1 "$n" >"$T/list"
md_start || { echo "Bail out! mdird did not start"; exit 1; }
# 20 senders at once, $per messages each (then ann's, 20 at once too)
st_deliver 20 0 "$T/list" "$per"
ok "$(awk '$3 != 0' "$T/results" | wc -l | grep -qx 0; echo $?)" "all $n messages delivered"
md_idle "$(st_scale 900 60)"
ok $? "mdird drains the queue"
st_check '0'
st_figures concurrent "senders 20"
