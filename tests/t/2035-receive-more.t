#!/bin/sh
# What 2000 and 2010 leave out (issue 15): [receive] max_size on both
# sides of its boundary, and mstore init.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 11

msg=$DATA/multipart-mixed.eml
size=$(wc -c <"$msg")
Q=$MDIR_ROOT/.mdird/queue
mstore mkdir SMTP/Accounts/jo@example.org >/dev/null
# receive MAX ID: the message with max_size = MAX; ID of five letters, as
# "mixed", keeps its size
receive() {
	printf '[receive]\nmax_size = %s\n' "$1" >"$T/max.conf"
	sed "s/^Message-ID: <mixed@/Message-ID: <$2@/" "$msg" |
		mdir-receive -c "$T/max.conf" -- jo@example.org >/dev/null
}
batch_of() { grep -l "^message-id: $1@sender.test$" "$Q"/*; }

receive "$size" atmax
ok $? "a message of exactly max_size: delivered"
is "$(grep -c '^url: ' "$(batch_of atmax)")" 4 "and split: part 0 and three parts"
receive $((size - 1)) overx
ok $? "one byte over max_size: delivered all the same"
b=$(batch_of overx)
is "$(grep -c '^url: ' "$b")" 1 "kept whole: part 0 only"
like "$(grep '^defect' "$b")" 'larger than max_size: kept whole, unsplit' "the record says why"
sed "s/^Message-ID: <mixed@/Message-ID: <overx@/" "$msg" >"$T/over.eml"
mstore cat "$(grep -m1 '^url: ' "$b" | cut -d' ' -f2)" | cmp -s - "$T/over.eml"
ok $? "part 0 is the message, byte for byte"

# mstore init: the root's directories, and the root printed
R=$T/fresh
expect_code 0 "mstore init on a root that does not exist" -- env MDIR_ROOT="$R" mstore init
is "$out" "$R" "prints the root"
is "$(cd "$R" && find . -type d | sort | tr '\n' ' ')" \
	". ./.mdird ./.mdird/queue ./.mstore ./.mstore/msg ./.mstore/tmp ./SMTP ./SMTP/Accounts ./SMTP/Failed ./SMTP/Outbox ./SMTP/Sent ./SMTP/Spam ./SMTP/Statistics " \
	"makes the store, the queue and the SMTP folders"

# issue 16.11: pipe(8) may start it under umask 077; [mdir] umask (0007 by
# default) still leaves what it stores readable and writable by the
# group (mdird, sync clients), never by others
# (what it stored: the files that were not there before)
find "$MDIR_ROOT/.mstore/msg" -type f | sort >"$T/before"
(umask 077; sed "s/^Message-ID: <mixed@/Message-ID: <umask@/" "$msg" |
	mdir-receive -- jo@example.org >/dev/null)
ok $? "a delivery under umask 077"
find "$MDIR_ROOT/.mstore/msg" -type f | sort >"$T/after"
modes=$(comm -13 "$T/before" "$T/after" | xargs -r stat -c %a | sort -u | tr '\n' ' ')
is "$modes$(stat -c %a "$(batch_of umask)")" "660 660" "its stored parts and records and its batch are 0660"
