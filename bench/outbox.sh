#!/bin/sh
# bench/outbox.sh [N]: mdir-outbox sending N messages to a sendmail that
# only reads its input, against a shell loop calling that sendmail
# directly (the overhead ratio); then the same with an RSA key, an Ed25519
# key and both, for what DKIM signing costs a message.
set -eu
n=${1:-300}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${MDIR_BUILD:-$top/build}/bin
[ -x "$bin/mdir-outbox" ] || { echo "bench: build first (make)" >&2; exit 1; }
W=$(mktemp -d /var/tmp/mdir-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
export MDIR_ROOT=$W/root
printf '#!/bin/sh\nexec cat >/dev/null\n' >"$W/sendmail"
chmod +x "$W/sendmail"
openssl genrsa -out "$W/rsa.pem" 2048 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$W/ed.pem" 2>/dev/null
chmod 600 "$W/rsa.pem" "$W/ed.pem"
/usr/bin/python3 "$top/bench/gen-corpus.py" "$W/corpus" "$n"
# an account's own outbox sends as the account only (mdir-outbox(1)): the
# corpus is jo's mail
sed -i 's/^From: .*/From: Jo <jo@example.org>/' "$W"/corpus/*.eml
OUT=SMTP/Accounts/jo@example.org/Outbox
conf() { # KEYS...: a config with those keys
	printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\ndkim_domain = example.org\ndkim_selector = b\n' \
		"$MDIR_ROOT" "$W/sendmail"
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
}
run() { # LABEL KEYS...: one run over the whole outbox, timed
	label=$1
	shift
	conf "$@" >"$W/c.conf"
	fill
	start=$(date +%s%N)
	"$bin/mdir-outbox" -c "$W/c.conf"
	ns=$(($(date +%s%N) - start))
	left=$(ls "$MDIR_ROOT/$OUT" | wc -l)
	[ "$left" = 0 ] || echo "bench: $left messages left in the outbox" >&2
	# what is timed is sending: a run that failed them measured nothing
	sent=$(ls "$MDIR_ROOT/SMTP/Sent" 2>/dev/null | wc -l)
	[ "$sent" = "$n" ] || { echo "bench: $sent of $n messages sent" >&2; exit 1; }
	printf '%-22s %9.0f %9.2f\n' "$label" "$(echo "$n * 10^9 / $ns" | bc -l)" \
		"$(echo "$ns / 10^6 / $n" | bc -l)"
	eval "ns_$label=$ns"
}

printf 'corpus: %d messages (bench/gen-corpus.py)\n\n%-22s %9s %9s\n' "$n" "" msgs/s ms/msg
start=$(date +%s%N)
for f in "$W"/corpus/*.eml; do "$W/sendmail" -i -f a@example.org -- b@example.net <"$f"; done
ns_loop=$(($(date +%s%N) - start))
printf '%-22s %9.0f %9.2f\n' "shell-loop" "$(echo "$n * 10^9 / $ns_loop" | bc -l)" \
	"$(echo "$ns_loop / 10^6 / $n" | bc -l)"
run unsigned
run rsa rsa
run ed25519 ed
run both rsa ed
printf '\noverhead, unsigned mdir-outbox / shell loop: %.2fx\n' "$(echo "$ns_unsigned / $ns_loop" | bc -l)"
printf 'signing a message: rsa-sha256 %.2f ms, ed25519-sha256 %.2f ms, both %.2f ms\n' \
	"$(echo "($ns_rsa - $ns_unsigned) / 10^6 / $n" | bc -l)" \
	"$(echo "($ns_ed25519 - $ns_unsigned) / 10^6 / $n" | bc -l)" \
	"$(echo "($ns_both - $ns_unsigned) / 10^6 / $n" | bc -l)"
