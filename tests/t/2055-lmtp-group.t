#!/bin/sh
# Group commit: concurrent LMTP sessions share their flushes.  Four
# clients deliver 25 messages each at once; syncfs(2) calls of the server
# and its sessions are counted with strace.  Alone, a delivery makes two
# (the pipe mode's, and the server's with lmtp_group_commit = false);
# shared, fewer than that in all.  Every message is queued once and got
# its 250 (the durability itself is the same code's, t/2053 kills it).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v python3 >/dev/null || skip_all "no python3"
command -v strace >/dev/null || skip_all "no strace"
strace -f -qq -o /dev/null true 2>/dev/null || skip_all "strace cannot trace here"
plan 6

mstore mkdir SMTP/Accounts/jo@example.org >/dev/null
Q=$MDIR_ROOT/.mdird/queue
S=$T/lmtp.sock
n=25
i=1
mkdir "$T/msg"
while [ $i -le $((4 * n)) ]; do
	printf 'Message-ID: <%d@sender.test>\nSubject: m%d\n\nhello\n' $i $i >"$T/msg/$i.eml"
	i=$((i + 1))
done

# run GROUP: every message delivered by four clients at once; prints
# the syncfs calls counted and the 250s
run() {
	rm -rf "$MDIR_ROOT/.mstore/msg" "$MDIR_ROOT/.mdird/keys" "$Q"/*
	printf '[receive]\nlmtp_group_commit = %s\n' "$1" >"$T/g.conf"
	# (set -- below reuses the positional parameters for the clients)
	cat "$MDIR_CONF" >>"$T/g.conf"
	# a leader's sync takes 20 ms more (MDIR_TEST_GROUP_DELAY_MS): on
	# a fast disk the four sessions would otherwise rarely meet, and
	# the count would prove nothing (CI saw 200 of 200 once)
	MDIR_TEST_GROUP_DELAY_MS=20 strace -f -qq -c -e trace=syncfs -o "$T/strace" \
		mdir-receive -c "$T/g.conf" --lmtp=unix:"$S" 2>"$T/server.err" &
	tracer=$!
	wait_for 10 test -S "$S" || return 1
	rm -f "$T"/replies.*
	for c in 0 1 2 3; do
		set --
		i=$((c * n + 1))
		while [ $i -le $(((c + 1) * n)) ]; do set -- "$@" --file "$T/msg/$i.eml"; i=$((i + 1)); done
		python3 "$MDIR_SRC/tests/lib/lmtp-send.py" "$S" "$@" a@sender.test jo@example.org \
			>"$T/replies.$c" &
	done
	wait_for 120 sh -c "[ \$(cat '$T'/replies.* | grep -c ' 250 ') -ge $((4 * n)) ]"
	cat "$T"/replies.* >"$T/replies"
	kill "$(pgrep -P "$tracer")" 2>/dev/null
	wait "$tracer"
	echo "$(awk '$NF == "syncfs" { print $4 }' "$T/strace") $(grep -c ' 250 ' "$T/replies")"
}

read -r alone ok250 <<EOF
$(run false)
EOF
is "$ok250" $((4 * n)) "each alone: every message got its 250"
is "$alone" $((2 * 4 * n)) "each alone: two syncfs a delivery, as the pipe mode"
read -r shared ok250 <<EOF
$(run true)
EOF
is "$ok250" $((4 * n)) "group commit: every message got its 250"
ok "$([ "${shared:-999999}" -lt $((2 * 4 * n)) ]; echo $?)" \
	"group commit: fewer syncfs than deliveries need alone ($shared for $((4 * n)) deliveries)"
is "$(ls "$Q" | wc -l)" $((4 * n)) "every message queued once"
is "$(grep -h -m1 '^anchor: ' "$Q"/* | sort | uniq -d | wc -l)" 0 "none twice"
