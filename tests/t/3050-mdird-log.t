#!/bin/sh
# mdird's log (issue 10.3): one line per batch at info, in Postfix's
# key=value manner, naming the message, the account, the folders filed and
# each rule action; and a per-user destination in rules (issue 10.9).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 6

JO=SMTP/Accounts/jo@example.org
A=$MDIR_ROOT/$JO
mstore mkdir "$JO" >/dev/null
sed -i 's/^log_level = debug$/log_level = info/' "$MD_CONF"
printf '[rules]\nprograms = /bin/true\n' >>"$MD_CONF"
year=$(sed -n 's/^Date: .* \([0-9][0-9][0-9][0-9]\) .*/\1/p' "$DATA/multipart-mixed.eml")
cat >"$A/.rules" <<'RULES'
if content-type = image/png then move ~/Pictures/{date:%Y}
if part = 0 then pipe /bin/true; copy {account}/All; continue
RULES
md_start || { echo "Bail out! mdird did not start"; exit 1; }
sed 's/^Message-ID: .*/Message-ID: <m1@test>/' "$DATA/multipart-mixed.eml" |
	mdir-receive -c "$MD_CONF" -- jo@example.org
md_idle
ok $? "filed"
line=$(grep 'message-id=<m1@test>' "$MD_LOG")
is "$(printf '%s\n' "$line" | grep -c .)" 1 "one log line for the batch"
like "$line" "^mdird: batch=[^,]+, message-id=<m1@test>, account=jo@example\.org, entries=[0-9]+, " \
	"batch, message-id, account and entries, key=value"
like "$line" "folders=$JO;$JO/Pictures/$year;$JO/All|folders=$JO;$JO/All;$JO/Pictures/$year" \
	"the folders filed"
like "$line" "actions=.*move $JO/Pictures/$year" "the move, with its folder"
like "$line" "actions=.*pipe /bin/true.*copy $JO/All|actions=.*copy $JO/All.*pipe /bin/true" \
	"the pipe and the copy"
