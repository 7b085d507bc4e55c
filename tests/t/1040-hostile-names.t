#!/bin/sh
# Hostile names and Message-IDs, from a table (issue 15): through
# "mstore put -n" and as attachment names through mdir-receive and mdird.
# Nothing may escape the root, land on a reserved dot name, or be a name
# the other verbs refuse; hostile Message-IDs are kept apart and intact.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"

# the table: one name a line, in printf %b notation
cat >"$T/names" <<'EOF_NAMES'
../
/
../../etc/passwd
a/../../../x
.rules
.version
.meta
.meta/x
.changes
.hold
.lock
.disabled
.mstore
.
..
...
 .rules
..\\.rules
a\001b\033[31mred.txt
line\nbreak.txt
\r\n.rules
tab\there.txt
\377\376.txt
r\351sum\351.doc
\300\257etc\300\257passwd
invoice\342\200\256fdp.exe
\342\201\246isolated\342\201\251.txt
\342\200\217rlm.txt
con:*?"<>|.txt
report.pdf.  
 
_
EOF_NAMES
printf '%0300d.pdf\n' 0 | tr 0 x >>"$T/names"
printf '%0196d-2.pdf\n' 0 | tr 0 y >>"$T/names"
n=$(wc -l <"$T/names")

# the Message-IDs
cat >"$T/ids" <<'EOF_IDS'
a/b@x
../../../etc@x
..@x
.@x
/@x
%2e%2e%2f@x
a\\b@x
.mstore@x
EOF_IDS
nids=$(wc -l <"$T/ids")

plan $((n * 2 + 2 + 8 + nids * 2 + 3))

# no file may appear outside the root and this test's own files
touch "$T/stamp"
mkdir "$T/work"
escaped() {
	find "$T" -newer "$T/stamp" ! -path "$MDIR_ROOT" ! -path "$MDIR_ROOT/*" \
		! -path "$T/work" ! -path "$T/work/*" ! -name '.out' ! -name '.err' \
		! -path "$T" ! -name 'mdird.*' -print
}
# every entry name is one the verbs take: printed as is by ls, valid UTF-8,
# no control or bidi characters, at most 200 bytes, no leading dot
bad_names() {
	find "$1" -mindepth 1 -maxdepth 1 ! -name '.meta' ! -name '.changes' \
		! -name '.version' ! -name '.lock' -print0 |
	python3 -c '
import os, sys
bad = 0
for p in sys.stdin.buffer.read().split(b"\0"):
	if not p:
		continue
	n = os.path.basename(p)
	try:
		s = n.decode("utf-8")
	except UnicodeDecodeError:
		s = None
	if (s is None or n.startswith(b".") or len(n) > 200 or n != n.strip(b" .")
	    or any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 or c in "\\/:*?\"<>|"
	           or c in "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
	           for c in s)):
		bad += 1
		print(repr(n), file=sys.stderr)
print(bad)'
}
reserved() {
	find "$MDIR_ROOT" \( -name .rules -o -name .hold -o -name .disabled \) -print
}

# 1. mstore put -n NAME
mstore mkdir Hostile >/dev/null
i=0 nput=0
while IFS= read -r fmt; do
	i=$((i + 1))
	name=$(printf '%b' "$fmt"; echo x)
	name=${name%x}
	printf 'content %d\n' "$i" >"$T/work/f$i"
	if printf '%s' "$name" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1; then
		expect_code 0 "put -n '$fmt'" -- mstore put -n "$name" "$T/work/f$i" Hostile
		entry=$(printf '%s' "$out" | cut -f2)
		is "$(mstore cat "$entry" 2>/dev/null)" "content $i" "'$fmt': filed as one entry of Hostile"
		nput=$((nput + 1))
	else
		# arguments are UTF-8 (issue 14.10): other bytes are refused,
		# said plainly, and nothing is filed
		expect_code 64 "put -n '$fmt': not UTF-8, refused" -- mstore put -n "$name" "$T/work/f$i" Hostile
		like "$err" "not valid UTF-8: '" "'$fmt': the error shows the bytes"
	fi
