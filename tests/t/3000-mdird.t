#!/bin/sh
# mdird: the protocol (with socat, as mdird(8) shows), rules end to end,
# a watcher, notify and pipe (and a pipe that hangs), a broken rules file,
# .hold, reload, one daemon per root, and SIGTERM.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 47

JO=SMTP/Accounts/jo@example.org
A=$MDIR_ROOT/$JO
msg=$DATA/multipart-mixed.eml
mstore mkdir "$JO" Lists >/dev/null
cat >>"$MD_CONF" <<CONF
[notify]
command = /bin/sh -c 'printf "%s|%s|%s\\\\n" "\$MDIR_FOLDER" "\$MDIR_SUBJECT" "\$MDIR_CONTENT_TYPE" >>$T/notified'
[mdird]
pipe_timeout = 1s
[rules]
programs = /bin/sh; /bin/sleep
CONF
# a message with its own Message-ID, to $2 (default jo)
deliver() {
	sed "s/^Message-ID: .*/Message-ID: <$1@test>/" "$msg" |
		mdir-receive -c "$MD_CONF" -- "${2:-jo@example.org}"
}

md_start || { echo "Bail out! mdird did not start"; exit 1; }
is "$(stat -c %a "$MD_SOCK")" 660 "the socket is 0660"
r=$(md_ask HELP)
like "$r" "^220 mdird ready" "a greeting"
like "$r" "214 QUIT" "HELP lists the commands"
like "$(md_ask 'VERSION Nothing/here')" "^550 5\.1\.1 Nothing/here: no such folder" "VERSION of no folder: 550"
like "$(md_ask 'VERSION ../../etc')" "^553 5\.1\.3 .*leads outside the root" "a path out of the root: 553"
like "$(md_ask 'VERSION .mstore')" "^553 5\.1\.3 .*reserved" "a reserved name: 553"
like "$(md_ask 'VERSION')" "^501 5\.5\.4 a folder is needed" "no argument: 501"
like "$(md_ask 'FROB x')" '^500 5\.5\.1 unknown command "FROB"' "an unknown command: 500"
like "$(printf 'VERSION \377\376\r\nNOOP\r\nQUIT\r\n' | socat - UNIX-CONNECT:"$MD_SOCK" | tr -d '\r' | tr '\n' ' ')" \
	"500 5\.5\.2 not a line of UTF-8 text.*250 2\.0\.0 ok" "not UTF-8: 500, and the connection goes on"
long=$(head -c 5000 /dev/zero | tr '\0' x)
r=$(printf '%s' "$long" | timeout 10 socat -t 5 - UNIX-CONNECT:"$MD_SOCK" | tr -d '\r')
like "$r" "500 5\.5\.2 line too long" "a line that never ends: 500 and closed, no hang"
like "$(md_ask STATUS | tr '\n' ' ')" "250-queue 0.*250-uptime [0-9]+.*250 root $MDIR_ROOT" "STATUS"

# the rules, then a watcher, then deliveries
cat >"$A/.rules" <<'RULES'
# attachments by type; the rest stays
if content-type = application/pdf then move Docs/{date:%Y}; notify
if suggested-name matches "*.png" then copy Lists/{from}; continue
if part = 0 then pipe /bin/sh -c "cat > $0" /dev/null
RULES
sed -i "s|/dev/null|$T/piped|" "$A/.rules"
(printf 'WATCH %s\r\n' "$JO"; sleep 8) | timeout 10 socat -t 1 - UNIX-CONNECT:"$MD_SOCK" >"$T/watch" &
wpid=$!
wait_for 5 grep -q '^250 watching' "$T/watch"
like "$(cat "$T/watch")" "250 watching $JO from version 0" "WATCH answers with the version"
deliver m1
ok $? "delivered while mdird runs"
md_idle
ok $? "filed at once (the poke)"
is "$(mstore ls "$JO" | tr '\n' ' ')" "Quarterly report.eml Quarterly report.txt chart.png " "the account keeps what no rule moved"
# {date:%Y} is the message's own Date, whatever year the test runs in
year=$(sed -n 's/^Date: .* \([0-9][0-9][0-9][0-9]\) .*/\1/p' "$msg")
is "$(mstore ls "Docs/$year")" "report.pdf" "move Docs/{date:%Y}: the Date's year ($year)"
is "$(ls "$MDIR_ROOT/Lists")" "alice@sender.test" "copy Lists/{from}: the address"
is "$(mstore ls "Lists/alice@sender.test")" "chart.png" "and only the PNG"
wait_for 5 test -s "$T/notified"
like "$(cat "$T/notified" 2>/dev/null)" "^$JO\|Quarterly report\|application/pdf$" "notify ran with the record in its environment"
wait_for 5 test -s "$T/piped"
ok "$(cmp -s "$T/piped" "$msg.m1" 2>/dev/null || sed 's/^Message-ID: .*/Message-ID: <m1@test>/' "$msg" | cmp -s - "$T/piped"; echo $?)" \
	"pipe: the part on stdin"
