#!/bin/sh
# mdir-receive's exit paths: every one is 0, 67 or 75 (never 1, never 78),
# its output line starts with the enhanced status code that agrees, and
# it exits only after reading its input to the end.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 36

msg=$DATA/multipart-mixed.eml
mstore mkdir SMTP/Accounts/jo@example.org >/dev/null

expect_code 0 "delivered" -- mdir-receive -q Q1 -f a@sender.test -a 192.0.2.1 \
	-h client.test -- jo@example.org <"$msg"
is "$out" "" "silent on success"
is "$(ls "$MDIR_ROOT/.mdird/queue" | wc -l)" 1 "one batch queued"
is "$(mstore cat mstore:mixed@sender.test/0 | cmp - "$msg" && echo same)" same \
	"part 0 is the message byte for byte"

expect_code 67 "no such account is 67" -- mdir-receive -f a@sender.test -- nobody@example.org <"$msg"
like "$out" '^5\.1\.1 ' "with 5.1.1 first"
# Postfix quotes it in the bounce, a line end made a space: "account )"
last_char() { od -An -c "$T/.out" | tr -d ' \n' | tail -c 2; }
is "$(last_char)" "nt" "no line end or space after the text"
expect_code 75 "no recipient at all is 75" -- mdir-receive -f a@sender.test <"$msg"
like "$out" '^4\.3\.0 ' "with 4.3.0 first"
expect_code 75 "an unknown option is 75 (a broken master.cf)" -- mdir-receive --frob -- jo@example.org <"$msg"
like "$out" '^4\.' "with a 4.x.x code"
is "$(last_char)" "ob" "no line end after a temporary failure either"

printf '[receive]\ndeadline = soon\n' >"$T/bad.conf"
expect_code 75 "a bad config value is 75, not 78" -- mdir-receive -c "$T/bad.conf" -- jo@example.org <"$msg"
like "$out" "^4\.3\.0 mdir-receive: configuration: $T/bad.conf:2: deadline" "names file and line"
expect_code 75 "a missing config file is 75" -- mdir-receive -c "$T/none.conf" -- jo@example.org <"$msg"

touch "$T/plainfile"
expect_code 75 "an unusable root is 75" -- env MDIR_ROOT="$T/plainfile/root" \
	mdir-receive -- jo@example.org <"$msg"
like "$out" "^4\.3\.0 .*Not a directory" "says why"

# read to the end: a writer pushing 8 MB after the message never sees EPIPE
big() { cat "$msg"; head -c 8000000 /dev/zero | tr '\0' 'x'; echo; }
rc=$( { big; echo "writer=$?" >&3; } 3>"$T/w" | mdir-receive -- jo@example.org >/dev/null; echo $?)
is "$rc" 0 "a long input is delivered"
is "$(cat "$T/w")" "writer=0" "and read to its end"
rc=$( { big; echo "writer=$?" >&3; } 3>"$T/w" | mdir-receive -- nobody@example.org >/dev/null; echo $?)
is "$rc" 67 "an unknown account"
is "$(cat "$T/w")" "writer=0" "still reads its input to the end"

# the deadline: input that never ends in time
printf '[receive]\ndeadline = 1s\n' >"$T/fast.conf"
( cat "$msg"; sleep 3 ) | {
	start=$(date +%s)
	mdir-receive -c "$T/fast.conf" -- jo@example.org >"$T/out"
	echo "$? $(($(date +%s) - start))" >"$T/rc"
}
read -r rc secs <"$T/rc"
is "$rc" 75 "the deadline is 75"
like "$(cat "$T/out")" '^4\.3\.0 mdir-receive: deadline exceeded' "and says so"
ok "$([ "$secs" -lt 3 ]; echo $?)" "before the input ended"

# one log line per delivery (stderr when run by hand, on a terminal)
if command -v script >/dev/null; then
	script -qec "mdir-receive -q QLOG -f a@sender.test -- jo@example.org <$DATA/multipart-related.eml" \
		/dev/null >"$T/log" 2>&1
	like "$(tr -d '\r' <"$T/log")" '^mdir-receive: QLOG: message-id=<rel@sender\.test> from=<a@sender\.test> to=SMTP/Accounts/jo@example\.org size=[0-9]+ parts=2 defects=0 outcome=delivered stored=new ms=[0-9]+$' \
		"one log line: queue id, Message-ID, sender, account, size, parts, outcome, ms"
	script -qec "mdir-receive -q QLOG2 -- jo@example.org <$DATA/multipart-related.eml" /dev/null >"$T/log" 2>&1
	like "$(tr -d '\r' <"$T/log")" ' outcome=delivered stored=shared ' \
		"a second delivery of one message: delivered, its store shared"
else
	skip "no script(1)" "one log line"
	skip "no script(1)" "a duplicate says so"
fi

# several recipients: the known get it, the unknown are logged
expect_code 0 "one known and one unknown recipient: 0" -- mdir-receive -f a@sender.test -- \
	jo@example.org nobody@example.org <"$DATA/multipart-signed.eml"
expect_code 67 "every recipient unknown: 67" -- mdir-receive -- x@example.org y@example.org \
	<"$DATA/multipart-signed.eml"

# a full disk: 75, nothing half-written visible, delivered once later
why=
if [ "$(id -u)" != 0 ]; then
	why="needs root to mount a small tmpfs"
else
	mkdir -p "$T/small"
	why=$(mount -t tmpfs -o size=512k tmpfs "$T/small" 2>&1) ||
		why="cannot mount a tmpfs: ${why:-mount failed}"
fi
if [ -z "$why" ]; then
	umount_small() { umount "$T/small" 2>/dev/null; }
	at_exit umount_small
	export MDIR_ROOT="$T/small/root"
	mstore mkdir SMTP/Accounts/jo@example.org >/dev/null
	{ cat "$DATA/multipart-mixed.eml" | sed 's/mixed@sender/full@sender/'; } >"$T/full.eml"
	head -c 700000 /dev/urandom | base64 >>"$T/full.eml"
	expect_code 75 "a full disk is 75" -- mdir-receive -- jo@example.org <"$T/full.eml"
	like "$out" '^4\.3\.1 .*No space left on device' "4.3.1, mail system full"
	is "$(find "$MDIR_ROOT/.mstore/msg" -type f | wc -l)" 0 "nothing visible in the store"
	is "$(ls "$MDIR_ROOT/.mstore/tmp" | wc -l)" 0 "and nothing left in tmp"
	is "$(ls "$MDIR_ROOT/.mdird/queue" | wc -l)" 0 "no batch"
	mount -o remount,size=8m "$T/small"
	expect_code 0 "after space is freed, the retry delivers" -- mdir-receive -- jo@example.org <"$T/full.eml"
	expect_code 0 "a second retry is a duplicate" -- mdir-receive -- jo@example.org <"$T/full.eml"
	is "$(find "$MDIR_ROOT/.mstore/msg" -mindepth 2 -maxdepth 2 -type d | wc -l)" 1 "stored once"
else
	for i in 1 2 3 4 5 6 7 8; do skip "$why" "full disk $i"; done
fi
