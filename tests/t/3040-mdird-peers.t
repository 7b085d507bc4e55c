#!/bin/sh
# Who may use mdird's socket (issue 15.10, 16.8): peer credentials checked
# against root, the root's owner and [mdird] group, whatever the socket's
# mode; RELOAD for root and the owner only; caps on clients, in all and
# per uid; accept failing for want of descriptors backs off, no busy loop.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
command -v setpriv >/dev/null || skip_all "setpriv is not installed"
[ "$(id -u)" = 0 ] || skip_all "needs root (to connect as nobody)"
plan 13

mstore mkdir SMTP/Accounts/jo@example.org >/dev/null
# as nobody (uid and gid 65534), no other groups
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nobody_ask() {
	{ for l in "$@"; do printf '%s\r\n' "$l"; done; printf 'QUIT\r\n'; } |
		as_nobody timeout 10 socat -t 5 - UNIX-CONNECT:"$MD_SOCK" | tr -d '\r'
}
chmod 755 "$T" # nobody reaches the socket only through a mode set wrong
md_start || { echo "Bail out! mdird did not start"; exit 1; }
chmod 666 "$MD_SOCK"

# it says nothing: a refused client's words may meet a closed socket
like "$(as_nobody timeout 10 socat -t 5 - UNIX-CONNECT:"$MD_SOCK" </dev/null | tr -d '\r')" \
	"^530 5\.7\.0 not allowed" "a stranger is refused with 530, whatever the mode"
wait_for 5 grep -q 'uid 65534 gid 65534 pid [0-9]* refused' "$MD_LOG"
ok $? "and logged"
like "$(md_ask NOOP | tr '\n' ' ')" "^220 mdird ready 250" "root is served"

group=$(getent group 65534 | cut -d: -f1)
printf '[mdird]\ngroup = %s\nmax_clients_per_uid = 2\nmax_clients = 3\n' "$group" >>"$MD_CONF"
like "$(md_ask RELOAD)" "250 2\.0\.0 reloaded" "root may RELOAD"
like "$(nobody_ask NOOP | tr '\n' ' ')" "^220 mdird ready 250 2\.0\.0 ok" "a member of [mdird] group is served"
like "$(nobody_ask RELOAD)" "530 5\.7\.0 RELOAD is for root" "but may not RELOAD"

# caps: two idle clients of root, then a third of root, then nobody's
idle() { (sleep 30) | socat -t 30 - UNIX-CONNECT:"$MD_SOCK" >/dev/null 2>&1 & }
# until mdird has taken in both (20 s at most: a loaded machine may take
# seconds to start them).  Not by asking STATUS: the asker is root's too,
# and once the first idle client was counted it went on without the
# second, whose place the next client then took (t/3040 failed so under load)
root_clients() { grep -c 'client [0-9]*: uid 0 pid' "$MD_LOG"; }
two_more() { [ "$(root_clients)" -ge $((n0 + 2)) ]; }
n0=$(root_clients)
idle; i1=$!
idle; i2=$!
wait_for 20 two_more
like "$(timeout 10 socat -t 5 - UNIX-CONNECT:"$MD_SOCK" </dev/null | tr -d '\r')" "^421 4\.3\.2 too many clients of uid 0" "a uid's third client gets 421"
idle_nobody() { (sleep 30) | as_nobody socat -t 30 - UNIX-CONNECT:"$MD_SOCK" >/dev/null 2>&1 & }
idle_nobody; i3=$!
for _i in $(seq 100); do grep -q 'client [0-9]*: uid 65534 pid' "$MD_LOG" && break; sleep 0.05; done
sleep 0.2
like "$(as_nobody timeout 10 socat -t 5 - UNIX-CONNECT:"$MD_SOCK" </dev/null | tr -d '\r')" "^421 4\.3\.2 too many clients" "the fourth client in all gets 421"
pkill -P $i1; pkill -P $i2; pkill -P $i3
kill $i1 $i2 $i3 2>/dev/null
wait $i1 $i2 $i3 2>/dev/null
md_stop
is "$MD_RC" 0 "stopped"

# out of descriptors: 40 at most, 60 clients waiting to connect
printf '[mdird]\nmax_clients = 1000\nmax_clients_per_uid = 1000\n' >>"$MD_CONF"
sh -c 'ulimit -n 40; exec mdird -F -c "$1"' sh "$MD_CONF" >>"$MD_LOG" 2>&1 &
MD_PID=$!
wait_for 10 test -S "$MD_SOCK"
ok $? "mdird with 40 descriptors"
python3 - "$MD_SOCK" "$T/hold" <<'PY' &
import os, socket, sys, time
socks = []
for i in range(60):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(sys.argv[1])
    except OSError:
        pass
    socks.append(s)
open(sys.argv[2], "w").close()
end = time.time() + 20
while os.path.exists(sys.argv[2]) and time.time() < end:
    time.sleep(0.05)
PY
hold=$!
wait_for 10 test -e "$T/hold"
sleep 0.5
cpu() { awk '{ print $14 + $15 }' "/proc/$MD_PID/stat"; }
c0=$(cpu)
sleep 1
used=$(($(cpu) - c0))
ok "$([ "$used" -lt 30 ]; echo $?)" "no busy loop at EMFILE ($used ticks of CPU in 1 s)"
like "$(grep 'accept: ' "$MD_LOG" | tail -n 1)" "Too many open files; waiting [0-9]+ ms" "the failure is logged"
rm -f "$T/hold"
wait $hold
r=""
for i in 1 2 3 4 5 6 7 8 9 10; do
	r=$(md_ask NOOP | tr '\n' ' ')
	case $r in *"250 2.0.0 ok"*) break ;; esac
	sleep 0.3
done
like "$r" "250 2\.0\.0 ok" "served again once descriptors are free"
