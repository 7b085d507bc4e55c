#!/bin/sh
# smtp-stats report and publish: figures from the events mdir-receive and
# mdir-outbox record, as text, CSV and JSON; the published report is a
# message mdir-receive's path accepts and mdird files by the admin's rules,
# with a CSV, a valid SVG and a PNG of the same chart attached.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 14

C=$T/c.conf
printf '#!/bin/sh\ncat >/dev/null\n' >"$T/sendmail"
chmod +x "$T/sendmail"
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.test\n[outbox]\nsendmail = %s\n' \
	"$MDIR_ROOT" "$T/sendmail" >"$C"
mstore -c "$C" mkdir SMTP/Accounts/jo@example.test/Outbox SMTP/Accounts/ann@example.test SMTP/Outbox SMTP/Statistics >/dev/null
for i in 1 2 3; do
	sed "s/^Message-ID: .*/Message-ID: <r$i@t>/" "$DATA/multipart-mixed.eml" |
		mdir-receive -c "$C" -a 192.0.2.$i -f a@senders.test -- jo@example.test
done
mdir-receive -c "$C" -a 198.51.100.1 -f b@other.test -- ann@example.test <"$DATA/rfc2231-names.eml"
mdir-receive -c "$C" -a 198.51.100.1 -- nobody@example.test <"$DATA/rfc2231-names.eml" >/dev/null
printf 'From: jo@example.test\nTo: x@far.test, y@far.test\nSubject: out\n\nhello\n' >"$MDIR_ROOT/SMTP/Accounts/jo@example.test/Outbox/out.eml"
mdir-outbox -c "$C"

txt=$(smtp-stats -c "$C" report 2>/dev/null)
like "$(echo "$txt" | grep -A1 'Usage per account' | tail -n 1)" '^  account +messages in +bytes in +deliveries out +bytes out$' \
	"text: columns with headers"
like "$(echo "$txt" | grep -A2 'Top source networks' | tail -n 1)" '192\.0\.2\.0/24 +3' "the top source network"
like "$(echo "$txt" | grep -A3 'Top destination domains' | tr '\n' ' ')" 'far\.test +2' "destination domains from mdir-outbox"
like "$(echo "$txt" | grep '^  jo@example.test ')" '^  jo@example\.test +3 +[0-9]{3,} +2 +[0-9]+$' \
	"one row for jo: 3 received, with bytes; sent to two recipients, with bytes"
csv=$(smtp-stats -c "$C" report --format csv 2>/dev/null)
is "$(echo "$csv" | grep -c '^[0-9-]*,sender_domains,.*,messages,')" 2 "CSV: a record a sender domain"
smtp-stats -c "$C" report --format json 2>/dev/null >"$T/r.json"
is "$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["networks"][0]["network"], d["networks"][0]["messages"])' "$T/r.json")" \
	"192.0.2.0/24 3" "JSON parses, with the same figures"
expect_code 64 "a bad date is a usage error" -- smtp-stats -c "$C" report --day yesterday

# publish: into SMTP/Statistics through the receive path, filed by its rules
printf 'if part = 0 then move Statistics/{date:%%Y}\n' >"$MDIR_ROOT/SMTP/Statistics/.rules"
expect_code 0 "publish --daily" -- smtp-stats -c "$C" publish -v --daily
like "$out" '^stats-[0-9]{4}-[0-9]{2}-[0-9]{2}\.[0-9]+@mdir$' "with -v, prints the Message-ID"
mdird -F -c "$C" 2>/dev/null &
dpid=$!
wait_for 10 sh -c "ls '$MDIR_ROOT'/Statistics/*/ 2>/dev/null | grep -q 'mdir statistics'"
ok $? "mdird filed the report by the admin's rule ({date:%Y})"
kill $dpid
wait $dpid 2>/dev/null
svg=$(ls "$MDIR_ROOT/SMTP/Statistics" | grep '\.svg$')
/usr/bin/python3 -c 'import sys, xml.etree.ElementTree as E; r=E.parse(sys.argv[1]).getroot(); sys.exit(r.tag != "{http://www.w3.org/2000/svg}svg")' \
	"$MDIR_ROOT/SMTP/Statistics/$svg"
ok $? "the SVG chart ($svg) is valid XML, an svg element"
csvf=$(ls "$MDIR_ROOT/SMTP/Statistics" | grep '\.csv$')
like "$(head -n 1 "$MDIR_ROOT/SMTP/Statistics/$csvf")" '^period,section,key,column,value' "and the CSV is attached"
pngf=$(ls "$MDIR_ROOT/SMTP/Statistics" | grep '\.png$')
like "$(file -b "$MDIR_ROOT/SMTP/Statistics/$pngf")" '^PNG image data, 1600 x 840' "the chart as PNG ($pngf), for mail clients without SVG"
is "$(ls "$MDIR_ROOT/SMTP/Statistics" | sed -n 's/^.*statistics-[0-9-]*\.\(csv\|svg\|png\)$/\1/p' | sort | tr '\n' ' ')" "csv png svg " \
	"the message carries the text, the CSV, the SVG and the PNG"
