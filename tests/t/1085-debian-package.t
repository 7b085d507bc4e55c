#!/bin/sh
# The Debian packages (issue 18), built from this tree and installed on
# this machine as an admin would: an earlier version first (this tree with
# its version bumped down), mail put in, then the current one as an upgrade
# (mail, configuration and database kept); then the user, the root, the
# units and the conffile checked, a message delivered by the installed
# mdir-receive as the user mdir with an empty environment and filed by the
# installed mdird; purged keeping the data (the debconf default), installed
# again over it, and purged with the data.  Also: lintian clean,
# hardening-check on what is installed, and a second build of the tree,
# elsewhere, giving the same bytes (reproducible).
#
# Root only (it installs packages and makes the user mdir), and never over
# an mdir the machine already has.  The three builds are made with
# DEB_BUILD_OPTIONS=nocheck: make check is what is running this test, and
# a package build inside it would run the suite again.  Each builds in a
# copy of the tree under $T, never in the work tree.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/readme.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root to install packages"
[ -z "${MDIR_PACKAGE_BUILD:-}" ] || skip_all "inside a package build of mdir"
# the packages are built from the tree, never from the build under test:
# the sanitizer's run would only build them again (make check runs it)
nm -D "$MDIR_BUILD/lib/libmdir.so" 2>/dev/null | grep -q __asan &&
	skip_all "the sanitizer build: the packages are built from the tree (make check runs this)"
for c in dpkg-buildpackage dh lintian hardening-check apt-get; do
	command -v "$c" >/dev/null || skip_all "$c is not installed (make deps)"
done
# the machine's own mdir is not ours to replace or purge
for p in mdir libmdir0 libmdir-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'installed\|config-files' &&
		skip_all "the package $p is on this machine"
done
getent passwd mdir >/dev/null && skip_all "this machine has a user mdir"
getent group mdir >/dev/null && skip_all "this machine has a group mdir"
[ -e /var/lib/mdir ] || [ -e /etc/mdir ] && skip_all "this machine has /var/lib/mdir or /etc/mdir"
plan 51

v=$(sed -n 's/^#define MDIR_VERSION_STRING "\(.*\)"$/\1/p' "$MDIR_SRC/libmdir/mdir.h")
old=0.0.1
CONF=/etc/mdir/mdir.conf
ROOT=/var/lib/mdir
JO=SMTP/Accounts/jo@example.org
export DEBIAN_FRONTEND=noninteractive
# another apt (a test's, a helper's) may hold dpkg's lock for a while
APT="apt-get -y -q -o DPkg::Lock::Timeout=300"

# ------------------------------------------------------------- clean up
# Whatever happens, nothing of the packages stays: mdird stopped, both
# purged with the data, the user gone.  Only ever run when none of it was
# there before (the checks above).
MDIRD=
cleanup() {
	[ -n "$MDIRD" ] && kill "$MDIRD" 2>/dev/null && wait_for 10 sh -c "! kill -0 $MDIRD"
	if dpkg-query -W -f='${Status}' mdir 2>/dev/null | grep -q 'installed\|config-files'; then
		echo 'mdir mdir/purge_data boolean true' | debconf-set-selections
	fi
	dpkg --purge mdir libmdir0 libmdir-dev >/dev/null 2>&1
	getent passwd mdir >/dev/null && userdel mdir 2>/dev/null
	getent group mdir >/dev/null && groupdel mdir 2>/dev/null
	rm -rf /var/lib/mdir /etc/mdir
	true
}
at_exit cleanup

