#!/bin/sh
# smtp-stats report as CSV and JSON, fed events with hostile and non-ASCII
# sender domains: CSV cells a spreadsheet would run as formulas are
# neutralised, quoting is RFC 4180's, and the JSON parses.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 3

C=$T/c.conf
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.test\n' "$MDIR_ROOT" >"$C"
mstore -c "$C" mkdir SMTP/Accounts/jo@example.test >/dev/null
now=$(date +%s)
ev() { printf 'ts=%s\tkind=delivered\taccount=SMTP/Accounts/jo@example.test\tip=192.0.2.1\tsize=100\tsender_domain=%s\tmessage_id=%s\n' "$now" "$1" "$2" >>"$MDIR_ROOT/.stats/events"; }
mkdir -p "$MDIR_ROOT/.stats"
ev '=HYPERLINK("http://evil.test")' m1
ev '+1-2.test' m2
ev '@SUM(A1)' m3
ev '-cmd.test' m4
ev 'a,b"c.test' m5
smtp-stats -c "$C" report --format csv >"$T/r.csv" 2>/dev/null
/usr/bin/python3 - "$T/r.csv" >"$T/cells" <<'PY'
import csv, sys
for row in csv.reader(open(sys.argv[1], newline="")):
    for cell in row:
        print(cell)
PY
is "$(grep -c "^[=+@-]" "$T/cells")" 0 "no CSV cell starts with = + - @"
is "$(grep -c "^'[=+@-]" "$T/cells")" 4 "the four are prefixed with an apostrophe"
is "$(grep -c '^a,b"c\.test$' "$T/cells")" 1 "a comma and a quote survive RFC 4180 quoting"
