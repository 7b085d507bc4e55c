#!/bin/sh
# bench/classify.sh [N [many]]: delivery with filing by rules, end to end, one
# process per message as Postfix runs them: mdir-receive with mdird
# filing by a .rules file, against maildrop with a mailfilter and
# dovecot-lda with a Sieve script doing the same routing, on the same
# generated corpus, in the same run.  Then mdird alone: how fast it files a
# queue that waited while it was down, and its syncs per batch.  Needs
# root (the others run as nobody); installs maildrop, dovecot-sieve,
# strace and bc.
set -eu
n=${1:-400}
part=${2:-all} # "many": only the many-rules case at the end
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MDIR_BUILD:-$top/build}/bin
[ -x "$bin/mdird" ] || { echo "bench: build first (make)" >&2; exit 1; }
. "$top/bench/lib.sh"
bench_need maildrop dovecot-core dovecot-sieve strace bc

W=$(mktemp -d /var/tmp/mdir-bench.XXXXXX) # on disk, as mail is: not a tmpfs
md_pid=
stop_md() {
	if [ -n "$md_pid" ]; then
		kill "$md_pid" 2>/dev/null || true
		while kill -0 "$md_pid" 2>/dev/null; do sleep 0.01; done
	fi
	md_pid=
}
trap 'stop_md; rm -rf "$W"' EXIT
chmod 755 "$W"
/usr/bin/python3 "$top/bench/gen-corpus.py" "$W/corpus" "$n"
export MDIR_ROOT="$W/root"
conf=$W/mdir.conf
printf '[mdir]\nroot = %s\nlog_level = warning\n' "$MDIR_ROOT" >"$conf"
jo=SMTP/Accounts/jo@example.org

# the same routing three ways: PDFs to Documents, subjects with "message 1"
# also to Ones, big messages also to Large; the rest stays in the inbox
cat >"$W/rules" <<'EOF'
if content-type = application/pdf then move Documents
if part = 0 and subject contains "message 1" then copy Ones; continue
if part = 0 and size > 100K then copy Large
EOF
cat >"$W/mailfilter" <<EOF
if (/^Subject:.*message 1/)
	cc "$W/home/Maildir/.Ones/"
if (\$SIZE > 102400)
	cc "$W/home/Maildir/.Large/"
if (/application\/pdf/:hb) # maildrop 2.9 finds it with :hb only
	to "$W/home/Maildir/.Documents/"
to "$W/home/Maildir/"
EOF
cat >"$W/sieve" <<'EOF'
require ["fileinto", "copy", "body"];
if header :contains "subject" "message 1" { fileinto :copy "Ones"; }
if size :over 100K { fileinto :copy "Large"; }
if body :raw :contains "Content-Type: application/pdf" { fileinto "Documents"; stop; }
EOF
mkdir -p "$W/home"
chown nobody "$W/home" "$W/mailfilter"
chmod 600 "$W/mailfilter" # maildrop reads only its user's own
printf 'mail_location = maildir:%s/home/Maildir\nlog_path = %s/home/log\nssl = no\n%s\n' \
	"$W" "$W" 'lda_mailbox_autocreate = yes
protocol lda {
  mail_plugins = sieve
}' >"$W/dovecot.conf"
printf 'plugin {\n  sieve = file:%s/home/sieve;active=%s/home/active.sieve\n}\n' "$W" "$W" \
	>>"$W/dovecot.conf"