# ------------------------------------------------------------- builds
# build DIR VERSION: the packages of this tree at VERSION, in DIR
build() {
	mkdir -p "$1/src"
	if git -C "$MDIR_SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$MDIR_SRC" dist DISTDIR="$1" \
			>"$1/dist.log" 2>&1 || return 1
		tar -C "$1/src" --strip-components=1 -xzf "$1/mdir-$v.tar.gz" || return 1
	else
		# a tree from make dist: the whole of it, less what a build made
		tar -C "$MDIR_SRC" --exclude='./build*' -cf - . | tar -C "$1/src" -xf - || return 1
	fi
	if [ "$2" != "$v" ]; then
		sed -i "s/^#define MDIR_VERSION_STRING \".*\"$/#define MDIR_VERSION_STRING \"$2\"/" \
			"$1/src/libmdir/mdir.h"
		sed -i "1s/^mdir ([^)]*)/mdir ($2)/" "$1/src/debian/changelog"
	fi
	(cd "$1/src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CI \
		DEB_BUILD_OPTIONS=nocheck DEB_BUILD_PROFILES=nocheck \
		timeout 900 dpkg-buildpackage -us -uc -b) >"$1/build.log" 2>&1 ||
		{ diag "dpkg-buildpackage failed:" "$(tail -n 20 "$1/build.log")"; return 1; }
}

build "$T/old" "$old"
ok $? "the packages build at version $old (this tree, its version bumped down)"
build "$T/new" "$v"
ok $? "and at this tree's version $v"
NEW=$T/new
# reproducible: the same tree built again elsewhere (another path, the
# same SOURCE_DATE_EPOCH: dpkg-buildpackage takes the changelog's date)
# gives the same bytes, every package the debug symbols' included
build "$T/again/deeper" "$v"
ok $? "and again, in another directory"
same=0
for f in "$NEW"/*.deb; do
	cmp -s "$f" "$T/again/deeper/${f##*/}" || { same=1; diag "${f##*/} differs"; }
done
[ -n "$(ls "$T/again/deeper"/*.deb 2>/dev/null)" ] || same=1
ok $same "the two builds' packages are byte for byte the same"
ls "$NEW/mdir_${v}_"*.deb "$NEW/libmdir0_${v}_"*.deb "$NEW/libmdir-dev_${v}_"*.deb >/dev/null 2>&1
ok $? "three packages: mdir, libmdir0, libmdir-dev"

# lintian: no error and no warning (an override needs its reason in
# debian/); the pedantic and informational tags are shown only
lintian --fail-on error,warning "$NEW"/mdir_"$v"_*.changes >"$T/lintian" 2>&1
ok $? "lintian: no error, no warning"
grep -E '^[EW]:' "$T/lintian" | sed 's/^/# /'

# ------------------------------------------------------------- helpers
# as_mdir ARGS: a command as the user mdir with an empty environment (as
# pipe(8) and cron start it), in /
as_mdir() { (cd / && $ENV_I PATH=/usr/bin:/bin /usr/sbin/runuser -u mdir -- "$@"); }
# deliver ID: the attachment message, Message-ID <ID@test>, to jo
deliver() {
	sed "s/^Message-ID: .*/Message-ID: <$1@test>/" "$DATA/multipart-mixed.eml" |
		as_mdir /usr/bin/mdir-receive -c "$CONF" -f sender@example.net -- jo@example.org
}
queue_empty() { [ -z "$(ls "$ROOT/.mdird/queue" 2>/dev/null)" ] && [ -z "$(ls "$ROOT/.mdird/work" 2>/dev/null)" ]; }
# file: the installed mdird, as mdir, until the queue is empty
file_queue() {
	(cd / && exec $ENV_I PATH=/usr/bin:/bin /usr/sbin/runuser -u mdir -- /usr/sbin/mdird -F -c "$CONF") \
		>"$T/mdird.log" 2>&1 &
	MDIRD=$!
	wait_for 30 queue_empty
	_rc=$?
	kill "$MDIRD" 2>/dev/null
	wait "$MDIRD" 2>/dev/null
	MDIRD=
	wait_for 10 sh -c '! pgrep -u mdir >/dev/null'
	return $_rc
}
jo_files() { as_mdir /usr/bin/mstore -c "$CONF" ls "$JO" 2>&1 | cut -f1 | sort | tr '\n' ' '; }
installed() { dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null; }

# ------------------------------------------------------------- the old one
postfix_files() { find /etc/postfix -type f -exec cksum {} + 2>/dev/null | sort; }
postfix_before=$(postfix_files)
$APT install "$T/old"/mdir_"$old"_*.deb "$T/old"/libmdir0_"$old"_*.deb >"$T/apt-old" 2>&1
is "$(installed mdir)" "install ok installed $old" "version $old installs with apt-get install ./*.deb"
# README.Debian's step 1 as written (its block "domain"), as root in an
# admin's shell: the domain into mdir.conf, the accounts
readme_block domain "$MDIR_SRC/debian/mdir.README.Debian" >"$T/domain.sh" &&
	(umask 022 && cd / && $ENV_I PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		sh -e "$T/domain.sh") >"$T/domain.out" 2>&1
ok $? "README.Debian's step 1 runs as written"
is "$(as_mdir /usr/bin/mstore -c "$CONF" ls SMTP/Accounts 2>&1 | sort | tr '\n' ' ')" \
	"abuse@example.org jo@example.org postmaster@example.org " "and makes the accounts"
deliver old1 && file_queue
ok $? "a message delivered and filed with $old"
files_before=$(jo_files)
like "$files_before" "report\.pdf" "its attachment is in jo's folder"
# a statistics database (the admin's change to the conffile: step 1's)
as_mdir /usr/bin/smtp-stats -c "$CONF" learn >/dev/null 2>&1
db_before=$(cksum <"$ROOT/.stats/stats.db" 2>/dev/null || echo "none before")
ok "$([ -s "$ROOT/.stats/stats.db" ]; echo $?)" "smtp-stats learn made its database"

# ------------------------------------------------------------- upgrade
$APT install "$NEW"/mdir_"$v"_*.deb "$NEW"/libmdir0_"$v"_*.deb >"$T/apt-new" 2>&1
is "$(installed mdir):$(installed libmdir0)" "install ok installed $v:install ok installed $v" \
	"upgraded to $v"
is "$(/usr/bin/mstore --version)" "mstore $v" "the programs are the new ones"
is "$(jo_files)" "$files_before" "the mail is still there"
is "$(grep '^local_domains' "$CONF")" "local_domains = example.org" \
	"the admin's change to the conffile is kept"
is "$(cksum <"$ROOT/.stats/stats.db" 2>/dev/null || echo "none after")" "$db_before" "the statistics database is untouched"
as_mdir /usr/bin/mstore -c "$CONF" fsck >"$T/fsck" 2>&1
ok $? "mstore fsck: the store is sound after the upgrade"

# ------------------------------------------------------------- what it made
is "$(getent passwd mdir | cut -d: -f6,7)" "$ROOT:/usr/sbin/nologin" \
	"the system user mdir: home the root, no login shell"
uid=$(id -u mdir)
ok "$([ "$uid" -lt 1000 ] && [ "$(id -gn mdir)" = mdir ]; echo $?)" "a system uid ($uid), group mdir"
is "$(stat -c '%U %G %a' "$ROOT")" "mdir mdir 750" "the root: mdir's, mode 0750"
is "$(find "$ROOT" ! -user mdir | head -3)" "" "everything in it the user's"
is "$(stat -c '%U %G %a' "$CONF")" "root root 644" "mdir.conf: root's, readable by all"
like "$(dpkg-query -W -f='${Conffiles}' mdir)" "^ $CONF [0-9a-f]{32}" "and a conffile"
W=/etc/systemd/system/multi-user.target.wants
ok "$([ -L "$W/mdird.service" ] && [ -L "$W/smtp-stats-policy.service" ]; echo $?)" \
	"both units enabled"
is "$(grep '^ExecStart=' /lib/systemd/system/mdird.service)" \
	"ExecStart=/usr/sbin/mdird -F -c /etc/mdir/mdir.conf" "mdird's unit runs the installed mdird"
# the policy service is not started at installation (no systemd here to
# ask: the maintainer script says so)
pi=/var/lib/dpkg/info/mdir.postinst
ok "$(grep -q "deb-systemd-invoke \$_dh_action 'mdird.service'" "$pi" &&
	! grep -q "deb-systemd-invoke \(start\|\$_dh_action\) 'smtp-stats-policy.service'" "$pi"; echo $?)" \
	"postinst starts mdird, not the policy service"
