#!/bin/sh
# End to end: swaks -> a private Postfix -> pipe(8) -> mdir-receive (the
# real one, as an unprivileged user) -> the store and the queue.  Unknown
# accounts bounce with 5.1.1, disabled ones with 5.2.1; a full disk defers, and the retry delivers
# exactly once.  Outcomes are read from Postfix's log, polled, never slept.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
pf_require
plan 25

# the root on a small file system of its own, to fill it later
mkdir -p "$T/disk"
mount -t tmpfs -o size=24m tmpfs "$T/disk" || { echo "Bail out! cannot mount tmpfs"; exit 1; }
umount_disk() { umount -l "$T/disk" 2>/dev/null; }
at_exit umount_disk
MDIR_ROOT=$T/disk/root
export MDIR_ROOT
mstore mkdir SMTP/Accounts/jo@example.test >/dev/null
pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }
chown -R "$PF_USER" "$MDIR_ROOT"
Q=$MDIR_ROOT/.mdird/queue
field() { grep -m1 "^$1: " "$2" | cut -d' ' -f2-; }

head -c 300000 /dev/urandom >"$T/blob.bin"
printf 'a,b\n1,2\n' >"$T/data.csv"
pf_send --from alice@sender.test --to jo+work@example.test \
	--header "Message-Id: <e2e-1@client.test>" --header 'Subject: with attachments' \
	--body 'see attached' --attach-type text/csv --attach @"$T/data.csv" \
	--attach-type application/octet-stream --attach @"$T/blob.bin"
ok $? "swaks: the message is accepted"
ok "$([ -n "$PF_QID" ]; echo $?)" "a queue id: $PF_QID"
pf_wait "$PF_QID" jo+work@example.test
is "$PF_STATUS" sent "Postfix: status=sent"
is "$PF_DSN" 2.0.0 "dsn 2.0.0"
mstore cat mstore:e2e-1@client.test/3 >"$T/got.bin" 2>/dev/null
ok "$(cmp -s "$T/got.bin" "$T/blob.bin"; echo $?)" "the binary attachment, byte for byte"
is "$(mstore meta -f suggested-name mstore:e2e-1@client.test/3)" blob.bin "its name"
is "$(mstore cat mstore:e2e-1@client.test/2)" "a,b
1,2" "the CSV attachment"
b=$Q/$(ls "$Q" | head -n 1)
is "$(field account "$b")" "SMTP/Accounts/jo@example.test" "batch: the account"
is "$(field queue-id "$b")" "$PF_QID" "batch: Postfix's queue id"
is "$(grep -m1 '^extension: ' "$b")" "extension: work" "batch: the extension"
is "$(grep -m1 '^envelope-from: ' "$b")" "envelope-from: alice@sender.test" "batch: the sender"
is "$(grep -m1 '^client-address: ' "$b")" "client-address: 127.0.0.1" "batch: the client"
is "$(grep -m1 '^client-helo: ' "$b")" "client-helo: client.test" "batch: the HELO name"
is "$(stat -c %U "$MDIR_ROOT/.mstore/msg")" "$PF_USER" "written as the unprivileged user"

pf_send --from alice@sender.test --to nobody@example.test --header 'Subject: lost'
pf_wait "$PF_QID" nobody@example.test
is "$PF_STATUS" bounced "an unknown account bounces"
is "$PF_DSN" 5.1.1 "with 5.1.1"
like "$PF_LINE" "no such account" "Postfix logs why"
like "$PF_LINE" "no such account\)" "without a line end made a space before its ')'"

# a disabled account: RFC 3463's "mailbox disabled", which Postfix's bounce
# takes from mdir-receive's status line (the exit code alone says 5.1.1)
mstore account add off@example.test 2>/dev/null
mstore account disable off@example.test
chown -R "$PF_USER" "$MDIR_ROOT/SMTP/Accounts"
pf_send --from alice@sender.test --to off@example.test --header 'Subject: to a disabled one'
pf_wait "$PF_QID" off@example.test
is "$PF_STATUS" bounced "a disabled account bounces"
is "$PF_DSN" 5.2.1 "with 5.2.1, mailbox disabled"

# fill the disk: the delivery is deferred, then delivered once
dd if=/dev/zero of="$T/disk/filler" bs=1M count=64 2>/dev/null
pf_send --from alice@sender.test --to jo@example.test --header "Message-Id: <e2e-full@client.test>" \
	--attach-type application/octet-stream --attach @"$T/blob.bin"
PF_WANT=deferred pf_wait "$PF_QID" jo@example.test
is "$PF_STATUS" deferred "a full disk defers"
is "$PF_DSN" 4.3.1 "with 4.3.1 (mail system full)"
rm -f "$T/disk/filler"
pf_flush
pf_wait "$PF_QID" jo@example.test 20
is "$PF_STATUS" sent "the retry after space is freed is delivered"
is "$(grep -l "^anchor: mstore:e2e-full@client.test/0" "$Q"/* | wc -l)" 1 \
	"queued exactly once"
is "$(find "$MDIR_ROOT/.mstore/tmp" -mindepth 1 | wc -l)" 0 "nothing left in tmp"
