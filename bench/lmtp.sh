#!/bin/sh
# bench/lmtp.sh [N [SESSIONS]]: mdir-receive --lmtp (resident, SESSIONS
# concurrent LMTP sessions, 4 by default) against the pipe mode (one
# process per message, one at a time and SESSIONS at a time), against
# the floor of one process per message that copies stdin to a file with
# fsync and rename (SESSIONS at a time), and, if Debian's dovecot-lmtpd
# is installed, against Dovecot's LMTP into a Maildir (a private
# instance: nothing of the system's configuration is used or changed).
# The same generated corpus, the same run, on disk (/var/tmp).  Prints
# messages/s, the ratios, and the median and 90th percentile time from
# the end of DATA to the 250 under the LMTP load.  The LMTP client is
# Python's smtplib, one process per session, the same for mdir and
# Dovecot.  As root it installs dovecot-lmtpd and bc when missing.
set -eu
n=${1:-400}
par=${2:-4}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MDIR_BUILD:-$top/build}/bin
[ -x "$bin/mdir-receive" ] || { echo "bench: build first (make)" >&2; exit 1; }
command -v cc >/dev/null || { echo "bench: needs cc" >&2; exit 1; }
. "$top/bench/lib.sh"
if [ "$(id -u)" = 0 ]; then bench_need dovecot-lmtpd bc; fi

