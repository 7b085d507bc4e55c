#!/bin/sh
# What a crash leaves in .mdird (issue 15.6): a half-written batch under a
# dot name in the queue is removed by mdird at start once it is an hour old
# (with the delivery key that names it) and pins no message; and mstore gc
# keeps every message a batch names in any state: queued, claimed in work
# by an mdird that then crashed, set aside in failed, or being written.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 18

JO=SMTP/Accounts/jo@example.org
mstore mkdir "$JO" >/dev/null
Q=$MDIR_ROOT/.mdird/queue
mkdir -p "$MDIR_ROOT/.mdird/work" "$MDIR_ROOT/.mdird/failed"
# deliver ID: a message <ID@litter.test> with mdird down: its batch waits
deliver() {
	sed "s/^Message-ID: .*/Message-ID: <$1@litter.test>/" "$DATA/multipart-mixed.eml" |
		mdir-receive -c "$MD_CONF" -- jo@example.org >/dev/null
}
# the batch that names message ID
batch_of() { grep -l "^anchor: mstore:$1@litter.test/0" "$Q"/* | head -n 1; }
stored() { [ -n "$(mstore meta "mstore:$1@litter.test/0" 2>/dev/null)" ] && echo yes || echo no; }
old() { touch -d '2 hours ago' "$@"; }
# young FILE...: made now by the programs' clock (under tests/run --date that
# clock is not the one the kernel stamps files with)
young() { touch -d now "$@"; }

for m in work failed young stale fresh; do deliver $m; done
mv "$(batch_of work)" "$MDIR_ROOT/.mdird/work/"
mv "$(batch_of failed)" "$MDIR_ROOT/.mdird/failed/"
yb=$(batch_of young); mv "$yb" "$Q/.${yb##*/}"; young "$Q/.${yb##*/}"
b=$(batch_of stale); mv "$b" "$Q/.${b##*/}"; old "$Q/.${b##*/}"
expect_code 0 "gc with no age limit" -- mstore gc --min-age 0
is "$(stored work)" yes "a batch claimed in work (mdird crashed) keeps its message"
is "$(stored failed)" yes "a batch set aside in failed keeps its message"
is "$(stored young)" yes "a batch being written keeps its message"
is "$(stored fresh)" yes "a queued batch keeps its message"
is "$(stored stale)" no "a half-written batch an hour old pins nothing"
rm "$Q/.${yb##*/}"

# litter from a delivery killed mid-queueing, keyed: mdird at start removes
# it once it is an hour old, and its key, so that a retry queues again
sed "s/^Message-ID: .*/Message-ID: <killed@litter.test>/" "$DATA/multipart-mixed.eml" >"$T/k.eml"
MDIR_TEST_FAULT=queue-before-rename mdir-receive -c "$MD_CONF" -- jo@example.org <"$T/k.eml" >/dev/null 2>&1
is "$?" 137 "a delivery killed with its key made, before the rename"
pending=$(ls -A "$Q" | grep '^\.[0-9a-f]\{64\}$')
key=$(find "$MDIR_ROOT/.mdird/keys" -name "${pending#.}")
ok "$([ -n "$pending" ] && [ -f "$key" ]; echo $?)" "leaves its pending batch and its key"
old "$Q/$pending"
echo 'half a batch' >"$Q/.young-litter"; young "$Q/.young-litter"
md_start || { echo "Bail out! mdird did not start"; exit 1; }
md_idle
ok $? "mdird files what is queued"
is "$(ls -A "$Q" | tr '\n' ' ')" ".young-litter " "at start it removed the litter an hour old, kept the young"
ok "$([ ! -e "$key" ]; echo $?)" "and the key of the pending batch"
n=$(mstore version "$JO")
mdir-receive -c "$MD_CONF" -- jo@example.org <"$T/k.eml" >/dev/null
is "$?" 0 "Postfix's retry"
md_idle
parts=$(mstore meta "mstore:killed@litter.test/0" | sed -n 's/^parts: //p')
is "$(mstore version "$JO")" "$((n + parts + 1))" "files the message, once"
is "$(grep -l '^anchor: mstore:killed@litter.test/0' "$MDIR_ROOT/$JO"/.meta/* | wc -l)" "$((parts + 1))" \
	"every part of it"

# mstore fsck reports such litter, and --repair removes it with its key
sed "s/^Message-ID: .*/Message-ID: <killed2@litter.test>/" "$DATA/multipart-mixed.eml" >"$T/k2.eml"
MDIR_TEST_FAULT=queue-before-rename mdir-receive -c "$MD_CONF" -- jo@example.org <"$T/k2.eml" >/dev/null 2>&1
pending=$(ls -A "$Q" | grep '^\.[0-9a-f]\{64\}$')
key=$(find "$MDIR_ROOT/.mdird/keys" -name "${pending#.}")
old "$Q/$pending"
out=$(mstore fsck 2>/dev/null)
is "$?" 65 "fsck finds the half-written batch"
like "$out" "^queue-litter	$Q/$pending	" "and names it"
mstore fsck --repair >/dev/null 2>&1
ok "$([ ! -e "$Q/$pending" ] && [ ! -e "$key" ]; echo $?)" "fsck --repair removes it and its key"
mdir-receive -c "$MD_CONF" -- jo@example.org <"$T/k2.eml" >/dev/null
md_idle
is "$(mstore meta "mstore:killed2@litter.test/0" | grep -c '^parts: ')" 1 "and the retry files it"