done <"$T/names"
is "$(bad_names "$MDIR_ROOT/Hostile")" 0 "every name put is one the verbs take"
is "$(find "$MDIR_ROOT/Hostile" -mindepth 1 -maxdepth 1 -type f ! -name '.*' | wc -l)" "$nput" \
	"as many entries as names put, none hidden"

# 2. the same names as attachment names (RFC 2231, any byte), through
#    mdir-receive and mdird
JO=SMTP/Accounts/jo@example.org
A=$MDIR_ROOT/$JO
mstore mkdir "$JO" >/dev/null
md_start || { echo "Bail out! mdird did not start"; exit 1; }
python3 - "$T/names" >"$T/work/hostile.eml" <<'PY'
import sys, urllib.parse
names = [l.rstrip(b"\n") for l in open(sys.argv[1], "rb")]
out = [b"From: Mallory <m@evil.test>", b"To: jo@example.org",
       b"Subject: hostile names", b"Message-ID: <names@evil.test>",
       b"MIME-Version: 1.0", b'Content-Type: multipart/mixed; boundary="b"', b"",
       b"--b", b"Content-Type: text/plain", b"", b"see attached"]
for i, fmt in enumerate(names):
    raw = fmt.decode("unicode_escape").encode("latin-1")
    enc = urllib.parse.quote_from_bytes(raw, safe=b"").encode()
    out += [b"--b", b"Content-Type: application/octet-stream",
            b"Content-Disposition: attachment; filename*=UTF-8''" + enc, b"",
            b"part %d" % i]
out += [b"--b--", b""]
sys.stdout.buffer.write(b"\n".join(out))
PY
expect_code 0 "a message of hostile attachment names is delivered" -- \
	mdir-receive -c "$MD_CONF" -- jo@example.org <"$T/work/hostile.eml"
md_idle
ok $? "and filed"
is "$(bad_names "$A")" 0 "every name filed is one the verbs take"
is "$(find "$A" -mindepth 1 -maxdepth 1 -type f ! -name '.*' | wc -l)" $((n + 2)) \
	"every part filed (the text, the raw message and each attachment), none hidden"
is "$(reserved)" "" "no .rules, .hold or .disabled anywhere"
is "$(ls -A "$A/.meta" | grep -c '^\.')" 0 "no record on a dot name"
is "$(escaped)" "" "nothing written outside the root"
expect_code 0 "fsck finds nothing wrong" -- mstore fsck

# 3. hostile Message-IDs: each kept apart, its raw message intact
i=0
while IFS= read -r id; do
	i=$((i + 1))
	id=$(printf '%b' "$id")
	printf 'From: m@evil.test\nTo: jo@example.org\nSubject: id %d\nMessage-ID: <%s>\n\nbody %d\n' \
		"$i" "$id" "$i" >"$T/work/id$i.eml"
	mdir-receive -c "$MD_CONF" -- jo@example.org <"$T/work/id$i.eml"
	ok $? "Message-ID <$id> delivered"
done <"$T/ids"
md_idle
i=0
while IFS= read -r id; do
	i=$((i + 1))
	anchor=$(mstore meta -f anchor "$JO/id $i.txt" 2>/dev/null)
	mstore cat "$anchor" >"$T/work/back$i" 2>/dev/null
	ok "$(cmp -s "$T/work/back$i" "$T/work/id$i.eml"; echo $?)" "<$id>: the raw message, intact"
done <"$T/ids"
# the same Message-ID with other content is a message of its own
sed 's/^body 1$/other body/' "$T/work/id1.eml" >"$T/work/same-id.eml"
mdir-receive -c "$MD_CONF" -- jo@example.org <"$T/work/same-id.eml"
md_idle
a1=$(mstore meta -f anchor "$JO/id 1.txt")
a2=$(mstore meta -f anchor "$JO/id 1-2.txt" 2>/dev/null)
ok "$([ -n "$a2" ] && [ "$a1" != "$a2" ]; echo $?)" "the same Message-ID, other content: stored apart"
ok "$(mstore cat "$a1" | cmp -s - "$T/work/id1.eml"; echo $?)" "the first kept as it was"
is "$(escaped)$(reserved)" "" "still nothing outside the root nor on a reserved name"
