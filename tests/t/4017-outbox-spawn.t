#!/bin/sh
# How sendmail is started (posix_spawn, no shell): the stored copy on its
# stdin, what it says in the record, its environment passed on; a sendmail
# that cannot be run defers the message (75, as sysexits(3) has it) with
# why, and sends nothing twice once it can be run.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 12

O=$MDIR_ROOT/SMTP/Accounts/jo@example.org/Outbox
cat >"$T/sendmail" <<SM
#!/bin/sh
cat >"$T/got.eml"
printf '%s\n' "\$MAIL_CONFIG" >"$T/env"
echo "said on stdout"
echo "and on stderr" >&2
exit \$(cat "$T/code" 2>/dev/null || echo 0)
SM
chmod +x "$T/sendmail"
conf() {
	printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\nretry_schedule = 0s\n' \
		"$MDIR_ROOT" "$1" >"$T/c.conf"
}
mstore mkdir SMTP/Accounts/jo@example.org/Outbox >/dev/null
meta() { grep -m1 "^$2: " "$1" | cut -d' ' -f2-; }

conf "$T/no-such-sendmail"
printf 'From: jo@example.org\nTo: a@example.net\nSubject: one\n\nbody\n' >"$O/one.eml"
mdir-outbox -c "$T/c.conf" 2>"$T/err"
is "$?" 0 "a sendmail that is not there: the run goes on"
is "$(ls "$O")" "one.eml" "the message stays in the outbox"
is "$(meta "$O/.meta/one.eml" outbox-attempts)" "1" "an attempt counted"
like "$(meta "$O/.meta/one.eml" outbox-last-result)" "^cannot run $T/no-such-sendmail: No such file or directory" \
	"why, in its record"
ok "$(grep -q '^outbox-in-flight' "$O/.meta/one.eml"; [ $? = 1 ]; echo $?)" "and no in-flight mark left"
is "$(ls "$MDIR_ROOT/SMTP/Sent" 2>/dev/null)" "" "nothing in SMTP/Sent"

printf '#!/bin/sh\nexit 0\n' >"$T/not-executable"
chmod 644 "$T/not-executable"
conf "$T/not-executable"
mdir-outbox -c "$T/c.conf" 2>/dev/null
like "$(meta "$O/.meta/one.eml" outbox-last-result)" "^cannot run $T/not-executable: Permission denied" \
	"one that may not be run: deferred too"

conf "$T/sendmail"
MAIL_CONFIG=/some/where mdir-outbox -c "$T/c.conf"
is "$?" 0 "then with a sendmail that runs: exit 0"
is "$(ls "$MDIR_ROOT/SMTP/Sent")" "one.eml" "sent once, into SMTP/Sent"
ok "$(cmp -s "$MDIR_ROOT/SMTP/Sent/one.eml" "$T/got.eml"; echo $?)" "sendmail read the copy kept"
is "$(cat "$T/env")" "/some/where" "in our environment (MAIL_CONFIG, as sendmail -C sets)"
is "$(meta "$MDIR_ROOT/SMTP/Sent/.meta/one.eml" sendmail-result)" "0 queued by sendmail" \
	"its result recorded"
