#!/bin/sh
# Every man page is clean under mandoc -Tlint, every program has one, and
# each names its exit codes.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v mandoc >/dev/null || skip_all "mandoc is not installed"
plan 3

lint=$(cd "$MDIR_SRC" && mandoc -Tlint -Wwarning man/*.[1-8] 2>&1)
is "$lint" "" "mandoc -Tlint -Wwarning is clean"
missing=""
for p in "$MDIR_BUILD"/bin/*; do
	n=${p##*/}
	ls "$MDIR_SRC"/man/"$n".[1-8] >/dev/null 2>&1 || missing="$missing $n"
done
is "$missing" "" "every program has a man page"
noexit=""
for m in "$MDIR_SRC"/man/*.[18]; do
	grep -q '^\.Sh EXIT STATUS' "$m" || noexit="$noexit ${m##*/}"
done
is "$noexit" "" "every program's page has EXIT STATUS"
