#!/bin/sh
# mdir-outbox and sendmail, from an account's outbox: the envelope, Bcc, Message-ID and Date; what
# each exit code does (sent, deferred and retried, given up, failed with a
# notice); two runs at once never send twice; a crash after sendmail does
# not resend; quiet when there is nothing to do.  A stand-in sendmail
# records each call and exits with the code in $T/code.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 45

O=$MDIR_ROOT/SMTP/Accounts/jo@example.org/Outbox
cat >"$T/sendmail" <<SM
#!/bin/sh
n=\$(ls "$T/calls" | grep -c 'args\$')
printf '%s\n' "\$*" >"$T/calls/\$n.args"
cat >"$T/calls/\$n.eml"
[ -f "$T/slow" ] && sleep 1
[ -f "$T/crash" ] && kill -9 \$PPID
exit \$(cat "$T/code" 2>/dev/null || echo 0)
SM
chmod +x "$T/sendmail"
mkdir -p "$T/calls"
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\nretry_schedule = 1m;1h\n' \
	"$MDIR_ROOT" "$T/sendmail" >"$T/c.conf"
mstore mkdir SMTP/Outbox SMTP/Accounts/jo@example.org/Outbox >/dev/null
ln -s jo@example.org "$MDIR_ROOT/SMTP/Accounts/fwd@example.org"
calls() { ls "$T/calls" | grep -c '\.args$'; }
out() { mdir-outbox -c "$T/c.conf" "$@" >"$T/out" 2>&1; echo $?; }
meta() { grep -m1 "^$2: " "$1" | cut -d' ' -f2-; }

expect_code 0 "nothing to do" -- mdir-outbox -c "$T/c.conf"
is "$out$err" "" "and nothing said (cron mails what is said)"

printf 'From: Jo <jo@example.org>\nTo: Ann <ann@example.net>, "B, b" <b@example.net>\nCc: c@example.net\nBcc: hidden@example.net\nSubject: hi\n\nhello\n' >"$O/hi.eml"
is "$(out)" 0 "a message: exit 0"
is "$(cat "$T/calls/0.args")" "-i -f jo@example.org -- ann@example.net b@example.net c@example.net hidden@example.net" \
	"sendmail -i -f SENDER -- RCPT..., Bcc among them"
ok "$(grep -qi '^bcc:' "$T/calls/0.eml"; [ $? = 1 ]; echo $?)" "but no Bcc field in what is sent"
like "$(grep '^Message-ID: ' "$T/calls/0.eml")" '^Message-ID: <[0-9a-f]+\.[0-9a-f]+@example\.org>$' "a Message-ID added"
like "$(grep '^Date: ' "$T/calls/0.eml")" '^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} 20[0-9]{2} ' "a Date added"
is "$(ls "$O")" "" "the outbox is empty"
is "$(mstore ls SMTP/Sent)" "hi.eml" "the message is in SMTP/Sent"
S=$MDIR_ROOT/SMTP/Sent/.meta/hi.eml
is "$(meta "$S" sendmail-result)" "0 queued by sendmail" "its record: queued, not delivered"
like "$(meta "$S" sent-at)" '^20[0-9-]+T[0-9:]+Z$' "and when"
ok "$(cmp -s "$MDIR_ROOT/SMTP/Sent/hi.eml" "$T/calls/0.eml"; echo $?)" "Sent keeps what went out"
# issue 10.2: the Sent entry is a stored part of its own, its record about it
expect_code 0 "mstore fsck is clean after sending" -- mstore -c "$T/c.conf" fsck
ok "$(mstore -c "$T/c.conf" cat "$(meta "$S" url)" | cmp -s - "$T/calls/0.eml"; echo $?)" \
	"the record's URL gives the signed copy that went out"
is "$(meta "$S" sha256)" "$(sha256sum "$T/calls/0.eml" | cut -d' ' -f1)" "its sha256 is the copy's"

printf 'From: jo@example.org\nTo: x@example.net\nResent-From: fwd@example.org\nResent-To: r1@example.net\nResent-Bcc: r2@example.net\nSubject: resent\n\nx\n' >"$O/resent.eml"
out >/dev/null
is "$(cat "$T/calls/1.args")" "-i -f fwd@example.org -- r1@example.net r2@example.net" "Resent-* first (from an alias of the account)"
ok "$(grep -qi '^resent-bcc:' "$T/calls/1.eml"; [ $? = 1 ]; echo $?)" "Resent-Bcc removed"
printf 'From: jo@example.org\nTo: u@example.net\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= aus =?utf-8?b?S8O2bG4=?=\n\nx\n' >"$O/utf.eml"
out >/dev/null
is "$(meta "$MDIR_ROOT/SMTP/Sent/.meta/utf.eml" subject)" "Grüße aus Köln" "its subject decoded from RFC 2047"
is "$(meta "$MDIR_ROOT/SMTP/Sent/.meta/utf.eml" outbox-recipient)" "u@example.net" "and its envelope"
expect_code 0 "mstore fsck is still clean" -- mstore -c "$T/c.conf" fsck

