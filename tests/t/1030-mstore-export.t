#!/bin/sh
# export to Maildir and mbox: one message per anchor, mboxrd quoting.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 13

printf 'From: a@example.org\nSubject: hi\n\nFrom the start\n>From quoted\nend\n' >"$T/m1"
printf 'From: b@example.org\nSubject: two\n\nsecond\n' >"$T/m2"
mstore mkdir Box >/dev/null
mstore put -t message/rfc822 "$T/m1" Box >/dev/null
mstore put -t message/rfc822 "$T/m2" Box >/dev/null
u=$(mstore put "$T/m2")
mstore cp "$u" Box >/dev/null

expect_code 0 "export --maildir" -- mstore export --maildir "$T/Maildir" Box
is "$out" 2 "two messages (the second's two entries exported once)"
is "$(ls "$T/Maildir/new" | wc -l)" 2 "two files in new/"
ok "$([ -d "$T/Maildir/cur" ] && [ -d "$T/Maildir/tmp" ]; echo $?)" "cur/ and tmp/ made"
expect_code 0 "export again into the same Maildir" -- mstore export --maildir "$T/Maildir" Box
is "$out $(ls "$T/Maildir/new" | wc -l)" "0 2" "adds nothing: the names come from the messages"
# a reader moves one to cur/ with its flags: it is still the same message
f=$(ls "$T/Maildir/new" | head -n 1)
mv "$T/Maildir/new/$f" "$T/Maildir/cur/$f:2,S"
mstore export --maildir "$T/Maildir" Box >"$T/out3"
is "$(cat "$T/out3") $(find "$T/Maildir/new" "$T/Maildir/cur" -type f | wc -l)" "0 2" "nor once read and flagged"
at=$(mstore meta "Box/m1" | sed -n 's/^received-at: //p')
f1=$(grep -l 'From the start' "$T/Maildir/new/"* "$T/Maildir/cur/"*)
is "$(stat -c %Y "$f1")" "$(date -u -d "$at" +%s)" "the file's time is when the message arrived ($at)"
ok "$(case ${f1##*/} in "$(date -u -d "$at" +%s)".H*) echo 0 ;; *) echo 1 ;; esac)" \
	"and its name starts with it"
expect_code 0 "export --mbox" -- mstore export --mbox "$T/mbox" Box
is "$(grep -c '^From ' "$T/mbox")" 2 "two From_ lines"
is "$(grep -c '^>From the start' "$T/mbox")" 1 "From in the body quoted"
is "$(grep -c '^>>From quoted' "$T/mbox")" 1 "mboxrd: >From quoted once more"
