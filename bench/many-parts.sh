#!/bin/sh
# bench/many-parts.sh [PARTS]: what one hostile message costs mdir-receive
# (issue 15.1).  Generates a message of PARTS (default 100,000) tiny parts,
# about 7 bytes each (700 KB for 100,000), delivers it once with the
# default [receive] max_parts (10,000), and prints the time, the peak RSS
# and what was stored: the bytes of the message's files (raw, parts,
# records), the header batch, and the disk blocks they take, each against
# the message's size.  Targets: under 10 s, under 100 MB, under 5x.
set -eu
n=${1:-100000}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
bin=${MDIR_BUILD:-$top/build}/bin
[ -x "$bin/mdir-receive" ] || { echo "bench: build first (make)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

W=$(mktemp -d /var/tmp/mdir-bench.XXXXXX) # on disk, as mail is: not a tmpfs
trap 'rm -rf "$W"' EXIT
export MDIR_ROOT="$W/root"
printf '[mdir]\nroot = %s\n' "$MDIR_ROOT" >"$W/mdir.conf"
"$bin/mstore" mkdir SMTP/Accounts/jo@example.org >/dev/null

# the message: a header, then PARTS parts of no header and one letter each
awk -v n="$n" 'BEGIN {
	printf "From: a@sender.test\nTo: jo@example.org\nSubject: many parts\n"
	printf "Message-ID: <many@sender.test>\nMIME-Version: 1.0\n"
	printf "Content-Type: multipart/mixed; boundary=\"b\"\n\n"
	for (i = 0; i < n; i++)
		printf "--b\n\nx\n"
	printf "--b--\n"
}' >"$W/many.eml"
size=$(wc -c <"$W/many.eml")

/usr/bin/time -f '%e %M' -o "$W/time" "$bin/mdir-receive" -c "$W/mdir.conf" \
	-f a@sender.test -- jo@example.org <"$W/many.eml" >/dev/null
read -r secs kb <"$W/time"
msg=$(find "$MDIR_ROOT/.mstore/msg" -mindepth 2 -maxdepth 2 -type d)
stored=$(find "$msg" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
files=$(find "$msg" -type f | wc -l)
batch=$(find "$MDIR_ROOT/.mdird/queue" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
blocks=$(du -sk "$msg" "$MDIR_ROOT/.mdird/queue" | awk '{ s += $1 } END { print s * 1024 }')
parts=$(awk '/^parts: / { print $2; exit }' "$msg/.meta/0")

printf 'message: %d parts, %d bytes; max_parts 10000: %d parts stored, %d files\n' \
	"$n" "$size" "$parts" "$files"
printf 'time: %.2f s   peak RSS: %.1f MB\n' "$secs" "$(echo "$kb / 1024" | bc -l)"
awk -v st="$stored" -v b="$batch" -v bl="$blocks" -v sz="$size" 'BEGIN {
	printf "stored: %.2f MB (%.2fx); with the batch %.2f MB (%.2fx); disk blocks %.2f MB (%.2fx)\n",
	    st / 1e6, st / sz, (st + b) / 1e6, (st + b) / sz, bl / 1e6, bl / sz
}'
x=$(awk -v st="$stored" -v sz="$size" 'BEGIN { printf "%.2fx", st / sz }')
bench_result "many-parts: $n parts, time" "$secs s" "-" "-" "-" "< 10 s" "$(bench_met "$secs" lt 10)"
bench_result "many-parts: peak RSS" "$(awk -v k="$kb" 'BEGIN { printf "%.1f MB", k / 1024 }')" "-" "-" "-" \
	"< 100 MB" "$(bench_met "$((kb / 1024))" lt 100)"
bench_result "many-parts: stored / message size" "$x" "-" "-" "-" "< 5x" "$(bench_met "$x" lt 5)"
