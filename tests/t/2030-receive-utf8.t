#!/bin/sh
# Every program as Postfix's pipe(8) and cron start it: an empty
# environment (locale C) and UTF-8 arguments.  SMTPUTF8 addresses (UTF-8
# local parts, U-labels and A-labels) are delivered to the account their
# normalised form names and recorded in UTF-8; names in Cyrillic, CJK,
# Arabic and emoji pass through every program; invalid UTF-8 is refused
# with an error that says so.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 40

R=$T/корень
C=$T/配置.conf
printf '[mdir]\nroot = %s\nsocket = %s\n' "$R" "$MD_SOCK" >"$C"
# what pipe(8) does: no environment at all, so no LANG and no MDIR_ROOT
x() { $ENV_I "$BIN/$@"; }
msg=$DATA/multipart-mixed.eml
Q=$R/.mdird/queue
field() { grep -m1 "^$1: " "$2" | cut -d' ' -f2-; }
last_batch() { echo "$Q/$(ls "$Q" | tail -n 1)"; }
# a message of its own per delivery (the store keeps one copy per Message-ID)
deliver() {
	_id=$1
	shift
	sed "s/^Message-ID: .*/Message-ID: <$_id@test>/" "$msg" >"$T/m.eml"
	expect_code 0 "$@" <"$T/m.eml"
}

expect_code 0 "mstore mkdir, account folders in four scripts" -- x mstore -c "$C" mkdir \
	'SMTP/Accounts/дмитрий@пример.рф' 'SMTP/Accounts/用户@例子.中国' \
	'SMTP/Accounts/أحمد@مثال.إختبار' 'SMTP/Accounts/😀@xn--e28h.example' \
	'SMTP/Accounts/jo@example.org'

# the issue's case: a sender in a U-label domain
deliver a "mdir-receive -f x@bücher.example (locale C)" -- \
	x mdir-receive -c "$C" -q QA -f 'x@bücher.example' -- jo@example.org
is "$out" "" "no 4.3.0 bad arguments"
is "$(field envelope-from "$(last_batch)")" "x@bücher.example" "the sender recorded in UTF-8"

deliver b "Cyrillic, upper case" -- x mdir-receive -c "$C" -f 'отправитель@пример.рф' -- 'Дмитрий+Рассылка@ПРИМЕР.РФ'
b=$(last_batch)
is "$(field account "$b")" "SMTP/Accounts/дмитрий@пример.рф" "matched on the normalised form"
is "$(field extension "$b")" "рассылка" "the extension, in UTF-8"
is "$(field envelope-to "$b")" "Дмитрий+Рассылка@ПРИМЕР.РФ" "the recipient as given"

deliver c "the same domain as an A-label" -- x mdir-receive -c "$C" -- 'дмитрий@xn--e1afmkfd.xn--p1ai'
is "$(field account "$(last_batch)")" "SMTP/Accounts/дмитрий@пример.рф" "an A-label names the same domain"

deliver d "CJK" -- x mdir-receive -c "$C" -f '发件人@例子.中国' -- '用户@例子.中国'
is "$(field account "$(last_batch)")" "SMTP/Accounts/用户@例子.中国" "the CJK account"

deliver e "Arabic" -- x mdir-receive -c "$C" -- 'أحمد@مثال.إختبار'
is "$(field account "$(last_batch)")" "SMTP/Accounts/أحمد@مثال.إختبار" "the Arabic account"

# NFD (as macOS spells it) is the same address as NFC
nfd=$(printf 'a\314\210')
deliver f "an emoji address, its folder made with the A-label" -- x mdir-receive -c "$C" -- '😀@😀.example'
is "$(field account "$(last_batch)")" "SMTP/Accounts/😀@xn--e28h.example" "found under the A-label"

expect_code 67 "an unknown UTF-8 account is 67, not 75" -- x mdir-receive -c "$C" -- "j${nfd}rg@example.org" <"$msg"
like "$out" "^5\.1\.1 .*no such account" "with 5.1.1"

