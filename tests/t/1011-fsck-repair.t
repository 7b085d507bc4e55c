#!/bin/sh
# fsck --repair mends what it says it mends, says what it cannot, and its
# exit code tells the truth (issue 15.5); a .version at the top of its
# range is refused, not wrapped to 0, and repaired (issue 16.12).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 27

printf 'one\n' >"$T/one.txt"
printf 'two\n' >"$T/two.txt"
mstore mkdir Docs >/dev/null
mstore put "$T/one.txt" Docs >/dev/null
mstore put "$T/two.txt" Docs >/dev/null
D=$MDIR_ROOT/Docs

# names older versions gave or people made by hand: 202 bytes ("NAME-2.pdf"
# of a 200-byte name), a trailing blank, a newline
a196=$(printf '%196s' '' | tr ' ' a)
long="$a196-2.pdf"
nl='a
b.txt'
for n in "$long" "blank.txt " "$nl"; do
	ln "$D/one.txt" "$D/$n"
	cp "$D/.meta/one.txt" "$D/.meta/$n"
done
expect_code 65 "an over-long entry is refused by rm" -- mstore rm "Docs/$long"

expect_code 65 "fsck reports the bad names" -- mstore fsck Docs
is "$(echo "$out" | grep -c '^bad-name	')" 3 "three bad names found"
ok "$([ -e "$D/$long" ]; echo $?)" "fsck alone changes nothing"

expect_code 0 "fsck --repair renames them" -- mstore fsck --repair Docs
is "$(echo "$out" | grep -c '	repaired$')" 3 "three repairs claimed"
ok "$([ ! -e "$D/$long" ] && [ ! -e "$D/.meta/$long" ]; echo $?)" "the long name is gone"
is "$(mstore ls Docs | awk "length(\$0) > 200" | wc -l)" 0 \
	"every name within 200 bytes"
ok "$(mstore ls Docs | grep -qx 'blank.txt'; echo $?)" "the trailing blank dropped"
ok "$(mstore ls Docs | grep -qx 'a b.txt'; echo $?)" "the newline made a blank"
is "$(mstore meta -f url "Docs/a b.txt")" "$(mstore meta -f url Docs/one.txt)" \
	"the record moved with the entry"
new=$(mstore ls Docs | grep "^$a196" | head -n 1)
expect_code 0 "the renamed entry can be removed" -- mstore rm "Docs/$new"
expect_code 0 "fsck is clean afterwards" -- mstore fsck Docs
is "$(tail -n 1 "$D/.changes" | cut -d' ' -f1)" "$(cat "$D/.version")" \
	"each rename is a change"

# a problem --repair cannot mend is said so, and fails the run
printf 'edited in place\n' >"$T/edit" && cat "$T/edit" >"$D/two.txt"
expect_code 65 "an entry edited in place fails --repair" -- mstore fsck --repair Docs
like "$out" "^changed	$D/two\.txt	.*	not repaired" "said to be left as it is"
is "$(echo "$out" | grep -c '	repaired$')" 0 "no repair claimed"

# a folder that cannot be checked is not a clean one
expect_code 66 "fsck of a missing folder fails" -- mstore fsck Nope
mstore rm Docs/two.txt

# 16.12: the top of the version range
max=18446744073709551615
mstore mkdir Top >/dev/null
mstore put "$T/one.txt" Top >/dev/null
echo $max >"$MDIR_ROOT/Top/.version"
expect_code 65 "a change at the top of the range is refused" -- mstore put "$T/two.txt" Top
like "$err" "version" "the message names the version"
is "$(cat "$MDIR_ROOT/Top/.version")" $max ".version not wrapped"
is "$(mstore ls Top)" "one.txt" "nothing added"
expect_code 65 "fsck reports it" -- mstore fsck Top
like "$out" "^version	" "as a version problem"
expect_code 0 "fsck --repair mends it" -- mstore fsck --repair Top
is "$(cat "$MDIR_ROOT/Top/.version")" 1 ".version from .changes"
mstore put "$T/two.txt" Top >/dev/null
is "$(mstore version Top)" 2 "and it counts on from there"
