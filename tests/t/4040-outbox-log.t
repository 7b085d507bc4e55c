#!/bin/sh
# Logging (issue 10.3, 10.13): mdir-outbox logs one key=value line per
# message at info without -v, to [mdir] log_file where there is no syslog;
# -v only adds standard error.  [mdir] umask (issue 16.11): the modes of
# what mdir writes do not depend on who ran it first (cron's 022, Postfix's
# 077).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 18

O=$MDIR_ROOT/SMTP/Accounts/jo@example.org/Outbox
L=$T/mdir.log
cat >"$T/sendmail" <<SM
#!/bin/sh
cat >/dev/null
echo "queued as ABC123"
exit \$(cat "$T/code" 2>/dev/null || echo 0)
SM
chmod +x "$T/sendmail"
printf '[mdir]\nroot = %s\nlog_file = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\n' \
	"$MDIR_ROOT" "$L" "$T/sendmail" >"$T/c.conf"
mstore -c "$T/c.conf" mkdir SMTP/Outbox SMTP/Accounts/jo@example.org/Outbox >/dev/null

printf 'From: jo@example.org\nTo: a@example.net, b@example.net\nMessage-ID: <m1@example.org>\nSubject: s\n\nx\n' >"$O/m1.eml"
umask 077
expect_code 0 "a send without -v" -- mdir-outbox -c "$T/c.conf"
umask 022
is "$err$out" "" "prints nothing (cron mails what is printed)"
like "$(grep 'm1@example.org' "$L")" \
	'^20[0-9-]+T[0-9:.]+Z mdir-outbox\[[0-9]+\]: message-id=<m1@example\.org> from=<jo@example\.org> to=<a@example\.net>,<b@example\.net> status=sent sendmail=0 signed=no entry=SMTP/Accounts/jo@example\.org/Outbox/m1\.eml \(queued as ABC123\)$' \
	"but logs one key=value line to [mdir] log_file, at info"
like "$(cat "$L")" '1 sent, 0 deferred, 0 failed' "and the run's count"

echo 75 >"$T/code"
printf 'From: jo@example.org\nTo: c@example.net\nMessage-ID: <m2@example.org>\nSubject: s\n\nx\n' >"$O/m2.eml"
mdir-outbox -c "$T/c.conf" >"$T/o" 2>&1
like "$(grep 'm2@example.org' "$L")" 'to=<c@example\.net> status=deferred sendmail=75 ' "a deferral is logged, with sendmail's status"
is "$(cat "$T/o")" "" "and not printed"
echo 0 >"$T/code"
printf 'From: ann@example.org\nTo: c@example.net\nMessage-ID: <m3@example.org>\nSubject: s\n\nx\n' >"$O/m3.eml"
mdir-outbox -c "$T/c.conf" >"$T/o" 2>&1
like "$(grep 'm3.eml' "$L")" 'status=failed .*is not jo@example.org' "a refusal is logged"
is "$(stat -c %a "$MDIR_ROOT/SMTP/Failed/m3.eml")" 640 "the failed copy is no more open than its source (0644) and the umask"
N=$(ls "$MDIR_ROOT/SMTP/Accounts/jo@example.org" | grep '^Not sent' | head -n 1)
is "$(stat -c %a "$MDIR_ROOT/SMTP/Accounts/jo@example.org/$N")" 660 "the notice is readable by the group's sync client (0660)"

printf 'From: jo@example.org\nTo: d@example.net\nMessage-ID: <m4@example.org>\nSubject: s\n\nx\n' >"$O/m4.eml"
mdir-outbox -c "$T/c.conf" -v >"$T/o" 2>"$T/e"
like "$(cat "$T/e")" '^mdir-outbox: message-id=<m4@example\.org> .*status=sent' "-v adds standard error"
like "$(grep 'm4@example.org' "$L")" 'status=sent' "and the log file still has it"

# under systemd stderr is the journal (JOURNAL_STREAM names it), which the
# log reaches too: a line logged is not printed there a second time
printf 'From: jo@example.org\nTo: d@example.net\nMessage-ID: <m7@example.org>\nSubject: s\n\nx\n' >"$O/m7.eml"
: >"$T/e"
JOURNAL_STREAM=$(stat -c %d:%i "$T/e") mdir-outbox -c "$T/c.conf" -v >"$T/o" 2>>"$T/e"
is "$(grep -c 'm7@example.org' "$T/e")" 0 "-v under systemd: a logged line is not printed to the journal twice"
like "$(grep 'm7@example.org' "$L")" 'status=sent' "but logged once"
printf 'From: jo@example.org\nTo: d@example.net\nMessage-ID: <m8@example.org>\nSubject: s\n\nx\n' >"$O/m8.eml"
JOURNAL_STREAM=1:1 mdir-outbox -c "$T/c.conf" -v >"$T/o" 2>"$T/e"
like "$(cat "$T/e")" 'message-id=<m8@example\.org> .*status=sent' "a JOURNAL_STREAM that is not this stderr changes nothing"

# [mdir] umask, default 0007, whatever the caller's
S=$(ls "$MDIR_ROOT/SMTP/Sent" | head -n 1)
is "$(stat -c %a "$MDIR_ROOT/SMTP/Sent/$S")" 660 "under umask 077, the Sent copy is 0660 ([mdir] umask 0007)"
printf 'umask = 0027\n' >>"$T/c.conf"
sed -i 's/^\[receive\]/umask = 0027\n[receive]/' "$T/c.conf"
sed -i '$d' "$T/c.conf"
printf 'From: jo@example.org\nTo: e@example.net\nMessage-ID: <m5@example.org>\nSubject: five\n\nx\n' >"$O/m5.eml"
umask 000
mdir-outbox -c "$T/c.conf"
umask 022
is "$(stat -c %a "$MDIR_ROOT/SMTP/Sent/m5.eml")" 640 "umask 0027: 0640, under a caller's umask 000"
printf '[mdir]\nroot = %s\numask = 9\n' "$MDIR_ROOT" >"$T/bad.conf"
expect_code 78 "a umask that is not octal: EX_CONFIG" -- mdir-outbox -c "$T/bad.conf"
like "$err" 'bad.conf:3: umask' "naming the line"
