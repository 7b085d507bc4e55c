#!/bin/sh
# mdir-outbox's DKIM signatures, rsa-sha256 and ed25519-sha256, checked
# offline by two independent verifiers (opendkim -t, python3-dkim) on
# messages that are hard to sign right; a tampered message fails.  The
# log line of a send says what it was signed with.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/dkim.sh"
command -v opendkim >/dev/null || skip_all "opendkim is not installed (make deps)"
/usr/bin/python3 -c 'import dkim' 2>/dev/null || skip_all "python3-dkim is not installed"
plan 42

dk_keys
printf '#!/bin/sh\ncat >"%s/sent.eml"\n' "$T" >"$T/sendmail"
chmod +x "$T/sendmail"
printf '[mdir]\nroot = %s\nlog_file = %s\n[outbox]\nsendmail = %s\n%s\n' "$MDIR_ROOT" \
	"$T/log" "$T/sendmail" "$DK_CONF" >"$T/c.conf"
dk_records "$T/c.conf"
like "$(cat "$T/records.txt")" '^s1\._domainkey\.example\.org\. IN TXT \( "v=DKIM1; k=rsa; p=MII' \
	"--dkim-record: the RSA key's record"
like "$(cat "$T/records.txt")" 's1-ed25519\._domainkey\.example\.org\. IN TXT \( "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=" \)' \
	"and the Ed25519 one: the raw 32-byte key"
mstore mkdir SMTP/Accounts/jo@example.org/Outbox >/dev/null
O=$MDIR_ROOT/SMTP/Accounts/jo@example.org/Outbox

# NAME, then the message on stdin: sent through mdir-outbox, then verified
check() {
	cat >"$O/$1.eml"
	rm -f "$T/sent.eml"
	mdir-outbox -c "$T/c.conf" >"$T/out" 2>&1
	dk_opendkim "$T/sent.eml"
	ok $? "$1: opendkim verifies both signatures"
	is "$(dk_python "$T/sent.eml")" "True True" "$1: python3-dkim verifies both"
}
long=$(printf 'x%.0s' $(seq 1 200))
printf 'From: Jo <jo@example.org>\nTo: a@example.net,\n  b@example.net,\n\tc@example.net\nSubject: a very long subject %s\n  that folds twice\n   and again\nList-Id: <l.example.org>\n\nbody\n' "$long" >"$T/m"
check folded-headers <"$T/m"
like "$(grep 'entry=SMTP/Accounts/jo@example.org/Outbox/folded-headers.eml' "$T/log")" \
	' status=sent sendmail=0 signed=rsa-sha256,ed25519-sha256 d=example\.org s=s1,s1-ed25519 entry=' \
	"the log line: signed with both algorithms for the domain, and the selectors"
printf 'From: =?utf-8?q?J=C3=B6?= <jo@example.org>\nTo: a@example.net\nSubject: Grüße aus Köln\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nSchöne Grüße, café\n' >"$T/m"
check eight-bit <"$T/m"
/usr/bin/python3 -c 'import sys; sys.exit(max(open(sys.argv[1], "rb").read()) >= 128)' "$T/sent.eml"
ok $? "eight-bit: made 7-bit before signing"
like "$(grep -i '^Subject:' "$T/sent.eml")" '^Subject: =\?(utf|UTF)-8\?' "the Subject by RFC 2047"
is "$(mstore cat SMTP/Sent/eight-bit.eml | grep -ci '^content-transfer-encoding: \(quoted-printable\|base64\)')" 1 \
	"the body by a 7-bit transfer encoding, kept so in SMTP/Sent"
printf 'From: jo@example.org\nTo: a@example.net\nSubject: empty\n\n' >"$T/m"
check empty-body <"$T/m"
printf 'From: jo@example.org\nTo: a@example.net\nSubject: blank lines\n\ntext  with   spaces \t\n\n\n\n' >"$T/m"
check trailing-blank-lines <"$T/m"
printf 'From: jo@example.org\r\nTo: a@example.net\r\nSubject: crlf\r\n\r\nline one\r\nline two\r\n' >"$T/m"
check crlf <"$T/m"
printf 'From: jo@example.org\nTo: a@example.net\nSubject: no final newline\n\nlast line' >"$T/m"
check no-final-newline <"$T/m"
printf 'From: jo@example.org\nTo: a@example.net\nSubject: headers only' >"$T/m"
check no-body <"$T/m"
like "$(sed -n '/^DKIM-Signature: v=1; a=rsa/,/b=/p' "$T/sent.eml" | tr -d '\n\t ')" \
	'h=from:from:(sender:)?(reply-to:)?subject:subject' "From and Subject are oversigned"

