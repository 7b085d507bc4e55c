#!/bin/sh
# smtp-stats from cron: every smtp-stats cron line of the README and of
# smtp-stats(1), run as written (with the test's configuration), prints
# nothing and exits 0; -v says what was done.  --day and --month choose
# the period of report and publish, and a day's report lists that day's
# spammers only.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 14

C=$T/c.conf
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.test\n' "$MDIR_ROOT" >"$C"
mstore -c "$C" mkdir SMTP/Accounts/jo@example.test SMTP/Spam SMTP/Statistics >/dev/null
mkdir -p "$MDIR_ROOT/.stats"
# two days of mail: 10.66.0.1 sent spam on the 20th, 192.0.2.1 valid mail on the 21st
d20=$(date -u -d 2026-11-20T10:00:00Z +%s) d21=$(date -u -d 2026-11-21T15:00:00Z +%s)
ev() { printf 'ts=%s\tkind=delivered\taccount=SMTP/Accounts/jo@example.test\tip=%s\tsize=100\tsender_domain=%s\tmessage_id=%s\n' "$@" >>"$MDIR_ROOT/.stats/events"; }
for n in 1 2 3; do ev "$d20" 10.66.0.1 bad.test "spam$n@bad.test"; done
ev "$d21" 192.0.2.1 good.test ok1@good.test
for n in 1 2 3; do
	printf 'Received: from x (x [10.66.0.1])\n\tby mx\nMessage-ID: <spam%s@bad.test>\nFrom: x@bad.test\n\nspam\n' $n \
		>"$MDIR_ROOT/SMTP/Spam/s$n.eml"
done

# the cron lines, from the README and the manual page
lines=$(cat "$MDIR_SRC/README" "$MDIR_SRC/man/smtp-stats.1" |
	grep -E '^ *([-0-9*/,]+ +){5}[^ ]*/smtp-stats ' | sed 's,^.*/smtp-stats ,,; s,-c /etc/mdir/mdir\.conf ,,')
is "$(echo "$lines" | sort -u | tr '\n' ';')" "learn;publish --daily;publish --monthly;" "the cron lines found"
echo "$lines" | sort -u | while read -r args; do
	# shellcheck disable=SC2086
	smtp-stats -c "$C" $args >"$T/cron.out" 2>&1
	echo "$? $(wc -c <"$T/cron.out") $args"
done >"$T/cron.runs"
is "$(cut -d' ' -f1,2 "$T/cron.runs" | sort -u)" "0 0" "each exits 0 and prints nothing (stdout and stderr)"
is "$(ls "$MDIR_ROOT/SMTP/Spam" | wc -l)" 0 "learn did its work quietly"
cp "$MDIR_ROOT/.stats/stats.db" "$T/keep.db"

# -v: what was done
printf 'Message-ID: <late@bad.test>\n\nspam\n' >"$MDIR_ROOT/SMTP/Spam/late.eml"
is "$(smtp-stats -c "$C" learn -v 2>/dev/null)" "1 learned" "learn -v says how many"
like "$(smtp-stats -c "$C" publish -v --day 2026-11-20 2>/dev/null)" '^stats-2026-11-20\.[0-9]+@mdir$' "publish -v prints the Message-ID"
# a problem goes to stderr, and the exit code says it
expect_code 64 "publish --day with a bad date" -- smtp-stats -c "$C" publish --day 2026-13
like "$err" 'usage|not a|--day YYYY-MM-DD' "says so on stderr"

# --day and --month
txt=$(smtp-stats -c "$C" report --day 2026-11-20 2>/dev/null)
like "$(echo "$txt" | head -n 1)" '2026-11-20' "report --day: that day"
like "$(echo "$txt" | grep -A3 -i 'spammers')" '10\.66\.0\.1 +3 +0 +1\.00' "its spammer, with the day's figures"
txt=$(smtp-stats -c "$C" report --day 2026-11-21 2>/dev/null)
is "$(echo "$txt" | grep -c '10\.66\.0\.1')" 0 "the next day's report does not list the spammer of the 20th"
like "$(echo "$txt" | grep '192\.0\.2\.1')" '192\.0\.2\.1 +1' "but that day's source"
txt=$(smtp-stats -c "$C" report --month 2026-11 2>/dev/null)
like "$(echo "$txt" | grep -A3 -i 'spammers')" '10\.66\.0\.1 +3' "report --month: the month's spammers"
expect_code 0 "publish --month" -- smtp-stats -c "$C" publish --month 2026-11
is "$(grep -l 'Subject: mdir statistics for 2026-11$' "$MDIR_ROOT"/.mdird/queue/* "$MDIR_ROOT"/.mstore/msg/*/*/* 2>/dev/null | head -n 1 | wc -l)" 1 \
	"the report of November was delivered"