# temporary failure: stays, counted, retried when due, not before
echo 75 >"$T/code"
printf 'From: jo@example.org\nTo: later@example.net\nSubject: later\n\nx\n' >"$O/later.eml"
is "$(out)" 0 "a deferral is not an error"
is "$(ls "$O")" "later.eml" "the message stays"
L=$O/.meta/later.eml
is "$(meta "$L" outbox-attempts)" 1 "one attempt counted"
like "$(meta "$L" outbox-next-try)" '^20[0-9-]+T[0-9:]+Z$' "the next try is set"
before=$(calls)
out >/dev/null
is "$(calls)" "$before" "not tried again before it is due"
sed -i 's/^outbox-next-try: .*/outbox-next-try: 2000-01-01T00:00:00Z/' "$L"
out >/dev/null
is "$(calls)" "$((before + 1))" "tried again when due"
is "$(meta "$L" outbox-attempts)" 2 "two attempts"
# give up: its first try long ago
sed -i 's/^outbox-next-try: .*/outbox-next-try: 2000-01-01T00:00:00Z/; s/^outbox-first-try: .*/outbox-first-try: 2000-01-01T00:00:00Z/' "$L"
out >/dev/null
is "$(mstore ls SMTP/Failed)" "later.eml" "given up after give_up_after: SMTP/Failed"
like "$(meta "$MDIR_ROOT/SMTP/Failed/.meta/later.eml" outbox-failure)" '^gave up after 5d: ' "the record says why"
notice=$(ls "$MDIR_ROOT/SMTP/Accounts/jo@example.org" | grep '^Not sent')
is "$notice" "Not sent_ later.eml" "a notice in the sender's account folder"
like "$(cat "$MDIR_ROOT/SMTP/Accounts/jo@example.org/$notice" | tr '\n' ' ')" \
	'Your message "later" was not sent:.*Content-Type: message/rfc822.*Subject: later' \
	"it says why and holds the original"

# permanent failure
echo 67 >"$T/code"
printf 'From: jo@example.org\nTo: nobody@example.net\nSubject: bounce\n\nx\n' >"$O/bounce.eml"
out >/dev/null
is "$(ls "$MDIR_ROOT/SMTP/Failed" | grep -c '^bounce')" 1 "exit 67: SMTP/Failed at once"
like "$(meta "$MDIR_ROOT/SMTP/Failed/.meta/bounce.eml" outbox-failure)" '^sendmail exit 67' "with the code"
ok "$(ls "$MDIR_ROOT/SMTP/Accounts/jo@example.org" | grep -q '^Not sent_ bounce'; echo $?)" \
	"the notice in the account's folder"
echo 0 >"$T/code"

# a message that cannot be sent as it is
printf 'From: jo@example.org\nTo: not an address\nSubject: bad\n\nx\n' >"$O/bad.eml"
before=$(calls)
out >/dev/null
is "$(calls)" "$before" "an invalid recipient: sendmail not called"
like "$(meta "$MDIR_ROOT/SMTP/Failed/.meta/bad.eml" outbox-failure)" 'To: .*not a valid address|To: no address' "failed with the reason"

# -n: shows, sends nothing, moves nothing
printf 'From: jo@example.org\nTo: dry@example.net\nSubject: dry\n\nx\n' >"$O/dry.eml"
before=$(calls)
like "$(mdir-outbox -c "$T/c.conf" -n)" '^dry\.eml: would send: from <jo@example.org> to dry@example.net' "-n says what it would do"
is "$(calls)/$(ls "$O")" "$before/dry.eml" "and does nothing"
rm "$O/dry.eml" "$O/.meta/dry.eml" 2>/dev/null

# two runs at once: each message goes out once
for i in 1 2 3; do printf 'From: jo@example.org\nTo: c%s@example.net\nSubject: c%s\n\nx\n' $i $i >"$O/c$i.eml"; done
touch "$T/slow"
before=$(calls)
mdir-outbox -c "$T/c.conf" >"$T/r1" 2>&1 &
p1=$!
wait_for 5 sh -c "[ \$(ls '$T/calls' | grep -c args) -gt $before ]"
mdir-outbox -c "$T/c.conf" -v >"$T/r2" 2>&1
r2=$?
wait $p1
is "$r2" 0 "a second run at the same time exits 0"
like "$(cat "$T/r2")" "another run holds SMTP/Outbox" "and says so (-v)"
is "$(($(calls) - before))" 3 "three messages, three sends"
rm -f "$T/slow"

# a crash after sendmail took it: never sent again
printf 'From: jo@example.org\nTo: crash@example.net\nSubject: crash\n\nx\n' >"$O/crash.eml"
touch "$T/crash"
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
rm -f "$T/crash"
before=$(calls)
is "$(meta "$O/.meta/crash.eml" outbox-in-flight | grep -c .)" 1 "the crash left it marked in flight"
out >/dev/null
is "$(calls)" "$before" "the next run does not send it again"
like "$(meta "$MDIR_ROOT/SMTP/Failed/.meta/crash.eml" outbox-failure)" '^possibly sent' "it is filed as possibly sent"
like "$(grep 'kind=sent' "$MDIR_ROOT/.stats/events" | head -n 1)" 'kind=sent	sender=jo@example.org	rcpt=ann@example.net	domain=example.net' \
	"each send is an event for smtp-stats, with its destination domain"
