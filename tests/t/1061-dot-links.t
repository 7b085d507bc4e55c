#!/bin/sh
# The tools' own files under the root, outside any folder (.stats/events,
# .stats/stats.db, .mdird/mdird.lock, SMTP/Outbox/.outbox.lock, the queue's
# shard locks), the directories they live in, and the store's own
# directories (.mstore/msg, .mdird/queue, ...), are never followed through a symbolic link: a
# group member who can write the root (0770) links one to a file of the
# mdir user's outside it, and the program that writes it leaves that file
# alone and says why (issue 16.3; the folders' own files: t/1060).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 38

JO=SMTP/Accounts/jo@example.org
C=$T/c.conf
printf '[mdir]\nroot = %s\nsocket = %s/mdird.sock\nlog_file = %s/log\n[outbox]\nsendmail = /bin/false\n' \
	"$MDIR_ROOT" "$T" "$T" >"$C"
mstore mkdir "$JO" SMTP/Outbox >/dev/null
printf 'private: do not touch\n' >"$T/victim"
cp "$T/victim" "$T/victim.orig"
# a file of event lines: imported through a link, it would count
printf 'ts=1\tkind=delivered\taccount=jo@example.org\tip=192.0.2.66\n' >"$T/events.elsewhere"
mkdir "$T/outdir"
untouched() { cmp -s "$T/victim" "$T/victim.orig"; echo $?; }
empty() { [ -z "$(ls -A "$T/outdir")" ]; echo $?; }
logged() { grep -c "$1.*symbolic link" "$T/log"; }

# .stats/events, written by mdir-receive and mdir-outbox on every message
mkdir -p "$MDIR_ROOT/.stats"
ln -s "$T/victim" "$MDIR_ROOT/.stats/events"
expect_code 0 "a delivery beside a linked events file goes through" -- \
	mdir-receive -c "$C" -- jo@example.org <"$DATA/crlf.eml"
ok "$(untouched)" "the file the events link leads to is untouched"
is "$(logged 'events')" 1 "the refusal is logged, naming the file"
expect_code 73 "smtp-stats import refuses to read the linked events file" -- \
	smtp-stats -c "$C" import
like "$err" "\.stats/events.*symbolic link" "and says why"
rm "$MDIR_ROOT/.stats/events"
ln -s "$T/events.elsewhere" "$MDIR_ROOT/.stats/events"
smtp-stats -c "$C" import >/dev/null 2>&1
is "$(smtp-stats -c "$C" query 192.0.2.66 | grep -c '^valid	[1-9]')" 0 \
	"nothing imported from where the link leads"
rm "$MDIR_ROOT/.stats/events"

# .stats/stats.db, smtp-stats' database
rm -f "$MDIR_ROOT/.stats/stats.db"*
ln -s "$T/victim" "$MDIR_ROOT/.stats/stats.db"
expect_code 73 "smtp-stats refuses a linked database" -- smtp-stats -c "$C" import
like "$err" "\.stats/stats\.db.*symbolic link" "and says why"
ok "$(untouched)" "the file the database link leads to is untouched"

# .stats itself, a link to a directory outside the root
rm -r "$MDIR_ROOT/.stats"
ln -s "$T/outdir" "$MDIR_ROOT/.stats"
: >"$T/log"
expect_code 0 "a delivery beside a linked .stats goes through" -- \
	mdir-receive -c "$C" -- jo@example.org <"$DATA/multipart-mixed.eml"
is "$(logged '\.stats')" 1 "the refusal is logged"
expect_code 73 "smtp-stats refuses a linked .stats" -- smtp-stats -c "$C" import
like "$err" "\.stats.*symbolic link" "and says why"
ok "$(empty)" "nothing written where .stats leads"
rm "$MDIR_ROOT/.stats"

# .mdird/mdird.lock, which mdird truncates and writes its pid into
mkdir -p "$MDIR_ROOT/.mdird"
ln -s "$T/victim" "$MDIR_ROOT/.mdird/mdird.lock"
expect_code 73 "mdird will not start on a linked lock" -- timeout 10 mdird -F -c "$C"
like "$err" "\.mdird/mdird\.lock.*symbolic link" "and says why"
ok "$(untouched)" "the file the lock link leads to is untouched"
rm "$MDIR_ROOT/.mdird/mdird.lock"
mv "$MDIR_ROOT/.mdird" "$T/mdird.real"
ln -s "$T/outdir" "$MDIR_ROOT/.mdird"
expect_code 73 "nor on a linked .mdird" -- timeout 10 mdird -F -c "$C"
like "$err" "\.mdird.*symbolic link" "and says why"
ok "$(empty)" "nothing made where .mdird leads (no lock, no queue)"
# mdir-receive opens the store too: it waits, and queues nothing there
expect_code 75 "a delivery into a root whose .mdird is a link waits (75)" -- \
	mdir-receive -c "$C" -- jo@example.org <"$DATA/crlf.eml"