# a pass's files are set aside, not removed (bench_set_aside: removals
# slow the next pass's file creations); $W/empty: no queue of its own.
# Passes run in subshells too ($(drain_with ...)): the next number is
# counted from what is set aside already, not kept in a variable.
mkdir -p "$W/empty" "$W/old"
fresh() {
	stop_md
	_set_aside=$(ls "$W/old" | wc -l)
	bench_set_aside "$W" "$W/empty" "$MDIR_ROOT" "$W/home/Maildir"
	rm -rf "$W/home/sieve" "$W/home"/*.sieve "$W/home"/*.svbin
	"$bin/mstore" mkdir "$jo" >/dev/null
	cp "$W/rules" "$MDIR_ROOT/$jo/.rules"
	for d in "" .Ones .Large .Documents; do mkdir -p "$W/home/Maildir/$d/cur" \
		"$W/home/Maildir/$d/new" "$W/home/Maildir/$d/tmp"; done
	cp "$W/sieve" "$W/home/active.sieve"
	chown -R nobody "$W/home"
}
start_md() {
	"$bin/mdird" -F -c "$conf" 2>>"$W/mdird.log" &
	md_pid=$!
	while [ ! -S "$MDIR_ROOT/.mdird/mdird.sock" ]; do sleep 0.01; done
}
queue_empty() { [ -z "$(ls "$MDIR_ROOT/.mdird/queue")" ] && [ -z "$(ls "$MDIR_ROOT/.mdird/work" 2>/dev/null)" ]; }
wait_empty() { while ! queue_empty; do sleep 0.005; done; }
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$W/home" "$@"; }
one() {
	case $1 in
	mdir) "$bin/mdir-receive" -c "$conf" -f s@sender.test -- jo@example.org <"$2" >/dev/null ;;
	maildrop) nobody maildrop "$W/mailfilter" <"$2" ;;
	lda) nobody /usr/lib/dovecot/dovecot-lda -c "$W/dovecot.conf" -f s@sender.test <"$2" ;;
	esac
}
pass() { # PROGRAM: $ns, the time for the corpus, filed and durable
	fresh
	if [ "$1" = mdir ]; then start_md; fi
	start=$(date +%s%N)
	for f in "$W"/corpus/*.eml; do one "$1" "$f"; done
	if [ "$1" = mdir ]; then wait_empty; fi
	ns=$(($(date +%s%N) - start))
}
counts() { # what each filed: inbox, Documents, Ones, Large
	if [ "$1" = mdir ]; then
		# messages: entries of part 0 (forwarded ones inside are parts too)
		m0() { grep -l '^part: 0$' "$MDIR_ROOT/$1"/.meta/* 2>/dev/null | wc -l; }
		printf '%s %s %s %s' "$(m0 "$jo")" "$(ls "$MDIR_ROOT/Documents" | wc -l)" \
			"$(m0 Ones)" "$(m0 Large)"
	else
		m=$W/home/Maildir
		printf '%s %s %s %s' "$(ls "$m/new" | wc -l)" "$(ls "$m/.Documents/new" | wc -l)" \
			"$(ls "$m/.Ones/new" | wc -l)" "$(ls "$m/.Large/new" | wc -l)"
	fi
}

if [ "$part" != many ]; then
	printf 'corpus: %d messages (bench/gen-corpus.py); routing: bench/classify.sh\n\n' "$n"
	printf '%-10s %9s %8s   %s\n' program msgs/s ms/msg "filed: inbox documents ones large"
	for p in mdir maildrop lda; do
		pass $p # warm the page cache and the programs
		pass $p
		eval "ns_$p=$ns"
		printf '%-10s %9.0f %8.2f   %s\n' $p "$(echo "$n * 10^9 / $ns" | bc -l)" \
			"$(echo "$ns / 10^6 / $n" | bc -l)" "$(counts $p)"
	done
	stop_md
	printf '\nmdir (receive + mdird) / maildrop,     messages/s: %.2fx\n' \
		"$(echo "$ns_maildrop / $ns_mdir" | bc -l)"
	printf 'mdir (receive + mdird) / dovecot-lda, messages/s: %.2fx\n' \
		"$(echo "$ns_lda / $ns_mdir" | bc -l)"
	rate() { awk -v n="$n" -v ns="$1" 'BEGIN { printf "%.0f msg/s", n * 1e9 / ns }'; }
	bench_result "classify: 3 rules, receive+mdird" "$(rate "$ns_mdir")" "maildrop, a mailfilter" \
		"$(rate "$ns_maildrop")" "$(bench_ratio "$ns_maildrop" "$ns_mdir")" "-" "-"
	bench_result "classify: 3 rules, receive+mdird" "$(rate "$ns_mdir")" "dovecot-lda + Sieve" \
		"$(rate "$ns_lda")" "$(bench_ratio "$ns_lda" "$ns_mdir")" "-" "-"

	# syncs a message, counted with strace over 50 messages (mdir: mdir-receive's)
	syncs_per() {
		fresh
		: >"$W/strace.all"
		for f in $(ls "$W"/corpus/*.eml | head -n 50); do
			case $1 in
			mdir) strace -f -qq -c -e trace=fsync,fdatasync,syncfs -o "$W/strace" \
				"$bin/mdir-receive" -c "$conf" -f s@sender.test -- jo@example.org <"$f" >/dev/null ;;
			maildrop) strace -f -qq -c -e trace=fsync,fdatasync,syncfs -o "$W/strace" \
				setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$W/home" \
				maildrop "$W/mailfilter" <"$f" ;;
			lda) strace -f -qq -c -e trace=fsync,fdatasync,syncfs -o "$W/strace" \
				setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$W/home" \
				/usr/lib/dovecot/dovecot-lda -c "$W/dovecot.conf" -f s@sender.test <"$f" ;;
			esac
			cat "$W/strace" >>"$W/strace.all"
		done
		awk '$NF ~ /^(fsync|fdatasync|syncfs)$/ { s += $4 } END { printf "%.1f", s / 50 }' "$W/strace.all"
	}
	printf '\nsyncs a message: mdir-receive %s, maildrop %s, dovecot-lda %s\n' \
		"$(syncs_per mdir)" "$(syncs_per maildrop)" "$(syncs_per lda)"

	# mdird alone: a queue that filled while it was down, timed without
	# strace, then filled again and counted with it
	fill() {
		fresh
		for f in "$W"/corpus/*.eml; do one mdir "$f"; done
		batches=$(ls "$MDIR_ROOT/.mdird/queue" | wc -l)
	}
	fill
	start=$(date +%s%N)
	start_md
	wait_empty
	ns=$(($(date +%s%N) - start))
	stop_md
	entries=$(grep -h ' + ' "$MDIR_ROOT/$jo/.changes" "$MDIR_ROOT"/*/.changes | wc -l)
	fill
	strace -f -qq -c -e trace=fsync,fdatasync,syncfs -o "$W/strace" \
		"$bin/mdird" -F -c "$conf" 2>>"$W/mdird.log" &
	md_pid=$!
	wait_empty
	pkill -TERM -P "$md_pid" mdird # strace's child; strace then ends with it
	stop_md
	syncs=$(awk '$NF ~ /^(fsync|fdatasync|syncfs)$/ { s += $4 } END { print s + 0 }' "$W/strace")
	printf '\nmdird alone, %d queued batches (%d entries), started after they queued:\n' \
		"$batches" "$entries"
	printf '  %.0f batches/s, %.0f entries/s, %.2f syncs a batch (%s in all)\n' \
		"$(echo "$batches * 10^9 / $ns" | bc -l)" "$(echo "$entries * 10^9 / $ns" | bc -l)" \
		"$(echo "$syncs / $batches" | bc -l)" "$syncs"
