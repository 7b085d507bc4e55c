#!/bin/sh
# A root on a small tmpfs filled up while mdird files: every try exits 0
# or 75 (4.3.1), never 67 or anything else; then space returns, Postfix's
# retries deliver the rest, and everything is filed exactly once per
# (message, recipient), nothing partial, fsck clean.  Needs root (mount).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
ST_OWN_ROOT=1
. "$MDIR_SRC/tests/stress/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root to mount a tmpfs"
st_tmpfs "$(st_scale 4m 1m)" || skip_all "cannot mount a tmpfs: $(cat "$T/mount.err")"
plan 10

n=$(st_scale 300 60)
st_setup
st_messages "$n" 24000
st_list 1 "$n" >"$T/list"
md_start || { echo "Bail out! mdird did not start"; exit 1; }
# Postfix's first try of each: no retry yet (deliver.sh would retry at once)
while read -r r f; do
	mdir-receive -c "$MD_CONF" -- "$r" <"$f" >"$T/out" 2>&1
	rc=$?
	echo "$rc $r $f $(head -c 60 "$T/out")" >>"$T/first"
done <"$T/list"
full=$(awk '$1 == 75' "$T/first" | wc -l)
ok "$([ "$full" -gt 0 ]; echo $?)" "the disk filled up: $full of $(wc -l <"$T/list") deliveries deferred"
is "$(awk '$1 != 0 && $1 != 75' "$T/first" | head -n 3)" "" "every first try exited 0 or 75"
is "$(awk '$1 == 75 && $4 != "4.3.1"' "$T/first" | head -n 3)" "" "and each 75 said 4.3.1, mail system full"
# space returns; Postfix retries the deferred ones (deliver.sh), and the
# delivered ones are not delivered again: their first result stands
mount -o remount,size=256m "$T/fs"
awk '$1 == 0 { print $3, $2, 0, 1, 0, "0," }' "$T/first" >"$T/results"
awk '$1 != 0 { print $2, $3 }' "$T/first" >"$T/retry"
st_deliver 4 0 "$T/retry"
# tries counted: the first of each and the retries
awk 'NR == FNR { if ($1 != 0) first[$3 " " $2] = $1 ","; next }
	{ k = $1 " " $2; if (k in first) { $4++; $6 = first[k] $6 } print }' \
	"$T/first" "$T/results" >"$T/results.new" && mv "$T/results.new" "$T/results"
md_idle "$(st_scale 300 60)"
ok $? "mdird files everything once space is back"
st_check '0|75'
st_figures full-disk "deferred by the full disk $full"
