#!/bin/sh
# The Maildir view end to end (issue 11): swaks -> a private Postfix ->
# pipe(8) -> mdir-receive -> mdird -> the account's Maildir view -> a
# private Dovecot (tests/lib/dovecot.sh) with the README's lines, its mail
# processes running as the mdir user as the README has them (here the
# test's user of tests/lib/postfix.sh, who runs mdir-receive and mdird
# too), the view inside the root as the README puts it.  FETCH BODY[] over
# IMAP is the stored raw message byte for byte (with CRLF line ends, as
# IMAP has it), INTERNALDATE is its received-at.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
. "$MDIR_SRC/tests/lib/dovecot.sh"
pf_require
dv_require
plan 6

JO=SMTP/Accounts/jo@example.test
mstore mkdir "$JO" >/dev/null
pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }
# the README's set-up: the view in the root, the mdir user's, mode 0770
install -d -m 0770 "$MDIR_ROOT/maildir"
printf '[access]\nmaildir = %s/maildir/%%a\n' "$MDIR_ROOT" >>"$PF/mdir.conf"
chown -R "$PF_USER:$PF_USER" "$MDIR_ROOT"
runuser -u "$PF_USER" -- "$PF_BIN/mdird" -F -c "$PF/mdir.conf" >"$T/mdird.log" 2>&1 &
MD=$!
stop_md() { kill "$MD" 2>/dev/null; wait "$MD" 2>/dev/null; }
at_exit stop_md
wait_for 10 test -S "$MDIR_ROOT/.mdird/mdird.sock"
ok $? "mdird runs as $PF_USER"

# Dovecot: the private part, then the README's lines with the root, the
# users file and the mdir user made the test's
dv_config "$T/dovecot"
printf 'jo@example.test:{PLAIN}secret\n' >"$DV/passwd"
readme_block dovecot >"$T/readme-dovecot" || { echo "Bail out! no dovecot block in the README"; exit 1; }
sed -e "s|/var/lib/mdir|$MDIR_ROOT|g" -e "s|/etc/dovecot/users|$DV/passwd|" \
	-e "s|^mail_uid = mdir\$|mail_uid = $PF_USER|" -e "s|^mail_gid = mdir\$|mail_gid = $PF_USER|" \
	"$T/readme-dovecot" >>"$DV/dovecot.conf"
dv_start
ok $? "dovecot listens on 127.0.0.1:$DV_IMAP"

head -c 20000 /dev/urandom >"$T/blob.bin"
pf_send --from alice@sender.test --to jo@example.test --header 'Subject: to be read over IMAP' \
	--header 'Message-Id: <e2e-imap-1@client.test>' --body 'see attached' \
	--attach-type application/octet-stream --attach @"$T/blob.bin"
pf_wait "$PF_QID" jo@example.test
is "$PF_STATUS" sent "Postfix: delivered through mdir-receive"
wait_for 10 sh -c "[ \$(find '$MDIR_ROOT/maildir/jo@example.test/new' -type f | wc -l) = 1 ]"
ok $? "mdird puts it into the account's Maildir view"

# what IMAP gives: "SHA256 INTERNALDATE-as-epoch" of the only message
got=$(TZ=UTC timeout 30 python3 - "$DV_IMAP" 2>"$T/client.err" <<'PY'
import hashlib, imaplib, sys, time
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]), timeout=10)
m.login('jo@example.test', 'secret')
m.select('INBOX', readonly=True)
for item in m.fetch('1', '(INTERNALDATE BODY.PEEK[])')[1]:
    if isinstance(item, tuple):
        print(hashlib.sha256(item[1]).hexdigest(),
              int(time.mktime(imaplib.Internaldate2tuple(item[0]))))
m.logout()
PY
)
[ -s "$T/client.err" ] && sed 's/^/# /' "$T/client.err"
want=$(mstore cat mstore:e2e-imap-1@client.test/0 |
	python3 -c 'import hashlib, re, sys
print(hashlib.sha256(re.sub(rb"(?<!\r)\n", b"\r\n", sys.stdin.buffer.read())).hexdigest())')
is "${got% *}" "$want" "IMAP FETCH BODY[]: the stored raw message byte for byte"
is "${got#* }" "$(date -d "$(mstore meta -f received-at mstore:e2e-imap-1@client.test/0)" +%s)" \
	"INTERNALDATE: its received-at"
