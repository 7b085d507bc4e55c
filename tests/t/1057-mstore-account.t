#!/bin/sh
# mstore account: the accounts as a user map (issue 11).  Each verb, then a
# delivery that proves it: an alias's mail lands in its target, a disabled
# account refuses mail, a forward reaches the outbox once a message, a pipe
# runs its program.  Addresses in Latin, Cyrillic and CJK scripts; the
# postmaster@ and abuse@ warning; mail never removed by "rm".
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 57

cat >>"$MD_CONF" <<CONF
[receive]
local_domains = example.org; пример.рф
recipient_delimiter = +
[rules]
programs = /bin/sh
CONF
ms() { mstore -c "$MD_CONF" account "$@"; }
A=$MDIR_ROOT/SMTP/Accounts
n=0
# deliver RCPT [FILE]: a message with a fresh Message-ID; its exit code
deliver() {
	n=$((n + 1))
	if [ -n "${2:-}" ]; then
		sed "s/^Message-ID: .*/Message-ID: <a$n@test>/" "$2"
	else
		printf 'From: a@example.net\r\nSubject: m%s\r\nMessage-ID: <a%s@test>\r\n\r\nhi\r\n' \
			"$n" "$n"
	fi | $ENV_I "$BIN/mdir-receive" -c "$MD_CONF" -f a@example.net -- "$1"
}

# add
expect_code 0 "add an account" -- ms add Jo@Example.ORG
ok "$([ -d "$A/jo@example.org" ]; echo $?)" "its folder, named in normal form"
like "$err" "postmaster@example\.org: no such account; every domain needs one \(RFC 5321 4\.5\.1\)" \
	"warns: no postmaster@"
like "$err" "abuse@example\.org: no such account; every domain needs one \(RFC 2142\)" \
	"warns: no abuse@"
expect_code 73 "add it twice: refused" -- ms add jo@example.org
like "$err" "jo@example\.org: exists already \(folder\)" "and says what is there"
expect_code 0 "a Cyrillic address" -- ms add ДМИТРИЙ@ПРИМЕР.РФ
ok "$([ -d "$A/дмитрий@пример.рф" ]; echo $?)" "in lower case"
expect_code 64 "not a local domain" -- ms add ann@other.test
like "$err" "other\.test is not one of \[receive\] local_domains" "says why"
expect_code 64 "the delimiter in an address" -- ms add 'jo+x@example.org'
like "$err" "recipient delimiter '\+'" "says why"
expect_code 64 "not an address" -- ms add '../../etc/passwd'
expect_code 64 "a verb is needed" -- ms
like "$err" "one of add, alias, forward, pipe, disable, enable, rm, list" "lists them"

# alias
expect_code 0 "alias postmaster@" -- ms alias postmaster@example.org jo@example.org
is "$(readlink "$A/postmaster@example.org")" "jo@example.org" "a relative link beside it"
expect_code 0 "alias abuse@" -- ms alias abuse@example.org jo@example.org
is "$(printf '%s' "$err" | grep -c example.org)" 0 "no warning for the domain once both exist"
expect_code 66 "an alias of nothing: refused" -- ms alias x@example.org nobody@example.org
ok "$([ ! -e "$A/x@example.org" ] && [ ! -L "$A/x@example.org" ]; echo $?)" "nothing made"
expect_code 0 "a CJK alias" -- ms alias 用户@example.org jo@example.org

# forward and pipe
expect_code 0 "forward" -- ms forward old@example.org jo@elsewhere.example
head -n 1 "$A/old@example.org/.rules" | grep -q '^# mstore account: forward'
ok $? "a .rules that says who wrote it"
expect_code 0 "forward again, --keep: rewritten" -- ms forward --keep old@example.org \
	jo@elsewhere.example
expect_code 78 "forward to what is not an address" -- ms forward bad@example.org 'x y'
ok "$([ ! -e "$A/bad@example.org" ]; echo $?)" "nothing made"
printf 'if subject contains x then copy X\n' >"$A/jo@example.org/.rules"
expect_code 73 "a .rules of the owner's own is never overwritten" -- \
	ms forward jo@example.org z@elsewhere.example
