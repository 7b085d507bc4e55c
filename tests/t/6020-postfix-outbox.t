#!/bin/sh
# End to end: mdir-outbox -> Postfix's own sendmail (a private instance) ->
# Postfix relays to a loopback SMTP sink, never the internet -> the sink
# holds the message, and both DKIM signatures on it verify.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
. "$MDIR_SRC/tests/lib/dkim.sh"
pf_require
command -v opendkim >/dev/null || skip_all "opendkim is not installed (make deps)"
plan 6

pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }
dk_keys
printf '#!/bin/sh\nexec /usr/sbin/sendmail -C %s/etc "$@"\n' "$PF" >"$T/sendmail"
chmod +x "$T/sendmail"
printf '[mdir]\nroot = %s\n[outbox]\nsendmail = %s\n%s\n' "$MDIR_ROOT" "$T/sendmail" \
	"$DK_CONF" >"$T/c.conf"
dk_records "$T/c.conf"
mstore mkdir SMTP/Accounts/jo@example.org/Outbox >/dev/null
printf 'From: Jo <jo@example.org>\nTo: Ann <ann@remote.test>\nSubject: through Postfix, grüße\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nHello Ann, schöne Grüße.\n' \
	>"$MDIR_ROOT/SMTP/Accounts/jo@example.org/Outbox/to-ann.eml"
expect_code 0 "mdir-outbox hands it to Postfix's sendmail" -- mdir-outbox -c "$T/c.conf"
is "$(mstore ls SMTP/Sent)" "to-ann.eml" "and files it under SMTP/Sent"
got_sink() { grep -l 'through Postfix' "$PF"/sink/* 2>/dev/null | head -n 1 | grep -q .; }
wait_for 20 got_sink
ok $? "the loopback sink received it from Postfix"
f=$(grep -l 'through Postfix\|=?utf-8?' "$PF"/sink/* 2>/dev/null | head -n 1)
[ -n "$f" ] || f=$(ls "$PF"/sink/* 2>/dev/null | head -n 1)
# the sink's own lines before the message are not part of it
sed -n '/^DKIM-Signature:/,$p' "$f" >"$T/got.eml"
dk_opendkim "$T/got.eml"
ok $? "opendkim: both signatures verify after Postfix"
is "$(dk_python "$T/got.eml")" "True True" "python3-dkim: both verify"
like "$(grep -c "^Received: " "$f")" "^[1-9]" "Postfix added its Received line, outside the signature"
