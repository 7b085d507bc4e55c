#!/bin/sh
# The fuzz harnesses (tests/fuzz) replayed with this build, no clang
# needed: every seed and every regression input a crash left in
# tests/data/fuzz/NAME goes through its harness once and must not crash
# (under the sanitizer build, no ASan or UBSan report either).  Inputs
# listed in tests/data/fuzz/TODO, whose fix has not landed, are TODO tests.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
F=$MDIR_SRC/tests/fuzz
R=$DATA/fuzz
names=$(cd "$F" && ls fuzz-*.c | sed 's/^fuzz-//; s/\.c$//')
todo() { grep -v '^#' "$R/TODO" 2>/dev/null | cut -f1; }
n=0
for name in $names; do n=$((n + 1)); done
plan $((n + $(todo | grep -c .)))

# replay NAME FILE|DIR...: the harness over the inputs, within a minute
replay() {
	_r=$1
	shift
	timeout 120 "$MDIR_BUILD/fuzz/replay-$_r" "$@" >"$T/replay.out" 2>&1
}

for name in $names; do
	# every input of the harness but the TODO ones; the test messages
	# for the MIME splitter
	set --
	[ -d "$F/seeds/$name" ] && set -- "$F/seeds/$name"
	[ "$name" = mime ] && set -- "$@" "$DATA"/*.eml
	_seeds=$#
	for f in "$R/$name"/*; do
		[ -f "$f" ] || continue
		todo | grep -qxF "$name/${f##*/}" || set -- "$@" "$f"
	done
	replay "$name" "$@"
	rc=$?
	ok $rc "$name: $(($# - _seeds)) regression input(s) and the seeds replayed"
	[ $rc = 0 ] || diag "$(tail -n 20 "$T/replay.out")"
done

for t in $(todo); do
	reason=$(grep -F "$t	" "$R/TODO" | cut -f2)
	replay "${t%%/*}" "$R/$t"
	rc=$?
	_n=$((_n + 1))
	if [ $rc = 0 ]; then
		echo "ok $_n - $t # TODO $reason (passes now: remove it from TODO)"
	else
		echo "not ok $_n - $t # TODO $reason"
	fi
done
