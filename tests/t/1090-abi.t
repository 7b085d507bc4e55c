#!/bin/sh
# The library exports exactly what mdir.h declares, every name mdir_*.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 4

lib=$MDIR_BUILD/lib/libmdir.so
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ { print $3 }' | sort)
declared=$(sed -n 's/^MDIR_API [^(]*[ *]\(mdir_[a-z0-9_]*\)(.*/\1/p' \
	"$MDIR_SRC/libmdir/mdir.h" | sort)
is "$exported" "$declared" "exported symbols are exactly the declared ones"
is "$(echo "$exported" | grep -vc '^mdir_')" 0 "every export is prefixed mdir_"
is "$(objdump -p "$lib" | awk '/SONAME/ { print $2 }')" "libmdir.so.0" "soname"
is "$(grep -c '^#include <\(gmime\|openssl\|sqlite\)' "$MDIR_SRC/libmdir/mdir.h")" 0 \
	"mdir.h includes only GLib"
