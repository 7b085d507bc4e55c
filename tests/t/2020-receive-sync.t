#!/bin/sh
# Both ways of making a delivery durable work, and cost what mdir(5) says:
# sync = syncfs, two syncfs(2) a delivery whatever its parts; sync = fsync
# (network file systems), an fsync of every file and directory.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v strace >/dev/null || skip_all "strace is not installed"
plan 8

mstore mkdir SMTP/Accounts/jo@example.org >/dev/null
calls() { # calls SYSCALL: how many the last traced delivery made
	awk -v c="$1" '$NF == c { print $4 }' "$T/strace"
}
for mode in syncfs fsync; do
	printf '[mdir]\nsync = %s\n' $mode >"$T/$mode.conf"
	sed "s/mixed@sender/$mode@sender/" "$DATA/multipart-mixed.eml" >"$T/$mode.eml"
	# LeakSanitizer cannot run under ptrace: leaks are checked elsewhere
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -c -e trace=fsync,fdatasync,syncfs -o "$T/strace" \
		mdir-receive -c "$T/$mode.conf" -- jo@example.org <"$T/$mode.eml" >/dev/null
	is "$?" 0 "sync = $mode: delivered"
	eval "syncfs_$mode=\$(calls syncfs) fsync_$mode=\$(calls fsync)"
	is "$(mstore meta -f parts "mstore:$mode@sender.test/0")" 3 "sync = $mode: all parts stored"
done
is "$syncfs_syncfs" 2 "syncfs: two syncfs a delivery"
is "${fsync_syncfs:-0}" 0 "syncfs: no fsync"
is "${syncfs_fsync:-0}" 0 "fsync: no syncfs"
# four files with their records, two directories, the bucket, the queue
ok "$([ "${fsync_fsync:-0}" -ge 11 ]; echo $?)" "fsync: every file and directory ($fsync_fsync)"
