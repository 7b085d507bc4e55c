#!/bin/sh
# mdir-web in a real browser (issue 13): headless Chromium driven by
# Selenium (tests/lib/web-browser.py) against an mdir-web over a root
# with delivered mail, an mdird and the policy service.  Logs in (a page
# first sends it to the login), reads Today's figures and finds them
# equal to smtp-stats report's, adds an account and sees mail delivered
# to it, blacklists an IP and sees the policy service refuse it, downloads
# an attachment byte for byte what was sent, logs out.  A screenshot of
# each page is left in $T/shots (MDIR_WEB_SHOTS=DIR keeps them).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/mdird.sh"
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] ||
	skip_all "chromium and chromium-driver are not installed (make deps)"
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
	skip_all "python3-selenium is not installed (make deps)"
plan 23

C=$MD_CONF
free_ports 1
printf '#!/bin/sh\ncat >/dev/null\n' >"$T/sendmail"
chmod +x "$T/sendmail"
cat >>"$C" <<CONF
[receive]
local_domains = example.test
role_accounts = false
[outbox]
sendmail = $T/sendmail
[stats]
policy_listen = unix:$T/policy.sock
[web]
listen = inet:127.0.0.1:$PORT
CONF
JO=SMTP/Accounts/jo@example.test
mstore -c "$C" account add jo@example.test >/dev/null
mstore -c "$C" mkdir "$JO/Outbox" >/dev/null
for i in 1 2; do
	sed "s/^Message-ID: .*/Message-ID: <b$i@t>/" "$DATA/multipart-mixed.eml" |
		mdir-receive -c "$C" -a 192.0.2.$i -f a@senders.test -- jo@example.test
done
mdir-receive -c "$C" -a 198.51.100.1 -f alice@sender.test -- jo@example.test \
	<"$DATA/web-attachment-utf8-name.eml"
printf 'From: jo@example.test\nTo: x@far.test\nSubject: out\n\nhello\n' >"$MDIR_ROOT/$JO/Outbox/out.eml"
mdir-outbox -c "$C"
md_start
md_drain
ok $? "mdird filed the mail"

# the policy service, with a greylisted request and an unknown recipient
smtp-stats -c "$C" policy 2>"$T/policy.log" &
POL=$!
stop_policy() { kill "$POL" 2>/dev/null; wait "$POL" 2>/dev/null; true; }
at_exit stop_policy
wait_for 10 test -S "$T/policy.sock"
ask() {
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=%s\nrecipient=%s\n\n' "$@" |
		timeout 10 socat -t 5 - UNIX-CONNECT:"$T/policy.sock" | sed -n 's/^action=//p'
}
like "$(ask 192.0.2.50 first@far.test jo@example.test)" "greylisted" "a new triplet is greylisted"
like "$(ask 192.0.2.51 x@far.test nobody@example.test)" "^550 5\.1\.1" "an unknown recipient is refused"

# the web page, its admin set from standard input
printf 'pass word\npass word\n' | mdir-web -c "$C" --passwd admin 2>"$T/passwd.err"
ok $? "mdir-web --passwd reads the password twice from standard input"
mdir-web -c "$C" 2>"$T/web.log" &
WEB=$!
stop_web() { kill "$WEB" 2>/dev/null; wait "$WEB" 2>/dev/null; true; }
at_exit stop_web
wait_for 10 sh -c "ss -Htln '( sport = :$PORT )' | grep -q ."
ok $? "mdir-web listens on [web] listen"

SHOTS=$T/shots
mkdir -p "$SHOTS" "$T/downloads"
HOME=$T timeout 400 /usr/bin/python3 "$MDIR_SRC/tests/lib/web-browser.py" "http://127.0.0.1:$PORT" \
	admin 'pass word' "$SHOTS" "$T/downloads" new@example.test 203.0.113.77 "$JO" \
	'Übersicht 2026.bin' >"$T/browser.out" 2>"$T/browser.err"
ok $? "the browser went through every page"
browser_ok=$?
# whether mdir-web was there for the browser to the end, and if not, how it ended
web_end=running
if ! kill -0 "$WEB" 2>/dev/null; then
	wait "$WEB"
	web_end="ended with status $? (99: a sanitizer's report, 128+N: signal N)"
fi
step() { sed -n "s/^$1 //p" "$T/browser.out" | head -n 1; }

