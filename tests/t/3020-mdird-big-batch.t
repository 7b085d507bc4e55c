#!/bin/sh
# mdird and one message of 20,000 parts (issue 15.1; what max_parts lets
# through of it): an ordinary message
# queued behind it is filed within 5 s, SIGTERM in the middle of it is
# honoured within a second, and after a restart every part is filed once.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 8

JO=SMTP/Accounts/jo@example.org
mstore mkdir "$JO" >/dev/null
awk 'BEGIN {
	printf "From: a@example.org\r\nTo: jo@example.org\r\nSubject: many\r\n"
	printf "Message-ID: <big@test>\r\nMIME-Version: 1.0\r\n"
	printf "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	for (i = 1; i <= 20000; i++)
		printf "--b\r\nContent-Type: text/plain; name=p%05d.txt\r\n\r\n%d\r\n", i, i
	printf "--b--\r\n"
}' >"$T/big.eml"
printf 'From: b@example.org\r\nSubject: ordinary\r\nMessage-ID: <small@test>\r\n\r\nhi\r\n' >"$T/small.eml"
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
work_busy() { [ -n "$(ls "$MDIR_ROOT/.mdird/work" 2>/dev/null)" ]; }
filed() { grep -c " + $1" "$MDIR_ROOT/$JO/.changes" 2>/dev/null; }

mdir-receive -c "$MD_CONF" -- jo@example.org <"$T/big.eml"
ok $? "the big message is queued while mdird is down"
# the parts split out of it (max_parts and the size budget of
# mdir.conf(5) stop splitting before 20,000): each is filed
nparts=$(grep -l '^suggested-name: p[0-9]*\.txt$' "$MDIR_ROOT"/.mstore/msg/*/*/.meta/* | wc -l)
md_start || { echo "Bail out! mdird did not start"; exit 1; }
wait_for 60 work_busy
ok $? "mdird plans the big batch and claims it"
t=$(date +%s%N)
mdir-receive -c "$MD_CONF" -- jo@example.org <"$T/small.eml"
wait_for 5 grep -q ' + ordinary' "$MDIR_ROOT/$JO/.changes"
ok $? "the ordinary message behind it is filed within 5 s ($(ms "$t") ms)"
big=$(filed 'p[0-9]*\.txt$')
ok "$([ "$big" -lt "$nparts" ]; echo $?)" "before the big batch is done ($big of $nparts filed)"

kill -TERM "$MD_PID"
t=$(date +%s%N)
wait "$MD_PID"
MD_PID=
took=$(ms "$t")
# the sanitizers make every step 3 to 5 times slower, and a round ends
# with a syncfs(2) that a busy machine can make last seconds
limit=1000
case $MDIR_BUILD in *-san*) limit=5000 ;; esac
ok "$([ "$took" -lt "$limit" ] && echo 0 || echo 1)" "SIGTERM in the middle of it: gone in $took ms (at most $limit)"
work_busy
ok $? "the batch stays claimed, partly filed"

md_start || { echo "Bail out! mdird did not start again"; exit 1; }
md_idle 120
ok $? "restarted, it files the rest"
is "$(filed 'p[0-9]*\.txt$')/$(filed 'p[0-9]*-2\.txt$')" "$nparts/0" "each of its $nparts parts filed once"