W=$(mktemp -d /var/tmp/mdir-bench-lmtp.XXXXXX) # on disk, as mail is
SRV=
DOVE=
cleanup() { # servers that are gone already (a signal to the group) are no error
	[ -z "$SRV" ] || kill $SRV 2>/dev/null || true
	[ -z "$DOVE" ] || kill "$DOVE" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
chmod 755 "$W"
/usr/bin/python3 "$top/bench/gen-corpus.py" "$W/corpus" "$n" >/dev/null
bytes=$(cat "$W"/corpus/*.eml | wc -c)
export MDIR_ROOT="$W/root" MDIR_CONF="$W/mdir.conf"
printf '[receive]\nlmtp_max_sessions = %d\n' $((par + 2)) >"$MDIR_CONF"
"$bin/mstore" mkdir SMTP/Accounts/jo@example.org >/dev/null

# the floor: stdin to a file, fsync, rename, fsync of the directory
cat >"$W/floor.c" <<'EOF'
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int
main(int argc, char **argv)
{
	char buf[65536], tmp[4096], dst[4096];
	ssize_t n;
	int fd, dfd;

	snprintf(tmp, sizeof(tmp), "%s/.tmp.%d", argv[1], (int)getpid());
	snprintf(dst, sizeof(dst), "%s/%s", argv[1], argv[2]);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return 75;
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (write(fd, buf, n) != n)
			return 75;
	if (n < 0 || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, dst) < 0)
		return 75;
	if ((dfd = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0 || fsync(dfd) < 0)
		return 75;
	return (void)argc, 0;
}
EOF
cc -O2 -o "$W/floor" "$W/floor.c"
mkdir -p "$W/floor.out"

# the LMTP client: SESSIONS processes, messages dealt round-robin; prints
# the elapsed ns, then every latency (end of DATA to the reply) in µs
cat >"$W/client.py" <<'EOF'
import multiprocessing, os, smtplib, sys, time

def wire(data):
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((l[:-1] if l.endswith(b"\r") else l) + b"\r\n" for l in lines)

def run(args):
    sock, files = args
    c = smtplib.LMTP()
    c.connect(sock)
    c.ehlo()
    lat = []
    for f in files:
        data = smtplib._quote_periods(wire(open(f, "rb").read())) + b".\r\n"
        assert c.mail("s@sender.test")[0] == 250
        assert c.rcpt("jo@example.org")[0] == 250
        assert c.docmd("DATA")[0] == 354
        c.send(data)
        t = time.monotonic_ns()
        code = c.getreply()[0]
        lat.append((time.monotonic_ns() - t) // 1000)
        assert code == 250, code
    c.quit()
    return lat

sock, par, files = sys.argv[1], int(sys.argv[2]), sorted(sys.argv[3:])
with multiprocessing.Pool(par) as pool:
    start = time.monotonic_ns()
    lats = pool.map(run, [(sock, files[i::par]) for i in range(par)])
    ns = time.monotonic_ns() - start
print(ns)
for l in lats:
    for x in l:
        print(x)
EOF

# Between ways the files are set aside (renamed), not removed
# (bench_set_aside); cleanup() removes them at the end.
clean() {
	bench_set_aside "$W" "$MDIR_ROOT/.mdird/queue $W/floor.out" "$MDIR_ROOT/.mstore/msg" \
		"$MDIR_ROOT/.mdird/keys" "$W/dovecot/Maildir"
	sync
}
now() { date +%s%N; }
pipe_one() { "$bin/mdir-receive" -f s@sender.test -a 192.0.2.1 -- jo@example.org <"$1" >/dev/null; }
pipe_seq() {
	t=$(now)
	for f in "$W"/corpus/*.eml; do pipe_one "$f"; done
	echo $(($(now) - t))
}
pipe_par() {
	t=$(now)
	ls "$W"/corpus/*.eml | xargs -P "$par" -I{} sh -c \
		"exec '$bin/mdir-receive' -f s@sender.test -- jo@example.org <{} >/dev/null"
	echo $(($(now) - t))
}
floor_par() {
	t=$(now)
	ls "$W"/corpus/*.eml | xargs -P "$par" -I{} sh -c \
		"exec '$W/floor' '$W/floor.out' \$(basename {}) <{}"
	echo $(($(now) - t))
}
lmtp_run() { # SOCKET: elapsed ns on the first line, latencies after
	/usr/bin/python3 "$W/client.py" "$1" "$par" "$W"/corpus/*.eml
}

"$bin/mdir-receive" --lmtp=unix:"$W/lmtp.sock" 2>"$W/lmtp.err" &
SRV=$!
# the same without group commit, each session syncing alone
{ cat "$MDIR_CONF"; printf 'lmtp_group_commit = false\n'; } >"$W/alone.conf"
"$bin/mdir-receive" -c "$W/alone.conf" --lmtp=unix:"$W/alone.sock" 2>"$W/alone.err" &
SRV="$SRV $!"
# and with [mdir] sync = fsync: its own files flushed, as Dovecot and the
# floor do, not every writer's of the file system as syncfs(2) does
{ printf '[mdir]\nsync = fsync\n'; cat "$MDIR_CONF"; } >"$W/fsync.conf"
"$bin/mdir-receive" -c "$W/fsync.conf" --lmtp=unix:"$W/fsync.sock" 2>"$W/fsync.err" &
SRV="$SRV $!"
i=0
while { [ ! -S "$W/lmtp.sock" ] || [ ! -S "$W/alone.sock" ] || [ ! -S "$W/fsync.sock" ]; } &&
	[ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done

# Dovecot's LMTP, a private instance, if installed
dove=no
if [ -x /usr/lib/dovecot/lmtp ] && [ "$(id -u)" = 0 ]; then
	mkdir -p "$W/dovecot/run"
	chown nobody "$W/dovecot"
	# only LMTP, on a unix socket in its own base_dir; any recipient is
	# one static user (nobody) with a Maildir under $W; mail_fsync =
	# always: each message is synced before its 250, as mdir's are
	cat >"$W/dovecot/dovecot.conf" <<EOF
base_dir = $W/dovecot/run
state_dir = $W/dovecot/state
protocols = lmtp
listen = 127.0.0.1
ssl = no
log_path = $W/dovecot/log
mail_location = maildir:$W/dovecot/Maildir
mail_fsync = always
passdb {
  driver = static
  args = nopassword
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$W/dovecot
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
EOF
	/usr/sbin/dovecot -F -c "$W/dovecot/dovecot.conf" &
	DOVE=$!
	i=0
	while [ ! -S "$W/dovecot/run/lmtp" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ -S "$W/dovecot/run/lmtp" ] && dove=yes
fi

printf 'corpus: %d messages, %.1f MB (bench/gen-corpus.py); %d at a time\n\n' "$n" \
	"$(echo "$bytes / 1048576" | bc -l)" "$par"
printf '%-28s %9s %8s\n' way msgs/s ms/msg
report() { # NAME NS
	printf '%-28s %9.0f %8.2f\n' "$1" "$(echo "$n * 10^9 / $2" | bc -l)" \
		"$(echo "$2 / 10^6 / $n" | bc -l)"
}
# The ones the targets compare (mdir LMTP, the floor, Dovecot) take turns
# for ROUNDS rounds (BENCH_LMTP_ROUNDS, 3): on a machine others share, the
# load changes by the second; each figure is the median of its rounds, the
# latencies those of all rounds.  The others once.
rounds=${BENCH_LMTP_ROUNDS:-3}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
clean; lmtp_run "$W/lmtp.sock" >/dev/null # warm the page cache and the servers
if [ $dove = yes ]; then clean; lmtp_run "$W/dovecot/run/lmtp" >/dev/null; fi
: >"$W/lmtp.lat"
: >"$W/dove.lat"
all_lmtp= all_floor= all_dove= all_fsync=
r=1
while [ $r -le "$rounds" ]; do
	clean; lmtp_run "$W/lmtp.sock" >"$W/lmtp.out"
	all_lmtp="$all_lmtp $(head -n 1 "$W/lmtp.out")"
	tail -n +2 "$W/lmtp.out" >>"$W/lmtp.lat"
	report "mdir LMTP, $par sessions" "$(head -n 1 "$W/lmtp.out")"
	clean; lmtp_run "$W/fsync.sock" >"$W/fsync.out"
	all_fsync="$all_fsync $(head -n 1 "$W/fsync.out")"
	report "  the same, sync = fsync" "$(head -n 1 "$W/fsync.out")"
	clean; ns=$(floor_par)
	all_floor="$all_floor $ns"
	report "floor (copy+fsync), $par" "$ns"
	if [ $dove = yes ]; then
		clean; lmtp_run "$W/dovecot/run/lmtp" >"$W/dove.out"
		# every 250 was a message in the Maildir, or the run measured nothing
		got=$(ls "$W/dovecot/Maildir/new" | wc -l)
		[ "$got" = "$n" ] || { echo "bench: dovecot stored $got of $n" >&2; cat "$W/dovecot/log" >&2; exit 1; }
		all_dove="$all_dove $(head -n 1 "$W/dove.out")"
		tail -n +2 "$W/dove.out" >>"$W/dove.lat"
		report "dovecot LMTP, $par sessions" "$(head -n 1 "$W/dove.out")"
	fi
	r=$((r + 1))
done
ns_lmtp=$(median $all_lmtp)
ns_floor=$(median $all_floor)
ns_fsync=$(median $all_fsync)
[ $dove = no ] || ns_dove=$(median $all_dove)
clean; lmtp_run "$W/alone.sock" >"$W/alone.out"
ns_alone=$(head -n 1 "$W/alone.out")
report "mdir LMTP, no group commit" "$ns_alone"
clean; ns_pseq=$(pipe_seq)
report "mdir pipe, 1 at a time" "$ns_pseq"
clean; ns_ppar=$(pipe_par)
report "mdir pipe, $par at a time" "$ns_ppar"
clean
echo "medians of $rounds rounds:"
report "  mdir LMTP, $par sessions" "$ns_lmtp"
report "  the same, sync = fsync" "$ns_fsync"
report "  floor (copy+fsync), $par" "$ns_floor"
[ $dove = no ] || report "  dovecot LMTP, $par sessions" "$ns_dove"

pct() { sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { printf "%.1f", v[int((NR - 1) * p) + 1] / 1000 }'; }
printf '\nend of DATA to 250, mdir LMTP: median %s ms, 90th percentile %s ms\n' \
	"$(pct "$W/lmtp.lat" 0.5)" "$(pct "$W/lmtp.lat" 0.9)"
[ $dove = no ] || printf 'end of DATA to 250, dovecot:   median %s ms, 90th percentile %s ms\n' \
	"$(pct "$W/dove.lat" 0.5)" "$(pct "$W/dove.lat" 0.9)"
printf '\nmdir LMTP / without group commit:     %.2fx\n' "$(echo "$ns_alone / $ns_lmtp" | bc -l)"
printf 'mdir LMTP / mdir pipe (1 at a time):  %.2fx\n' "$(echo "$ns_pseq / $ns_lmtp" | bc -l)"
printf 'mdir LMTP / mdir pipe (%d at a time):  %.2fx\n' "$par" "$(echo "$ns_ppar / $ns_lmtp" | bc -l)"
printf 'mdir LMTP / floor (%d at a time):      %.2fx\n' "$par" "$(echo "$ns_floor / $ns_lmtp" | bc -l)"
if [ $dove = yes ]; then
	printf 'mdir LMTP / dovecot LMTP:             %.2fx\n' "$(echo "$ns_dove / $ns_lmtp" | bc -l)"
else
	echo "dovecot LMTP: not measured (needs dovecot-lmtpd installed, and root)"
fi

# for make bench (bench/lib.sh)
rate() { awk -v n="$n" -v ns="$1" 'BEGIN { printf "%.0f", n * 1e9 / ns }'; }
r=$(bench_ratio "$ns_floor" "$ns_lmtp")
bench_result "lmtp: $par sessions vs the floor" "$(rate "$ns_lmtp") msg/s" \
	"copy+fsync+rename, $par at a time" "$(rate "$ns_floor") msg/s" "$r" ">= 1.0x" \
	"$(bench_met "$r" ge 1.0)"
if [ $dove = yes ]; then
	r=$(bench_ratio "$ns_dove" "$ns_lmtp")
	bench_result "lmtp: $par sessions vs dovecot" "$(rate "$ns_lmtp") msg/s" \
		"dovecot-lmtpd, mail_fsync=always" "$(rate "$ns_dove") msg/s" "$r" ">= 2.0x" \
		"$(bench_met "$r" ge 2.0)"
	bench_result "lmtp: end of DATA to 250, median" "$(pct "$W/lmtp.lat" 0.5) ms" \
		"dovecot-lmtpd" "$(pct "$W/dove.lat" 0.5) ms" \
		"$(bench_ratio "$(pct "$W/lmtp.lat" 0.5)" "$(pct "$W/dove.lat" 0.5)")" "reported" "-"
else
	bench_result "lmtp: $par sessions vs dovecot" "$(rate "$ns_lmtp") msg/s" \
		"dovecot-lmtpd: not run" "-" "-" ">= 2.0x" "not measured"
	bench_result "lmtp: end of DATA to 250, median" "$(pct "$W/lmtp.lat" 0.5) ms" \
		"-" "-" "-" "reported" "-"
fi
if [ $dove = yes ]; then
	r=$(bench_ratio "$ns_dove" "$ns_fsync")
	bench_result "lmtp: the same, sync = fsync" "$(rate "$ns_fsync") msg/s" \
		"dovecot-lmtpd, mail_fsync=always" "$(rate "$ns_dove") msg/s" "$r" ">= 2.0x" \
		"$(bench_met "$r" ge 2.0)"
fi
bench_result "lmtp: group commit" "$(rate "$ns_lmtp") msg/s" "mdir LMTP, each session syncing alone" \
	"$(rate "$ns_alone") msg/s" "$(bench_ratio "$ns_alone" "$ns_lmtp")" "-" "-"
