#!/bin/sh
# fsck finds and repairs an orphan record, a missing record, a stale
# temporary directory and a .version behind .changes; gc drops what no
# folder refers to.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 18

printf 'one\n' >"$T/one.txt"
printf 'two\n' >"$T/two.txt"
mstore mkdir Docs >/dev/null
mstore put "$T/one.txt" Docs >/dev/null
u2=$(mstore put "$T/two.txt" Docs | cut -f1)
D=$MDIR_ROOT/Docs

echo "url: nowhere" >"$D/.meta/ghost.txt"
rm "$D/.meta/one.txt"
echo 1 >"$D/.version"
mkdir -p "$MDIR_ROOT/.mstore/tmp/crashed/.meta"
touch -d '2 hours ago' "$MDIR_ROOT/.mstore/tmp/crashed"

expect_code 65 "fsck reports problems with EX_DATAERR" -- mstore fsck
like "$out" "^orphan-record	$D/\.meta/ghost\.txt	" "orphan record found"
like "$out" "^missing-record	$D/one\.txt	" "missing record found"
like "$out" "^orphan-tmp	.*/crashed	" "stale tmp directory found"
like "$out" "^version	$D/\.version	" ".version behind .changes found"
ok "$([ -e "$D/.meta/ghost.txt" ]; echo $?)" "fsck alone changes nothing"

expect_code 0 "fsck --repair mends everything" -- mstore fsck --repair
is "$(echo "$out" | grep -c 'repaired$')" 4 "four repairs"
ok "$([ ! -e "$D/.meta/ghost.txt" ]; echo $?)" "orphan record removed"
is "$(mstore meta -f sha256 Docs/one.txt)" "$(sha256sum "$T/one.txt" | cut -d' ' -f1)" \
	"missing record rebuilt from the store"
is "$(cat "$D/.version")" 2 ".version set from .changes"
ok "$([ ! -e "$MDIR_ROOT/.mstore/tmp/crashed" ]; echo $?)" "tmp leftover removed"
expect_code 0 "fsck is clean afterwards" -- mstore fsck

# a copy instead of a link is found and relinked
cp "$D/two.txt" "$T/copy" && cat "$T/copy" >"$D/two.txt.new" && mv "$D/two.txt.new" "$D/two.txt"
expect_code 0 "a copied entry is repaired" -- mstore fsck --repair
like "$out" "^not-linked	$D/two\.txt	.*repaired" "reported as not-linked"
is "$(stat -c %h "$D/two.txt")" 2 "linked to the store again"

mstore rm Docs/two.txt
expect_code 0 "gc --min-age 0 drops the unreferenced message" -- mstore gc --min-age 0
is "$out" "${u2%/*}/0" "gc prints the dropped message's anchor"