is "$(step redirected)" "/login" "a page without a login sends the browser to /login"
is "$(step logged-in)" "/" "logged in: Today"

# the figures are smtp-stats report's
smtp-stats -c "$C" report --format json >"$T/report.json"
want=$(/usr/bin/python3 - "$T/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
acc = r["accounts"]
pol = {p["decision"]: p["requests"] for p in r["policy"]}
print("received=%d sent=%d spam=%d greylisted=%d rejected=%d" % (
    sum(a["messages in"] for a in acc), sum(a["deliveries out"] for a in acc),
    sum(s["spam"] for s in r["spammers"]), pol.get("greylisted", 0),
    pol.get("blacklisted", 0) + pol.get("unknown-recipient", 0) + pol.get("spam-ratio", 0)))
PY
)
got=$(sed -n 's/^figure //p' "$T/browser.out" | grep -Ev '^(deferred|failed)=' | tr '\n' ' ' | sed 's/ $//')
is "$got" "$want" "Today's figures are smtp-stats report's"
like "$want" "received=3 sent=1 spam=0 greylisted=1 rejected=1" "and they are the day's"
like "$(step charts)" "^2 [0-9]+$" "the day's and the month's charts, with hover values"

# an account added, and mail delivered to it
like "$(step account-add)" "^ok new@example.test: add" "an account added with the form"
like "$(step account-bad)" "^error .*not one of \[receive\] local_domains" "a bad address: said"
is "$(ls "$MDIR_ROOT/SMTP/Accounts" | tr '\n' ' ')" "jo@example.test new@example.test " "and nothing made for it"
sed "s/^Message-ID: .*/Message-ID: <b9@t>/" "$DATA/multipart-mixed.eml" |
	mdir-receive -c "$C" -a 192.0.2.9 -f a@senders.test -- new@example.test
ok $? "mdir-receive takes mail for the new account"
md_drain
ls "$MDIR_ROOT/SMTP/Accounts/new@example.test" | grep -q '^report\.pdf$'
ok $? "mdird filed it into the new account's folder"

# an IP blacklisted: the policy service refuses it
like "$(step blacklist)" "^ok 203\.0\.113\.77 blacklisted" "an IP blacklisted with the form"
like "$(ask 203.0.113.77 someone@far.test jo@example.test)" "^REJECT 5\.7\.1 203\.0\.113\.77 is blacklisted" \
	"the policy service refuses it at once"

# the attachment, byte for byte what was sent
/usr/bin/python3 - "$DATA/web-attachment-utf8-name.eml" "$T/sent.bin" <<'PY'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
a = next(m.iter_attachments())
open(sys.argv[2], "wb").write(a.get_content())
PY
is "$(step downloaded)" "Übersicht 2026.bin" "downloaded under its own name (filename*=UTF-8'')"
cmp -s "$T/sent.bin" "$T/downloads/Übersicht 2026.bin"
ok $? "byte for byte the attachment that was sent"

is "$(step logged-out)" "/login" "logged out: back to the login, and no page without it"
n=$(ls "$SHOTS"/*.png 2>/dev/null | wc -l)
ok "$([ "$n" -ge 7 ] && echo 0 || echo 1)" "a screenshot of each page ($n)"
grep -q 'user=admin action=account-add address=new@example.test' "$T/web.log" &&
	grep -q 'user=admin action=blacklist-add ip=203.0.113.77' "$T/web.log"
ok $? "each change logged with who made it"
if [ -n "${MDIR_WEB_SHOTS:-}" ]; then
	mkdir -p "$MDIR_WEB_SHOTS" && cp "$SHOTS"/*.png "$MDIR_WEB_SHOTS"/
fi
# last, so that the runner's tail of a failure shows where the browser stopped
if [ "$browser_ok" != 0 ]; then
	tail -n 4 "$T/browser.err" | sed 's/^/# browser: /'
	diag "mdir-web, when the browser stopped: $web_end"
	# a sanitizer's report: its first line and the frames that say where
	if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$T/web.log"; then
		grep -m 1 -A 14 'ERROR: AddressSanitizer\|runtime error:' "$T/web.log" |
			grep -v '^ *$' | cut -c 1-160 | sed 's/^/# mdir-web: /'
	else
		tail -n 6 "$T/web.log" | sed 's/^/# mdir-web: /'
	fi
fi
