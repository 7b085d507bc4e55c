#!/bin/sh
# Dovecot serving mdird's Maildir view (issue 11): a private Dovecot
# (imapd and pop3d on loopback ports, its own base_dir, a passwd-file),
# mail_location maildir:DIR/%u over [access] maildir = DIR/%a, as the
# README sets it up.  Over IMAP (python3's imaplib): LIST shows the
# account's folders, FETCH BODY[] is the stored raw message byte for byte
# (CRLF stored; a message stored with LF comes with CRLF, as IMAP has it),
# INTERNALDATE is received-at; mstore mv and rm show up as a move and an
# expunge; an IDLE client hears of a new message within 2 s of its
# delivery.  Over POP3, RETR gives the same bytes.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
. "$MDIR_SRC/tests/lib/readme.sh"
. "$MDIR_SRC/tests/lib/dovecot.sh"
dv_require
plan 15

JO=SMTP/Accounts/jo@example.org
# the private part (tests/lib/dovecot.sh): where it runs, its ports, no
# TLS; then the test's users.  Dovecot's auth process (dovecot) reads its
# passwd-file, its mail processes run as nobody in mdir's group (root's
# here): the view is 0770, its files 0660 (umask 0007)
dv_config "$T/dovecot"
IMAP=$DV_IMAP
POP=$DV_POP
printf '[access]\nmaildir = %s/view/%%a\n' "$T" >>"$MD_CONF"
printf 'jo@example.org:{PLAIN}secret\n' >"$DV/passwd"
# then the README's lines, made private: the view and the users file here,
# the mail processes as nobody in the view's group
readme_block dovecot >"$T/readme-dovecot" || { echo "Bail out! no dovecot block in the README"; exit 1; }
sed -e "s|/var/lib/mdir/maildir|$T/view|g" -e "s|/etc/dovecot/users|$DV/passwd|" \
	-e 's|^mail_uid = mdir$|mail_uid = nobody|' -e 's|^mail_gid = mdir$|mail_gid = root|' \
	"$T/readme-dovecot" >>"$DV/dovecot.conf"
# what the clients see, a line each: "list NAMES", "imap BOX EPOCH SHA256",
# "pop SHA256", sorted
cat >"$T/client.py" <<'PY'
import hashlib, imaplib, poplib, sys, time
imap, pop = int(sys.argv[1]), int(sys.argv[2])
out = []
m = imaplib.IMAP4('127.0.0.1', imap, timeout=10)
m.login('jo@example.org', 'secret')
boxes = sorted(l.decode().rsplit(' ', 1)[1].strip('"') for l in m.list()[1])
out.append('list ' + ' '.join(boxes))
for box in boxes:
    n = int(m.select(box, readonly=True)[1][0])
    if n == 0:
        continue
    for item in m.fetch('1:*', '(INTERNALDATE BODY.PEEK[])')[1]:
        if isinstance(item, tuple):
            when = int(time.mktime(imaplib.Internaldate2tuple(item[0])))
            out.append('imap %s %d %s' % (box, when, hashlib.sha256(item[1]).hexdigest()))
m.logout()
p = poplib.POP3('127.0.0.1', pop, timeout=10)
p.user('jo@example.org')
p.pass_('secret')
for i in range(1, p.stat()[0] + 1):
    lines = p.retr(i)[1]
    out.append('pop ' + hashlib.sha256(b'\r\n'.join(lines) + b'\r\n').hexdigest())
p.quit()
print('\n'.join(sorted(out)))
PY
client() { TZ=UTC timeout 30 python3 "$T/client.py" "$IMAP" "$POP" 2>>"$T/client.err"; }
# the SHA-256 of standard input with CRLF line ends, as IMAP and POP3 give it
crlf_sha() {
	python3 -c 'import hashlib, re, sys
print(hashlib.sha256(re.sub(rb"(?<!\r)\n", b"\r\n", sys.stdin.buffer.read())).hexdigest())'
}
# entry $1's received-at, as a Unix time
epoch() { date -d "$(mstore -c "$MD_CONF" meta -f received-at "$1")" +%s; }

is "$(grep -c -e "$T/view/%u" -e 'mail_uid = nobody' -e "$DV/passwd" "$DV/dovecot.conf")" 4 \
	"the README's lines, made private"
mstore mkdir "$JO" "$JO/Lists" >/dev/null
printf 'if subject contains "Plain and HTML" then move ~/Lists\n' >"$MDIR_ROOT/$JO/.rules"
md_start || { echo "Bail out! mdird did not start"; exit 1; }
for m in crlf multipart-mixed multipart-alternative; do
	mdir-receive -c "$MD_CONF" -- jo@example.org <"$DATA/$m.eml"
