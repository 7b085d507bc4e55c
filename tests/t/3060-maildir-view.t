#!/bin/sh
# The Maildir view for Dovecot ([access] maildir, mdird(8), issue 11):
# without the key nothing is made; with it, mdird's start puts what is
# filed already in place, each message filed into an account's tree is a
# hard link to the stored raw message in that account's Maildir (new/,
# ",S=size", mtime = received-at), a subfolder is a Maildir++ .Sub, and
# what leaves a folder (mstore rm, mstore mv, in new/ or renamed into cur/
# by a reader) leaves the view; a link in the view's place is not followed.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
plan 28

JO=SMTP/Accounts/jo@example.org
V=$T/view/jo@example.org
mstore mkdir "$JO" "$JO/Sub" >/dev/null
# deliver ID [SUBJECT]: a message of its own to jo
deliver() {
	sed -e "s/^Message-ID: .*/Message-ID: <$1@test>/" -e "s/^Subject: .*/Subject: ${2:-plain $1}/" \
		"$DATA/multipart-mixed.eml" | mdir-receive -c "$MD_CONF" -- jo@example.org
}
count() { ls "$1" 2>/dev/null | wc -l; }
has() { [ "$(count "$1")" -eq "$2" ]; }
# the stored raw message of entry $1
raw() { find "$MDIR_ROOT/.mstore/msg" -name 0 -samefile "$MDIR_ROOT/$1"; }

md_start || { echo "Bail out! mdird did not start"; exit 1; }
deliver one
md_idle 10
md_ask POKE >/dev/null
md_stop
ok "$([ ! -e "$T/view" ]; echo $?)" "without [access] maildir no view is made"

printf '[access]\nmaildir = %s/view/%%a\n' "$T" >>"$MD_CONF"
md_start || { echo "Bail out! mdird did not start"; exit 1; }
wait_for 10 has "$V/new" 1
ok $? "mdird's start puts the message filed before in place"
deliver two
md_idle 10
wait_for 10 has "$V/new" 2
ok $? "a delivery: one file for the whole message (not one a part)"
is "$(count "$V/cur")$(count "$V/tmp")" 00 "cur/ and tmp/ are made, empty"

f=$(ls "$V/new" | head -n 1)
entry=$(grep -F "	$f" "$V/mdir-map" | cut -f 1)
src=$(raw "$JO/$entry")
ok "$([ -n "$src" ] && [ "$V/new/$f" -ef "$src" ]; echo $?)" "a hard link to the stored raw message"
is "$(stat -c %h "$src")" 3 "three links: the store, the folder, the view"
mstore -c "$MD_CONF" cat "$JO/$entry" >"$T/cat"
ok "$(cmp -s "$T/cat" "$V/new/$f"; echo $?)" "the same bytes as mstore cat"
like "$f" ",S=$(stat -c %s "$src")\$" "the name carries ,S=size"
at=$(mstore -c "$MD_CONF" meta -f received-at "$JO/$entry")
is "$(stat -c %Y "$V/new/$f")" "$(date -d "$at" +%s)" "the file's time is received-at"
like "$f" "^$(date -d "$at" +%s)\\." "the name starts with received-at"

# a rule files into a subfolder: Maildir++ .Sub
printf 'if subject contains "for sub" then move ~/Sub\n' >"$MDIR_ROOT/$JO/.rules"
deliver three "for sub"
md_idle 10
wait_for 10 has "$V/.Sub/new" 1
ok $? "a rule's move into Sub: in .Sub/new"
is "$(count "$V/new")" 2 "and not in the account's own"
ok "$([ -f "$V/.Sub/maildirfolder" ]; echo $?)" "a Maildir++ subfolder is marked maildirfolder"
rm "$MDIR_ROOT/$JO/.rules"