expect_code 75 "invalid UTF-8 in an argument" -- x mdir-receive -c "$C" -f "$(printf 'x@b\374cher.example')" -- jo@example.org <"$msg"
like "$out" "^4\.3\.0 mdir-receive: bad arguments: not valid UTF-8: 'x@b\\\\xfccher\.example'" \
	"says which argument, its bad byte shown"

# mstore: names in every script
printf 'Grüße\n' >"$T/g.txt"
expect_code 0 "mstore mkdir a UTF-8 folder" -- x mstore -c "$C" mkdir 'Users/Папка'
expect_code 0 "mstore put -n 'Grüße.txt' (the issue's case)" -- x mstore -c "$C" put -n 'Grüße.txt' "$T/g.txt" 'Users/Папка'
expect_code 0 "mstore put -n with Cyrillic, CJK, Arabic and emoji" -- \
	x mstore -c "$C" put -n 'Отчёт 報告 تقرير 📎.txt' "$T/g.txt" 'Users/Папка'
expect_code 0 "mstore ls" -- x mstore -c "$C" ls 'Users/Папка'
is "$(printf '%s\n' "$out" | sort | tr '\n' '|')" "Grüße.txt|Отчёт 報告 تقرير 📎.txt|" "both names kept as given"
expect_code 0 "mstore cat of a UTF-8 entry" -- x mstore -c "$C" cat 'Users/Папка/Отчёт 報告 تقرير 📎.txt'
is "$out" "Grüße" "its content"
expect_code 64 "mstore refuses invalid UTF-8" -- x mstore -c "$C" put -n "$(printf 'a\377.txt')" "$T/g.txt"
like "$err" "not valid UTF-8: 'a\\\\xff\.txt'" "and says so"

# mdird files the batches into the UTF-8 folders, started with locale C
md_start_c() {
	$ENV_I "$BIN/mdird" -F -c "$C" >>"$MD_LOG" 2>&1 &
	MD_PID=$!
	wait_for 10 test -S "$MD_SOCK"
}
# not in $(...): its MD_PID would stay in the subshell, and the mdird
# outlive the test (at_exit kills $MD_PID)
md_start_c
ok $? "mdird starts under locale C with a UTF-8 root and config path"
filed() { [ -z "$(ls "$Q")" ] && [ -z "$(ls "$R/.mdird/work" 2>/dev/null)" ]; }
wait_for 10 filed
ok "$?" "and files every batch"
n_entries() { ls "$R/SMTP/Accounts/$1" | wc -l; }
is "$(n_entries 'дмитрий@пример.рф')" "$((2 * $(n_entries '用户@例子.中国')))" \
	"into the Cyrillic account (two messages)"
ok "$([ "$(n_entries '😀@xn--e28h.example')" -gt 0 ]; echo $?)" "into the emoji account"
is "$(grep -h '^account: ' "$R/SMTP/Accounts/用户@例子.中国/.meta/"* | sort -u)" \
	"account: SMTP/Accounts/用户@例子.中国" "its records name the account in UTF-8"
md_stop

# mdir-outbox on an account's outbox named in UTF-8 (nothing in it: nothing said)
x mstore -c "$C" mkdir 'SMTP/Accounts/исходящие@пример.рф/Outbox' >/dev/null
expect_code 0 "mdir-outbox -n on a UTF-8 folder" -- x mdir-outbox -c "$C" -n 'SMTP/Accounts/исходящие@пример.рф/Outbox'
expect_code 64 "mdir-outbox refuses invalid UTF-8" -- x mdir-outbox -c "$C" "$(printf 'Users/\377')"

# smtp-stats: a UTF-8 domain whitelisted and listed back
expect_code 0 "smtp-stats whitelist add domain пример.рф" -- x smtp-stats -c "$C" whitelist add domain 'пример.рф'
expect_code 0 "smtp-stats whitelist list" -- x smtp-stats -c "$C" whitelist list
like "$out" "domain	пример\.рф" "lists it in UTF-8"
expect_code 64 "smtp-stats refuses invalid UTF-8" -- x smtp-stats -c "$C" whitelist add domain "$(printf '\377.example')"