is "$(cat "$A/jo@example.org/.rules")" "if subject contains x then copy X" "unchanged"
rm "$A/jo@example.org/.rules"
expect_code 0 "pipe, with the program's own options after --" -- \
	ms pipe robot@example.org -- /bin/sh -c "cat >>$T/piped"
expect_code 0 "pipe to a program not in [rules] programs: made" -- \
	ms pipe other@example.org /usr/bin/true
like "$err" "/usr/bin/true is not in \[rules\] programs" "with a warning"

# disable, enable
ms add off@example.org 2>/dev/null
expect_code 0 "disable" -- ms disable off@example.org
expect_code 66 "disable an alias: refused" -- ms disable abuse@example.org

# list
expect_code 0 "list" -- ms list
is "$out" "$(printf '%s\t%s\t%s\n' \
	abuse@example.org alias jo@example.org \
	jo@example.org folder '' \
	off@example.org disabled '' \
	old@example.org forward 'jo@elsewhere.example (and kept)' \
	other@example.org pipe /usr/bin/true \
	postmaster@example.org alias jo@example.org \
	robot@example.org pipe "/bin/sh -c cat >>$T/piped" \
	дмитрий@пример.рф folder '' \
	用户@example.org alias jo@example.org)" "every address, its kind, what it leads to"

# deliveries prove each kind
md_start || { echo "Bail out! mdird did not start"; exit 1; }
deliver 用户@example.org
ok $? "mail to the CJK alias: delivered"
deliver off@example.org
ok "$([ $? = 67 ]; echo $?)" "mail to a disabled account: refused (67)"
ms enable off@example.org
deliver off@example.org
ok $? "enabled: delivered again"
printf 'From: a@example.net\r\nSubject: two parts\r\nMessage-ID: <x@test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/plain\r\n\r\nthere\r\n--b--\r\n' >"$T/two.eml"
deliver old@example.org "$T/two.eml"
ok $? "mail to the forward: delivered"
deliver robot@example.org
ok $? "mail to the pipe: delivered"
md_drain
is "$(ls "$A/jo@example.org" | wc -l)" 2 "the alias's mail is in its target (the message, its text)"
is "$(ls "$MDIR_ROOT/SMTP/Outbox" | wc -l | tr -d ' ')" 1 \
	"the forward: one message in the outbox, however many parts"
is "$(ls "$A/old@example.org" | wc -l)" 3 "kept too (--keep): the message and its two parts"
wait_for 10 test -s "$T/piped"
like "$(cat "$T/piped" 2>/dev/null)" "hi" "the pipe's program ran with the part"

# rm
expect_code 73 "rm an account that holds mail: refused" -- ms rm jo@example.org
like "$err" "holds 2 entries or folders" "says what it holds"
expect_code 0 "rm an alias" -- ms rm 用户@example.org
ok "$([ -d "$A/jo@example.org" ] && [ ! -L "$A/用户@example.org" ]; echo $?)" \
	"the link gone, its target kept"
expect_code 0 "rm an empty account" -- ms rm дмитрий@пример.рф

# role_accounts = false: Postfix's aliases take postmaster@ and abuse@
expect_code 0 "add in a domain without postmaster@" -- ms add ann@пример.рф
like "$err" "postmaster@пример\.рф: no such account" "warned"
sed 's/^\[receive\]$/[receive]\nrole_accounts = false/' "$MD_CONF" >"$T/quiet.conf"
expect_code 0 "with role_accounts = false" -- mstore -c "$T/quiet.conf" account add bo@пример.рф
is "$err" "" "not warned"

# list prints one line an address: a name or a link's target that holds a
# tab or a line end (a group member may make one) forges none
mkdir "$A/$(printf 'x\tfolder\t\nboss@example.org\tforward\tattacker@evil.test\n#')@example.org"
ln -s "$(printf 'jo@example.org\nceo@example.org\talias\tjo@example.org')" "$A/ceo@example.org"
expect_code 0 "list with hostile names" -- ms list
is "$(printf '%s\n' "$out" | grep -c 'attacker@evil')" 0 "no forged forward line"
is "$(printf '%s\n' "$out" | grep -c '^ceo@example\.org')" 1 "the link with a line end in its target: one line"
like "$err" "control characters, not an address: not listed" "the hostile name: warned, not listed"
