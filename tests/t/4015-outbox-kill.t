#!/bin/sh
# mdir-outbox killed -9 at random moments and run again until its outbox
# is empty: no message is handed to sendmail twice; each ends in SMTP/Sent
# (handed over exactly once) or in SMTP/Failed as "possibly sent" (at most
# once).  And a message costs one flush of the file system, and a run one
# more: the flush before the copy going out is stored makes the in-flight
# mark durable too, and the previous message's move to SMTP/Sent; its
# rename and this message's move are the next one's to flush (strace
# counts them); a message not sent after all (deferred, refused) leaves no
# such copy.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v strace >/dev/null || skip_all "strace is not installed (make deps)"
plan 27

O=$MDIR_ROOT/SMTP/Accounts/jo@example.org/Outbox
# the stand-in sendmail notes each message it took (its Subject), as a
# queue would have it: once it has read it all
cat >"$T/sendmail" <<SM
#!/bin/sh
s=\$(sed -n 's/^Subject: //p')
echo "\$s" >>"$T/sends"
exit \$(cat "$T/code" 2>/dev/null || echo 0)
SM
chmod +x "$T/sendmail"
: >"$T/sends"
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\n' \
	"$MDIR_ROOT" "$T/sendmail" >"$T/c.conf"
mstore mkdir SMTP/Accounts/jo@example.org/Outbox >/dev/null
fill() { # PREFIX N: messages PREFIX0 ... PREFIX(N-1)
	_i=0
	while [ $_i -lt "$2" ]; do
		printf 'From: jo@example.org\nTo: x@example.net\nSubject: %s%d\n\nbody %d\n' "$1" $_i $_i \
			>"$O/$1$_i.eml"
		_i=$((_i + 1))
	done
}
no_sendmail() { ! pgrep -f "$T/sendmail" >/dev/null; }

n=40
fill m $n
runs=0
killed=0
while [ -n "$(ls "$O")" ] && [ $runs -lt 300 ]; do
	mdir-outbox -c "$T/c.conf" >/dev/null 2>&1 &
	pid=$!
	# 0 to 39 ms: a run sends a few messages before it dies
	sleep "0.0$(($(od -An -N2 -tu2 /dev/urandom) % 40 / 10))$(($(od -An -N1 -tu1 /dev/urandom) % 10))"
	kill -9 $pid 2>/dev/null && killed=$((killed + 1))
	wait $pid 2>/dev/null
	runs=$((runs + 1))
done
# the last run ends by itself; sendmails a killed run left finish theirs
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
wait_for 10 no_sendmail
diag "$runs runs, $killed killed -9"
ok "$([ $killed -ge 3 ]; echo $?)" "mdir-outbox was killed -9 mid-run several times"
is "$(ls "$O")" "" "the outbox is empty in the end"
is "$(sort "$T/sends" | uniq -d)" "" "no message was handed to sendmail twice"
# entries by message: a kill while one was filed can leave it filed
# twice (m3.eml and m3-2.eml), which is about filing, not sending
sent=$(ls "$MDIR_ROOT/SMTP/Sent" 2>/dev/null | sed 's/\(-[0-9]*\)*\.eml$//' | sort -u)
failed=$(ls "$MDIR_ROOT/SMTP/Failed" 2>/dev/null | sed 's/\(-[0-9]*\)*\.eml$//' | sort -u)
is "$(printf '%s\n%s\n' "$sent" "$failed" | grep . | sort -u | wc -l)" $n \
	"each message is in SMTP/Sent or in SMTP/Failed"
bad=
for m in $sent; do
	[ "$(grep -cx "$m" "$T/sends")" = 1 ] || bad="$bad $m"
done
is "$bad" "" "each one in SMTP/Sent was handed to sendmail exactly once"
bad=
for m in $failed; do
	echo "$sent" | grep -qx "$m" && bad="$bad $m"
done
is "$bad" "" "none is both sent and filed as possibly sent"
diag "$(echo "$sent" | grep -c .) sent, $(echo "$failed" | grep -c .) possibly sent"

# not sent after all: the copy stored for it goes
stored() { find "$MDIR_ROOT/.mstore/msg" -mindepth 2 -maxdepth 2 -type d | wc -l; }
before=$(stored)
echo 75 >"$T/code"
fill later 1
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
is "$(ls "$O")" "later0.eml" "sendmail's 75: deferred, the message stays"
is "$(stored)" "$before" "and the copy stored for it is removed"
echo 69 >"$T/code"
fill refused 1
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
# a refused one is filed with a notice, which is a stored message
is "$(($(stored) - before))" 1 "sendmail's 69: refused, its stored copy removed (the notice stays)"
rm -f "$T/code"

# a kill between the link into SMTP/Sent and its record: the entry there
# is the very copy sendmail read (a hard link), filed only after sendmail
# took it; the next run gives it its record, and it is sent, not "possibly"
rm -rf "$MDIR_ROOT/SMTP/Sent" "$MDIR_ROOT/SMTP/Failed" "$O/later0.eml" "$O/.meta/later0.eml"
: >"$T/sends"
printf 'From: jo@example.org\nTo: x@example.net\nSubject: half\nMessage-ID: <half@example.org>\n\nbody\n' \
	>"$O/half.eml"
