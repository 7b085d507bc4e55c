#!/bin/sh
# kill -9 at random moments: mdir-receive killed in a third of its tries
# and delivered again as Postfix would (until 0 or 67), while mdird is
# started and killed -9 again and again in the middle of its drain (rounds
# of 5 batches).  Then one last mdird files what is left.  Exactly once per
# (message, recipient), nothing partial, fsck clean.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
. "$MDIR_SRC/tests/stress/lib.sh"
plan 8

n=$(st_scale 1000 100)
st_setup
printf '[mdird]\nround_size = 5\n' >>"$MD_CONF"
st_messages "$n"
st_list 1 "$n" >"$T/list"
st_mdird_killer 800
st_deliver 4 33 "$T/list"
st_mdird_killer_stop
mdird_kills=$(wc -l <"$T/mdird-kills")
ok "$([ "$mdird_kills" -gt 0 ]; echo $?)" "mdird was killed while it filed ($mdird_kills times)"
md_start || { echo "Bail out! mdird did not start"; exit 1; }
md_idle 120
ok $? "a last mdird drains the queue"
st_check '0|75|137'
st_figures kill "mdird kills $mdird_kills, litter $(ls -A "$MDIR_ROOT/.mdird/queue" | grep -c '^\.')"
