#!/bin/sh
# The policy service asked by a real Postfix, with the README's
# smtpd_recipient_restrictions (on the private instance's second smtpd,
# for which 127.0.0.1 is not in mynetworks; the first, for which it is,
# never asks): swaks sees 450 on the first try, 450
# one second short of the greylisting delay and 250 at it (the service's
# clock set by the test, tests/lib/clock.sh), 550 for an unknown
# recipient, and a rejection once the IP is blacklisted.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
. "$MDIR_SRC/tests/lib/clock.sh"
pf_require
clock_require
plan 9

mstore mkdir SMTP/Accounts/jo@example.test >/dev/null
# the README's smtpd_recipient_restrictions, its check_policy_service
# on a free port of the test ($PF_POLICY_PORT)
pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }
chown -R "$PF_USER" "$MDIR_ROOT"
sport=$PF_POLICY_PORT
printf '[stats]\npolicy_listen = inet:127.0.0.1:%s\ngreylist_delay = 2s\nblacklist_threshold = 2\n' "$sport" >>"$PF/mdir.conf"
printf '[receive]\nlocal_domains = example.test\n' >>"$PF/mdir.conf"
t0=$(date +%s)
clock_set $t0
clock_exec runuser -u "$PF_USER" -- "$PF_BIN/smtp-stats" -c "$PF/mdir.conf" policy 2>"$T/policy.log" &
SP=$!
stop_sp() { kill "$SP" 2>/dev/null; }
at_exit stop_sp
listening() { ss -Htln "( sport = :$sport )" | grep -q .; }
wait_for 10 listening || { echo "Bail out! the policy service did not start"; exit 1; }
# swaks to the smtpd for which 127.0.0.1 is not in mynetworks (or, with
# a third argument, another port); the RCPT reply code in $code
try() {
	swaks --server 127.0.0.1:${3:-$((PF_PORT + 2))} --timeout 20 --helo client.test --from "$1" --to "$2" \
		--quit-after RCPT >"$T/swaks.out" 2>&1
	code=$(awk '/RCPT TO:/ { r = 1; next }
		r && /^ *<[-*~]* *[0-9][0-9][0-9]/ { match($0, /[0-9][0-9][0-9]/); print substr($0, RSTART, 3); exit }' \
		"$T/swaks.out")
}
# as the README says: permit_mynetworks comes first, so that the own
# network is never asked about (Postfix's plain listener)
try ann@sender.test jo@example.test $PF_PORT
is "$code" 250 "a client in mynetworks is not greylisted (permit_mynetworks first)"
try ann@sender.test jo@example.test
is "$code" 450 "from elsewhere, the first try: 450 (greylisted)"
like "$(grep -m1 'greylisted' "$T/swaks.out")" "4\.7\.1 .*greylisted: first time" "with the reason"
# the delay is 2 s: one second short is still too soon, the delay itself passes
clock_set $((t0 + 1))
try ann@sender.test jo@example.test
is "$code" 450 "one second before the delay: still 450"
clock_set $((t0 + 2))
try ann@sender.test jo@example.test
is "$code" 250 "at the delay: 250"
try ann@sender.test nobody@example.test
is "$code" 550 "an unknown recipient: 550"
like "$(grep -m1 '5\.1\.1' "$T/swaks.out")" "no such mailbox" "5.1.1 and why"
try ann@sender.test nobody2@example.test
try ann@sender.test jo@example.test
is "$code" 554 "past the threshold the IP is blacklisted: rejected"
like "$(grep -m1 'blacklisted' "$T/swaks.out")" "127\.0\.0\.1 is blacklisted" "saying so"
