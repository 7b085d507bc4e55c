#!/bin/sh
# mdird, what 3000 and 3010 leave out (issue 15): the fallback drain
# (drain_interval) files a batch nobody poked it about; max_children
# bounds the notify programs running at once; the auto-submitted,
# precedence and x-spam-flag headers reach the records and route mail.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 11

JO=SMTP/Accounts/jo@example.org
A=$MDIR_ROOT/$JO
mstore mkdir "$JO" >/dev/null
mkdir "$T/running"
# a notifier that notes how many notifiers run with it
cat >"$T/notify.sh" <<EOF
mkdir "$T/running/\$\$"
ls "$T/running" | wc -l >>"$T/concurrent"
sleep 0.3
rmdir "$T/running/\$\$"
echo done >>"$T/notified"
EOF
cat >>"$MD_CONF" <<CONF
[notify]
command = /bin/sh $T/notify.sh
[mdird]
drain_interval = 1s
max_children = 2
CONF
# no poke: mdir-receive's socket is not mdird's
printf '[mdir]\nroot = %s\nsocket = %s/nobody.sock\n' "$MDIR_ROOT" "$T" >"$T/nopoke.conf"
# deliver ID [HEADER]: a message with its own Message-ID and an extra header
deliver() {
	{ [ -n "${2:-}" ] && printf '%s\n' "$2"
	  sed -e "s/^Message-ID: .*/Message-ID: <$1@test>/" "$DATA/multipart-mixed.eml"; } |
		mdir-receive -c "$T/nopoke.conf" -- jo@example.org
}
queue_empty() { _md_queue_empty; } # queue and work

md_start || { echo "Bail out! mdird did not start"; exit 1; }
md_idle 5
deliver first
is "$(ls "$MDIR_ROOT/.mdird/queue" | wc -l)" 1 "a delivery without a poke waits in the queue"
wait_for 5 queue_empty
ok $? "drain_interval = 1s: filed without a poke"
is "$(mstore ls "$JO" | wc -l)" 4 "its four parts"

# max_children = 2: six notifications, never more than two at once
printf 'if part > 0 then notify\n' >"$A/.rules"
deliver n1
deliver n2
wait_for 15 sh -c "[ \$(cat '$T/notified' 2>/dev/null | wc -l) -ge 6 ]"
ok $? "six notifications ran"
is "$(sort -n "$T/concurrent" | tail -n 1)" 2 "two at once at most, and two at once at least"

# the classification headers: in the records, and rules route on them
cat >"$A/.rules" <<'EOF'
if x-spam-flag = yes then move SMTP/Spam
if auto-submitted matches "auto-*" then move Auto
if precedence = bulk or precedence = list then move Bulk
EOF
deliver spam 'X-Spam-Flag: YES'
deliver auto 'Auto-Submitted: auto-replied'
deliver bulk 'Precedence: bulk'
deliver plain
md_ask POKE >/dev/null
wait_for 10 queue_empty
ok $? "filed"
is "$(mstore ls SMTP/Spam | grep -c '\.eml$')" 1 "X-Spam-Flag: YES to SMTP/Spam"
is "$(mstore ls Auto | grep -c '\.eml$')" 1 "Auto-Submitted: auto-replied to Auto"
is "$(mstore ls Bulk | grep -c '\.eml$')" 1 "Precedence: bulk to Bulk"
is "$(mstore ls "$JO" | grep -c '\.eml$')" 4 "the plain one stays (with the three before)"
is "$(cat "$MDIR_ROOT"/SMTP/Spam/.meta/* "$MDIR_ROOT"/Auto/.meta/* "$MDIR_ROOT"/Bulk/.meta/* |
	grep -E '^(x-spam-flag|auto-submitted|precedence): ' | sort -u | tr '\n' '|')" \
	"auto-submitted: auto-replied|precedence: bulk|x-spam-flag: YES|" "each record carries its header"
