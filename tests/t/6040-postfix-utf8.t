#!/bin/sh
# SMTPUTF8 end to end: swaks -> a private Postfix -> pipe(8) (empty
# environment, locale C) -> mdir-receive.  A UTF-8 sender and a UTF-8
# local part are delivered, not deferred ("bad arguments: Invalid byte
# sequence in conversion input" made Postfix retry for days), to the
# account the normalised address names, and recorded in UTF-8.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
pf_require
plan 8

mstore mkdir 'SMTP/Accounts/дмитрий@example.test' 'SMTP/Accounts/用户@example.test' >/dev/null
pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }
chown -R "$PF_USER" "$MDIR_ROOT"
Q=$MDIR_ROOT/.mdird/queue
field() { grep -m1 "^$1: " "$2" | cut -d' ' -f2-; }
# send_utf8 FROM TO ID: an SMTPUTF8 transaction (swaks has no SMTPUTF8);
# sets $PF_QID from Postfix's "queued as"
send_utf8() {
	PF_QID=$(python3 - "$PF_PORT" "$1" "$2" "$3" <<'PY'
import smtplib, sys
port, sender, rcpt, mid = sys.argv[1:]
msg = ("From: <%s>\r\nTo: <%s>\r\nMessage-Id: <%s>\r\nSubject: Привет\r\n"
       "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
       "Content-Transfer-Encoding: 8bit\r\n\r\nЗдравствуйте, 你好, مرحبا 👋\r\n"
       % (sender, rcpt, mid)).encode()
s = smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.test", timeout=20)
s.ehlo()
s.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"])
s.rcpt(rcpt)
code, resp = s.data(msg)
s.quit()
print(resp.decode().rsplit(" ", 1)[-1] if code == 250 else "")
PY
)
	[ -n "$PF_QID" ]
}

send_utf8 'отправитель@bücher.example' 'Дмитрий+Новости@example.test' utf8-1@client.test
ok $? "Postfix accepts a UTF-8 sender and recipient (SMTPUTF8)"
pf_wait "$PF_QID" 'Дмитрий+Новости@example.test'
is "$PF_STATUS" sent "delivered, not deferred"
b=$Q/$(ls "$Q" | head -n 1)
is "$(field account "$b")" "SMTP/Accounts/дмитрий@example.test" "to the normalised account"
is "$(field extension "$b")" "новости" "the extension in UTF-8"
is "$(field envelope-from "$b")" "отправитель@bücher.example" "the sender in UTF-8"

send_utf8 alice@sender.test '用户@example.test' utf8-2@client.test
pf_wait "$PF_QID" '用户@example.test'
is "$PF_STATUS" sent "a CJK local part is delivered"
send_utf8 alice@sender.test 'никто@example.test' utf8-3@client.test
pf_wait "$PF_QID" 'никто@example.test'
is "$PF_STATUS" bounced "an unknown UTF-8 account bounces"
is "$PF_DSN" 5.1.1 "with 5.1.1, at once"
