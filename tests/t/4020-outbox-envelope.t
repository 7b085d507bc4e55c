#!/bin/sh
# SMTP/Outbox is mdir's own outbox (forwards, notices, command answers): an
# entry there is sent with the envelope of its record (outbox-sender, one
# outbox-recipient a recipient), never one taken from its headers, which a
# remote sender wrote.  Issue 16.1: a forward rule made an open relay.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 13

O=$MDIR_ROOT/SMTP/Outbox
cat >"$T/sendmail" <<SM
#!/bin/sh
n=\$(ls "$T/calls" | grep -c 'args\$')
printf '%s\n' "\$*" >"$T/calls/\$n.args"
cat >"$T/calls/\$n.eml"
exit 0
SM
chmod +x "$T/sendmail"
mkdir -p "$T/calls"
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\n' \
	"$MDIR_ROOT" "$T/sendmail" >"$T/c.conf"
mstore -c "$T/c.conf" mkdir SMTP/Outbox SMTP/Accounts/me@example.org >/dev/null
calls() { ls "$T/calls" | grep -c '\.args$'; }
meta() { grep -m1 "^$2: " "$1" | cut -d' ' -f2-; }
# ENTRY RECORD-LINES: an entry as mdird's forward leaves it (the record is
# mdird's to write; here it stands in for it)
entry() {
	mkdir -p "$O/.meta"
	cat >"$O/$1"
	printf '%s' "$2" >"$O/.meta/$1"
}

# the attack of issue 16.1: the remote sender's own Resent-* lines
# (a stored message filed into the outbox, as mdird files a forward)
printf 'From: ceo@example.org\nResent-Sender: ceo@example.org\nResent-From: ceo@example.org\nResent-To: v0@victim.test\nResent-Bcc: v1@victim.test, v2@victim.test\nTo: me@example.org\nSubject: wire the money\n\npay\n' >"$T/fwd.eml"
mstore -c "$T/c.conf" put "$T/fwd.eml" SMTP/Outbox >/dev/null
printf 'outbox-sender: me@example.org\noutbox-recipient: me@phone.test\n' >>"$O/.meta/fwd.eml"
expect_code 0 "a forward in SMTP/Outbox: exit 0" -- mdir-outbox -c "$T/c.conf"
is "$(cat "$T/calls/0.args" 2>/dev/null)" "-i -f me@example.org -- me@phone.test" \
	"sent to the record's recipient only, from the record's sender"
ok "$(grep -qi '^resent-bcc:' "$T/calls/0.eml"; [ $? = 1 ]; echo $?)" "no Resent-Bcc in what goes out"
is "$(mstore -c "$T/c.conf" ls SMTP/Sent)" "fwd.eml" "and it is filed in SMTP/Sent"
expect_code 0 "mstore fsck is clean after sending a stored message (issue 10.2)" -- mstore -c "$T/c.conf" fsck

# several recipients, a null sender
printf 'From: MAILER-DAEMON@example.org\nTo: someone@example.net\nSubject: two\n\nx\n' |
	entry two.eml "$(printf 'outbox-sender: \noutbox-recipient: a@example.net\noutbox-recipient: b@example.net\noutbox-recipient: A@example.net\n')"
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
is "$(cat "$T/calls/1.args" 2>/dev/null)" "-i -f  -- a@example.net b@example.net" \
	"each outbox-recipient once; an empty outbox-sender is the null sender"

# an entry without outbox-recipient: nothing sent, SMTP/Failed, a notice
printf 'From: me@example.org\nTo: x@example.net\nBcc: y@example.net\nSubject: headers only\n\nx\n' >"$O/norcpt.eml"
before=$(calls)
expect_code 0 "an entry without a record's envelope: exit 0" -- mdir-outbox -c "$T/c.conf"
is "$(calls)" "$before" "nothing sent: its headers name no recipient here"
is "$(mstore -c "$T/c.conf" ls SMTP/Failed | grep -c '^norcpt.eml$')" 1 "it goes to SMTP/Failed"
like "$(meta "$MDIR_ROOT/SMTP/Failed/.meta/norcpt.eml" outbox-failure)" 'no outbox-recipient' "saying why"
ok "$(ls "$MDIR_ROOT/SMTP/Failed" | grep -q '^Not sent_ headers only'; echo $?)" "with a notice, under the message's own Subject"

# a bad address in the record: failed, not sent
printf 'From: me@example.org\nTo: x@example.net\nSubject: bad\n\nx\n' |
	entry bad.eml "$(printf 'outbox-sender: me@example.org\noutbox-recipient: -oQ/tmp/x\n')"
before=$(calls)
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
is "$(calls)" "$before" "a recipient that is no address: nothing sent"
like "$(meta "$MDIR_ROOT/SMTP/Failed/.meta/bad.eml" outbox-failure)" 'not a valid address' "failed, saying why"
