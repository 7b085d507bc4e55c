#!/bin/sh
# smtp-stats, what 5000 and 5010 leave out (issue 15): query, publish
# --monthly, spam_action = reject end to end (delivery, learn, policy),
# and the expiry of blacklistings and greylisting triplets, each with the
# clock set by the test (tests/lib/clock.sh), never by sleeping.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/clock.sh"
clock_require
plan 18

free_ports 1
port=$PORT
C=$T/c.conf
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.test\n[stats]\npolicy_listen = inet:127.0.0.1:%s\ngreylist_delay = 2s\ngreylist_expire = 100s\nblacklist_threshold = 3\nspam_min_messages = 2\nspam_ratio_threshold = 0.5\nspam_action = reject\n' \
	"$MDIR_ROOT" "$port" >"$C"
mstore -c "$C" mkdir SMTP/Accounts/jo@example.test SMTP/Spam SMTP/Statistics >/dev/null
DB=$MDIR_ROOT/.stats/stats.db
sql() { /usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("\t".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$DB" "$1"; }
# deliver IP MESSAGE-ID: a message from IP to jo
deliver() {
	sed "s/^Message-ID: .*/Message-ID: <$2>/" "$DATA/multipart-mixed.eml" |
		clock_run mdir-receive -c "$C" -a "$1" -f x@bad.test -- jo@example.test >/dev/null
}

# publish --monthly: on 1 February the report of January, with its figures
jan=$(TZ=UTC date -d '2027-01-15 12:00:00' +%s)
clock_set "$jan"
deliver 192.0.2.10 jan1@t
deliver 192.0.2.10 jan2@t
clock_set "$(TZ=UTC date -d '2027-02-01 00:10:00' +%s)"
clock_run smtp-stats -c "$C" publish -v --monthly >"$T/mid" 2>"$T/err"
ok $? "publish --monthly"
like "$(cat "$T/mid")" '^stats-2027-01\.[0-9]+@mdir$' "the month just ended, January, in its Message-ID"
b=$(grep -l 'statistics' "$MDIR_ROOT"/.mdird/queue/* | tail -n 1)
is "$(grep -m1 '^account: ' "$b" | cut -d' ' -f2)" "SMTP/Statistics" "queued for SMTP/Statistics"
url=$(grep -m1 '^url: ' "$b" | cut -d' ' -f2)
mstore cat "$url" >"$T/report.eml"
like "$(grep -m1 '^Subject:' "$T/report.eml")" 'mdir statistics for .*2027' "the Subject names the month"
like "$(cat "$T/report.eml")" 'jo@example\.test +2 ' "with January's two deliveries to jo"
rm -f "$MDIR_ROOT"/.mdird/queue/*

# query: what is known of an IP
expect_code 0 "query a known IP" -- smtp-stats -c "$C" query 192.0.2.10
is "$(printf '%s\n' "$out" | grep -E '^(ip|network|valid|spam)	' | tr '\t\n' ': ')" \
	"ip:192.0.2.10 network:192.0.2.0/24 valid:2 spam:0 " "its network and valid deliveries"
expect_code 0 "query an IP never seen" -- smtp-stats -c "$C" query 198.51.100.99
like "$(printf '%s\n' "$out" | tr '\t\n' ': ')" '^ip:198\.51\.100\.99 network:198\.51\.100\.0/24 unknown-recipients:0 valid:0 spam:0 network-whitelisted:no $' \
	"all zero, not whitelisted"
expect_code 64 "query of something not an IP is a usage error" -- smtp-stats -c "$C" query nonsense

# the policy service, on the test's clock
t0=$(date +%s)
clock_set "$t0"
clock_exec smtp-stats -c "$C" policy 2>"$T/policy.log" &
spid=$!
stop_policy() { kill "$spid" 2>/dev/null; }
at_exit stop_policy
up() { printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=127.0.0.1\nsender=a@b.test\nrecipient=x@elsewhere.test\n\n' |
	timeout 2 socat -t 1 - TCP:127.0.0.1:$port 2>/dev/null | grep -q action=; }
# 30 s: under ASan, faketime and a loaded machine its start is slow; if it
# does not come up, what it said is the diagnosis
wait_for 30 up || {
	sed 's/^/# /' "$T/policy.log"
	echo "Bail out! the policy service did not start"
	exit 1
}
ask() {
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=%s\nrecipient=%s\n\n' "$1" "$2" "$3" |
		timeout 10 socat -t 2 - TCP:127.0.0.1:$port | sed -n 's/^action=//p'
}

# spam_action = reject: two messages from an IP, filed into SMTP/Spam by
# jo's rules (mdird), learned as spam, then the IP is rejected
printf 'if client-address = 10.66.0.1 then move SMTP/Spam\n' >"$MDIR_ROOT/SMTP/Accounts/jo@example.test/.rules"
deliver 10.66.0.1 s1@bad.test
deliver 10.66.0.1 s2@bad.test
mdird -F -c "$C" 2>"$T/mdird.log" &
dpid=$!
wait_for 10 sh -c "[ \$(ls '$MDIR_ROOT/SMTP/Spam' | wc -l) -ge 8 ] && [ -z \"\$(ls '$MDIR_ROOT/.mdird/queue')\" ]"
kill $dpid
wait $dpid 2>/dev/null
is "$(clock_run smtp-stats -c "$C" learn -v 2>/dev/null)" "2 learned" "learn -v: two messages from 10.66.0.1"
like "$(ask 10.66.0.1 x@bad.test jo@example.test)" '^REJECT 5\.7\.1 10\.66\.0\.1 spam ratio 1\.00' \
	"spam_action = reject: the spammer is rejected, not deferred"

# a blacklisting ends at its time: still on one second before, off at it
clock_run smtp-stats -c "$C" blacklist add 10.7.7.7 1h
clock_set $((t0 + 3599))
like "$(ask 10.7.7.7 a@b.test jo@example.test)" '^REJECT 5\.7\.1 10\.7\.7\.7 is blacklisted' \
	"blacklisted for 1h: one second before the end, rejected"
clock_set $((t0 + 3600))
like "$(ask 10.7.7.7 a@b.test jo@example.test)" '^DEFER_IF_PERMIT 4\.7\.1 greylisted: first time' \
	"at the end, greylisted like any stranger"

# greylisting: a triplet unused for greylist_expire (100 s) is forgotten
t1=$((t0 + 4000))
clock_set $t1
like "$(ask 192.0.2.50 ann@g.test jo@example.test)" 'first time' "a new triplet"
clock_set $((t1 + 2))
is "$(ask 192.0.2.50 ann@g.test jo@example.test)" DUNNO "passes after the delay"
triplets() { # N: the triplet's rows in the database are N
	[ "$(sql "select count(*) from greylist where sender = 'ann@g.test'")" = "$1" ]
}
# committed first (every 50 ms), or its absence would prove nothing
wait_for 10 triplets 1
clock_set $((t1 + 2 + 101))
wait_for 10 triplets 0
ok $? "past greylist_expire the triplet is expired"
like "$(ask 192.0.2.50 ann@g.test jo@example.test)" 'first time' "and the sender is greylisted afresh"
