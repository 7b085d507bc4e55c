#!/bin/sh
# A client that sends a transaction and then reads nothing: its replies
# (1000 recipients, each 250 quoting a long Message-ID, about 1 MB) fill
# the socket, and the session's write blocks past poll's POLLOUT.  It
# must end at lmtp_timeout all the same, or twenty such clients hold every
# session (found by review).  Polled, bounded.  And clients that trickle,
# each byte in time: they end at [receive] deadline.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v python3 >/dev/null || skip_all "no python3"
plan 8

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
# lmtp_timeout is 2 s: the session ends 2 s after its last progress.  The
# bound is for a loaded machine under the sanitizer: at load 15 a session
# was still in poll() at 15 s once (its 1000 RCPTs go slowly there)
wait_for 45 no_session
rc=$?
[ $rc = 0 ] || diag "still there: $(ps -o pid,wchan:25,cmd -p "$(session)" 2>&1)"
ok $rc "the session ended at its time-out though the client reads nothing"

# Clients that trickle: a byte of data, or a NOOP, every half second,
# each well within lmtp_timeout (2 s), still end at [receive] deadline
# (3 s here) without a transaction done; a client that ends its
# transactions in time may go on longer than that.
kill "$CL" 2>/dev/null
{ cat "$MDIR_CONF"; printf 'deadline = 3s\n[mdir]\nlog_file = %s/deadline.log\n' "$T"; } >"$T/deadline.conf"
cat >"$T/trickle.py" <<'PY'
import os, socket, subprocess, sys, time
ours, theirs = socket.socketpair()
p = subprocess.Popen([os.environ["BIN"] + "/mdir-receive", "-c", sys.argv[1], "--lmtp"],
                     stdin=theirs, stdout=theirs)
theirs.close()
ours.settimeout(15)
f = ours.makefile("rb")
def reply():
    while True:
        l = f.readline().decode().rstrip("\r\n")
        if len(l) < 4 or l[3] != "-":
            return l
def say(line):
    ours.sendall(line.encode() + b"\r\n")
    return reply()
def trickle(piece):
    start = time.time()
    try:
        while time.time() - start < 12:
            ours.sendall(piece)
            time.sleep(0.5)
            ours.setblocking(False)
            try:
                got = ours.recv(4096, socket.MSG_PEEK)
            except BlockingIOError:
                got = None
            ours.setblocking(True)
            ours.settimeout(15)
            if got is not None:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass
    return time.time() - start, reply()
reply()
say("LHLO c")
mode = sys.argv[2]
if mode == "data":
    say("MAIL FROM:<a@sender.test>")
    say("RCPT TO:<jo@example.org>")
    say("DATA")
    ours.sendall(b"Message-ID: <trickled@sender.test>\r\n\r\n")
    secs, last = trickle(b"x")
    last = last[:9]
elif mode == "noop":
    start, last = time.time(), ""
    while time.time() - start < 12 and not last.startswith("421"):
        time.sleep(0.5)
        try:
            last = say("NOOP")
        except (BrokenPipeError, ConnectionResetError):
            try:
                last = reply()   # the 421 that came while we slept
            except OSError:
                pass
            break
    secs, last = time.time() - start, last[:9]
else:
    start, codes = time.time(), []
    for n in range(4):
        say("MAIL FROM:<a@sender.test>")
        say("RCPT TO:<jo@example.org>")
        say("DATA")
        ours.sendall(b"Message-ID: <in-time%d@sender.test>\r\n\r\nhi\r\n.\r\n" % n)
        codes.append(reply()[:3])
        time.sleep(1.2)
    secs, last = time.time() - start, " ".join(codes)
print("%s %.0f" % (last, secs))
PY
for m in data noop; do
	out=$(BIN=$BIN timeout 30 python3 "$T/trickle.py" "$T/deadline.conf" $m 2>&1)
	# 3 s after the session began, less its start-up: well before the 12 s it trickles
	like "$out" '^421 4\.4\.2 [1-7]$' "a client trickling $m, each in time: 421 4.4.2 at the deadline ($out s)"
done
like "$(cat "$T/deadline.log")" 'no transaction done in 3 s \(\[receive\] deadline\); session ended' "and that is logged"
is "$(grep -l trickled "$MDIR_ROOT"/.mdird/queue/* 2>/dev/null | wc -l)" 0 "the trickled message is not delivered"
out=$(BIN=$BIN timeout 30 python3 "$T/trickle.py" "$T/deadline.conf" transactions 2>&1)
like "$out" '^250 250 250 250 ([5-9]|[1-9][0-9])$' "transactions each done in time: the session outlives the deadline ($out s)"
