#!/bin/sh
# A client that sends a transaction and then reads nothing: its replies
# (1000 recipients, each 250 quoting a long Message-ID, about 1 MB) fill
# the socket, and the session's write blocks past poll's POLLOUT.  It
# must end at lmtp_timeout all the same, or twenty such clients hold every
# session (found by review).  Polled, bounded.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v python3 >/dev/null || skip_all "no python3"
plan 3

mstore mkdir SMTP/Accounts/jo@example.org >/dev/null
S=$T/lmtp.sock
printf '[receive]\nlmtp_timeout = 2s\n' >>"$MDIR_CONF"
SRV=
stop_server() { [ -n "$SRV" ] && kill "$SRV" 2>/dev/null; [ -n "${CL:-}" ] && kill "$CL" 2>/dev/null; true; }
at_exit stop_server
mdir-receive --lmtp=unix:"$S" 2>"$T/server.err" &
SRV=$!
wait_for 10 test -S "$S"
ok $? "listening"

# the client: one write of everything, then it sleeps without reading
python3 - "$S" >"$T/client.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
mid = "x" * 900
cmds = "LHLO c\r\nMAIL FROM:<a@sender.test>\r\n" + "RCPT TO:<jo@example.org>\r\n" * 1000
cmds += "DATA\r\nMessage-ID: <%s@sender.test>\r\n\r\nbody\r\n.\r\n" % mid
s.sendall(cmds.encode())
print("sent", flush=True)
time.sleep(60)
PY
CL=$!
wait_for 20 grep -q sent "$T/client.out"
# its session: the server's one child
session() { pgrep -P "$SRV" | head -n 1; }
has_session() { [ -n "$(session)" ]; }
no_session() { [ -z "$(session)" ]; }
wait_for 10 has_session
ok $? "a session serves it"
# lmtp_timeout is 2 s: the session ends well within 15
wait_for 15 no_session
rc=$?
[ $rc = 0 ] || diag "still there: $(ps -o pid,wchan:25,cmd -p "$(session)" 2>&1)"
ok $rc "the session ended at its time-out though the client reads nothing"