# mstore rm: in new/, and renamed into cur/ with flags as Dovecot does
mv "$V/new/$f" "$V/cur/$f:2,S"
mstore -c "$MD_CONF" rm "$JO/$entry"
md_ask POKE >/dev/null
wait_for 10 has "$V/cur" 0
ok $? "mstore rm: its file leaves cur/ (flags and all)"
# the map is written after the file goes: read it once it names one entry
wait_for 10 sh -c '[ "$(grep -c "	" "$1")" = 1 ]' _ "$V/mdir-map"
other=$(grep -v '^version' "$V/mdir-map" | cut -f 1)
mstore -c "$MD_CONF" mv "$JO/$other" "$JO/Sub" >/dev/null
md_ask POKE >/dev/null
wait_for 10 has "$V/new" 0
ok $? "mstore mv: it leaves the account's Maildir"
wait_for 10 has "$V/.Sub/new" 2
ok $? "and appears in .Sub"
is "$(grep -c '	' "$V/mdir-map")" 0 "the account's map is empty"

# a restart files nothing twice
md_stop
md_start || { echo "Bail out! mdird did not start"; exit 1; }
md_ask POKE >/dev/null
is "$(count "$V/new") $(count "$V/.Sub/new")" "0 2" "a restart changes nothing"

# a link where an account's Maildir would be is refused, not followed
mkdir "$T/outside"
mstore mkdir SMTP/Accounts/evil@example.org >/dev/null
ln -s "$T/outside" "$T/view/evil@example.org"
sed -e "s/^Message-ID: .*/Message-ID: <evil@test>/" "$DATA/multipart-mixed.eml" |
	mdir-receive -c "$MD_CONF" -- evil@example.org
md_idle 10
md_ask POKE >/dev/null
wait_for 10 grep -q "maildir view: .*evil@example.org" "$MD_LOG"
ok $? "a link as the view of an account: logged"
is "$(ls -A "$T/outside")" "" "and nothing written through it"
md_stop
is "$MD_RC" 0 "mdird stops cleanly"

# mstore export --maildir --sync: mail filed while mdird did not see it
AL=SMTP/Accounts/al@example.org
rm "$T/view/evil@example.org"
mstore mkdir "$AL" >/dev/null
mstore -c "$MD_CONF" cp "$JO/Sub/$(ls "$MDIR_ROOT/$JO/Sub" | grep '\.eml$' | head -n 1)" "$AL" >/dev/null
is "$(mstore -c "$MD_CONF" export --maildir --sync 2>&1)" 2 \
	"export --maildir --sync puts it in place (and evil's, its link gone)"
is "$(ls "$T/view/al@example.org/new")" "$(ls "$V/.Sub/new" | grep -xF "$(ls "$T/view/al@example.org/new")")" \
	"under the name mdird gives it"
is "$(mstore -c "$MD_CONF" export --sync "$AL")" 0 "run again: nothing added"
is "$(count "$T/view/al@example.org/new")" 1 "nothing doubled"
md_start || { echo "Bail out! mdird did not start"; exit 1; }
md_ask POKE >/dev/null
md_stop
is "$(count "$T/view/al@example.org/new") $(count "$V/.Sub/new")" "1 2" "nor by mdird after it"

# two leave cur/ in one catch-up (a reader saw both)
md_start || { echo "Bail out! mdird did not start"; exit 1; }
for f in $(ls "$V/.Sub/new"); do mv "$V/.Sub/new/$f" "$V/.Sub/cur/$f:2,S"; done
ls "$MDIR_ROOT/$JO/Sub" | grep '\.eml$' | while read -r e; do
	mstore -c "$MD_CONF" rm "$JO/Sub/$e"
done
md_ask POKE >/dev/null
wait_for 10 has "$V/.Sub/cur" 0
ok $? "two removed at once: both leave cur/"
md_stop
sed -i '/^\[access\]/,$d' "$MD_CONF"
expect_code 64 "export --sync without [access] maildir: a usage error" -- \
	mstore -c "$MD_CONF" export --sync
