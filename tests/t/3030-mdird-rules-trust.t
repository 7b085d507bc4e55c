#!/bin/sh
# What a rules file may make mdird run (issue 16.2, 16.7): pipe runs only
# programs in [rules] programs; a .rules that is a symbolic link, or a hard
# link to a stored part (an attachment a remote sender chose), never
# pipes; the MDIR_* values a remote sender fills are cut, so the notifier
# still runs.  A rules file that may not pipe may not send either (16.4):
# no forward, nothing copied or moved into an outbox.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 25

JO=SMTP/Accounts/jo@example.org
A=$MDIR_ROOT/$JO
mstore mkdir "$JO" >/dev/null
cat >>"$MD_CONF" <<CONF
[rules]
programs = /bin/sh
[notify]
command = /bin/sh -c 'printf "%s|%s|%s\\\\n" "\${#MDIR_TO}" "\${MDIR_CUT:-}" "\$MDIR_SUBJECT" >>$T/env'
CONF
n=0
# deliver [FILE]: a message (with a fresh Message-ID) to jo
deliver() {
	n=$((n + 1))
	if [ -n "${1:-}" ]; then
		sed "s/^Message-ID: .*/Message-ID: <t$n@test>/" "$1"
	else
		printf 'From: a@example.org\r\nSubject: m%s\r\nMessage-ID: <t%s@test>\r\n\r\nhi\r\n' "$n" "$n"
	fi | mdir-receive -c "$MD_CONF" -- jo@example.org
}
md_start || { echo "Bail out! mdird did not start"; exit 1; }

# a .rules the group may write (mstore account's were 0660): a group
# member could append a pipe to it, so it may not pipe until chmod g-w
printf 'pipe /bin/sh -c "touch %s/groupw"\n' "$T" >"$A/.rules"
chmod 0660 "$A/.rules"
deliver && md_idle
wait_for 5 grep -q 'that no one else may write' "$MD_LOG"
ok $? "a group-writable .rules may not pipe (logged)"
ok "$([ ! -e "$T/groupw" ]; echo $?)" "and runs nothing"
chmod g-w "$A/.rules"
deliver && md_idle
wait_for 5 test -e "$T/groupw"
ok $? "after chmod g-w it may"
rm -f "$A/.rules"
(umask 0007; mstore -c "$MD_CONF" account forward jo@example.org x@far.test >/dev/null)
is "$(stat -c %a "$A/.rules" 2>/dev/null)" 640 "mstore account forward writes it 0640, whatever the umask"
rm -f "$A/.rules"

# a program not listed is not run, and says so
printf 'pipe /usr/bin/touch %s/unlisted\n' "$T" >"$A/.rules"
deliver && md_idle
wait_for 5 grep -q 'pipe /usr/bin/touch: not in \[rules\] programs' "$MD_LOG"
ok $? "a pipe program not in [rules] programs: logged"
ok "$([ ! -e "$T/unlisted" ]; echo $?)" "and not run"
printf 'pipe /bin/sh -c "touch %s/listed"\n' "$T" >"$A/.rules"
deliver && md_idle
wait_for 5 test -e "$T/listed"
ok $? "a listed program runs"

# a remote sender mails a rules file as an attachment
printf 'From: a@example.org\r\nSubject: payload\r\nMessage-ID: <x@test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=evil.txt\r\n\r\npipe /bin/sh -c "touch %s/pwned"\r\n--b--\r\n' "$T" >"$T/payload.eml"
rm -f "$A/.rules"
deliver "$T/payload.eml" && md_idle
ok "$([ -f "$A/evil.txt" ]; echo $?)" "the attachment is filed"
part=$(find "$MDIR_ROOT/.mstore" -samefile "$A/evil.txt" | head -n 1)
ok "$([ -n "$part" ]; echo $?)" "it is a stored part"

