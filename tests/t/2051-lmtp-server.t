#!/bin/sh
# mdir-receive --lmtp=unix:PATH and --lmtp=inet:127.0.0.1:PORT, resident:
# many sessions at once, each in a process of its own; a client that
# stalls costs its session, not the server (the others are served while
# it waits, then it gets 421 at its time-out); past lmtp_max_sessions a
# connection gets 421 4.3.2 at once; SIGTERM stops it and removes the
# socket.  Outcomes polled, never slept on.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v python3 >/dev/null || skip_all "no python3"
command -v socat >/dev/null || skip_all "no socat"
plan 17

mstore mkdir SMTP/Accounts/jo@example.org >/dev/null
Q=$MDIR_ROOT/.mdird/queue
S=$T/lmtp.sock
printf '[receive]\nlmtp_timeout = 3s\nlmtp_max_sessions = 3\n' >>"$MDIR_CONF"
send() { python3 "$MDIR_SRC/tests/lib/lmtp-send.py" "$@"; }
msg() { printf 'Message-ID: <%s@sender.test>\nSubject: %s\n\nhello\n' "$1" "$1"; }
SRV=
stop_server() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; true; }
at_exit stop_server

expect_code 64 "an address that is neither unix: nor a loopback inet:" -- \
	mdir-receive --lmtp=inet:192.0.2.1:24
like "$err" 'not unix:/PATH or inet:127\.0\.0\.1:PORT' "says what it takes"

mdir-receive --lmtp=unix:"$S" 2>"$T/server.err" &
SRV=$!
wait_for 10 test -S "$S"
ok $? "listening on a Unix socket"
out=$(msg u1 | send "$S" a@sender.test jo@example.org nobody@example.org)
is "$(echo "$out" | cut -d' ' -f1-3)" "jo@example.org 250 2.0.0
nobody@example.org 550 5.1.1" "a good and an unknown recipient: 250 and 550"
is "$(mstore meta -f subject mstore:u1@sender.test/0)" u1 "stored"

# four sessions at once, three allowed: the fourth is refused at once
for i in 1 2 3; do
	(printf 'LHLO c\r\n'; sleep 5) | socat - UNIX-CONNECT:"$S" >"$T/stall$i" 2>&1 &
done
held() { [ "$(grep -l '^250 SIZE' "$T"/stall1 "$T"/stall2 "$T"/stall3 2>/dev/null | wc -l)" = 3 ]; }
wait_for 10 held
ok $? "three stalled sessions held"
# (a client that waits for the greeting, as Postfix's does)
out=$(timeout 5 socat -t 5 - UNIX-CONNECT:"$S" </dev/null | tr -d '\r')
like "$out" '^421 4\.3\.2 ' "past lmtp_max_sessions: 421 4.3.2 at once"
# their time-out frees them: 421 4.4.2 each, and the server serves again
timed_out() { [ "$(grep -l '^421 4\.4\.2' "$T"/stall1 "$T"/stall2 "$T"/stall3 2>/dev/null | wc -l)" = 3 ]; }
wait_for 10 timed_out
ok $? "each stalled client: 421 4.4.2 at lmtp_timeout"
served() { msg "u$1" | send "$S" a@sender.test jo@example.org | grep -q ' 250 '; }
wait_for 10 served 2
ok $? "then served again"

# one client stalls; others are delivered meanwhile, in parallel
(printf 'LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<jo@example.org>\r\nDATA\r\nSubject: stuck\r\n'; sleep 5) |
	socat - UNIX-CONNECT:"$S" >"$T/stuck" 2>&1 &
wait_for 10 grep -q '^354' "$T/stuck"
ok $? "a client stalls in the middle of its data"
start=$(date +%s)
for i in 3 4; do
	msg "u$i" | send "$S" a@sender.test jo@example.org >"$T/par$i" &
done
wait_for 10 sh -c "grep -q ' 250 ' '$T/par3' && grep -q ' 250 ' '$T/par4'"
ok $? "two other clients delivered meanwhile"
ok "$([ $(($(date +%s) - start)) -lt 3 ]; echo $?)" "without waiting for the stalled one"
wait_for 10 grep -q '^421 4\.4\.2' "$T/stuck"
ok $? "the stalled one ends with 421 4.4.2"
is "$(grep -c 'u[0-9]@sender' "$Q"/* | awk -F: '{ n += $2 > 0 } END { print n }')" 4 \
	"four messages queued, the stalled one not"

kill "$SRV"
wait "$SRV"
is "$?" 0 "SIGTERM: it stops, status 0"
SRV=
ok "$([ ! -e "$S" ]; echo $?)" "and removes its socket"

# a loopback port
free_ports 1 || { echo "Bail out! no free port"; exit 1; }
mdir-receive --lmtp=inet:127.0.0.1:$PORT 2>>"$T/server.err" &
SRV=$!
up() { ss -Htln "( sport = :$PORT )" | grep -q .; }
wait_for 10 up
out=$(msg i1 | send "inet:127.0.0.1:$PORT" a@sender.test jo@example.org)
like "$out" '^jo@example\.org 250 2\.0\.0 ' "inet:127.0.0.1:PORT: delivered"
