#!/bin/sh
# mstore's errors: one line naming the input, exit codes from sysexits(3).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 22

expect_code 64 "no command is a usage error" -- mstore
expect_code 64 "an unknown command is a usage error" -- mstore frobnicate
like "$err" "unknown command 'frobnicate'" "and says which"
expect_code 0 "--help" -- mstore --help
like "$out" "fsck" "--help lists the commands"
expect_code 0 "a subcommand's --help" -- mstore ls --help
expect_code 66 "cat of a URL not in the store" -- mstore cat mstore:nobody@example.org/1
is "$err" "mstore: mstore:nobody@example.org/1: no such message or part" "names the URL"
expect_code 65 "a malformed URL" -- mstore cat mstore:
expect_code 66 "ls of a missing folder" -- mstore ls No/Such
is "$err" "mstore: No/Such: no such folder" "names the folder"
expect_code 73 "a path out of the root" -- mstore ls ../../etc
like "$err" "leads outside the root" "says why"
ln -s /etc "$MDIR_ROOT/Escape"
expect_code 73 "a link out of the root is refused" -- mstore ls Escape
expect_code 65 "reserved dot names are not folders" -- mstore ls .mstore
mkdir -p "$MDIR_ROOT/SMTP/Accounts/jo@example.org"
ln -s jo@example.org "$MDIR_ROOT/SMTP/Accounts/joe@example.org"
mstore mkdir Users/Jo >/dev/null
ln -s ../../SMTP/Accounts/jo@example.org "$MDIR_ROOT/Users/Jo/Mail"
echo x >"$T/x.txt"
expect_code 0 "put into an alias" -- mstore put "$T/x.txt" SMTP/Accounts/joe@example.org
expect_code 0 "the alias's entries are the account's" -- mstore ls SMTP/Accounts/jo@example.org
is "$out" "x.txt" "one folder behind both names"
is "$(mstore ls Users/Jo/Mail)" "x.txt" "a mount shows the same folder"
printf '[mdir]\nroot = relative/path\n' >"$T/bad.conf"
unset MDIR_ROOT
expect_code 78 "a bad config is EX_CONFIG" -- mstore -c "$T/bad.conf" ls x
is "$err" "mstore: $T/bad.conf:2: root: 'relative/path' is not an absolute path" "names file, line and what is wrong"
printf '[mdir]\nlock_timeout = soon\n' >"$T/bad2.conf"
expect_code 78 "a bad duration names file and line" -- mstore -c "$T/bad2.conf" ls x