# a group member links .rules to the stored part
ln -s "$part" "$A/.rules"
deliver && md_idle
wait_for 5 grep -q '\.rules: a symbolic link' "$MD_LOG"
ok $? "a symlinked .rules is refused (logged)"
ok "$([ ! -e "$T/pwned" ]; echo $?)" "and runs nothing"
rm -f "$A/.rules"
# or moves the attachment (a hard link to the part) to .rules
mv "$A/evil.txt" "$A/.rules"
deliver && md_idle
wait_for 5 grep -q 'with no other link to it' "$MD_LOG"
ok $? "a .rules linked to a stored part may not pipe (logged)"
sleep 0.2
ok "$([ ! -e "$T/pwned" ]; echo $?)" "and runs nothing"
rm -f "$A/.rules"

# two 90 KB To: headers: the notifier runs anyway, with MDIR_TO cut
to=$(head -c 90000 /dev/zero | tr '\0' a)
printf 'From: a@example.org\r\nTo: %s@example.org\r\nTo: %s@example.org\r\nSubject: big\r\nMessage-ID: <y@test>\r\n\r\nhi\r\n' "$to" "$to" >"$T/bigto.eml"
printf 'notify\n' >"$A/.rules"
: >"$T/env"
deliver "$T/bigto.eml" && md_idle
# two entries (the message and its text part), so two runs
wait_for 5 sh -c "[ \$(grep -c '|big\$' '$T/env') -ge 2 ]"
ok $? "the notifier runs with two 90 KB To: headers (once per entry)"
len=$(sed -n 's/^\([0-9]*\)|.*|big$/\1/p' "$T/env" | sort -n | tail -n 1)
ok "$([ -n "$len" ] && [ "$len" -le 4096 ]; echo $?)" "MDIR_TO is cut to 4 KB ($len bytes)"
# the part's record holds To: cut at 1 KB already: that is a cut too
is "$(sed -n 's/^[0-9]*|\(.*\)|big$/\1/p' "$T/env" | sort -u)" "MDIR_TO" \
	"MDIR_CUT names it in every run"

# a group member's .rules: here one with another link, which may not pipe
# (as one owned by someone else than the folder's owner)
member_rules() {
	rm -f "$A/.rules" "$T/member.rules"
	printf '%s\n' "$1" >"$A/.rules"
	ln "$A/.rules" "$T/member.rules"
}
outbox_empty() { [ -z "$(ls "$1" 2>/dev/null)" ]; }
member_rules 'forward x@evil.example'
deliver && md_idle
wait_for 5 grep -q ':1:1: forward is allowed only in a rules file owned by root' "$MD_LOG"
ok $? "a group member's forward is refused (logged)"
ok "$(outbox_empty "$MDIR_ROOT/SMTP/Outbox"; echo $?)" "and nothing is queued to send"
ok "$(grep -q 'forward is allowed only' "$A"/rules-error*.eml; echo $?)" \
	"the rules file is set aside with a notice in the folder"
ok "$([ -f "$A/m$n.eml" ]; echo $?)" "the entry stays in the folder"

member_rules "copy $JO/Outbox"
deliver && md_idle
wait_for 5 grep -q "copy into an outbox ($JO/Outbox) is allowed only" "$MD_LOG"
ok $? "a group member's copy into jo's Outbox is refused (logged)"
ok "$(outbox_empty "$A/Outbox"; echo $?)" "and puts nothing there"

# a template that leads into the outbox is refused when it is filled in
member_rules 'move ~/Outbox'
deliver && md_idle
wait_for 5 grep -q "move into the outbox $JO/Outbox refused" "$MD_LOG"
ok $? "a group member's move into ~/Outbox is refused (logged)"
ok "$(outbox_empty "$A/Outbox" && [ -f "$A/m$n.eml" ]; echo $?)" \
	"nothing goes there; the entry stays in the folder"

# the owner's own rules file still forwards
rm -f "$A/.rules" "$T/member.rules"
printf 'forward me@phone.example\n' >"$A/.rules"
deliver && md_idle
wait_for 5 sh -c "[ -n \"\$(ls '$MDIR_ROOT/SMTP/Outbox')\" ]"
ok $? "the owner's forward is queued in SMTP/Outbox"
