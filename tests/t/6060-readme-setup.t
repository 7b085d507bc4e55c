#!/bin/sh
# The README's set-up commands are what this test runs (issue 10, items 10
# and 11): step 1 (the mdir user, its root, mdir.conf, `mstore init`, the
# accounts) and step 4 (the DKIM key and its DNS record), extracted from
# the README's blocks "setup" and "dkim", run as root with sh -e with only
# the substitutions listed at private(), then checked: the user and the
# root it owns (0750), the configuration's values, a store the user can
# fsck and list, a key only the user reads (0600 in a 0700 directory), and
# a DNS record that is the key's.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/readme.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root to add a user and run commands as it"
plan 26

# Every difference between the admin's machine and this test, and nothing
# else:
#
#   /var/lib/mdir          -> $ROOT, the test's root (in $T)
#   /etc/mdir              -> $ETC, the test's configuration directory
#   the user mdir          -> $U, a user made for this test file and
#                             removed at its end (a word of its own, or
#                             in user:group; not [mdir] nor mdir-outbox)
#   /usr/local/bin/, or a program run by its name
#                          -> $TB/, copies of the build's programs
#
# No README line is dropped.  A line that still names /var/lib/mdir,
# /etc/mdir, /usr/local, the user mdir or a program by its name alone after
# this stops the test: a new README line needs a rule here.
U=mdir-test-$$
ROOT=$T/var-lib-mdir
ETC=$T/etc-mdir
TB=$T/setup/bin
# (the user rule twice: "mdir:mdir" shares the colon between two matches)
_user="s/\(^\|[[:blank:]:]\)mdir\([[:blank:]:]\|\$\)/\1$U\2/g"
private() {
	sed -e "s|/var/lib/mdir|$ROOT|g" \
	    -e "s|/etc/mdir|$ETC|g" \
	    -e "$_user" -e "$_user" \
	    -e "s|/usr/local/bin/|$TB/|g" \
	    -e "s#\(^\|[[:blank:]]\)\(mstore\|mdir-outbox\|mdird\|mdir-receive\|smtp-stats\)\([[:blank:]]\|\$\)#\1$TB/\2\3#g"
}

# leftovers FILE: prints what must not be left in a block made private
leftovers() {
	grep -nE '/var/lib/mdir|/etc/mdir|/usr/local' "$1"
	grep -nE '(^|[[:blank:]:])mdir([[:blank:]:]|$)' "$1"
	grep -nE '(^|[[:blank:]])(mstore|mdir-outbox|mdird|mdir-receive|smtp-stats)([[:blank:]]|$)' "$1"
}

# block NAME: the README's block NAME made private in $T/NAME.sh; fails
# (and says why) if the README has no such block or a line no rule covers
block() {
	readme_block "$1" >"$T/$1.readme" || return 1
	private <"$T/$1.readme" >"$T/$1.sh"
	_left=$(leftovers "$T/$1.sh")
	[ -z "$_left" ] || { diag "README's $1 block not made private (rules at private()):" "$_left"; return 1; }
}

# clean ARGS...: a command in an admin's environment, without what
# tests/lib.sh exports (MDIR_ROOT would win over mdir.conf's root)
clean() { env -u MDIR_ROOT -u MDIR_CONF "$@"; }
# as_user ARGS...: a command as the test's mdir user, so
as_user() { clean runuser -u "$U" -- "$@"; }

user_idle() { ! pgrep -u "$U" >/dev/null 2>&1; }
remove_user() {
	id "$U" >/dev/null 2>&1 || return 0
	wait_for 10 user_idle || diag "$U still runs: $(pgrep -u "$U" | tr '\n' ' ')"
	userdel "$U" 2>/dev/null || diag "cannot remove user $U"
}
at_exit remove_user

# the programs the user runs: copies of the build's in $T, the one
# directory opened to it (rpath $ORIGIN/../lib holds)
mkdir -p "$T/setup"
cp -R "$MDIR_BUILD/bin" "$MDIR_BUILD/lib" "$T/setup/" || { echo "Bail out! cannot copy the build"; exit 1; }
chmod -R go+rX "$T/setup"
chmod 755 "$T"

# run NAME: the private block NAME with sh -e, as root in an admin's
# shell: Debian's umask, an environment of its own and a PATH without
# /usr/local (a program the rules missed is not found, never the
# machine's); its output in $T/NAME.out and $T/NAME.err.  A
# useradd that finds /etc/passwd locked by another (another test's
# useradd) is tried again: the block's first command, nothing made yet.
run_once() {
	(umask 022 && cd / && $ENV_I PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LOGNAME=root USER=root SHELL=/bin/sh sh -e "$T/$1.sh") </dev/null >"$T/$1.out" 2>"$T/$1.err"
	rc=$?
	[ $rc = 0 ] || id "$U" >/dev/null 2>&1 || ! grep -qi lock "$T/$1.err"
}
run() {
	rc=1
	wait_for 20 run_once "$1"
	[ $rc = 0 ] || diag "the README's $1 block failed ($rc):" "$(cat "$T/$1.err")"
	return $rc
}

