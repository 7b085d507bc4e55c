# bench/lib.sh: what the benchmarks share.  Source it after setting $top.

# Stopped by a signal (make bench's time limit, ^C), a benchmark still
# runs its EXIT trap: its servers stopped, its directory removed
trap 'exit 143' TERM INT HUP

# bench_need PACKAGE...: installs the Debian packages that are missing
# (as root), or stops saying which are.
bench_need() {
	_need=""
	for _p in "$@"; do
		dpkg-query -W -f='${Status}' "$_p" 2>/dev/null | grep -q 'ok installed' ||
			_need="$_need $_p"
	done
	[ -z "$_need" ] && return 0
	[ "$(id -u)" = 0 ] || { echo "bench: needs root to install:$_need" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $_need >/dev/null
}

# What make bench (bench/run.sh) collects: each benchmark, when
# $BENCH_RESULTS names a file, appends one line a figure to it, tab-separated:
#
#   bench_result NAME MDIR COMPARISON FIGURE RATIO TARGET MET
#
# NAME the benchmark, MDIR mdir's figure with its unit, COMPARISON the
# program it is measured against ("-" for none), FIGURE that program's,
# RATIO mdir's over it ("1.77x"), TARGET the ("-" for none), MET
# "met", "not met" or "-".  Run alone, a benchmark prints its own report
# and nothing else.
bench_result() {
	[ -n "${BENCH_RESULTS:-}" ] || return 0
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$BENCH_RESULTS"
}

# bench_ratio A B: A / B, two decimals and an x
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2fx\n", a / b }'; }

# bench_met VALUE OP LIMIT: "met" or "not met" (OP: ge, le, lt, gt); VALUE
# may end in x or a unit, which is ignored
bench_met() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		v += 0; l += 0
		ok = op == "ge" ? v >= l : op == "le" ? v <= l : op == "lt" ? v < l : v > l
		print ok ? "met" : "not met"
	}'
}

# bench_set_aside DIR QUEUE PATH...: renames each PATH that exists, and
# every entry of QUEUE (directories, names not starting with a dot), into
# a fresh DIR/old/N, removed by the script at its end.  Between passes
# files are set aside, not removed: on an ext4 without a journal (this
# VM's disk), making an inode skips every free inode of its group deleted
# in the last minute (recently_deleted(): 60 s, 360 s while its block is
# dirty), reading each one's block, so a removal slowed the next pass's
# creations, and the way that makes the most files a message (mdir: about
# 10; Dovecot, the floor: 1) paid for the others' (perf: up to 57% of the
# LMTP server's CPU).
bench_set_aside() {
	_dir=$1 _queues=$2
	shift 2
	_set_aside=$((${_set_aside:-0} + 1))
	_old="$_dir/old/$_set_aside"
	mkdir -p "$_old/queue"
	for _p in "$@"; do
		[ ! -e "$_p" ] || mv "$_p" "$_old/"
	done
	# shellcheck disable=SC2086 # QUEUE: one or more directories
	find $_queues -mindepth 1 -maxdepth 1 -name '[!.]*' -exec mv -t "$_old/queue" {} +
}
