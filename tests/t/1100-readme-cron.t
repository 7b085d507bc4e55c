#!/bin/sh
# Every cron line of the README, run as cron runs it (an empty environment
# but PATH=/usr/bin:/bin, HOME and LOGNAME), after real work to do: each
# exits 0 and prints nothing, since cron mails whatever a job prints.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"

lines=$(grep -E '^ *([-0-9*/,]+ +){5}/' "$MDIR_SRC/README" | sed -E 's/^ *([-0-9*\/,]+ +){5}//')
n=$(echo "$lines" | grep -c .)
plan $((n + 3))

C=$T/c.conf
cat >"$T/sendmail" <<SM
#!/bin/sh
cat >/dev/null
echo "\$*" >>"$T/sent"
SM
chmod +x "$T/sendmail"
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\n' \
	"$MDIR_ROOT" "$T/sendmail" >"$C"
JO=SMTP/Accounts/jo@example.org
mstore -c "$C" mkdir "$JO/Outbox" SMTP/Spam SMTP/Statistics >/dev/null
# as every domain has them (else fsck warns, rightly, from cron too)
mstore -c "$C" account alias postmaster@example.org jo@example.org 2>/dev/null
mstore -c "$C" account alias abuse@example.org jo@example.org
# work for each job: a message to send, one to learn as spam, one delivered
printf 'From: Jo <jo@example.org>\nTo: Ана <ana@example.net>\nSubject: hi\n\nhello\n' >"$T/out.eml"
mstore -c "$C" put "$T/out.eml" "$JO/Outbox" >/dev/null
printf 'From: x@spam.test\nTo: jo@example.org\nMessage-ID: <s1@spam.test>\nSubject: win\n\nwin\n' |
	mdir-receive -c "$C" -a 192.0.2.9 -f x@spam.test -- jo@example.org >/dev/null
cp "$DATA/multipart-mixed.eml" "$MDIR_ROOT/SMTP/Spam/s.eml"

is "$(echo "$lines" | sed 's/ .*//' | sort -u | tr '\n' ' ')" \
	"/usr/local/bin/mdir-outbox /usr/local/bin/mstore /usr/local/bin/smtp-stats " \
	"the README's cron lines name every cron job by its full path"
while IFS= read -r line; do
	cmd=$(printf '%s' "$line" | sed -e "s|/usr/local/bin/|$BIN/|g" -e "s|/etc/mdir/mdir.conf|$C|g")
	$ENV_I PATH=/usr/bin:/bin HOME="$T" LOGNAME=mdir SHELL=/bin/sh \
		timeout 60 sh -c "$cmd" >"$T/job.out" 2>&1
	rc=$?
	is "$rc $(cat "$T/job.out")" "0 " "silent and 0 from cron: $line"
done <<LINES
$lines
LINES
ok "$(grep -q -- '-- ana@example.net' "$T/sent"; echo $?)" "the outbox job sent"
is "$(ls "$MDIR_ROOT/SMTP/Spam" | wc -l)" 0 "the learn job emptied SMTP/Spam"
