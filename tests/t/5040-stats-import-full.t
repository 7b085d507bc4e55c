#!/bin/sh
# smtp-stats import on a full disk: 75 (try again later), not 70, and
# nothing lost: once there is room, the next import takes every event.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
if [ "$(id -u)" != 0 ] || ! mkdir -p "$T/small" || ! mount -t tmpfs -o size=256k tmpfs "$T/small" 2>/dev/null; then
	skip_all "needs root and tmpfs"
fi
umount_small() { umount "$T/small" 2>/dev/null; }
at_exit umount_small
plan 4

C=$T/c.conf
printf '[mdir]\nroot = %s\n[stats]\ndatabase = %s\n' "$MDIR_ROOT" "$T/small/stats.db" >"$C"
mstore -c "$C" mkdir SMTP >/dev/null 2>&1
smtp-stats -c "$C" import
# events until the file system is full: the database cannot grow
/usr/bin/python3 - "$T/small/events" <<'PY'
import sys
with open(sys.argv[1], "a") as f:
    try:
        for i in range(100000):
            f.write("ts=%d\tkind=delivered\taccount=jo@example.test\tip=192.0.2.%d\tsize=100\tmessage_id=m%d@x\n" % (1800000000 + i, i % 250, i))
            f.flush()
    except OSError:
        pass
PY
n=$(grep -c 'kind=delivered$\|message_id=m[0-9]*@x$' "$T/small/events")
expect_code 75 "import on a full disk: 75" -- smtp-stats -c "$C" import
like "$err" "No space left|database or disk is full" "saying why"
mount -o remount,size=16m "$T/small"
expect_code 0 "with room again, import" -- smtp-stats -c "$C" import
is "$(/usr/bin/python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from events").fetchone()[0])' "$T/small/stats.db")" \
	"$n" "every complete event line imported once ($n)"