mstore rm "$JO/chart.png" >/dev/null
wait_for 5 grep -q ' - chart.png' "$T/watch"
is "$(grep -E '^[0-9]+ [+-] ' "$T/watch" | tr -d '\r')" "1 + Quarterly report.eml
2 + Quarterly report.txt
3 + chart.png
4 - chart.png" "the watcher saw every change, in order, mstore's too"
kill "$wpid" 2>/dev/null
like "$(md_ask "LIST $JO" | tr '\n' ' ')" "250-Quarterly report.eml.*250 version 4" "LIST"
is "$(md_ask "LIST $JO since 2" | sed -n '2,4p')" "250-3 + chart.png
250-4 - chart.png
250 version 4" "LIST since"
is "$(md_ask "VERSION $JO" | sed -n 2p)" "250 4" "VERSION"

# a pipe that hangs is killed at its time-out; filing does not wait for it
printf 'pipe /bin/sleep 60\n' >"$A/.rules"
start=$(date +%s)
deliver m2
md_idle
ok $? "filed though the pipe hangs"
is "$(mstore ls "$JO" | wc -l)" 6 "the entries are there"
wait_for 10 grep -q 'killed at its time-out' "$MD_LOG"
ok $? "the pipe is killed at its time-out"
like "$(md_ask STATUS)" "250-children [0-9]+ running, [0-9]+ waiting, [0-9]+ run, [1-9][0-9]* killed" "STATUS counts it"
ok "$([ $(($(date +%s) - start)) -lt 8 ]; echo $?)" "within the time-out"

# a broken rules file: mail stays, the error goes to the log and a notice
printf 'copy Lists\nif subject ~ "(" then drop\n' >"$A/.rules"
deliver m3
md_idle
is "$(mstore ls "$JO" | grep -c 'Quarterly report-3')" 2 "entries stay in the folder"
ok "$(test -f "$A/rules-error.eml"; echo $?)" "a notice entry"
like "$(cat "$A/rules-error.eml")" "\.rules:2:14: bad regular expression" "says file, line and column"
like "$(cat "$MD_LOG")" "\.rules:2:14: bad regular expression.*stay in the folder" "and the log"
deliver m4
md_idle
is "$(mstore ls "$JO" | grep -c 'rules-error')" 1 "one notice, not one per message"

# .hold keeps arriving mail queued until it goes
printf 'copy Lists\n' >"$A/.rules"
touch "$A/.hold"
deliver m5
md_ask POKE >/dev/null
is "$(ls "$MDIR_ROOT/.mdird/queue" | wc -l)" 1 "held: the batch stays queued"
like "$(md_ask STATUS)" "250-held 1" "STATUS says so"
rm "$A/.hold"
md_ask POKE >/dev/null
md_idle
ok $? "filed once .hold is gone"
is "$(mstore ls -l Lists | grep -vc "	folder	-$")" 4 "by the rules of that moment"

# a watcher that never reads, and one that vanishes, do not slow filing
python3 - "$MD_SOCK" "$JO" "$T/stuck.ready" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"WATCH " + sys.argv[2].encode() + b"\r\n")
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
open(sys.argv[3], "w").close()
time.sleep(15)
PY
stuck=$!
wait_for 5 test -e "$T/stuck.ready"
(printf 'WATCH %s\r\n' "$JO") | socat -t 0 - UNIX-CONNECT:"$MD_SOCK" >/dev/null 2>&1
for i in 1 2 3 4 5 6 7 8 9 10; do deliver "slow$i"; done
md_idle
ok $? "10 messages filed while a watcher does not read"
like "$(md_ask STATUS | tr '\n' ' ')" "250-queue 0 " "and the queue is empty"
kill "$stuck" 2>/dev/null

# reload: a broken config is refused and the old one stays
cp "$MD_CONF" "$T/good.conf"
printf '[mdir]\nbogus_key = 1\nlog_level = nonsense\n' >>"$MD_CONF"
like "$(md_ask RELOAD)" "^451 4\.3\.5 .*the old configuration stays" "RELOAD of a broken config: 451"
cp "$T/good.conf" "$MD_CONF"
like "$(md_ask RELOAD)" "250 2\.0\.0 reloaded" "RELOAD"
kill -HUP "$MD_PID"
wait_for 5 grep -q 'reloaded.*reloaded' "$MD_LOG" || wait_for 5 sh -c "test \$(grep -c reloaded '$MD_LOG') -ge 2"
ok $? "SIGHUP reloads"

# one daemon per root
expect_code 75 "a second mdird on the same root" -- mdird -F -c "$MD_CONF"
like "$err" "another mdird serves $MDIR_ROOT \(pid $MD_PID\)" "says which"

md_stop TERM
is "$MD_RC" 0 "SIGTERM: exit 0"
ok "$(test ! -e "$MD_SOCK"; echo $?)" "the socket is removed"
