#!/bin/sh
# The same message, delivered by pipe(8) or over LMTP, is stored byte for
# byte the same: every message of ../shared/corpus goes once through the
# pipe mode into one root and once through one LMTP session (one
# transaction each, as down Postfix's cached connection) into another,
# and the two stores are compared file by file, raw message, parts and
# records, but for the time of arrival.
#
# What each side is given is what Postfix gives it: pipe(8) with flags R
# writes a Return-Path first and ends every line in LF; its lmtp client
# sends every line in CRLF (a CRLF or a bare LF of the queue file alike),
# and the server adds the Return-Path.  So the pipe side gets the message
# with the Return-Path and LF line ends, the LMTP side the message as it is.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
C=$MDIR_SHARED/corpus
[ -f "$C/manifest.tsv" ] || skip_all "no corpus at $C"
command -v python3 >/dev/null || skip_all "no python3"
plan 6

tail -n +2 "$C/manifest.tsv" | cut -f1 >"$T/manifest"
n=$(wc -l <"$T/manifest")
P=$T/pipe
L=$T/lmtp
for r in "$P" "$L"; do
	MDIR_ROOT=$r mstore mkdir SMTP/Accounts/@example.org >/dev/null
done

# the pipe side, one process per message, as pipe(8) writes it
mkdir "$T/norm"
python3 -c 'import sys
for i, f in enumerate(open(sys.argv[2]).read().split("\n")[:-1]):
    d = open(sys.argv[1] + "/" + f, "rb").read().split(b"\n")
    if d and d[-1] == b"":
        d.pop()
    open("%s/%d" % (sys.argv[3], i), "wb").write(b"Return-Path: <sender@example.net>\n" +
        b"".join((l[:-1] if l.endswith(b"\r") else l) + b"\n" for l in d))' \
	"$C" "$T/manifest" "$T/norm"
: >"$T/pipe.rc"
i=0
while [ $i -lt "$n" ]; do
	MDIR_ROOT=$P mdir-receive -f sender@example.net -a 192.0.2.7 -h client.test \
		-- jo@example.org <"$T/norm/$i" >/dev/null 2>&1
	echo "$?" >>"$T/pipe.rc"
	i=$((i + 1))
done
is "$(sort -u "$T/pipe.rc")" 0 "pipe mode: all $n delivered"

# the LMTP side, one session
set --
while read -r file; do set -- "$@" --file "$C/$file"; done <"$T/manifest"
MDIR_ROOT=$L python3 "$MDIR_SRC/tests/lib/lmtp-send.py" "stdio:$BIN/mdir-receive --lmtp" \
	--xforward 'ADDR=192.0.2.7 HELO=client.test' "$@" sender@example.net jo@example.org \
	>"$T/lmtp.out" 2>&1
is "$(wc -l <"$T/lmtp.out")" "$n" "LMTP: one reply per message"
is "$(cut -d' ' -f2-3 "$T/lmtp.out" | sort | uniq -c | sed 's/^ *//')" "$n 250 2.0.0" \
	"LMTP: all $n delivered"

# the stores, file by file; the time of arrival apart
(cd "$P/.mstore/msg" && find . -type f | sort) >"$T/pipe.files"
(cd "$L/.mstore/msg" && find . -type f | sort) >"$T/lmtp.files"
ok "$([ -s "$T/pipe.files" ] && cmp -s "$T/pipe.files" "$T/lmtp.files"; echo $?)" \
	"the same messages and parts stored ($(wc -l <"$T/pipe.files") files)"
: >"$T/differ"
while read -r f; do
	sed '/^received-at: /d' "$P/.mstore/msg/$f" >"$T/a"
	sed '/^received-at: /d' "$L/.mstore/msg/$f" >"$T/b" 2>/dev/null
	cmp -s "$T/a" "$T/b" || echo "$f" >>"$T/differ"
done <"$T/pipe.files"
is "$(head -n 5 "$T/differ")" "" "every file the same, byte for byte"
is "$(ls "$P/.mdird/queue" | wc -l)" "$(ls "$L/.mdird/queue" | wc -l)" \
	"as many batches queued"
