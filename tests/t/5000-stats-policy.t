#!/bin/sh
# smtp-stats: the schema and its migration; each decision of the policy
# service, asked over its socket as Postfix asks (several requests a
# connection); 20 connections at once, each answered its own; events from
# mdir-receive and mdir-outbox; learn.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/clock.sh"
clock_require
plan 35

free_ports 1 # checked free, not guessed from the PID
port=$PORT
C=$T/c.conf
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.test\n[stats]\npolicy_listen = inet:127.0.0.1:%s\ngreylist_delay = 2s\nblacklist_threshold = 3\nwhitelist_after = 2\nspam_min_messages = 2\nspam_ratio_threshold = 0.5\n' \
	"$MDIR_ROOT" "$port" >"$C"
mstore -c "$C" mkdir SMTP/Accounts/jo@example.test SMTP/Spam >/dev/null
DB=$MDIR_ROOT/.stats/stats.db
sql() { /usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print("\n".join("\t".join(map(str,r)) for r in c.execute(sys.argv[2])))' "$DB" "$1"; }

# the schema: made, versioned, and a newer one refused
expect_code 0 "smtp-stats import on a fresh root" -- smtp-stats -c "$C" import
is "$(sql 'select max(version) from schema_version')" 2 "schema version 2"
is "$(sql "select count(*) from sqlite_master where type='table'")" 11 "its tables"
is "$(sql 'pragma journal_mode')" wal "WAL mode"
cp "$DB" "$T/newer.db"
/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("insert into schema_version values (99)"); c.commit()' "$T/newer.db"
printf '[stats]\ndatabase = %s\n' "$T/newer.db" >>"$T/newer.conf"
expect_code 78 "a database from a newer smtp-stats is refused" -- smtp-stats -c "$T/newer.conf" import
like "$err" "schema version 99 is newer than this smtp-stats knows \(2\)" "saying so"

# the service on the test's clock: the greylisting delay passes when the
# test says, never by sleeping past it
t0=$(date +%s)
clock_set $t0
clock_exec smtp-stats -c "$C" policy 2>"$T/policy.log" &
spid=$!
stop_policy() { kill "$spid" 2>/dev/null; }
at_exit stop_policy
up() { printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=127.0.0.1\nsender=a@b.test\nrecipient=x@elsewhere.test\n\n' |
	timeout 2 socat -t 1 - TCP:127.0.0.1:$port 2>/dev/null | grep -q action=; }
wait_for 10 up || { echo "Bail out! the policy service did not start"; exit 1; }
# ask IP SENDER RCPT...: one connection, a request a recipient, the actions
ask() {
	ip=$1 sender=$2
	shift 2
	for r in "$@"; do
		printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=%s\nrecipient=%s\n\n' "$ip" "$sender" "$r"
	done | timeout 10 socat -t 2 - TCP:127.0.0.1:$port | sed -n 's/^action=//p'
}

like "$(ask 192.0.2.1 ann+tag@sender.test jo@example.test)" '^DEFER_IF_PERMIT 4\.7\.1 greylisted: first time from 192\.0\.2\.0/24' \
	"a new triplet: DEFER_IF_PERMIT"
like "$(ask 192.0.2.77 ann@sender.test jo@example.test)" '^DEFER_IF_PERMIT 4\.7\.1 greylisted: retried after [01] of 2' \
	"the same /24 and sender without +tag: one triplet, retried too soon"
like "$(ask 192.0.2.1 prvs=1234abcd=ann@sender.test JO@example.test)" 'retried after' \
	"BATV-tagged sender and recipient case: the same triplet"
clock_set $((t0 + 2)) # the greylisting delay (2 s) has passed
is "$(ask 192.0.2.1 ann@sender.test jo@example.test)" "DUNNO" "retried after the delay: DUNNO (never OK)"
like "$(ask 192.0.2.1 bounce-123-x@lists.test jo@example.test)" 'first time' "a VERP sender"
like "$(ask 192.0.2.1 bounce-456-x@lists.test jo@example.test)" 'retried after' "another VERP number: the same sender"
is "$(ask 203.0.113.5 x@y.test nobody@example.test)" "550 5.1.1 <nobody@example.test>: no such mailbox here" \
	"an unknown recipient in a local domain: 550 5.1.1"
like "$(ask 203.0.113.5 x@y.test other@elsewhere.test)" '^DEFER_IF_PERMIT' "a recipient elsewhere is not ours to refuse"
is "$(ask 203.0.113.5 x@y.test n2@example.test n3@example.test | tail -n 1)" "550 5.1.1 <n3@example.test>: no such mailbox here" \
	"three unknown recipients"
like "$(ask 203.0.113.5 x@y.test jo@example.test)" '^REJECT 5\.7\.1 203\.0\.113\.5 is blacklisted' \
	"then the IP is blacklisted, even for a real account"
# an IP that delivered valid mail (an event from mdir-receive) is never blacklisted
mstore -c "$C" mkdir SMTP/Accounts/jo@example.test >/dev/null
mdir-receive -c "$C" -a 198.51.100.20 -f s@good.test -- jo@example.test <"$DATA/multipart-mixed.eml" >/dev/null
smtp-stats -c "$C" import
wait_for 8 sh -c "[ \"\$(/usr/bin/python3 -c 'import sqlite3; print(sqlite3.connect(\"$DB\").execute(\"select valid from ips where ip=?\", (\"198.51.100.20\",)).fetchone())')\" = '(1,)' ]"
ok $? "mdir-receive's event: a valid delivery from 198.51.100.20"
ask 198.51.100.20 s@good.test u1@example.test u2@example.test u3@example.test u4@example.test >/dev/null
like "$(ask 198.51.100.20 s@good.test jo@example.test)" '^DEFER_IF_PERMIT.*greylisted' \
	"typos from a server that delivers valid mail: not blacklisted"
# malformed requests: DUNNO, and the connection goes on
r=$(printf 'no equals sign\nrequest=smtpd_access_policy\n\nrequest=smtpd_access_policy\nprotocol_state=DATA\n\n' |
	timeout 5 socat -t 1 - TCP:127.0.0.1:$port | sed -n 's/^action=//p' | tr '\n' ' ')
is "$r" "DUNNO DUNNO " "a malformed request and another stage: DUNNO, DUNNO"
# whitelists: by hand, and earned
smtp-stats -c "$C" whitelist add net 192.0.2.200/24
smtp-stats -c "$C" whitelist add domain friends.test
is "$(ask 10.1.1.1 pal@friends.test jo@example.test)" "DUNNO" "a whitelisted sender domain passes at once"
is "$(smtp-stats -c "$C" whitelist list | cut -f1,2 | tr '\t\n' ': ')" "domain:friends.test net:192.0.2.200/24 " "whitelist list"
ask 192.0.2.1 carl@c.test jo@example.test >/dev/null
clock_set $((t0 + 4))
ask 192.0.2.1 carl@c.test jo@example.test >/dev/null
wait_for 3 sh -c "smtp-stats -c '$C' whitelist list | grep -q '^net	192.0.2.0/24'"
ok $? "a network that passed greylisting twice is whitelisted (whitelist_after = 2)"
is "$(ask 192.0.2.9 new@new.test jo@example.test)" "DUNNO" "and its new senders pass"
# addresses our users wrote to (mdir-outbox's sent events) are never greylisted
printf 'ts=%s\tkind=sent\tsender=jo@example.test\trcpt=Pen.Pal@far.test\tdomain=far.test\n' "$(date +%s)" \
	>>"$MDIR_ROOT/.stats/events"
wait_for 8 sh -c "[ \"\$(printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=10.9.9.9\nsender=pen.pal@far.test\nrecipient=jo@example.test\n\n' | socat -t 1 - TCP:127.0.0.1:$port | sed -n 's/^action=//p')\" = DUNNO ]"
ok $? "a correspondent of ours is not greylisted"
# blacklist by hand
smtp-stats -c "$C" blacklist add 10.7.7.7 1h
like "$(ask 10.7.7.7 a@b.test jo@example.test)" '^REJECT 5\.7\.1 10\.7\.7\.7 is blacklisted: by hand' "blacklist add"
smtp-stats -c "$C" blacklist del 10.7.7.7
like "$(ask 10.7.7.7 a@b.test jo@example.test)" '^DEFER_IF_PERMIT' "blacklist del"

rm -f "$MDIR_ROOT"/.mdird/queue/* # that delivery's batch: its event is what counted
# learn: a spam folder filled by mdir-receive, copies of one message counted once
printf 'if true then move SMTP/Spam\n' >"$MDIR_ROOT/SMTP/Accounts/jo@example.test/.rules"
for ip in 10.66.0.1 10.66.0.2; do
	for n in 1 2; do
		sed "s/^Message-ID: .*/Message-ID: <spam-$ip-$n@bad.test>/" "$DATA/multipart-mixed.eml" |
			mdir-receive -c "$C" -a $ip -f x@bad.test -- jo@example.test >/dev/null
	done
done
# a sync client's copy of one of them, without a record, with our Received line
{ printf 'Received: from bad.test (bad.test [10.66.0.1])\n\tby mx.example.test with ESMTP id X\n'
  sed "s/^Message-ID: .*/Message-ID: <spam-10.66.0.1-1@bad.test>/" "$DATA/multipart-mixed.eml"; } >"$T/copy.eml"
mdird -F -c "$C" 2>/dev/null &
dpid=$!
wait_for 10 sh -c "[ \$(ls '$MDIR_ROOT/SMTP/Spam' | wc -l) -ge 16 ] && [ -z \"\$(ls '$MDIR_ROOT/.mdird/queue')\" ]"
kill $dpid; wait $dpid 2>/dev/null
cp "$T/copy.eml" "$MDIR_ROOT/SMTP/Spam/copy.eml"
is "$(smtp-stats -c "$C" learn -v)" "4 learned" "learn: four messages, the copy not again"
is "$(ls "$MDIR_ROOT/SMTP/Spam")" "" "the spam folder is empty"
is "$(mstore -c "$C" version SMTP/Spam)" "$(grep -c . "$MDIR_ROOT/SMTP/Spam/.changes")" "its version agrees with its change log"
is "$(sql "select value, count from spam where kind='net'")" "10.66.0.0/24	4" "counted against the /24"
is "$(sql "select value, count from spam where kind='domain'")" "bad.test	4" "and the sender domain"
like "$(ask 10.66.0.1 x@bad.test jo@example.test)" '^DEFER_IF_PERMIT 4\.7\.1 10\.66\.0\.1 spam ratio 1\.00' \
	"a spammer's IP is deferred by its ratio"

# 20 connections at once, each several requests in one write: every
# connection gets its own answers, in its own order, whatever the others
# are asked at the same moment (a thread a connection, one database).
# Even clients are greylisted then pass after the delay, odd ones are
# blacklisted; each answer names the client's network, IP or recipient.
for i in 1 3 5 7 9 11 13 15 17 19; do smtp-stats -c "$C" blacklist add 10.20.$i.1 1h; done
clock_set $((t0 + 10))
cat >"$T/twenty.py" <<'PY'
import socket, sys, threading, time
port, clock, t = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
N = 20
barrier = threading.Barrier(N + 1)
got = {}
def req(i, rcpt):
    return ("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=10.20.%d.1\n"
            "sender=c@conc%d.test\nrecipient=%s\ninstance=%d\n\n" % (i, i, rcpt, i))
def answers(s, n):
    buf = b""
    while buf.count(b"\n\n") < n:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return [a.split("\n")[0].replace("action=", "", 1) for a in buf.decode().split("\n\n")[:n]]
def client(i):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    rounds = [["jo@example.test", "nobody%da@example.test" % i, "jo+x@example.test", "nobody%db@example.test" % i],
              ["jo@example.test", "jo+x@example.test"],
              ["jo@example.test", "jo+x@example.test", "nobody%dc@example.test" % i]]
    for k, r in enumerate(rounds):
        barrier.wait()    # all at once
        s.sendall("".join(req(i, x) for x in r).encode())
        got[(i, k)] = answers(s, len(r))
        barrier.wait()
def expect(i, k):
    net, ip = "10\\.20\\.%d\\.0/24" % i, "10.20.%d.1" % i
    if i % 2:
        return ["REJECT 5.7.1 %s is blacklisted: by hand" % ip] * (3 if k == 2 else 2 + 2 * (k == 0))
    first = "DEFER_IF_PERMIT 4.7.1 greylisted: first time from 10.20.%d.0/24" % i
    return [[first, "550 5.1.1 <nobody%da@example.test>" % i, first, "550 5.1.1 <nobody%db@example.test>" % i],
            ["DEFER_IF_PERMIT 4.7.1 greylisted: retried after 0 of 2"] * 2,
            ["DUNNO", "DUNNO", "550 5.1.1 <nobody%dc@example.test>" % i]][k]
def set_clock(secs):
    with open(clock + ".new", "w") as f:
        f.write(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs)))
    import os
    os.rename(clock + ".new", clock)
threads = [threading.Thread(target=client, args=(i,)) for i in range(N)]
for th in threads:
    th.start()
for k in range(3):
    barrier.wait()
    barrier.wait()
    if k == 1:
        set_clock(t + 3)   # the greylisting delay has passed
for th in threads:
    th.join()
for k in range(3):
    bad = ["%d: %s" % (i, got.get((i, k))) for i in range(N)
           if [a[:len(e)] for a, e in zip(got.get((i, k), []), expect(i, k))] != expect(i, k)
           or len(got.get((i, k), [])) != len(expect(i, k))]
    print("round %d: %s" % (k, "; ".join(bad) if bad else "ok"))
PY
r=$(timeout 60 /usr/bin/python3 "$T/twenty.py" "$port" "$T/clock" $((t0 + 10)) 2>&1)
is "$(echo "$r" | sed -n 1p)" "round 0: ok" "20 connections at once: each its own greylisting, unknown recipients and blacklisting, in order"
is "$(echo "$r" | sed -n 2p)" "round 1: ok" "retried too soon: deferred, each connection"
is "$(echo "$r" | sed -n 3p)" "round 2: ok" "after the delay on the test clock: passed, the blacklisted still rejected"
