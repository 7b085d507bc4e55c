#!/bin/sh
# mdird under load and through crashes: 500 messages from 20 concurrent
# mdir-receive processes are all filed exactly once, and versions and
# .changes agree with the entries; mdird down during delivery, then
# started; kill -9 in the middle of filing, then a restart: nothing lost,
# nothing filed twice.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 17

JO=SMTP/Accounts/jo@example.org
A=$MDIR_ROOT/$JO
mstore mkdir "$JO" >/dev/null
# the PDF of every message goes on to a folder of its own: two folders to check
printf 'if content-type = application/pdf then move Docs\n' >"$A/.rules"
msg=$DATA/multipart-mixed.eml
printf 'mdir-receive -c %s -- jo@example.org <%s/m$1.eml\n' "$MD_CONF" "$T" >"$T/one.sh"
mkmsgs() { # FROM TO: messages with Message-IDs <N@load.test>
	i=$1
	while [ "$i" -le "$2" ]; do
		sed "s/^Message-ID: .*/Message-ID: <$i@load.test>/" "$msg" >"$T/m$i.eml"
		i=$((i + 1))
	done
}
# every url filed into a folder once: the records' url fields, no repeats
urls_once() {
	n=$(cat "$MDIR_ROOT/$1"/.meta/* | grep -c '^url: ')
	u=$(cat "$MDIR_ROOT/$1"/.meta/* | grep '^url: ' | sort -u | wc -l)
	[ "$n" = "$u" ] && [ "$n" = "$2" ]
}
# the version, the entries and .changes agree
agree() {
	v=$(mstore version "$1")
	e=$(mstore ls "$1" | wc -l)
	c=$(grep -c ' + ' "$MDIR_ROOT/$1/.changes")
	[ "$v" = "$2" ] && [ "$e" = "$2" ] && [ "$c" = "$2" ]
}

md_start || { echo "Bail out! mdird did not start"; exit 1; }
mkmsgs 1 500
start=$(date +%s%N)
seq 1 500 | xargs -P 20 -n 1 sh "$T/one.sh"
ok $? "500 deliveries, 20 at a time: all exit 0"
md_drain 60
ok $? "the queue drains (no 30 s without progress)"
ms=$((($(date +%s%N) - start) / 1000000))
diag "500 messages received and filed in $ms ms"
ok "$(agree "$JO" 1500; echo $?)" "the account: 1500 entries, version 1500, 1500 changes"
ok "$(agree Docs 500; echo $?)" "Docs: 500 entries, version 500, 500 changes"
ok "$(urls_once "$JO" 1500; echo $?)" "every part filed into the account exactly once"
ok "$(urls_once Docs 500; echo $?)" "every PDF filed into Docs exactly once"
like "$(md_ask STATUS | tr '\n' ' ')" "250-batches 500 250-entries 2000 " "STATUS counts them"

# mdird down during delivery, then started
md_stop TERM
is "$MD_RC" 0 "stopped"
mkmsgs 501 700
seq 501 700 | xargs -P 10 -n 1 sh "$T/one.sh"
ok $? "200 more delivered while mdird is down"
is "$(ls "$MDIR_ROOT/.mdird/queue" | wc -l)" 200 "they wait in the queue"

# kill -9 in the middle of filing, a few times, then let it finish
printf '[mdird]\nround_size = 5\n' >>"$MD_CONF"
kills=0
for round in 1 2 3; do
	md_start || break
	# wait until it has filed something since this start, then kill:
	# only a kill that hit filing under way counts
	before=$(mstore version "$JO")
	wait_for 10 sh -c "[ \$(mstore version '$JO') -gt $before ]" && kills=$((kills + 1))
	md_stop KILL
done
is "$kills" 3 "killed three times while filing"
left=$( (ls -1 "$MDIR_ROOT/.mdird/queue"; ls -1 "$MDIR_ROOT/.mdird/work") | wc -l)
diag "left after the kills: $left batches"
ok "$([ "$left" -gt 0 ]; echo $?)" "the kills left batches to file"
md_start
# before its first round a restarted mdird logs what the kills left
# unlogged, every entry looked at: a minute under the sanitizer build
md_drain 180
ok $? "after a restart the queue drains"
_md_queue_empty || diag "left: $(_md_batches) batches" "$(tail -n 20 "$MD_LOG")"
ok "$(agree "$JO" 2100; echo $?)" "the account: 2100 entries, version and changes agree"
ok "$(agree Docs 700; echo $?)" "Docs: 700"
ok "$(urls_once "$JO" 2100; echo $?)" "nothing filed twice in the account"
ok "$(urls_once Docs 700; echo $?)" "nor in Docs"
