#!/bin/sh
# mstore round trip: put -> ls -> cat -> mv -> rm -> fsck clean.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 24

printf 'quarterly figures\n' >"$T/report.pdf"
expect_code 0 "put prints a URL" -- mstore put "$T/report.pdf"
url=$out
like "$url" '^mstore:[0-9a-f]{32}@mdir\.invalid/0$' "the URL is mstore:<id>/0"
expect_code 0 "put of the same content is idempotent" -- mstore put "$T/report.pdf"
is "$out" "$url" "same URL the second time"
is "$(find "$MDIR_ROOT/.mstore/msg" -mindepth 2 -maxdepth 2 -type d | wc -l)" 1 \
	"stored once"

expect_code 0 "mkdir" -- mstore mkdir Users/jo/Docs
expect_code 0 "cp URL into a folder" -- mstore cp "$url" Users/jo/Docs
is "$out" "Users/jo/Docs/report.pdf" "entry named after suggested-name"
expect_code 0 "cp again makes a unique name" -- mstore cp "$url" Users/jo/Docs
is "$out" "Users/jo/Docs/report-2.pdf" "suffix before the extension"
expect_code 0 "ls" -- mstore ls Users/jo/Docs
is "$out" "report-2.pdf
report.pdf" "ls lists both, sorted"
expect_code 0 "ls -l" -- mstore ls -l Users/jo/Docs
like "$out" "^report\.pdf	18	application/pdf	$url\$" "ls -l is tab-separated name size type url"
is "$(mstore cat Users/jo/Docs/report.pdf)" "quarterly figures" "cat an entry"
is "$(mstore cat "$url")" "quarterly figures" "cat a URL"
is "$(stat -c %h "$MDIR_ROOT/Users/jo/Docs/report.pdf")" 3 "entries are hard links to the part"
is "$(mstore meta -f url Users/jo/Docs/report.pdf)" "$url" "meta -f url"

expect_code 0 "mv to another folder" -- mstore mv Users/jo/Docs/report-2.pdf SMTP/Spam
is "$(mstore ls SMTP/Spam)" "report-2.pdf" "the entry arrived, its name kept"
is "$(mstore changes Users/jo/Docs | tail -n 1)" "3	-	report-2.pdf" "the move is logged"
expect_code 0 "rm" -- mstore rm SMTP/Spam/report-2.pdf
is "$(mstore version SMTP/Spam)" 2 "version counts the add and the remove"
expect_code 0 "fsck finds nothing wrong" -- mstore fsck
