#!/bin/sh
# The policy service under clients that misbehave: one that writes and
# never reads must not stall the answers to everyone else (non-blocking
# writes, a bounded queue); connections beyond policy_max_connections are
# closed at once; on a Unix socket (mode 0660, group policy_user's) only
# root, the service's own user and policy_user are answered (SO_PEERCRED).
# Every decision but DUNNO is logged, one key=value line.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (the Unix socket's users)"
plan 14

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
C=$T/c.conf
printf '[mdir]\nroot = %s\nlog_file = %s\n[receive]\nlocal_domains = example.test\n[stats]\npolicy_listen = inet:127.0.0.1:%s\npolicy_max_connections = 3\n' \
	"$MDIR_ROOT" "$T/mdir.log" "$port" >"$C"
mstore -c "$C" mkdir SMTP/Accounts/jo@example.test >/dev/null 2>&1
smtp-stats -c "$C" policy 2>"$T/policy.log" &
spid=$!
stop_policy() { kill "$spid" 2>/dev/null; }
at_exit stop_policy
wait_for 10 sh -c "ss -Htln '( sport = :$port )' | grep -q ." || { echo "Bail out! the policy service did not start"; exit 1; }

# client.py ADDRESS: one request, its action on stdout within 5 s ("none": closed, or nothing)
cat >"$T/client.py" <<'PY'
import socket, sys
def connect(a):
    if a.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX); s.connect(a[5:])
    else:
        s = socket.create_connection(("127.0.0.1", int(a)))
    s.settimeout(5)
    return s
def ask(s, ip="192.0.2.1", rcpt="jo@example.test"):
    try:
        s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n"
                   "sender=a@b.test\nrecipient=%s\n\n" % (ip, rcpt)).encode())
    except (BrokenPipeError, ConnectionResetError):
        return "none"   # closed by the service before the request went
    got = b""
    while not got.endswith(b"\n\n"):
        try:
            d = s.recv(4096)
        except (socket.timeout, ConnectionResetError):
            return "none"
        if not d:
            return "none"
        got += d
    return got.decode().split("\n")[0]
if __name__ == "__main__":
    try:
        print(ask(connect(sys.argv[1]), *sys.argv[2:]))
    except OSError as e:
        print("error", e.strerror)
PY
ask() { /usr/bin/python3 "$T/client.py" "$@"; }
like "$(ask $port)" '^action=DEFER_IF_PERMIT' "the service answers"

# a burst of smtpd processes connecting at once finds room: with
# GLib's listen backlog of 10 the 11th SYN was dropped and retried a
# second later (ss's Send-Q of a listening socket is its backlog)
backlog=$(ss -Htln "( sport = :$port )" | awk '{ print $3 }')
ok "$([ "${backlog:-0}" -ge 128 ] && echo 0 || echo 1)" "a listen backlog of 128 at least (it is ${backlog:-none})"

# a client that sends and never reads: the others are still answered
/usr/bin/python3 - "$port" "$T/client.py" <<'PY' >"$T/slow.out"
import socket, sys, time
sys.path.insert(0, sys.argv[2].rsplit("/", 1)[0])
from client import connect, ask
hog = connect(sys.argv[1])
hog.settimeout(0.2)
req = b"request=smtpd_access_policy\nprotocol_state=DATA\nclient_address=192.0.2.9\n\n" * 1000
sent, end = 0, time.time() + 5
while time.time() < end:        # until its socket buffers and our queue are full
    try:
        sent += hog.send(req)
    except socket.timeout:
        break
other = connect(sys.argv[1])
t = time.time()
a = ask(other, "192.0.2.2")
print("sent-more-than-1MB" if sent > 1 << 20 else "sent %d" % sent)
print(a if time.time() - t < 5 else "slow")
PY
is "$(head -n 1 "$T/slow.out")" "sent-more-than-1MB" "a client that never reads sent a megabyte of requests"
like "$(tail -n 1 "$T/slow.out")" '^action=DEFER_IF_PERMIT' "and another client is answered meanwhile"

# the connection cap: three open, a fourth closed at once, a fifth after one left;
# first the service has seen the clients above leave (its workers close
# them as the main loop accepts: polled, not assumed)
wait_for 10 sh -c "[ -z \"\$(ss -Htn state established state close-wait '( sport = :$port )')\" ]"
/usr/bin/python3 - "$port" "$T/client.py" <<'PY' >"$T/cap.out"
import sys, time
sys.path.insert(0, sys.argv[2].rsplit("/", 1)[0])
from client import connect, ask
held = [connect(sys.argv[1]) for _ in range(3)]
print(ask(held[0], "192.0.2.3").split(" ")[0])
print(ask(connect(sys.argv[1]), "192.0.2.4"))
held.pop().close()
# until the service has seen it leave: polled, within 5 s
end, a = time.time() + 5, "none"
while a == "none" and time.time() < end:
    a = ask(connect(sys.argv[1]), "192.0.2.5")
print(a.split(" ")[0])
PY
is "$(tr '\n' ' ' <"$T/cap.out")" "action=DEFER_IF_PERMIT none action=DEFER_IF_PERMIT " \
	"policy_max_connections = 3: the fourth is closed, a later one answered"
like "$(cat "$T/policy.log" "$T/mdir.log" 2>/dev/null)" 'policy: 3 connections, the most allowed' "and that is logged"

# one log line per decision that is not DUNNO, Postfix's key=value style
like "$(cat "$T/policy.log" "$T/mdir.log" 2>/dev/null | grep 'client=192.0.2.2 ')" \
	'policy: client=192\.0\.2\.2 from=<a@b\.test> to=<jo@example\.test> decision=greylisted action=DEFER_IF_PERMIT text=4\.7\.1 greylisted' \
	"a greylisting is logged as key=value"
is "$(cat "$T/policy.log" "$T/mdir.log" 2>/dev/null | grep -c 'client=192.0.2.9 ')" 0 "DUNNO is not"
kill "$spid"; wait "$spid" 2>/dev/null

# a Unix socket: 0660, group policy_user's, and the peer's uid checked
mkdir -m 0711 "$T/sock"
chmod 0711 "$T"
printf 'policy_listen = unix:%s\npolicy_user = daemon\n' "$T/sock/policy.sock" >>"$C"
smtp-stats -c "$C" policy 2>"$T/policy.log" &
spid=$!
wait_for 10 test -S "$T/sock/policy.sock" || { echo "Bail out! the policy service did not start"; exit 1; }
is "$(stat -c '%a %g' "$T/sock/policy.sock")" "660 $(getent passwd daemon | cut -d: -f4)" "mode 0660, group of policy_user"
like "$(setpriv --reuid=daemon --regid=daemon --clear-groups /usr/bin/python3 "$T/client.py" "unix:$T/sock/policy.sock")" \
	'^action=DEFER_IF_PERMIT' "policy_user is answered"
like "$(ask "unix:$T/sock/policy.sock")" '^action=DEFER_IF_PERMIT' "root is answered"
is "$(setpriv --reuid=bin --regid=daemon --clear-groups /usr/bin/python3 "$T/client.py" "unix:$T/sock/policy.sock")" \
	"none" "another user in the socket's group is not (SO_PEERCRED)"
like "$(cat "$T/policy.log" "$T/mdir.log" 2>/dev/null)" "refused a client with uid $(id -u bin)" "and that is logged"
like "$(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$T/client.py" "unix:$T/sock/policy.sock")" \
	'^error Permission denied' "anyone else cannot even connect"
