#!/bin/sh
# Recipients to accounts (extension, case, alias, catch-all, .disabled,
# local_domains), what the header batch says, duplicates, and the poke.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 24

A=$MDIR_ROOT/SMTP/Accounts
Q=$MDIR_ROOT/.mdird/queue
mstore mkdir SMTP/Accounts/jo@example.org SMTP/Accounts/@other.test SMTP/Accounts/off@example.org >/dev/null
ln -s jo@example.org "$A/joe@example.org"
ln -s /tmp "$A/evil@example.org"
touch "$A/off@example.org/.disabled"
msg=$DATA/multipart-mixed.eml
field() { grep -m1 "^$1: " "$2" | cut -d' ' -f2-; }
last_batch() { ls "$Q" | tail -n 1; }

expect_code 0 "extension and case folded" -- mdir-receive -q QA -f a@sender.test -- JO+Lists@Example.ORG <"$msg"
b=$Q/$(last_batch)
is "$(field account "$b")" "SMTP/Accounts/jo@example.org" "the account"
is "$(field envelope-to "$b")" "JO+Lists@Example.ORG" "the recipient as given"
is "$(grep -c '^extension: lists$' "$b")" 4 "the extension in every part's record"
is "$(field queue-id "$b")" "QA" "the queue id"
is "$(field anchor "$b")" "mstore:mixed@sender.test/0" "the anchor"
is "$(grep -c '^envelope-from: a@sender.test$' "$b")" 4 "the envelope in every record"
is "$(grep -c '^url: ' "$b")" 4 "a record per part, part 0 included"

expect_code 0 "an alias" -- mdir-receive -q QB -- joe@example.org <"$msg"
b=$Q/$(last_batch)
is "$(field account "$b")" "SMTP/Accounts/jo@example.org" "files into the account it links to"
is "$(find "$MDIR_ROOT/.mstore/msg" -mindepth 2 -maxdepth 2 -type d | wc -l)" 1 \
	"the same message twice is stored once"
is "$(ls "$Q" | wc -l)" 2 "but queued for each delivery"

expect_code 0 "the catch-all of a domain" -- mdir-receive -- anyone@other.test <"$msg"
is "$(field account "$Q/$(last_batch)")" "SMTP/Accounts/@other.test" "goes to @domain"
expect_code 67 "a .disabled account refuses mail" -- mdir-receive -- off@example.org <"$msg"
like "$out" "^5\.2\.1 .*off@example.org: account disabled" "and says so: 5.2.1, mailbox disabled (RFC 3463)"
expect_code 75 "an alias that leads out of the root is a fault, not a bounce" -- \
	mdir-receive -- evil@example.org <"$msg"
expect_code 67 "no catch-all, no account" -- mdir-receive -- x@nowhere.test <"$msg"

printf '[receive]\nlocal_domains = example.org\n' >"$T/local.conf"
expect_code 67 "a catch-all outside local_domains is not used" -- \
	mdir-receive -c "$T/local.conf" -- anyone@other.test <"$msg"
like "$out" "not a local domain" "says why"

sed 's/^Subject: .*/Subject: same id, other text/' "$msg" >"$T/other.eml"
expect_code 0 "a different message reusing a Message-ID" -- mdir-receive -- jo@example.org <"$T/other.eml"
like "$(field anchor "$Q/$(last_batch)")" '^mstore:mixed@sender\.test~[0-9a-f]{12}/0$' \
	"is kept apart under id~hash"

# the poke: mdird's socket hears of the new batch
if command -v socat >/dev/null; then
	sock=$T/mdird.sock
	printf '[mdir]\nsocket = %s\n' "$sock" >"$T/sock.conf"
	socat -u UNIX-LISTEN:"$sock",fork OPEN:"$T/poked",creat,append 2>/dev/null &
	spid=$!
	stop_socat() { kill "$spid" 2>/dev/null; }
	at_exit stop_socat
	wait_for 5 test -S "$sock"
	expect_code 0 "delivered with mdird listening" -- mdir-receive -c "$T/sock.conf" -- jo@example.org <"$DATA/nested-rfc822.eml"
	ok "$(wait_for 5 grep -q POKE "$T/poked"; echo $?)" "mdird was poked"
else
	skip "no socat" "delivered with mdird listening"
	skip "no socat" "mdird was poked"
fi