fi

# Many rules (issue 17): an account whose .rules has 100 rules -- equality
# on from, to and list-id, contains on subject, regexes on suggested-name,
# size tests, and 10 that copy every part -- against none, and against the
# same 90 tests with nothing copied (what evaluating them costs alone).
rules100() { # EVERY: the size the last 10 need (0: every part; huge: none)
	i=0
	while [ $i -lt 25 ]; do echo "if from = \"user$i@nowhere.test\" then copy From/$i"; i=$((i + 1)); done
	while [ $i -lt 35 ]; do echo "if to = \"list$i@lists.test\" then copy To/$i"; i=$((i + 1)); done
	while [ $i -lt 50 ]; do echo "if list-id = \"<list$i.lists.test>\" then copy Lists/$i"; i=$((i + 1)); done
	while [ $i -lt 65 ]; do echo "if subject contains \"keyword $i\" then copy Subj/$i"; i=$((i + 1)); done
	while [ $i -lt 80 ]; do
		echo "if suggested-name ~ \"^report-$i-[0-9]+\\\\.pdf\$\" then copy Reports/$i"
		i=$((i + 1))
	done
	while [ $i -lt 90 ]; do echo "if size > $((i + 100))M then copy Big/$i"; i=$((i + 1)); done
	while [ $i -lt 100 ]; do echo "if size >= $1 then copy Every/$i; continue"; i=$((i + 1)); done
}
drain_with() { # RULES-FILE|"": prints batches/s, entries/s of a waiting queue
	fresh
	if [ -n "$1" ]; then cp "$1" "$MDIR_ROOT/$jo/.rules"; else rm -f "$MDIR_ROOT/$jo/.rules"; fi
	for f in "$W"/corpus/*.eml; do one mdir "$f"; done
	batches=$(ls "$MDIR_ROOT/.mdird/queue" | wc -l)
	start=$(date +%s%N)
	start_md
	wait_empty
	ns=$(($(date +%s%N) - start))
	stop_md
	entries=$(find "$MDIR_ROOT" -name .changes -exec grep -h ' + ' {} + | wc -l)
	printf '%9.0f %10.0f' "$(echo "$batches * 10^9 / $ns" | bc -l)" \
		"$(echo "$entries * 10^9 / $ns" | bc -l)"
}
watch_with() { # RULES-FILE|"": the watcher's delay at 20 deliveries a second
	fresh
	if [ -n "$1" ]; then cp "$1" "$MDIR_ROOT/$jo/.rules"; else rm -f "$MDIR_ROOT/$jo/.rules"; fi
	start_md
	/usr/bin/python3 "$top/bench/watch-latency.py" "$bin" "$conf" "$MDIR_ROOT" "$jo" 20 \
		$(ls "$W"/corpus/*.eml | head -n 200)
	stop_md
}
rules100 0 >"$W/rules-copy"
rules100 999999999 >"$W/rules-none"
printf '\nmany rules: mdird draining %d queued messages\n' "$n"
printf '  %-34s %9s %10s\n' rules msgs/s entries/s
d_none=$(drain_with "")
printf '  %-34s %s\n' "none" "$d_none"
d_nomatch=$(drain_with "$W/rules-none")
printf '  %-34s %s\n' "100, none matching" "$d_nomatch"
d_copy=$(drain_with "$W/rules-copy")
printf '  %-34s %s\n' "100, 10 copying every part" "$d_copy"
printf '\nmany rules: a watcher of the account, 20 deliveries a second\n'
w_none=$(watch_with "")
printf '  none:                        %s\n' "$w_none"
w_copy=$(watch_with "$W/rules-copy")
printf '  100, 10 copying every part:  %s\n' "$w_copy"

# for make bench: the issue's targets with 100 rules
set -- $d_none
m_none=$1
set -- $d_nomatch
m_nomatch=$1
set -- $d_copy
m_copy=$1 e_copy=$2
bench_result "classify many: 100 rules, none match" "$m_nomatch msg/s" "mdird, no rules" "$m_none msg/s" \
	"$(bench_ratio "$m_nomatch" "$m_none")" "-" "-"
bench_result "classify many: 100 rules, messages" "$m_copy msg/s" "-" "-" "-" ">= 500 msg/s" \
	"$(bench_met "$m_copy" ge 500)"
bench_result "classify many: 100 rules, entries" "$e_copy entries/s" "-" "-" "-" ">= 2000 entries/s" \
	"$(bench_met "$e_copy" ge 2000)"
median() { echo "$1" | sed -n 's/.*median \([0-9.]*\).*/\1/p'; }
mw_copy=$(median "$w_copy")
mw_none=$(median "$w_none")
bench_result "classify many: watcher median, 20/s" "${mw_copy:-?} ms" "mdird, no rules" "${mw_none:-?} ms" \
	"$(bench_ratio "${mw_copy:-0}" "${mw_none:-0}")" "<= 5 ms" "$(bench_met "${mw_copy:-999}" le 5)"