ok "$(empty)" "and writes no batch where the link leads"
rm "$MDIR_ROOT/.mdird"
mv "$T/mdird.real" "$MDIR_ROOT/.mdird"
# the store's own directories: .mdird/queue, .mstore/msg
mv "$MDIR_ROOT/.mdird/queue" "$T/queue.real"
ln -s "$T/outdir" "$MDIR_ROOT/.mdird/queue"
expect_code 75 "nor when .mdird/queue is a link" -- \
	mdir-receive -c "$C" -- jo@example.org <"$DATA/crlf.eml"
like "$err$(cat "$T/log")" "\.mdird/queue: a symbolic link" "and says why"
ok "$(empty)" "no batch where it leads"
rm "$MDIR_ROOT/.mdird/queue"
mv "$T/queue.real" "$MDIR_ROOT/.mdird/queue"
mv "$MDIR_ROOT/.mstore/msg" "$T/msg.real"
ln -s "$T/outdir" "$MDIR_ROOT/.mstore/msg"
expect_code 73 "mstore refuses a root whose .mstore/msg is a link (73)" -- mstore -c "$C" ls SMTP
ok "$(empty)" "and leaves where it leads alone"
rm "$MDIR_ROOT/.mstore/msg"
mv "$T/msg.real" "$MDIR_ROOT/.mstore/msg"

# SMTP/Outbox/.outbox.lock, mdir-outbox's lock for one run at a time
ln -s "$T/victim" "$MDIR_ROOT/SMTP/Outbox/.outbox.lock"
expect_code 73 "mdir-outbox refuses a linked lock" -- mdir-outbox -c "$C"
like "$err" "\.outbox\.lock.*symbolic link" "and says why"
ok "$(untouched)" "the file the lock link leads to is untouched"

# .mdird/keys/<h2>/.lock, the delivery keys' shard locks: a link to a file
# that is not there yet (every shard: the key is not known in advance)
rm -r "$MDIR_ROOT/.mdird/keys"
for a in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do
	for b in 0 1 2 3 4 5 6 7 8 9 a b c d e f; do
		mkdir -p "$MDIR_ROOT/.mdird/keys/$a$b"
		ln -s "$T/made" "$MDIR_ROOT/.mdird/keys/$a$b/.lock"
	done
done
expect_code 75 "a delivery with a linked shard lock waits (75)" -- \
	mdir-receive -c "$C" -q 4XYZ1 -- jo@example.org <"$DATA/crlf.eml"
ok "$([ ! -e "$T/made" ]; echo $?)" "and makes no file where the link leads"
like "$(cat "$T/log")" "keys/[0-9a-f]{2}/\.lock.*symbolic link" "the refusal is logged"
rm -r "$MDIR_ROOT/.mdird/keys"

# .mdird/queue/.KEY, a batch being written: a delivery's key is the hash of
# its bytes and recipient, which whoever sends the message knows
sha=$(sha256sum <"$DATA/crlf.eml" | cut -d' ' -f1)
key=$(printf '%s\n%s' "$sha" jo@example.org | sha256sum | cut -d' ' -f1)
ln -s "$T/victim" "$MDIR_ROOT/.mdird/queue/.$key"
expect_code 75 "a delivery whose pending batch is a link waits (75)" -- \
	mdir-receive -c "$C" -q 4XYZ2 -- jo@example.org <"$DATA/crlf.eml"
ok "$(untouched)" "the file the link leads to is untouched"
rm "$MDIR_ROOT/.mdird/queue/.$key"

# without the links, all of them work again
rm "$MDIR_ROOT/SMTP/Outbox/.outbox.lock"
expect_code 0 "mdir-outbox runs" -- mdir-outbox -c "$C"
expect_code 0 "smtp-stats imports" -- smtp-stats -c "$C" import
ok "$(untouched)" "and the file is still untouched"
