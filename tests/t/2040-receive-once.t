#!/bin/sh
# Exactly once (issue 15.4, mdir(5) DELIVERY KEYS): mdir-receive killed
# after its batch is queued but before Postfix hears "delivered" (at the
# poke, or between the steps of the queueing), then the retry Postfix makes:
# every part is filed once, the retry exits 0, and a retry after mdird filed
# and removed the batch files nothing either.  The kills come from the
# fault points that MDIR_TEST_FAULT names (tests only: pipe(8) clears the
# environment).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 27

JO=SMTP/Accounts/jo@example.org
mstore mkdir "$JO" SMTP/Accounts/ann@example.org >/dev/null
msg=$DATA/multipart-mixed.eml
# a message of its own: Message-ID <$1@once.test>
mk() { sed "s/^Message-ID: .*/Message-ID: <$1@once.test>/" "$msg" >"$T/$1.eml"; }
# deliver ID [FAULT [RECIPIENT]]: the exit code
deliver() {
	MDIR_TEST_FAULT=${2:-} mdir-receive -c "$MD_CONF" -- "${3:-jo@example.org}" \
		<"$T/$1.eml" >/dev/null 2>&1
	echo $?
}
batches() { ls "$MDIR_ROOT/.mdird/queue" | wc -l; }
# the number of entries of folder $1 filed from message $2
filed() { grep -l "^anchor: mstore:$2@once.test/0" "$MDIR_ROOT/$1"/.meta/* 2>/dev/null | wc -l; }
litter() { ls -A "$MDIR_ROOT/.mdird/queue" | grep -c '^\.'; }

# mdird down: the batches wait, so they can be counted
mk a
is "$(deliver a receive-before-poke)" 137 "killed at the poke (after the batch is durable)"
is "$(batches)" 1 "its batch is queued"
is "$(deliver a)" 0 "Postfix's retry: 0"
is "$(batches)" 1 "and no second batch"
is "$(deliver a)" 0 "a third try: 0"
is "$(batches)" 1 "still one batch"

mk b
is "$(deliver b queue-before-key)" 137 "killed with the batch written, before its key"
is "$(batches)" 1 "no batch visible for it"
is "$(deliver b)" 0 "the retry: 0"
is "$(batches)" 2 "its batch queued now"
is "$(litter)" 0 "and nothing half-written left in the queue"

mk c
is "$(deliver c queue-before-rename)" 137 "killed with the key made, before the batch is visible"
is "$(batches)" 2 "no batch visible for it"
is "$(deliver c)" 0 "the retry: 0"
is "$(batches)" 3 "its batch queued now, whole"

# the same bytes to another recipient are another delivery
is "$(deliver a "" ann@example.org)" 0 "the same message to ann"
is "$(batches)" 4 "is queued for her"

md_start || { echo "Bail out! mdird did not start"; exit 1; }
md_idle
ok $? "mdird files the queue"
parts=$(mstore meta "mstore:a@once.test/0" | sed -n 's/^parts: //p')
is "$(filed "$JO" a) $(filed "$JO" b) $(filed "$JO" c)" "$((parts + 1)) $((parts + 1)) $((parts + 1))" \
	"each message filed once into jo's folder, every part"

# a retry after mdird filed the batch and removed it from the queue
v=$(mstore version "$JO")
is "$(deliver a)" 0 "a retry after mdird filed it: 0"
is "$(batches)" 0 "it queues nothing"
md_idle
is "$(mstore version "$JO")" "$v" "and files nothing"
is "$(filed SMTP/Accounts/ann@example.org a)" "$((parts + 1))" "ann has hers once"

# the window: mstore gc removes the keys older than --key-age (7 days)
keys() { find "$MDIR_ROOT/.mdird/keys" -type f ! -name '.*' | wc -l; }
n=$(keys)
# written just now by the programs' clock (tests/run --date moves only that)
find "$MDIR_ROOT/.mdird/keys" -type f ! -name '.*' -exec touch -d now {} +
mstore gc >/dev/null
is "$(keys)" "$n" "gc keeps keys younger than seven days"
find "$MDIR_ROOT/.mdird/keys" -type f ! -name '.*' -exec touch -d '8 days ago' {} +
mstore gc >/dev/null
is "$(keys)" 0 "and removes older ones"
md_stop
is "$(deliver a)" 0 "past the window, the same bytes"
is "$(batches)" 1 "are a new delivery"