# tampering: each verifier must now say no
sed 's/^Subject: headers only/Subject: tampered/' "$T/sent.eml" >"$T/bad.eml"
dk_opendkim_fails "$T/bad.eml"
ok $? "a changed Subject: opendkim says fail"
is "$(dk_python "$T/bad.eml")" "False False" "and python3-dkim"
printf 'From: jo@example.org\nTo: a@example.net\nSubject: body\n\noriginal\n' >"$T/m"
check body <"$T/m"
sed 's/^original$/changed/' "$T/sent.eml" >"$T/bad.eml"
is "$(dk_python "$T/bad.eml")" "False False" "a changed body fails"
{ printf 'From: evil@example.com\n'; cat "$T/sent.eml"; } >"$T/bad.eml"
is "$(dk_python "$T/bad.eml")" "False False" "a From added on top fails (oversigned)"

# absent headers are oversigned too (issue 16.9): none can be added later
printf 'From: jo@example.org\nTo: a@example.net\nSubject: plain\n\nplain\n' >"$T/m"
check oversigned <"$T/m"
h=$(sed -n '/^DKIM-Signature: v=1; a=rsa/,/b=/p' "$T/sent.eml" | tr -d '\n\t ' | sed 's/.*;h=\([^;]*\);.*/\1/')
for f in reply-to sender cc content-type mime-version content-transfer-encoding in-reply-to references; do
	printf '%s\n' "$h" | tr ':' '\n' | grep -qx "$f" || break
done
is "$f" references "h= names the absent Reply-To, Sender, Cc, Content-Type, MIME-Version, ... ($h)"
for add in 'Reply-To: evil@example.com' 'Sender: evil@example.com' 'Cc: victim@example.com' \
	'Content-Type: text/html' 'In-Reply-To: <x@example.com>'; do
	{ printf '%s\n' "$add"; cat "$T/sent.eml"; } >"$T/bad.eml"
	is "$(dk_python "$T/bad.eml")" "False False" "${add%%:*} added on top: fails"
done
{ printf 'Reply-To: evil@example.com\n'; cat "$T/sent.eml"; } >"$T/bad.eml"
dk_opendkim_fails "$T/bad.eml"
ok $? "opendkim agrees: both signatures fail verification (not any error)"

# only a From in a local domain is signed (issue 16.4): a forward of a
# remote message goes out as it came
F=$MDIR_ROOT/SMTP/Outbox
mkdir -p "$F/.meta"
printf 'From: ceo@elsewhere.test\nTo: jo@example.org\nSubject: fwd\n\nx\n' >"$F/fwd.eml"
printf 'outbox-sender: jo@example.org\noutbox-recipient: me@phone.test\n' >"$F/.meta/fwd.eml"
rm -f "$T/sent.eml"
mdir-outbox -c "$T/c.conf" >"$T/out" 2>&1
is "$(grep -c '^From: ceo@elsewhere.test' "$T/sent.eml" 2>/dev/null)" 1 "a forward of a remote message is sent"
is "$(grep -c '^DKIM-Signature:' "$T/sent.eml")" 0 "but not signed: its From is not ours"
like "$(grep 'entry=SMTP/Outbox/fwd.eml' "$T/log")" ' status=sent sendmail=0 signed=no entry=' \
	"and logged so"

# a key readable by others is refused, and nothing goes out unsigned
chmod 644 "$T/rsa.pem"
printf 'From: jo@example.org\nTo: a@example.net\nSubject: k\n\nk\n' >"$O/k.eml"
rm -f "$T/sent.eml"
expect_code 78 "a world-readable key: EX_CONFIG" -- mdir-outbox -c "$T/c.conf"
like "$err" "rsa.pem: a private key readable by group or others \(mode 0644\); chmod 600 it" "says why"
ok "$([ ! -e "$T/sent.eml" ]; echo $?)" "and sends nothing"