# neither block runs unless both are wholly private: a line of the README
# run as written here must never reach the machine's /etc or users
block setup
setup_ok=$?
ok $setup_ok "the README's set-up commands (block setup) are made private by the listed rules only"
block dkim
dkim_ok=$?
ok $dkim_ok "the README's DKIM commands (block dkim) are made private by the listed rules only"
[ $setup_ok = 0 ] && [ $dkim_ok = 0 ] || { echo "Bail out! the README's blocks are not usable here"; exit 1; }
grep -q "useradd .* $U\$" "$T/setup.sh"
ok $? "the user the README creates is the test's ($U)"

# step 1
run setup
ok $? "step 1 runs as written, as root with sh -e"
id "$U" >/dev/null 2>&1
ok $? "the user exists"
is "$(getent passwd "$U" | cut -d: -f6,7)" "$ROOT:/usr/sbin/nologin" \
	"its home is the root, and it has no login shell"
is "$(stat -c '%U %G %a' "$ROOT")" "$U $U 750" "the root is the user's, mode 0750"
is "$(stat -c '%U %a' "$ETC/mdir.conf")" "root 644" \
	"mdir.conf is root's and readable by all (pipe(8) runs as the user)"
as_user "$TB/mstore" -c "$ETC/mdir.conf" config >"$T/config" 2>"$T/config.err"
ok $? "the user reads mdir.conf, every value valid (mstore config)"
is "$(grep -E '^(root|local_domains) = ' "$T/config")" \
	"$(printf 'root = %s\nlocal_domains = example.org' "$ROOT")" \
	"mdir.conf has the README's root and local domain"
[ -d "$ROOT/.mstore" ] && [ -z "$(find "$ROOT" ! -user "$U")" ]
ok $? "mstore init made a store in the root, every file the user's"
as_user "$TB/mstore" -c "$ETC/mdir.conf" fsck >"$T/fsck" 2>&1
ok $? "mstore fsck as the user: the store is sound"
[ -z "$(cat "$T/fsck")" ] || diag "$(cat "$T/fsck")"
# the accounts the README's lines make, as the user lists them
is "$(as_user "$TB/mstore" -c "$ETC/mdir.conf" account list 2>&1)" \
	"$(printf '%s\t%s\t%s\n' abuse@example.org alias jo@example.org \
		jo@example.org folder '' postmaster@example.org alias jo@example.org)" \
	"mstore account list as the user: jo, and postmaster@ and abuse@ its aliases"
is "$(grep -c 'no such account; every domain needs one' "$T/setup.err")" 3 \
	"mstore warned of postmaster@ and abuse@, then of abuse@, then no more"

# step 4
run dkim
ok $? "step 4 runs as written, as root with sh -e"
KEY=$ETC/dkim/example.org.pem
is "$(stat -c '%U %a' "$ETC/dkim")" "$U 700" "the key's directory is the user's, mode 0700"
is "$(stat -c '%U %a' "$KEY")" "$U 600" "the key is the user's, mode 0600"
is "$(as_user "$TB/mstore" -c "$ETC/mdir.conf" config | grep -E '^dkim_(domain|selector|key) = ')" \
	"$(printf 'dkim_domain = example.org\ndkim_selector = mail\ndkim_key = %s' "$KEY")" \
	"mdir.conf has the README's [outbox] values"
# the record the block printed (as the user): a TXT record, strings of at
# most 255 characters joined, whose key is the private key's
rec=$(tr '\n' ' ' <"$T/dkim.out")
like "$rec" '^mail\._domainkey\.example\.org\. IN TXT \( "v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+"( "[A-Za-z0-9+/=]+")* \) ?$' \
	"--dkim-record prints the TXT record v=DKIM1; k=rsa; p=... for mail._domainkey.example.org"
p=$(printf '%s' "$rec" | sed -e 's/" "//g' -e 's/.*p=\([A-Za-z0-9+/=]*\).*/\1/')
pub=$(openssl pkey -in "$KEY" -pubout 2>/dev/null | grep -v '^-----' | tr -d '\n')
[ -n "$pub" ] && [ "$p" = "$pub" ]
ok $? "its p= is the key's public half (openssl pkey -pubout)"
[ -n "$pub" ] && [ "$p" = "$pub" ] || diag "p=   $p" "want $pub"
expect_code 0 "the user reads the key: --dkim-record as the user works" -- \
	as_user "$TB/mdir-outbox" -c "$ETC/mdir.conf" --dkim-record
is "$out" "$(cat "$T/dkim.out")" "and prints the same record again"
# another user, even one of the mdir group, does not read the key, and is
# told which file (--dkim-record needs the keys only, not the store)
expect_code 77 "another user in the mdir group cannot read the key (77)" -- \
	clean runuser -u nobody -g "$U" -- "$TB/mdir-outbox" -c "$ETC/mdir.conf" --dkim-record
is "$err" "mdir-outbox: $KEY: Permission denied" "and is told which file it cannot read"
expect_code 77 "nor can a user outside the group, told the same" -- \
	clean runuser -u nobody -- "$TB/mdir-outbox" -c "$ETC/mdir.conf" --dkim-record
is "$err" "mdir-outbox: $KEY: Permission denied" "(the key, not the store it needs no access to)"
