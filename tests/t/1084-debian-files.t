#!/bin/sh
# The Debian packaging's files agree with the tree (issue 18): one
# version (mdir.h's) in the Makefile, debian/changelog and every program's
# --version; libmdir0's symbols file lists exactly what mdir.h exports;
# the conffile's commented values are the built-in defaults; README.Debian
# shows the README's Postfix and DKIM lines with the packaged paths; make
# dist packs every file git tracks, the same bytes twice.  t/1085 builds
# and installs the packages themselves.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/readme.sh"
plan 18

D=$MDIR_SRC/debian
v=$(sed -n 's/^#define MDIR_VERSION_STRING "\(.*\)"$/\1/p' "$MDIR_SRC/libmdir/mdir.h")
like "$v" '^[0-9]+\.[0-9]+\.[0-9]+$' "mdir.h has the version ($v)"
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$MDIR_SRC" B="$MDIR_BUILD" "$@"; }
is "$(mk version 2>&1)" "$v" "the Makefile's is mdir.h's"
is "$(sed -n '1s/^mdir (\([^)]*\)).*/\1/p' "$D/changelog")" "$v" \
	"debian/changelog's (a native package: no Debian revision) is mdir.h's"
bad=""
for p in mstore mdir-receive mdir-outbox mdird smtp-stats; do
	[ "$("$BIN/$p" --version 2>&1)" = "$p $v" ] || bad="$bad $p"
done
is "$bad" "" "every program's --version prints it"

# the symbols file: what mdir.h declares (t/1090: what the library
# exports), all at a version; a new MDIR_API function needs its line
# (dpkg-gensymbols -plibmdir0 after a build prints it)
declared=$(sed -n 's/^MDIR_API [^(]*[ *]\(mdir_[a-z0-9_]*\)(.*/\1/p' "$MDIR_SRC/libmdir/mdir.h" | sort)
listed=$(sed -n 's/^ \(mdir_[a-z0-9_]*\)@Base [0-9][0-9.]*$/\1/p' "$D/libmdir0.symbols" | sort)
is "$listed" "$declared" "libmdir0.symbols lists exactly mdir.h's MDIR_API functions"
is "$(head -1 "$D/libmdir0.symbols")" "libmdir.so.0 libmdir0 #MINVER#" "for the soname libmdir.so.0"

# the conffile: every key the programs know, each commented-out value the
# built-in default (mstore config prints every value in effect)
conf=$D/mdir.conf
env -u MDIR_ROOT -u MDIR_CONF "$BIN/mstore" -c "$conf" config >"$T/config" 2>"$T/config.err"
ok $? "mstore reads the conffile"
is "$(cat "$T/config.err")" "" "without a warning"
want=$(awk '/^\[/ { s = $0; next } NF && !/^#/ { print s, $0 }' "$T/config" | sort)
got=$(awk '/^\[/ { s = $0; next } /^#?[a-z_0-9]+ =/ { sub(/^#/, ""); print s, $0 }' "$conf" | sort)
is "$got" "$want" "the conffile names every key, with its default value (or none)"
is "$(grep -E '^(root|socket) = ' "$T/config")" \
	"$(printf 'root = /var/lib/mdir\nsocket = /var/lib/mdir/.mdird/mdird.sock')" \
	"its root is /var/lib/mdir"

# README.Debian: the README's blocks, the programs in /usr/bin
for b in main.cf master.cf dkim; do
	readme_block "$b" >"$T/$b.readme" 2>&1 && readme_block "$b" "$D/mdir.README.Debian" >"$T/$b.debian" 2>&1
	ok $? "README and README.Debian both have the block $b"
	sed -e 's|/usr/local/bin/|/usr/bin/|g' "$T/$b.readme" >"$T/$b.want"
	cmp -s "$T/$b.want" "$T/$b.debian" || { diag "README.Debian's $b differs:"; diff "$T/$b.want" "$T/$b.debian" | sed 's/^/# /'; false; }
done
cmp -s "$T/main.cf.want" "$T/main.cf.debian" && cmp -s "$T/master.cf.want" "$T/master.cf.debian" &&
	cmp -s "$T/dkim.want" "$T/dkim.debian"
ok $? "README.Debian's blocks are the README's, with /usr/bin for /usr/local/bin"

# the cron lines too (t/1100 runs the README's)
cron() { grep -E '^ *([-0-9*/,]+ +){5}/' "$1" | sed 's/^ *//'; }
is "$(cron "$D/mdir.README.Debian")" "$(cron "$MDIR_SRC/README" | sed 's|/usr/local/bin/|/usr/bin/|')" \
	"README.Debian's cron lines are the README's, with /usr/bin"

# make dist: every file git tracks (that is there), under mdir-VERSION/, and
# the same bytes when made again
if git -C "$MDIR_SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mkdir "$T/d1" "$T/d2"
	mk dist DISTDIR="$T/d1" >/dev/null 2>"$T/dist.err" && mk dist DISTDIR="$T/d2" >/dev/null 2>>"$T/dist.err"
	ok $? "make dist makes mdir-$v.tar.gz"
	tar -tzf "$T/d1/mdir-$v.tar.gz" 2>/dev/null | sed "s|^mdir-$v/||" | sort >"$T/dist.list"
	git -C "$MDIR_SRC" ls-files | while IFS= read -r f; do
		[ -e "$MDIR_SRC/$f" ] && printf '%s\n' "$f"; done | sort >"$T/git.list"
	cmp -s "$T/git.list" "$T/dist.list"
	ok $? "it holds every file git ls-files lists, and nothing else"
	cmp -s "$T/d1/mdir-$v.tar.gz" "$T/d2/mdir-$v.tar.gz"
	ok $? "made twice, byte for byte the same"
else
	skip "not a git work tree (a tree from make dist)" "make dist makes mdir-$v.tar.gz"
	skip "not a git work tree" "it holds every file git ls-files lists"
	skip "not a git work tree" "made twice, the same"
fi
