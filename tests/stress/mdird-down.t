#!/bin/sh
# mdird down during a thousand deliveries: every one exits 0 and its batch
# waits in the queue; then mdird starts and files them all.  Exactly once
# per (message, recipient), nothing partial, fsck clean.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
. "$MDIR_SRC/tests/stress/lib.sh"
plan 9

n=$(st_scale 1000 100)
st_setup
st_messages "$n"
st_list 1 "$n" >"$T/list"
st_deliver 4 0 "$T/list"
is "$(awk '$3 != 0' "$T/results" | wc -l)" 0 "all $n messages delivered with mdird down"
is "$(ls "$MDIR_ROOT/.mdird/queue" | wc -l)" "$(wc -l <"$T/list")" "a batch for each waits in the queue"
md_start || { echo "Bail out! mdird did not start"; exit 1; }
md_idle "$(st_scale 600 60)"
ok $? "mdird, started, drains the queue"
st_check '0'
st_figures mdird-down
