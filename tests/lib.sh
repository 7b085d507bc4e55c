# tests/lib.sh: a small TAP library for the shell tests (tests/t/*.t).
#
#   . "$MDIR_SRC/tests/lib.sh"
#   plan 3
#   ok "$cond" "description"      (cond: a command's status, 0 = pass)
#   is "$got" "$want" "description"
#   expect_code 66 "description" -- mstore cat nothing
#   skip_all "reason"             (before plan: the whole file is skipped)
#   free_ports N                  sets $PORT: N consecutive free TCP ports
#
# Each test file gets a fresh temporary root in $MDIR_ROOT, removed at exit,
# and $BIN with the programs of the build under test on $PATH.
set -u
# what a test writes by hand (a rules file among them) is the same
# whoever runs it: a rules file the group may write is not trusted
umask 022

: "${MDIR_SRC:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${MDIR_BUILD:=$MDIR_SRC/build}"
: "${MDIR_SHARED:=$(cd "$MDIR_SRC/.." && pwd)/shared}"
BIN=$MDIR_BUILD/bin
DATA=$MDIR_SRC/tests/data
# the sbin directories too: Postfix, useradd and mount live there, and a
# user's PATH often lacks them (a test must not skip for that)
PATH=$BIN:$PATH:/usr/sbin:/sbin
export PATH MDIR_SRC MDIR_BUILD MDIR_SHARED

T=$(mktemp -d "${TMPDIR:-/tmp}/mdir-t.XXXXXX")
MDIR_ROOT=$T/root
# A program started without -c reads $MDIR_CONF, else /etc/mdir/mdir.conf:
# point it at a file of our own, so that no test ever reads the machine's
# configuration (an installed mdir must not change the results).  The
# built-in defaults, but for the two that reach out of the test: the
# system's sendmail (a system Postfix) and the policy service's port.
MDIR_CONF=$T/test.conf
printf '[outbox]\nsendmail = /bin/false\n[stats]\npolicy_listen = unix:%s/policy.sock\n' \
	"$T" >"$MDIR_CONF"
export MDIR_ROOT MDIR_CONF T
# `$ENV_I CMD...`: CMD with an empty environment, as pipe(8) and cron start
# programs, but for what the test run itself set up: the sanitizers'
# options and the clock of tests/run --date (libfaketime).  Unquoted on
# purpose: none of these values holds a space.
ENV_I="env -i${ASAN_OPTIONS:+ ASAN_OPTIONS=$ASAN_OPTIONS}${LSAN_OPTIONS:+ LSAN_OPTIONS=$LSAN_OPTIONS}"
ENV_I="$ENV_I${UBSAN_OPTIONS:+ UBSAN_OPTIONS=$UBSAN_OPTIONS}"
ENV_I="$ENV_I${FAKETIME:+ LD_PRELOAD=$LD_PRELOAD FAKETIME=$FAKETIME NO_FAKE_STAT=1}"
_n=0
_cleanups=""
_failed_at=""
_cleanup() {
	_st=$?
	for c in $_cleanups; do "$c" || true; done
	rm -rf "$T"
	# a script that ends on a failed assertion has said so in its TAP
	[ "$_st" = 1 ] && [ "$_failed_at" = "$_n" ] && exit 0
	exit "$_st"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# at_exit FUNCTION: run FUNCTION before the temporary directory goes.
at_exit() { _cleanups="$1 $_cleanups"; }

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# ok, is, like, expect_code: each prints its TAP line and returns 1 when
# it failed, so "ok $? DESC || diag ..." says more on a failure only
ok() {
	_n=$((_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $_n - $2"
	else
		echo "not ok $_n - $2"
		_failed_at=$_n
		return 1
	fi
}

is() {
	_n=$((_n + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $_n - $3"
	else
		echo "not ok $_n - $3"
		diag "got:  '$1'" "want: '$2'"
		_failed_at=$_n
		return 1
	fi
}

# like GOT PATTERN DESC: GOT matches the extended regular expression.
like() {
	_n=$((_n + 1))
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		echo "ok $_n - $3"
	else
		echo "not ok $_n - $3"
		diag "got:  '$1'" "want: /$2/"
		_failed_at=$_n
		return 1
	fi
}

skip() {
	_n=$((_n + 1))
	echo "ok $_n - $2 # SKIP $1"
}

# expect_code CODE DESC -- COMMAND...: the command exits with CODE.
# Its stdout is left in $out, its stderr in $err.
expect_code() {
	_want=$1 _desc=$2
	shift 3
	"$@" >"$T/.out" 2>"$T/.err"
	_got=$?
	out=$(cat "$T/.out") err=$(cat "$T/.err")
	_n=$((_n + 1))
	if [ "$_got" = "$_want" ]; then
		echo "ok $_n - $_desc"
	else
		echo "not ok $_n - $_desc"
		diag "exit $_got, wanted $_want" "stderr: $err"
		_failed_at=$_n
		return 1
	fi
}

# wait_for SECONDS COMMAND...: polls COMMAND every 20 ms until it succeeds.
wait_for() {
	_limit=$1
	shift
	_end=$(($(date +%s) + _limit))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$_end" ] && return 1
		sleep 0.02
	done
	return 0
}

# port_free PORT: nothing listens on PORT (ss(8), any address)
port_free() {
	! ss -Htln "( sport = :$1 )" 2>/dev/null | grep -q .
}

# free_ports N: $PORT, $PORT+1 ... $PORT+N-1 are free, in 20000-59999,
# found in a bounded number of random tries (never a port from the PID
# alone: two runs, or a service of the machine, would collide)
free_ports() {
	_tries=0
	while [ $_tries -lt 50 ]; do
		PORT=$((20000 + ($$ * 7 + _tries * 101 + $(od -An -N2 -tu2 /dev/urandom)) % 40000))
		_i=0
		while [ $_i -lt "$1" ] && port_free $((PORT + _i)); do
			_i=$((_i + 1))
		done
		[ $_i -eq "$1" ] && return 0
		_tries=$((_tries + 1))
	done
	echo "Bail out! no $1 free ports found"
	exit 1
}
