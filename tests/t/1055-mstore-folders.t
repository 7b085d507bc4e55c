#!/bin/sh
# mstore ls lists subfolders too, so accounts can be listed; mstore put
# into a folder that does not exist makes it, as a rule's move does
# (issue 10.7).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 12

printf 'hello\n' >"$T/note.txt"
mstore mkdir SMTP/Accounts/jo@example.org SMTP/Accounts/al@example.org >/dev/null
ln -s jo@example.org "$MDIR_ROOT/SMTP/Accounts/joe@example.org"
mstore put "$T/note.txt" SMTP/Accounts >/dev/null

expect_code 0 "ls of a folder of folders" -- mstore ls SMTP/Accounts
is "$out" "al@example.org
jo@example.org
joe@example.org
note.txt" "subfolders, aliases and entries, sorted"
expect_code 0 "ls -l" -- mstore ls -l SMTP/Accounts
like "$out" "^al@example\.org	-	folder	-$" "a subfolder's type is folder"
like "$out" "^joe@example\.org	-	folder	-$" "an alias too"
like "$out" "^note\.txt	6	text/plain	mstore:" "an entry as before"
is "$(mstore ls SMTP | grep -c '^\.')" 0 "no dot names"
is "$(mstore ls --since 0 SMTP/Accounts)" "note.txt" "--since lists entries only"

expect_code 0 "put into a missing folder" -- mstore put "$T/note.txt" Users/New
like "$out" "	Users/New/note\.txt$" "the entry printed"
is "$(mstore ls Users/New)" "note.txt" "the folder made, the entry in it"
expect_code 65 "but not into a reserved name" -- mstore put "$T/note.txt" Users/.hidden
