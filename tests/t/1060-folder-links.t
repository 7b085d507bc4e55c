#!/bin/sh
# A group member who can write a folder links .changes (or .version,
# .lock, .meta) to a file of the mdir user's outside the root: delivery
# and filing leave that file alone, the mail waits, and fsck --repair
# removes the link (issue 16.3).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 13

JO=SMTP/Accounts/jo@example.org
A=$MDIR_ROOT/$JO
mstore mkdir "$JO" >/dev/null
printf 'private: do not touch\n' >"$T/victim"
cp "$T/victim" "$T/victim.orig"
mkdir "$T/outdir"
ln -s "$T/victim" "$A/.changes"
ln -s "$T/victim" "$A/.version"
ln -s "$T/nowhere" "$A/.lock"
ln -s "$T/outdir" "$A/.meta"

md_start || { echo "Bail out! mdird did not start"; exit 1; }
expect_code 0 "the message is delivered (it waits in the queue)" -- \
	mdir-receive -c "$MD_CONF" -- jo@example.org <"$DATA/multipart-mixed.eml"
wait_for 10 grep -q 'symbolic link' "$MD_LOG"
ok $? "mdird refuses the folder and says why"
ok "$(cmp -s "$T/victim" "$T/victim.orig"; echo $?)" "the file .changes leads to is untouched"
ok "$([ ! -e "$T/nowhere" ]; echo $?)" "no file made where .lock leads"
is "$(ls -A "$T/outdir")" "" "nothing written where .meta leads"
is "$(find "$A" -maxdepth 1 -type f | wc -l)" 0 "nothing filed"

expect_code 73 "mstore refuses the folder too" -- mstore put "$DATA/crlf.eml" "$JO"
like "$err" "symbolic link" "and says why"
expect_code 0 "fsck --repair removes the links" -- mstore fsck --repair "$JO"
is "$(echo "$out" | grep -c 'repaired$')" 4 "four links removed"
md_ask POKE >/dev/null
md_idle
ok $? "the queue drains"
like "$(mstore ls "$JO" | tr '\n' ' ')" "Quarterly report\.eml" "the waiting mail is filed"
ok "$(cmp -s "$T/victim" "$T/victim.orig"; echo $?)" "and the file is still untouched"
