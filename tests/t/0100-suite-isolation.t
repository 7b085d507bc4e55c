#!/bin/sh
# The suite never reads the machine's own configuration (issue 15.9): a
# program started without -c must not look at /etc/mdir, whatever the
# environment the runner was started from; nor reach the system's
# sendmail or the policy service's port by default.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v strace >/dev/null || skip_all "strace is not installed"
plan 7

case $MDIR_CONF in
"$T"/*) ok 0 "MDIR_CONF is a file of this test's own" ;;
*) ok 1 "MDIR_CONF is a file of this test's own" ;;
esac
is "$(grep -c '=' "$MDIR_CONF")" 2 "two values in it"
like "$(cat "$MDIR_CONF")" "sendmail = /bin/false" "no system sendmail: a test never sends real mail"
like "$(cat "$MDIR_CONF")" "policy_listen = unix:$T/" "no system port for the policy service"

# every program the tests start without -c: none touches /etc/mdir
touched() {
	ASAN_OPTIONS=detect_leaks=0 strace -f -qq -e trace=%file -o "$T/strace" "$@" \
		</dev/null >/dev/null 2>&1
	grep -c '/etc/mdir' "$T/strace"
}
is "$(touched mstore ls /)" 0 "mstore reads no /etc/mdir"
is "$(touched mdir-receive -- jo@example.org)" 0 "mdir-receive reads no /etc/mdir"
is "$(touched smtp-stats report)" 0 "smtp-stats reads no /etc/mdir"
