#!/bin/sh
# The main job end to end: swaks -> a private Postfix -> pipe(8) ->
# mdir-receive -> mdird -> the folder a rule chose.  mdird runs as the same
# unprivileged user as mdir-receive, as mdird(8) sets it up.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
pf_require
plan 8

JO=SMTP/Accounts/jo@example.test
mstore mkdir "$JO" >/dev/null
cat >"$MDIR_ROOT/$JO/.rules" <<'RULES'
if has list-id then move Lists/{list-id}
if suggested-name ~ "(?i)\.csv$" then copy Data/{date:%Y}; continue
RULES
pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }
chown -R "$PF_USER" "$MDIR_ROOT"
SOCK=$MDIR_ROOT/.mdird/mdird.sock
runuser -u "$PF_USER" -- "$PF_BIN/mdird" -F -c "$PF/mdir.conf" >"$T/mdird.log" 2>&1 &
MD=$!
stop_md() { kill "$MD" 2>/dev/null; wait "$MD" 2>/dev/null; }
at_exit stop_md
wait_for 10 test -S "$SOCK"
ok $? "mdird runs as $PF_USER"

printf 'a,b\n1,2\n' >"$T/data.csv"
pf_send --from alice@sender.test --to jo@example.test --header 'Subject: numbers' \
	--header 'Message-Id: <e2e-rules-1@client.test>' \
	--body 'see attached' --attach-type text/csv --attach @"$T/data.csv"
pf_wait "$PF_QID" jo@example.test
is "$PF_STATUS" sent "Postfix: delivered"
pf_send --from list@lists.test --to jo@example.test --header 'Subject: digest' \
	--header 'List-Id: Users <users.lists.test>' --header 'Message-Id: <e2e-rules-2@client.test>'
pf_wait "$PF_QID" jo@example.test
is "$PF_STATUS" sent "Postfix: the list message delivered"
in_folders() { [ -n "$(ls "$MDIR_ROOT/Lists/users.lists.test" 2>/dev/null)" ] && [ -n "$(ls "$MDIR_ROOT"/Data/* 2>/dev/null)" ]; }
wait_for 10 in_folders
ok $? "mdird filed both at once (poked)"
is "$(mstore ls "$JO" | tr '\n' ' ')" "data.csv numbers.eml numbers.txt " "the account: the first message"
is "$(mstore ls Data/$(date -u +%Y))" "data.csv" "copy Data/{date:%Y}: the CSV"
is "$(mstore ls Lists/users.lists.test | tr '\n' ' ')" "digest.eml digest.txt " "move Lists/{list-id}"
is "$(stat -c %U "$MDIR_ROOT/Lists")" "$PF_USER" "folders made by mdird belong to $PF_USER"
