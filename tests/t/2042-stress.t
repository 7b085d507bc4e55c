#!/bin/sh
# The stress suite's short version (tests/stress; "make stress" runs the
# full one): kill -9 of mdir-receive and of mdird with Postfix-style
# retries, mdird down, 20 concurrent senders, a full disk; each ends with
# exactly once per (message, recipient), nothing partial, fsck clean.  One
# test per scenario, its figures as a diagnostic.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 4

for s in kill mdird-down concurrent full-disk; do
	STRESS=short timeout 300 sh "$MDIR_SRC/tests/stress/$s.t" >"$T/$s.tap" 2>&1
	rc=$?
	if grep -q '^1\.\.0 # SKIP' "$T/$s.tap"; then
		skip "$(sed -n 's/^1\.\.0 # SKIP //p' "$T/$s.tap")" "stress: $s"
		continue
	fi
	plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$T/$s.tap")
	n=$(grep -cE '^(not )?ok ' "$T/$s.tap")
	[ "$rc" = 0 ] && [ "${plan:-x}" = "$n" ] && ! grep -q '^not ok ' "$T/$s.tap"
	ok $? "stress: $s (exit $rc, $n of ${plan:-?} tests)"
	grep -E '^(not ok|# )' "$T/$s.tap" | sed 's/^# //' | while read -r l; do diag "$l"; done
done