done
md_idle 10
wait_for 10 sh -c "[ \$(ls '$T/view/jo@example.org/new' | wc -l) = 2 ] &&
	[ \$(ls '$T/view/jo@example.org/.Lists/new' | wc -l) = 1 ]"
ok $? "the view holds the three messages"

dv_start
ok $? "dovecot listens on 127.0.0.1:$IMAP (imap) and :$POP (pop3)"

CR="$JO/CRLF line ends.eml"
MX="$JO/Quarterly report.eml"
AL="$JO/Lists/Plain and HTML.eml"
for e in "$CR" "$MX" "$AL"; do
	[ -f "$MDIR_ROOT/$e" ] || diag "no entry $e: $(mstore ls "$JO" "$JO/Lists" | tr '\n' ' ')"
done
client >"$T/seen"
like "$(grep '^list' "$T/seen")" '^list INBOX Lists$' "LIST: INBOX and Lists"
cr_sha=$(mstore -c "$MD_CONF" cat "$CR" | sha256sum | cut -d' ' -f1)
is "$(mstore -c "$MD_CONF" cat "$CR" | crlf_sha)" "$cr_sha" "(the CRLF message is stored with CRLF)"
ok "$(grep -qx "imap INBOX $(epoch "$CR") $cr_sha" "$T/seen"; echo $?)" \
	"FETCH BODY[]: the stored raw message byte for byte, INTERNALDATE = received-at"
mx_sha=$(mstore -c "$MD_CONF" cat "$MX" | crlf_sha)
ok "$(grep -qx "imap INBOX $(epoch "$MX") $mx_sha" "$T/seen"; echo $?)" \
	"a message stored with LF: the same with CRLF, INTERNALDATE = received-at"
al_sha=$(mstore -c "$MD_CONF" cat "$AL" | crlf_sha)
ok "$(grep -qx "imap Lists $(epoch "$AL") $al_sha" "$T/seen"; echo $?)" "the rule's Lists, likewise"
is "$(grep '^pop' "$T/seen" | sort | tr '\n' ' ')" "$(printf 'pop %s\n' "$cr_sha" "$mx_sha" | sort | tr '\n' ' ')" \
	"POP3 RETR: the same bytes (INBOX)"
[ -s "$T/client.err" ] && sed 's/^/# /' "$T/client.err"

# mstore mv and rm: a move and an expunge for the next session
mstore -c "$MD_CONF" mv "$MX" "$JO/Lists" >/dev/null
mstore -c "$MD_CONF" rm "$CR"
md_ask POKE >/dev/null
wait_for 10 sh -c "[ -z \"\$(find '$T/view/jo@example.org/new' '$T/view/jo@example.org/cur' -type f)\" ]"
ok $? "the view follows"
client >"$T/seen2"
is "$(grep -c '^imap INBOX' "$T/seen2")" 0 "mstore rm and mv: INBOX is empty"
is "$(grep -c "^imap Lists .* $mx_sha\$" "$T/seen2")" 1 "mstore mv: the message is in Lists"
is "$(grep -c '^imap Lists' "$T/seen2")" 2 "beside the one the rule put there"

# IMAP IDLE: told of a delivery within 2 s (mdir-receive, mdird's round,
# the view, Dovecot's inotify)
cat >"$T/idle.py" <<'PY'
import socket, subprocess, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), 10)
f = s.makefile('rb')
def until(tag):
    while True:
        line = f.readline()
        if not line or line.startswith(tag):
            return line
f.readline()
s.sendall(b'a LOGIN jo@example.org secret\r\n'); until(b'a ')
s.sendall(b'b SELECT INBOX\r\n'); until(b'b ')
s.sendall(b'c IDLE\r\n'); until(b'+')
t0 = time.monotonic()
with open(sys.argv[3], 'rb') as msg:
    subprocess.run(['mdir-receive', '-c', sys.argv[2], '--', 'jo@example.org'], stdin=msg, check=True)
s.settimeout(10)
line = until(b'* ')
while line and not line.rstrip().endswith(b'EXISTS'):
    line = until(b'* ')
print('%s %.2f' % (line.decode().strip(), time.monotonic() - t0))
s.sendall(b'DONE\r\n'); until(b'c ')
s.sendall(b'd LOGOUT\r\n')
PY
r=$(timeout 30 python3 "$T/idle.py" "$IMAP" "$MD_CONF" "$DATA/multipart-related.eml" 2>>"$T/client.err")
like "$r" '^\* 1 EXISTS ' "IDLE: the new message is announced"
ok "$([ -n "$r" ] && echo "$r" | awk '{ exit !($4 < 2.0) }'; echo $?)" "within 2 s of its delivery (${r##* } s)"
