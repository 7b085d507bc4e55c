#!/bin/sh
# The differential test of the splitter: every public test message in
# ../shared/corpus goes through mdir-receive (exit 0, no crash), and what
# is stored is compared with what Python's email package (policy.default)
# and, for mime4j/, mime4j's expected leaves decode from the same message:
# number of leaves, names, decoded bytes of files, the text
# (tests/lib/corpus-compare.py says how).  Differences are allowed only as
# listed, each with its reason by the RFCs, in
# tests/data/corpus-differences.tsv; a new one fails, and so does a listed
# one that is gone (the list only shrinks).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
C=$MDIR_SHARED/corpus
[ -f "$C/manifest.tsv" ] || skip_all "no corpus at $C"
command -v python3 >/dev/null || skip_all "no python3"
n=$(($(wc -l <"$C/manifest.tsv") - 1))
plan $((n + 2))

mstore mkdir SMTP/Accounts/@example.org >/dev/null
Q=$MDIR_ROOT/.mdird/queue
mkdir "$T/b"
: >"$T/list"
tail -n +2 "$C/manifest.tsv" | cut -f1 >"$T/manifest"
i=0
while read -r file; do
	i=$((i + 1))
	rm -f "$Q"/*
	mdir-receive -f sender@example.net -a 192.0.2.7 -- jo@example.org \
		<"$C/$file" >"$T/out" 2>&1
	rc=$?
	is "$rc" 0 "$file: delivered"
	[ "$rc" -gt 128 ] && echo "$file" >>"$T/crashed"
	b=$(ls "$Q" | head -n 1)
	[ -n "$b" ] || continue
	mv "$Q/$b" "$T/b/$i"
	printf '%s\t%s\n' "$file" "$i" >>"$T/list"
done <"$T/manifest"
is "$(cat "$T/crashed" 2>/dev/null)" "" "no crash"
python3 "$MDIR_SRC/tests/lib/corpus-compare.py" "$C" "$MDIR_ROOT" "$T/b" "$T/list" \
	>"$T/diffs" 2>"$T/figures" || echo "the comparison failed" >>"$T/diffs"
diag "$(cat "$T/figures")"
want=$(grep -v '^#' "$MDIR_SRC/tests/data/corpus-differences.tsv" | cut -f1-2)
is "$(cut -f1-2 "$T/diffs")" "$want" "the same leaves as Python and mime4j but for the known differences"
[ -n "${CORPUS_DIFFS:-}" ] && cp "$T/diffs" "$CORPUS_DIFFS"
exit 0
