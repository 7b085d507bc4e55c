#!/bin/sh
# bench/outbox.sh [N]: what mdir-outbox costs over Postfix's own
# sendmail. A private Postfix instance under the bench's directory (its
# own configuration, queue and log; no listener; every recipient to the
# discard transport) takes N messages of the corpus three times: from a
# shell loop calling /usr/sbin/sendmail -C CONFDIR once per message,
# from mdir-outbox sending jo's outbox through that same sendmail
# (MAIL_CONFIG=CONFDIR, what -C sets), and from mdir-outbox with [mdir]
# sync = fsync.  Each is timed until its last sendmail returned, in turn
# over chunks of the corpus (BENCH_OUTBOX_CHUNK, 25), the order rotated
# each chunk, so that the load of a shared machine falls on all alike;
# the ratio is the overhead (target 1.3x).  Then against a sendmail that
# only reads its input (mdir-outbox's own cost), and with an RSA key, an
# Ed25519 key and both (what DKIM signing costs a message).  The Postfix
# part needs root; without it, or without Postfix, only the rest runs.
# BENCH_OUTBOX_BEFORE=BUILD adds a turn for the mdir-outbox of another
# build (BUILD/bin): before and after a change, in the same run.
set -eu
n=${1:-300}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MDIR_BUILD:-$top/build}/bin
[ -x "$bin/mdir-outbox" ] || { echo "bench: build first (make)" >&2; exit 1; }
. "$top/bench/lib.sh"
W=$(mktemp -d /var/tmp/mdir-bench-outbox.XXXXXX)
PF=
pf_stop() {
	[ -n "$PF" ] || return 0
	_pid=$(tr -d ' ' <"$PF/spool/pid/master.pid" 2>/dev/null || true)
	postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
	_i=0
	while [ -n "$_pid" ] && kill -0 "$_pid" 2>/dev/null && [ $_i -lt 500 ]; do
		sleep 0.01
		_i=$((_i + 1))
	done
	PF=
}
trap 'pf_stop; rm -rf "$W"' EXIT
chmod 755 "$W"
export MDIR_ROOT=$W/root
printf '#!/bin/sh\nexec cat >/dev/null\n' >"$W/cat-sendmail"
chmod +x "$W/cat-sendmail"
openssl genrsa -out "$W/rsa.pem" 2048 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$W/ed.pem" 2>/dev/null
chmod 600 "$W/rsa.pem" "$W/ed.pem"
/usr/bin/python3 "$top/bench/gen-corpus.py" "$W/corpus" "$n" >/dev/null
# an account's own outbox sends as the account only (mdir-outbox(1)): the
# corpus is jo's mail, to jo@example.org (its To:), the loop's recipient too
sed -i 's/^From: .*/From: Jo <jo@example.org>/' "$W"/corpus/*.eml
OUT=SMTP/Accounts/jo@example.org/Outbox

# Postfix, private: the package's programs, everything else under $PF
pf=no
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/sendmail ] && command -v postfix >/dev/null; then
	PF=$W/postfix
	mkdir -p "$PF/etc" "$PF/spool"
	cat >"$PF/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.example.org
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
# every recipient is accepted and dropped: what is measured is the
# sending side, up to the queue
default_transport = discard:bench
local_transport = discard:bench
alias_maps =
alias_database =
biff = no
smtp_dns_support_level = disabled
maillog_file = $PF/maillog
EOF
	# no listener at all (nothing of the machine's is touched), no chroot
	cat >"$PF/etc/master.cf" <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	if postfix -c "$PF/etc" start >/dev/null 2>&1; then
		pf=yes
	else
		echo "bench: the private Postfix did not start:" >&2
		tail -n 5 "$PF/maillog" >&2 || true
		PF=
	fi
fi
# Postfix's queue empty: the last run's work done before the next starts
pf_drained() {
	[ -z "$(find "$PF/spool/maildrop" "$PF/spool/incoming" "$PF/spool/active" \
		"$PF/spool/deferred" -type f 2>/dev/null | head -n 1)" ]
}
pf_drain() { # at most 60 s
	_i=0
	until pf_drained; do
		[ $_i -lt 6000 ] || { echo "bench: Postfix's queue did not drain" >&2; exit 1; }
		sleep 0.01
		_i=$((_i + 1))
	done
}
pf_sent() { grep -c 'status=sent (bench)' "$PF/maillog" 2>/dev/null || true; }

conf() { # SENDMAIL KEYS...: a config with that sendmail and those keys
	sync=auto
	case " $* " in *" fsync "*) sync=fsync ;; esac
	printf '[mdir]\nroot = %s\nsync = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\ndkim_domain = example.org\ndkim_selector = b\n' \
		"$MDIR_ROOT" "$sync" "$1"
	shift
	for k in "$@"; do
		case $k in
		rsa) echo "dkim_key = $W/rsa.pem" ;;
		ed) echo "dkim_ed25519_key = $W/ed.pem" ;;
		esac
	done
}
fill() {
	rm -rf "$MDIR_ROOT"
	"$bin/mstore" mkdir "$OUT" >/dev/null
	cp "$W"/corpus/*.eml "$MDIR_ROOT/$OUT/"
	sync
}
report() { # LABEL NS [N]
	printf '%-30s %9.0f %9.2f\n' "$1" "$(echo "${3:-$n} * 10^9 / $2" | bc -l)" \
		"$(echo "$2 / 10^6 / ${3:-$n}" | bc -l)"
}
sent_all() { # ROOT: stops the bench unless all N reached SMTP/Sent
	sent=$(ls "$1/SMTP/Sent" 2>/dev/null | wc -l)
	left=$(ls "$1/$OUT" | wc -l)
	[ "$left" = 0 ] || echo "bench: $left messages left in the outbox" >&2
	# what is timed is sending: a run that failed them measured nothing
	[ "$sent" = "$n" ] || { echo "bench: $sent of $n messages sent" >&2; exit 1; }
}
run() { # VAR LABEL SENDMAIL KEYS...: one run over the whole outbox, timed
	var=$1 label=$2
	shift 2
	conf "$@" >"$W/c.conf"
	fill
	start=$(date +%s%N)
	"$bin/mdir-outbox" -c "$W/c.conf"
	ns=$(($(date +%s%N) - start))
	sent_all "$MDIR_ROOT"
	report "$label" "$ns"
	eval "$var=$ns"
}
loop() { # VAR LABEL SENDMAIL ARGS...: the shell loop, one sendmail a message
	var=$1 label=$2
	shift 2
	sync
	start=$(date +%s%N)
	for f in "$W"/corpus/*.eml; do "$@" -i -f jo@example.org -- jo@example.org <"$f"; done
	ns=$(($(date +%s%N) - start))
	report "$label" "$ns"
	eval "$var=$ns"
}

printf 'corpus: %d messages (bench/gen-corpus.py)\n\n%-30s %9s %9s\n' "$n" "" msgs/s ms/msg
if [ $pf = yes ]; then
	# once unmeasured: the page cache, Postfix's processes
	loop ns_warm "(warm-up) shell loop, Postfix" /usr/sbin/sendmail -C "$PF/etc" >/dev/null
	pf_drain
	# On a machine others share, the load changes by the second: the
	# corpus goes in chunks of CHUNK messages, each sent by the shell
	# loop, then by mdir-outbox (one run a chunk, as cron's would find
	# them), then by mdir-outbox with [mdir] sync = fsync (its own files
	# flushed, not every writer's of the file system as syncfs(2) does),
	# Postfix's queue drained between; the times are the sums
	chunk=${BENCH_OUTBOX_CHUNK:-25}
	ls "$W"/corpus/*.eml | split -l "$chunk" - "$W/chunk."
	# BENCH_OUTBOX_BEFORE=BUILD: that build's mdir-outbox takes its turn
	# too (before and after a change, under the same load)
	ways="loop auto fsync"
	if [ -n "${BENCH_OUTBOX_BEFORE:-}" ]; then
		[ -x "$BENCH_OUTBOX_BEFORE/bin/mdir-outbox" ] ||
			{ echo "bench: no $BENCH_OUTBOX_BEFORE/bin/mdir-outbox" >&2; exit 1; }
		ways="$ways before"
	fi
	for s in auto fsync before; do
		MDIR_ROOT=$W/root-$s "$bin/mstore" mkdir "$OUT" >/dev/null
		conf /usr/sbin/sendmail $s | sed "s|^root = .*|root = $W/root-$s|" >"$W/$s.conf"
	done
	ns_pfloop=0 ns_pfout=0 ns_pffsync=0 ns_pfbefore=0
	export MAIL_CONFIG="$PF/etc"
	for c in "$W"/chunk.*; do
		for way in $ways; do
			if [ $way = loop ]; then
				sync
				start=$(date +%s%N)
				while read -r f; do
					/usr/sbin/sendmail -C "$PF/etc" -i -f jo@example.org -- jo@example.org <"$f"
				done <"$c"
				ns_pfloop=$((ns_pfloop + $(date +%s%N) - start))
			else
				xargs cp -t "$W/root-$way/$OUT/" <"$c"
				sync
				ob=$bin
				[ $way = before ] && ob=$BENCH_OUTBOX_BEFORE/bin
				start=$(date +%s%N)
				MDIR_ROOT=$W/root-$way "$ob/mdir-outbox" -c "$W/$way.conf"
				ns=$(($(date +%s%N) - start))
				case $way in
				auto) ns_pfout=$((ns_pfout + ns)) ;;
				fsync) ns_pffsync=$((ns_pffsync + ns)) ;;
				*) ns_pfbefore=$((ns_pfbefore + ns)) ;;
				esac
			fi
			pf_drain
		done
		# the next chunk starts with the next way: none always runs
		# right after the same other one (whose writes a syncfs flushes)
		ways="${ways#* } ${ways%% *}"
	done
	unset MAIL_CONFIG
	sent_all "$W/root-auto"
	sent_all "$W/root-fsync"
	report "shell loop, Postfix sendmail" "$ns_pfloop"
	report "mdir-outbox, Postfix sendmail" "$ns_pfout"
	report "  the same, sync = fsync" "$ns_pffsync"
	turns=4
	if [ -n "${BENCH_OUTBOX_BEFORE:-}" ]; then
		sent_all "$W/root-before"
		report "  $BENCH_OUTBOX_BEFORE" "$ns_pfbefore"
		turns=5
	fi
	got=$(pf_sent)
	want=$((turns * n))
	[ "$got" = $want ] || { echo "bench: Postfix discarded $got of $want" >&2; exit 1; }
	echo "  (in chunks of $chunk, one after the other; a run of mdir-outbox a chunk)"
fi
loop ns_loop "shell loop, cat as sendmail" "$W/cat-sendmail"
run ns_unsigned "mdir-outbox, cat as sendmail" "$W/cat-sendmail"
run ns_rsa "  rsa-sha256" "$W/cat-sendmail" rsa
run ns_ed25519 "  ed25519-sha256" "$W/cat-sendmail" ed
run ns_both "  both" "$W/cat-sendmail" rsa ed

echo
if [ $pf = yes ]; then
	r=$(bench_ratio "$ns_pfout" "$ns_pfloop")
	printf 'overhead, mdir-outbox / shell loop, Postfix sendmail: %s (sync = fsync: %s)\n' "$r" \
		"$(bench_ratio "$ns_pffsync" "$ns_pfloop")"
	[ -z "${BENCH_OUTBOX_BEFORE:-}" ] ||
		printf '  %s: %s\n' "$BENCH_OUTBOX_BEFORE" "$(bench_ratio "$ns_pfbefore" "$ns_pfloop")"
fi
printf 'overhead, mdir-outbox / shell loop, cat as sendmail:  %s (%.2f ms a message)\n' \
	"$(bench_ratio "$ns_unsigned" "$ns_loop")" "$(echo "($ns_unsigned - $ns_loop) / 10^6 / $n" | bc -l)"
printf 'signing a message: rsa-sha256 %.2f ms, ed25519-sha256 %.2f ms, both %.2f ms\n' \
	"$(echo "($ns_rsa - $ns_unsigned) / 10^6 / $n" | bc -l)" \
	"$(echo "($ns_ed25519 - $ns_unsigned) / 10^6 / $n" | bc -l)" \
	"$(echo "($ns_both - $ns_unsigned) / 10^6 / $n" | bc -l)"

rate() { awk -v n="$n" -v ns="$1" 'BEGIN { printf "%.0f msg/s", n * 1e9 / ns }'; }
if [ $pf = yes ]; then
	bench_result "outbox: vs Postfix's sendmail" "$(rate "$ns_pfout")" \
		"shell loop, sendmail -C" "$(rate "$ns_pfloop")" "$r" "<= 1.3x" "$(bench_met "$r" le 1.3)"
	r=$(bench_ratio "$ns_pffsync" "$ns_pfloop")
	bench_result "outbox: the same, sync = fsync" "$(rate "$ns_pffsync")" \
		"shell loop, sendmail -C" "$(rate "$ns_pfloop")" "$r" "<= 1.3x" "$(bench_met "$r" le 1.3)"
else
	bench_result "outbox: vs Postfix's sendmail" "-" "Postfix: not run (needs root)" "-" "-" \
		"<= 1.3x" "not measured"
fi
r=$(bench_ratio "$ns_unsigned" "$ns_loop")
bench_result "outbox: vs cat as sendmail" "$(rate "$ns_unsigned")" "shell loop, cat" \
	"$(rate "$ns_loop")" "$r" "-" "-"
