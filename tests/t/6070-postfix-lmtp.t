#!/bin/sh
# End to end over LMTP: swaks -> a private Postfix -> lmtp(8) ->
# mdir-receive --lmtp=unix:... (resident, as the unprivileged user) ->
# mdird -> the account's folder.  The README's LMTP lines are the
# instance's configuration.  One good and one unknown recipient in one
# transaction: Postfix delivers the first (250) and bounces the second
# (550 5.1.1 at RCPT); XFORWARD gives the queue id, the client and its
# HELO name to the records as the pipe entry's arguments do.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
pf_require
plan 13

JO=SMTP/Accounts/jo@example.test
mstore mkdir "$JO" >/dev/null
mkdir -p "$T/run"
PF_README_MORE=main.cf-lmtp
pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }
chown -R "$PF_USER" "$MDIR_ROOT" "$T/run"
chmod 755 "$T/run"
S=$T/run/lmtp.sock
runuser -u "$PF_USER" -- "$PF_BIN/mdird" -F -c "$PF/mdir.conf" >"$T/mdird.log" 2>&1 &
MD=$!
runuser -u "$PF_USER" -- "$PF_BIN/mdir-receive" -c "$PF/mdir.conf" --lmtp=unix:"$S" \
	>"$T/lmtp.log" 2>&1 &
LM=$!
stop_daemons() {
	kill "$MD" "$LM" 2>/dev/null
	wait "$MD" "$LM" 2>/dev/null
}
at_exit stop_daemons
wait_for 10 test -S "$S"
ok $? "mdir-receive --lmtp listens as $PF_USER"
wait_for 10 test -S "$MDIR_ROOT/.mdird/mdird.sock"
ok $? "mdird runs"
like "$(postconf -c "$PF/etc" -h transport_maps)" "lmtp:unix:$S" \
	"Postfix delivers to it (the README's transport_maps)"

PF_RELAY="[$S]"
pf_send --from alice@sender.test --to jo@example.test,nobody@example.test \
	--header 'Subject: overlmtp' --header 'Message-Id: <e2e-lmtp-1@client.test>' \
	--body 'hello over LMTP'
ok $? "swaks: accepted for both"
pf_wait "$PF_QID" jo@example.test
is "$PF_STATUS" sent "the account: status=sent"
is "$PF_DSN" 2.0.0 "dsn 2.0.0"
pf_wait "$PF_QID" nobody@example.test
is "$PF_STATUS" bounced "no such account: bounced"
is "$PF_DSN" 5.1.1 "dsn 5.1.1"
filed() { mstore ls "$JO" 2>/dev/null | grep -q '^overlmtp\.eml$'; }
wait_for 10 filed
ok $? "mdird filed it into the account's folder"
is "$(mstore ls "$JO" | grep -c '^overlmtp')" 2 "once: the message and its text"
rec=$(mstore meta "$JO/overlmtp.eml")
like "$rec" "queue-id: $PF_QID" "XFORWARD: Postfix's queue id recorded"
like "$rec" 'client-address: 127\.0\.0\.1' "XFORWARD: the client's address recorded"
like "$rec" 'client-helo: client\.test' "XFORWARD: its HELO name"
