#!/bin/sh
# smtp-stats learn moves a message from valid to spam: an IP whose every
# message was learned as spam has a ratio of 1 and gets the documented
# answer (DEFER_IF_PERMIT, or REJECT with spam_action = reject), with the
# default thresholds; each Message-ID moves once, however many copies.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 9

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
C=$T/c.conf
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.test\n[stats]\npolicy_listen = inet:127.0.0.1:%s\n' \
	"$MDIR_ROOT" "$port" >"$C"
mstore -c "$C" mkdir SMTP/Accounts/jo@example.test SMTP/Spam >/dev/null
DB=$MDIR_ROOT/.stats/stats.db
sql() { /usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("\t".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$DB" "$1"; }

# four messages from one IP, delivered (each a valid delivery until learned),
# then put into the spam folder as a sync client does, with our Received line
for n in 1 2 3 4; do
	sed "s/^Message-ID: .*/Message-ID: <spam-$n@bad.test>/" "$DATA/multipart-mixed.eml" >"$T/m$n.eml"
	mdir-receive -c "$C" -a 10.66.0.1 -f x@bad.test -- jo@example.test <"$T/m$n.eml" >/dev/null
	{ printf 'Received: from bad.test (bad.test [10.66.0.1])\n\tby mx.example.test with ESMTP id X%s\n' $n
	  cat "$T/m$n.eml"; } >"$MDIR_ROOT/SMTP/Spam/m$n.eml"
done
cp "$MDIR_ROOT/SMTP/Spam/m1.eml" "$MDIR_ROOT/SMTP/Spam/copy-of-m1.eml"
smtp-stats -c "$C" import
is "$(sql "select valid, spam from ips where ip='10.66.0.1'")" "4	0" "four valid deliveries before learning"
smtp-stats -c "$C" learn >/dev/null
is "$(sql "select valid, spam from ips where ip='10.66.0.1'")" "0	4" "learned: four moved from valid to spam"
is "$(smtp-stats -c "$C" query 10.66.0.1 | grep -E '^(valid|spam)' | tr '\t\n' ': ')" "valid:0 spam:4 " "query agrees"

# the same message learned again (another copy, a later run): nothing moves
cp "$T/m2.eml" "$MDIR_ROOT/SMTP/Spam/again.eml"
smtp-stats -c "$C" learn >/dev/null
is "$(sql "select valid, spam from ips where ip='10.66.0.1'")" "0	4" "a Message-ID moves once"

smtp-stats -c "$C" policy 2>"$T/policy.log" &
spid=$!
stop_policy() { kill "$spid" 2>/dev/null; }
at_exit stop_policy
ask() {
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=x@bad.test\nrecipient=jo@example.test\n\n' "$1" |
		timeout 5 socat -t 2 - TCP:127.0.0.1:$port 2>/dev/null | sed -n 's/^action=//p'
}
wait_for 10 sh -c "ss -Htln '( sport = :$port )' | grep -q ." || { echo "Bail out! the policy service did not start"; exit 1; }
like "$(ask 10.66.0.1)" '^DEFER_IF_PERMIT 4\.7\.1 10\.66\.0\.1 spam ratio 1\.00 \(4 of 4 messages learned as spam\)' \
	"4 of 4 learned as spam: deferred (spam_action = defer, the default)"
# a later delivery of a learned Message-ID (a resend) counts as spam, not valid
mdir-receive -c "$C" -a 10.66.0.1 -f x@bad.test -- jo@example.test <"$T/m3.eml" >/dev/null
smtp-stats -c "$C" import
is "$(sql "select valid from ips where ip='10.66.0.1'")" "0" "a known spam delivered again is not valid mail"
kill "$spid"; wait "$spid" 2>/dev/null
printf 'spam_action = reject\n' >>"$C"
smtp-stats -c "$C" policy 2>>"$T/policy.log" &
spid=$!
wait_for 10 sh -c "ss -Htln '( sport = :$port )' | grep -q ." || { echo "Bail out! the policy service did not restart"; exit 1; }
like "$(ask 10.66.0.1)" '^REJECT 5\.7\.1 10\.66\.0\.1 spam ratio 1\.00' "with spam_action = reject: REJECT"

# a database of schema 1 (before deliveries had their Message-ID) migrates
V1=$T/v1.db
/usr/bin/python3 - "$V1" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript("""CREATE TABLE schema_version (version INTEGER); INSERT INTO schema_version VALUES (1);
CREATE TABLE events (ts INTEGER NOT NULL, kind TEXT NOT NULL, account TEXT, ip TEXT, net TEXT, domain TEXT, size INTEGER, rcpt TEXT, sender TEXT);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO events (ts, kind, ip) VALUES (1, 'delivered', '192.0.2.1');""")
c.commit()
PY
printf '[mdir]\nroot = %s\n[stats]\ndatabase = %s\n' "$MDIR_ROOT" "$V1" >"$T/v1.conf"
expect_code 0 "a schema 1 database is migrated" -- smtp-stats -c "$T/v1.conf" import
is "$(DB=$V1 sql 'select max(version), (select count(*) from events where message_id is null) from schema_version')" "2	1" \
	"to version 2, its events kept"