is "$(postfix_files)" "$postfix_before" "Postfix's configuration is as it was"
ok "$([ -f /usr/share/doc/mdir/README.Debian ]; echo $?)" "README.Debian is installed"
hardening-check --nocfprotection /usr/bin/mstore /usr/bin/mdir-receive /usr/bin/mdir-outbox \
	/usr/bin/smtp-stats /usr/sbin/mdird /usr/lib/*/libmdir.so.0 >"$T/hc" 2>&1
hc=$?
ok $hc "hardening-check (but CFI, which Debian 12's glibc cannot give)"
[ $hc = 0 ] || grep -v 'ignored\|: yes' "$T/hc" | sed 's/^/# /'

# ------------------------------------------------------------- mail
deliver new1 && file_queue
ok $? "the installed mdir-receive delivers as mdir with an empty environment, mdird files it"
is "$(as_mdir /usr/bin/mstore -c "$CONF" changes --since 0 "$JO" 2>/dev/null | grep -cE 'report(-[0-9]+)?\.pdf$')" 2 \
	"jo's folder got both messages' attachments"
is "$(ls "$ROOT/.mdird/queue" 2>/dev/null)" "" "nothing left in the queue"

# ------------------------------------------------------------- libmdir-dev
$APT install "$NEW"/libmdir-dev_"$v"_*.deb >"$T/apt-dev" 2>&1
is "$(installed libmdir-dev)" "install ok installed $v" "libmdir-dev installs"
cat >"$T/use.c" <<'EOF2'
#include <stdio.h>
#include <mdir.h>
int main(void) { char *n = mdir_sanitize_name("../x", -1); puts(n); g_free(n); return 0; }
EOF2
cc -o "$T/use" "$T/use.c" $(pkg-config --cflags --libs mdir 2>&1) >"$T/cc.err" 2>&1
ok $? "a program builds with pkg-config mdir against the installed header and library"
is "$("$T/use" 2>&1)" "_x" "and runs"
dpkg --purge libmdir-dev >/dev/null 2>&1

# ------------------------------------------------------------- purge, keep
dpkg -L mdir libmdir0 | sort -u >"$T/files"
dpkg --purge mdir libmdir0 >"$T/purge1" 2>&1
ok $? "purged with the debconf default"
is "$(installed mdir)" "" "mdir is gone from dpkg's list"
left=$(while read -r f; do [ -f "$f" ] && echo "$f"; done <"$T/files")
is "$left" "" "no file of the packages is left"
ok "$([ ! -e "$CONF" ] && [ ! -e "$W/mdird.service" ] && [ ! -e "$W/smtp-stats-policy.service" ]; echo $?)" \
	"nor the conffile, nor the units' links"
ok "$([ -d "$ROOT/.mstore" ] && getent passwd mdir >/dev/null; echo $?)" \
	"the mail and the user are kept (the default answer)"

# ------------------------------------------------------------- again
$APT install "$NEW"/mdir_"$v"_*.deb "$NEW"/libmdir0_"$v"_*.deb >"$T/apt-again" 2>&1
is "$(installed mdir)" "install ok installed $v" "installed again over the kept root"
is "$(grep -c '^local_domains = example.org' "$CONF")" 0 "with a new conffile"
like "$(jo_files)" "report\.pdf" "the kept mail is there"
is "$(stat -c '%U %G %a' "$ROOT")" "mdir mdir 750" "the root as it was"

# ------------------------------------------------------------- purge, all
echo 'mdir mdir/purge_data boolean true' | debconf-set-selections
dpkg --purge mdir libmdir0 >"$T/purge2" 2>&1
ok $? "purged, the admin asking for the data to go"
ok "$([ ! -e "$ROOT" ]; echo $?)" "/var/lib/mdir is gone"
ok "$(! getent passwd mdir >/dev/null && ! getent group mdir >/dev/null; echo $?)" \
	"the user and group mdir are gone"
ok "$([ ! -e /etc/mdir ]; echo $?)" "/etc/mdir is gone"
is "$(ls /var/lib/systemd/deb-systemd-helper-enabled 2>/dev/null | grep -E 'mdird|smtp-stats')" "" \
	"nothing of the units in deb-systemd-helper's records"
is "$(debconf-show mdir 2>/dev/null)" "" "debconf forgot mdir's question"
