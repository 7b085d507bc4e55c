#!/bin/sh
# smtp-stats report as CSV and JSON, fed events with hostile and non-ASCII
# sender domains: CSV cells a spreadsheet would run as formulas are
# neutralised, quoting is RFC 4180's, and the JSON (json-glib) parses, its
# numbers numbers; the text has column headers; times are ISO 8601.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 9

C=$T/c.conf
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.test\n' "$MDIR_ROOT" >"$C"
mstore -c "$C" mkdir SMTP/Accounts/jo@example.test >/dev/null
now=$(date +%s)
day=$(date -u -d "@$now" +%Y-%m-%d) # the events' day, even run across midnight
ev() { printf 'ts=%s\tkind=delivered\taccount=SMTP/Accounts/jo@example.test\tip=192.0.2.1\tsize=100\tsender_domain=%s\tmessage_id=%s\n' "$now" "$1" "$2" >>"$MDIR_ROOT/.stats/events"; }
mkdir -p "$MDIR_ROOT/.stats"
ev '=HYPERLINK("http://evil.test")' m1
ev '+1-2.test' m2
ev '@SUM(A1)' m3
ev '-cmd.test' m4
ev 'a,b"c.test' m5
smtp-stats -c "$C" report --day "$day" --format csv >"$T/r.csv" 2>/dev/null
/usr/bin/python3 - "$T/r.csv" >"$T/cells" <<'PY'
import csv, sys
for row in csv.reader(open(sys.argv[1], newline="")):
    for cell in row:
        print(cell)
PY
is "$(grep -c "^[=+@-]" "$T/cells")" 0 "no CSV cell starts with = + - @"
is "$(grep -c "^'[=+@-]" "$T/cells")" 4 "the four are prefixed with an apostrophe"
is "$(grep -c '^a,b"c\.test$' "$T/cells")" 1 "a comma and a quote survive RFC 4180 quoting"

ev 'bücher.example' m6
ev 'пример.рф' m7
printf 'ts=%s\tkind=delivered\taccount=SMTP/Accounts/jo@example.test\tip=192.0.2.1\tsender_domain=latin1-\351t\351.test\tmessage_id=m8\n' "$now" >>"$MDIR_ROOT/.stats/events"
smtp-stats -c "$C" report --day "$day" --format json >"$T/r.json" 2>/dev/null
/usr/bin/python3 -m json.tool "$T/r.json" >/dev/null
ok $? "the JSON parses (python3 -m json.tool), non-ASCII and invalid UTF-8 in sender domains"
is "$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sorted(r["domain"] for r in d["sender_domains"] if not r["domain"].isascii())[:2], d["accounts"][0]["messages in"] + 0)' "$T/r.json")" \
	"['bücher.example', 'latin1-�t�.test'] 8" "with the domains as they came (invalid bytes replaced), counts as numbers"
like "$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["start"], d["end"])' "$T/r.json")" \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T00:00:00Z [0-9]{4}-[0-9]{2}-[0-9]{2}T00:00:00Z$' "the period in ISO 8601"
txt=$(smtp-stats -c "$C" report --day "$day" 2>/dev/null)
like "$(echo "$txt" | grep -A2 'Top sender domains' | sed -n 2p)" '^  domain +messages$' "text: a header row a section"
like "$(echo "$txt" | grep 'пример.рф')" '^  пример\.рф +1$' "non-ASCII in the text"
smtp-stats -c "$C" blacklist add 192.0.2.66 1h
like "$(smtp-stats -c "$C" query 192.0.2.66 | grep blacklisted-until)" \
	'^blacklisted-until	[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z	by hand$' "query: an ISO time, not epoch seconds"
