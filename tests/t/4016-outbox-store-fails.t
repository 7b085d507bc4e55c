#!/bin/sh
# mdir-outbox when the store fails between two messages (a full disk):
# the first is sent and filed, the second's copy cannot be kept.  Its
# record is cleared under the outbox's lock, and the flush that makes
# durable the first's removal (owed since it was sent) must not try to
# take that lock again: it did, and mdir-outbox died of a NULL error
# (SIGSEGV) after an assertion.  Now the run ends with 75, the first in
# SMTP/Sent and gone from the outbox, the others waiting, none sent twice.
# A preload fails mkdir(2) under .mstore/tmp once sendmail has run.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v cc >/dev/null || skip_all "no C compiler (make deps)"
plan 6

cat >"$T/failmk.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int
mkdir(const char *p, mode_t m)
{
	static int (*real)(const char *, mode_t);
	const char *flag = getenv("FAILMK");

	if (!real)
		real = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
	if (flag && access(flag, F_OK) == 0 && strstr(p, ".mstore/tmp/")) {
		errno = ENOSPC;
		return -1;
	}
	return real(p, m);
}
C
cc -shared -fPIC -o "$T/failmk.so" "$T/failmk.c" -ldl
ok $? "the preload is built"

O=$MDIR_ROOT/SMTP/Accounts/jo@example.org/Outbox
cat >"$T/sendmail" <<SM
#!/bin/sh
sed -n "s/^Subject: //p" >>"$T/sends"
touch "$T/failmk"
SM
chmod +x "$T/sendmail"
: >"$T/sends"
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\n' \
	"$MDIR_ROOT" "$T/sendmail" >"$T/c.conf"
mstore mkdir SMTP/Accounts/jo@example.org/Outbox >/dev/null
for i in 0 1 2; do
	printf 'From: jo@example.org\nTo: x@example.net\nSubject: m%d\n\nbody %d\n' $i $i >"$O/m$i.eml"
done
# the sanitizer's runtime must come first in the preloads: here it is not
FAILMK=$T/failmk LD_PRELOAD=$T/failmk.so \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	mdir-outbox -c "$T/c.conf" >"$T/out" 2>"$T/err"
is "$?" 75 "a store that fails: exit 75 (it died with 139)" || sed 's/^/# /' "$T/err"
is "$(cat "$T/sends")" "m0" "one message handed to sendmail"
is "$(ls "$MDIR_ROOT/SMTP/Sent")" "m0.eml" "it is in SMTP/Sent"
is "$(ls "$O" | tr '\n' ' ')" "m1.eml m2.eml " "and gone from the outbox; the others wait"
rm -f "$T/failmk"
mdir-outbox -c "$T/c.conf" >/dev/null 2>&1
is "$(tr '\n' ' ' <"$T/sends")" "m0 m1 m2 " "the next run sends the others, none twice"