cp "$O/half.eml" "$T/half.eml"
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
# the state such a kill leaves: the entry back in the outbox, marked (the
# copy going out named by its Message-ID and its SHA-256), the entry in
# SMTP/Sent without its record
half() { # NAME TOKEN MESSAGE-ID SHA256
	cp "$T/$1.eml" "$O/$1.eml"
	printf 'outbox-in-flight: %s\noutbox-in-flight-id: %s\noutbox-in-flight-sha256: %s\n' \
		"$2" "$3" "$4" >"$O/.meta/$1.eml"
}
sha_of() { sed -n 's/^sha256: //p' "$MDIR_ROOT/SMTP/Sent/.meta/$1"; }
half half t0k3n half@example.org "$(sha_of half.eml)"
rm "$MDIR_ROOT/SMTP/Sent/.meta/half.eml"
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
is "$(ls "$O")" "" "half filed: the outbox entry goes"
is "$(ls "$MDIR_ROOT/SMTP/Failed" 2>/dev/null)" "" "and it is not filed as possibly sent"
is "$(sed -n 's/^outbox-id: //p' "$MDIR_ROOT/SMTP/Sent/.meta/half.eml" 2>/dev/null)" t0k3n \
	"its SMTP/Sent entry has its record, with the mark's token"
is "$(cat "$T/sends")" half "handed to sendmail once"

# the same, for a copy whose Message-ID the store held already with other
# bytes (a forward of received mail, a message sent again): it is stored
# apart, as <id>~<hash>, and still found by its mark
printf 'From: jo@example.org\nTo: x@example.net\nSubject: again\nMessage-ID: <half@example.org>\n\nother body\n' \
	>"$T/again.eml"
cp "$T/again.eml" "$O/again.eml"
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
like "$(sed -n 's/^url: //p' "$MDIR_ROOT/SMTP/Sent/.meta/again.eml")" '~' \
	"a second copy under the same Message-ID is stored apart"
half again t0k3n2 half@example.org "$(sha_of again.eml)"
rm "$MDIR_ROOT/SMTP/Sent/.meta/again.eml"
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
is "$(ls "$MDIR_ROOT/SMTP/Failed" 2>/dev/null)" "" "half filed, stored apart: not filed as possibly sent"
is "$(sed -n 's/^outbox-id: //p' "$MDIR_ROOT/SMTP/Sent/.meta/again.eml" 2>/dev/null)" t0k3n2 \
	"its SMTP/Sent entry has its record, with the mark's token"
is "$(ls "$MDIR_ROOT/SMTP/Sent" | grep -c again)" 1 "given its record where it was, not filed twice"

# a mark whose copy never reached sendmail (a kill just before it), while
# an entry of SMTP/Sent lacks its record and links another copy of the
# same Message-ID: that entry is not this sending's, so it is "possibly
# sent", never taken as sent
cp "$T/again.eml" "$T/ghost.eml"
half ghost t0k3n3 half@example.org "$(printf '%064d' 0)"
rm "$MDIR_ROOT/SMTP/Sent/.meta/half.eml"
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
is "$(ls "$MDIR_ROOT/SMTP/Failed" 2>/dev/null)" "ghost.eml" \
	"another copy's half entry does not make it sent: filed as possibly sent"
is "$(grep -c . "$T/sends")" 2 "and nothing is handed to sendmail again"

# a marked entry whose file was replaced by a new one under the same name
# (a person, a sync client) before the next run: only the file marked is
# ever removed; the new one stays and is sent as a message of its own
replaced() { # NAME TOKEN: the entry marked, then a new file put in its place
	printf 'From: jo@example.org\nTo: x@example.net\nSubject: %s-old\n\nold\n' "$1" >"$O/$1.eml"
	printf 'outbox-in-flight: %s\noutbox-in-flight-entry: %s\n' "$2" \
		"$(stat -c '%d:%i' "$O/$1.eml")" >"$O/.meta/$1.eml"
	printf 'From: jo@example.org\nTo: x@example.net\nSubject: %s-new\n\nnew\n' "$1" >"$T/new.eml"
	mv "$T/new.eml" "$O/$1.eml"
}
: >"$T/sends"
# sent and filed before the crash (SMTP/Sent holds its token)
replaced rsent "$(sed -n 's/^outbox-id: //p' "$MDIR_ROOT/SMTP/Sent/.meta/again.eml")"
mdir-outbox -c "$T/c.conf" >"$T/out" 2>&1
is "$(sed -n 's/^Subject: //p' "$O/rsent.eml" 2>/dev/null)" rsent-new \
	"the sent file's mark, in SMTP/Sent: the new file under its name stays"
is "$(cat "$O/.meta/rsent.eml" 2>/dev/null)" "" "the old file's record with its mark goes"
# marked, never known to be sent: not "possibly sent" in the new one's name
replaced rlost t0k3n-lost
mdir-outbox -c "$T/c.conf" >>"$T/out" 2>&1
is "$(ls "$MDIR_ROOT/SMTP/Failed" | grep -c rlost)" 0 \
	"a mark for a file since replaced: the new one is not filed as possibly sent"
is "$(sed -n 's/^Subject: //p' "$O/rlost.eml" 2>/dev/null)" rlost-new "it stays in the outbox"
mdir-outbox -c "$T/c.conf" >>"$T/out" 2>&1
is "$(sort "$T/sends" | tr '\n' ' ')" "rlost-new rsent-new " "and the next run sends both new ones"
is "$(ls "$O")" "" "the outbox is empty"
rm -f "$T/out"

# the flushes: 10 messages, one run, counted
rm -rf "$MDIR_ROOT/SMTP/Sent" "$MDIR_ROOT/SMTP/Failed"
fill s 10
strace -f -qq -c -e trace=syncfs,fsync,fdatasync -o "$T/strace" mdir-outbox -c "$T/c.conf" \
	>/dev/null 2>&1
is "$(ls "$MDIR_ROOT/SMTP/Sent" | wc -l)" 10 "ten sent under strace"
syncfs=$(awk '$NF == "syncfs" { print $4 }' "$T/strace")
is "${syncfs:-0}" 11 "one syncfs a message and one a run: mark, copy and the last move share it"
