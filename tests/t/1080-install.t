#!/bin/sh
# make install puts programs, the library with its soname links, the header,
# the pkg-config file and the man pages in place; what is installed runs and
# links; make uninstall takes it all away again.  Installed for real (no
# DESTDIR), it runs ldconfig and notes that; uninstall runs it again.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 27

# Never the system's ldconfig: a stub first on PATH notes each call (and
# fails when $T/ldconfig.fail exists).  install runs ldconfig only as root:
# a stub id says so, for a run as another user.
mkdir "$T/stub"
cat >"$T/stub/ldconfig" <<EOF2
#!/bin/sh
echo "ldconfig \$*" >>"$T/ldconfig.log"
[ ! -e "$T/ldconfig.fail" ]
EOF2
cat >"$T/stub/id" <<EOF2
#!/bin/sh
if [ "\$*" = -u ]; then echo 0; else exec $(command -v id) "\$@"; fi
EOF2
chmod +x "$T/stub/ldconfig" "$T/stub/id"
PATH=$T/stub:$PATH
: >"$T/ldconfig.log"
calls() { wc -l <"$T/ldconfig.log" | tr -d ' '; }

D=$T/inst
P=$D/usr/local
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$MDIR_SRC" B="$MDIR_BUILD" \
	DESTDIR="$D" PREFIX=/usr/local "$@" >"$T/make.out" 2>&1; }
# a directory that was there before, with a file of someone else's
mkdir -p "$P/share/man/man1" && echo other >"$P/share/man/man1/other.1"
mk install
is "$?" 0 "make install"
is "$(calls):$(grep -c '^ldconfig' "$P/share/mdir/installed")" "0:0" \
	"into a DESTDIR: no ldconfig, none noted"
ok "$([ -x "$P/bin/mstore" ] && [ -x "$P/bin/mdir-receive" ]; echo $?)" "the programs"
is "$(readlink "$P/lib/libmdir.so.0")" "libmdir.so.0.1.0" "the library and its soname link"
ok "$([ -f "$P/include/mdir.h" ] && [ -f "$P/lib/pkgconfig/mdir.pc" ]; echo $?)" \
	"the header and the pkg-config file"
ok "$([ -f "$P/share/man/man1/mstore.1" ] && [ -f "$P/share/man/man5/mdir.5" ]; echo $?)" \
	"the man pages"
ok "$([ -x "$P/sbin/mdird" ] && [ -f "$P/share/man/man8/mdird.8" ]; echo $?)" "mdird in sbin, its page"
is "$(grep '^ExecStart=' "$P/lib/systemd/system/mdird.service")" \
	"ExecStart=/usr/local/sbin/mdird -F -c /etc/mdir/mdir.conf" "the systemd unit, pointing at it"
is "$(grep '^ExecStart=' "$P/lib/systemd/system/smtp-stats-policy.service")" \
	"ExecStart=/usr/local/bin/smtp-stats -c /etc/mdir/mdir.conf policy" "and the policy service's"
is "$("$P/bin/mstore" --version)" "mstore 0.1.0" "an installed program finds its library"
cat >"$T/use.c" <<'EOF2'
#include <stdio.h>
#include <mdir.h>
int main(void) { char *n = mdir_sanitize_name("../x", -1); puts(n); g_free(n); return 0; }
EOF2
# a library built with SANITIZE=1 needs its runtime in the program too
san=$(nm -D "$P/lib/libmdir.so.0" | grep -q __asan && echo "-fsanitize=address,undefined")
cc $san -o "$T/use" "$T/use.c" -I"$P/include" $(pkg-config --cflags glib-2.0) -L"$P/lib" -lmdir \
	$(pkg-config --libs glib-2.0) -Wl,-rpath,"$P/lib" 2>"$T/cc.err"
is "$?" 0 "a program builds against the installed header and library"
is "$("$T/use")" "_x" "and runs"
mk uninstall
is "$?" 0 "make uninstall"
is "$(calls)" 0 "nor at uninstall"
is "$(find "$D" -type f)" "$P/share/man/man1/other.1" "leaves no file behind but the one it found"
ok "$([ ! -e "$P/bin" ] && [ ! -e "$P/lib" ] && [ ! -e "$P/share/man/man8" ]; echo $?)" \
	"removes the directories it made"
ok "$([ -d "$P/share/man/man1" ]; echo $?)" "and keeps the one it found"
mk install && mk uninstall
is "$(find "$D" | sort | tr '\n' ' ')" "$D $D/usr $D/usr/local $D/usr/local/share $D/usr/local/share/man $D/usr/local/share/man/man1 $P/share/man/man1/other.1 " \
	"twice: the same"
# a DESTDIR that does not exist yet (a packager's fresh staging directory):
# the walk up to what exists stops at /
D2=$T/stage/inst
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL timeout 300 make -s -C "$MDIR_SRC" B="$MDIR_BUILD" \
	DESTDIR="$D2" PREFIX=/usr/local install >"$T/make.out" 2>&1
is "$?" 0 "make install into a DESTDIR that does not exist yet"
ok "$([ -x "$D2/usr/local/bin/mstore" ]; echo $?)" "the programs in it"

# installed for real, into a prefix of our own
R=$T/real
mkr() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$MDIR_SRC" B="$MDIR_BUILD" \
	PREFIX="$R" "$@" >"$T/make.out" 2>&1; }
mkr install
is "$?" 0 "make install without DESTDIR"
is "$(cat "$T/ldconfig.log")" "ldconfig " "runs ldconfig"
is "$(grep -x ldconfig "$R/share/mdir/installed")" ldconfig "and notes that it did"
mkr uninstall
is "$(calls)" 2 "make uninstall runs it again"
ok "$([ ! -e "$R" ]; echo $?)" "and removes all it made"
# an ldconfig that fails is not noted, and not run again at uninstall
touch "$T/ldconfig.fail"
mkr install
is "$(calls):$(grep -c '^ldconfig' "$R/share/mdir/installed")" "3:0" \
	"a failed ldconfig: not noted"
mkr uninstall
is "$(calls)" 3 "nor run at uninstall"
