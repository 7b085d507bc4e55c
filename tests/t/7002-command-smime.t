#!/bin/sh
# mdir-command with S/MIME, without Postfix: requests made by openssl cms
# and openssl smime, on stdin under env -i as pipe(8) runs it.  Signed
# (detached, and by the old smime command) and signed then encrypted are
# answered: the answer in SMTP/Outbox is signed by the server (openssl cms
# -verify -CAfile takes it) and, for an encrypted request, encrypted to
# the sender (decrypted with the sender's key).  Every refusal (another
# CA, another's certificate, no certificate for the address, expired,
# revoked, a tampered body, encrypted only, not S/MIME) gets no answer, a
# notice in the admin's account, a log line with its code, exit 0 (never
# 75: Postfix would retry a forged request for days).  A missing key file
# is the setup's: exit 75, a clear line.  auth = both wants the TOTP code
# in the subject as well as the signature.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/smime.sh"
command -v oathtool >/dev/null || skip_all "oathtool is not installed (make deps)"
plan 75

sm_pki
ok $? "a CA, another CA, the server and the senders' certificates, a CRL"

P=$T/plugins
mkdir -p "$P"
printf '#!/bin/sh\n# description: says hello\nprintf "hello %%s from %%s\\n" "$1" "$MDIR_SENDER"\n' \
	>"$P/hello"
chmod 755 "$P" "$P/hello"

# conf AUTH [KEY]: the configuration, auth AUTH, the server's key KEY
conf() {
	cat <<EOF
[mdir]
root = $MDIR_ROOT
[command]
address = commands@example.org
admin = admin@example.org
plugins = $P
timeout = 5s
auth = $1
ca_file = $SM/ca.crt
crl_file = $SM/crl.pem
certs_dir = $SM/certs
server_cert = $SM/server.crt
server_key = ${2:-$SM/server.key}
EOF
}
C=$T/c.conf
conf smime >"$C"
mstore -c "$C" init >/dev/null
mstore -c "$C" mkdir SMTP/Accounts/admin@example.org >/dev/null
OUT=$MDIR_ROOT/SMTP/Outbox
ADMIN=$MDIR_ROOT/SMTP/Accounts/admin@example.org

# run FILE [CONF]: mdir-command as pipe(8) runs it; exit status in $code,
# stderr in $err
run() {
	$ENV_I "$BIN/mdir-command" -c "${2:-$C}" \
		<"$1" 2>"$T/.err"
	code=$?
	err=$(cat "$T/.err")
}
answers() { ls "$OUT" 2>/dev/null | wc -l | tr -d ' '; }
notices() { ls "$ADMIN" 2>/dev/null | grep -c '^Command refused' | tr -d ' '; }
last() { ls -t "$OUT"/*.eml | head -n 1; }

# the signed entity: the commands
printf 'Content-Type: text/plain; charset=us-ascii\n\nhello(signed)\nhelp()\n' >"$T/entity"
# sign WHO FROM [SUBJECT] [openssl cms options]: a detached request, stdout
sign() {
	_who=$1 _from=$2 _subj=${3:-mailcom}
	shift 2
	[ $# -gt 0 ] && shift
	# a signing of its own: two of the same text in the same second would
	# be the same signature, refused as a replay (RSA signs the same bytes
	# the same way)
	_e=$T/entity.$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
	{ cat "$T/entity"; printf -- '-- \n%s\n' "${_e##*.}"; } >"$_e"
	# $SIGN_WRAP: a command to run openssl under (faketime: another clock)
	${SIGN_WRAP:-} openssl cms -sign -signer "$SM/$_who.crt" -inkey "$SM/$_who.key" -from "$_from" \
		-to commands@example.org -subject "$_subj" -in "$_e" "$@"
}

# accepted: signed, detached -------------------------------------------------
sign alice alice@example.org >"$T/signed.eml"
run "$T/signed.eml"
is "$code" 0 "a request signed by alice (cms -sign, detached): exit 0"
is "$(answers)" 1 "one answer in SMTP/Outbox"
like "$err" 'smime: signed by <alice@example.org>$' "the signer logged"
like "$err" 'request from=<alice@example.org> .*result=accepted commands=2 failed=0' \
	"accepted, the two commands of the signed content run"
a=$(last)
like "$(grep -i '^Content-Type:' "$a" | head -n 1)" 'multipart/signed' "the answer is multipart/signed"
openssl cms -verify -CAfile "$SM/ca.crt" -purpose smimesign -in "$a" -out "$T/v1" 2>"$T/verr"
ok $? "openssl cms -verify -CAfile takes the answer"
openssl cms -verify -CAfile "$SM/other-ca.crt" -in "$a" -out /dev/null 2>/dev/null
ok $(($? == 0)) "and another CA does not"
like "$(openssl cms -verify -CAfile "$SM/ca.crt" -in "$a" -signer "$T/signer.pem" -out /dev/null \
	2>/dev/null; openssl x509 -in "$T/signer.pem" -noout -subject)" 'mdir commands' \
	"signed by the server's certificate"
like "$(tr -d '\r' <"$T/v1")" 'hello signed from alice@example.org' \
	"the signed answer holds hello(signed)'s output"
like "$(tr -d '\r' <"$T/v1")" 'hello\(\)  says hello' "and help()'s"
like "$(grep '^To: ' "$a")" 'alice@example.org' "to the sender"
like "$(mstore -c "$C" meta "SMTP/Outbox/${a##*/}")" 'outbox-recipient: alice@example.org' \
	"the envelope, in the record: alice"

# the old smime command: x-pkcs7-signature
openssl smime -sign -signer "$SM/alice.crt" -inkey "$SM/alice.key" -from alice@example.org \
	-to commands@example.org -subject mailcom -in "$T/entity" >"$T/old.eml"
# (its own signing: the entity has no trailer, unlike sign()'s)
run "$T/old.eml"
is "$code:$(answers)" 0:2 "openssl smime -sign: answered"

# a request is run once: the same signature again is a replay, whoever
# sends it (a copy seen on the way, Postfix delivering twice)
_a=$(answers)
run "$T/signed.eml"
is "$code:$(answers)" "0:$_a" "the same signed request again: exit 0, no answer"
like "$err" 'result=refused reason="smime: REPLAY: ' "refused as a replay"

# the outer message is not the request: a command outside the signature
# is not run
sign alice alice@example.org >"$T/signed2.eml"
awk '{ print } /^$/ && !done { print "hello(outside)"; done = 1 }' "$T/signed2.eml" >"$T/outer.eml"
run "$T/outer.eml"
like "$err" 'result=accepted commands=2' "text before the signed part: still the signed commands"
is "$(openssl cms -verify -CAfile "$SM/ca.crt" -in "$(last)" 2>/dev/null | grep -c outside)" 0 \
	"and hello(outside) not run"

# accepted: signed then encrypted ---------------------------------------------
sign alice alice@example.org mailcom -nodetach |
	openssl cms -encrypt -aes256 -from alice@example.org -to commands@example.org \
		-subject mailcom "$SM/server.crt" >"$T/enc.eml"
run "$T/enc.eml"
is "$code:$(answers)" 0:4 "signed then encrypted (as Thunderbird sends it): answered"
like "$err" 'smime: signed by <alice@example.org>, encrypted' "logged as encrypted"
a=$(last)
like "$(grep -i '^Content-Type:' "$a" | head -n 1)" 'application/(x-)?pkcs7-mime' \
	"the answer is application/pkcs7-mime"
grep -q 'hello signed' "$a"
ok $(($? == 0)) "nothing of the answer in clear"
openssl cms -decrypt -recip "$SM/alice.crt" -inkey "$SM/alice.key" -in "$a" -out "$T/dec" 2>/dev/null
ok $? "decrypted with alice's key"
openssl cms -decrypt -recip "$SM/carol.crt" -inkey "$SM/carol.key" -in "$a" -out /dev/null 2>/dev/null
ok $(($? == 0)) "not with carol's"
openssl cms -verify -CAfile "$SM/ca.crt" -purpose smimesign -in "$T/dec" -out "$T/v2" 2>/dev/null
ok $? "inside, a signature openssl cms -verify -CAfile takes"
like "$(tr -d '\r' <"$T/v2")" 'hello signed from alice@example.org' "the answer's text inside"

# a plugin fails on an encrypted request: the copy for the admin is
# encrypted to the admin too, who can read it; with no certificate for the
# admin, no copy, and the log says why
printf '#!/bin/sh\n# description: fails\necho broken; exit 3\n' >"$P/fails"
chmod 755 "$P/fails"
# fails_request N: an encrypted request, signed by alice, running fails()
fails_request() {
	printf 'Content-Type: text/plain; charset=us-ascii\n\nfails()\n-- \n%s\n' "$1" >"$T/fails$1.txt"
	openssl cms -sign -signer "$SM/alice.crt" -inkey "$SM/alice.key" -from alice@example.org \
		-to commands@example.org -subject mailcom -nodetach -in "$T/fails$1.txt" |
		openssl cms -encrypt -aes256 -from alice@example.org -to commands@example.org \
			-subject mailcom "$SM/server.crt"
}
_sm_cert "$SM/ca" admin "/CN=Admin" "email:admin@example.org" &&
	cp "$SM/admin.crt" "$SM/certs/admin@example.org.pem"
fails_request 1 >"$T/fails1.eml"
run "$T/fails1.eml"
a=$(last)
is "$(sed -n 's/^outbox-recipient: //p' "$OUT/.meta/${a##*/}" | tr '\n' ' ')" \
	"alice@example.org admin@example.org " "a plugin failed: a copy for the admin"
openssl cms -decrypt -recip "$SM/admin.crt" -inkey "$SM/admin.key" -in "$a" -out "$T/dec-admin" \
	2>/dev/null
ok $? "encrypted: the admin can decrypt the copy"
like "$(tr -d '\r' <"$T/dec-admin")" 'broken' "and read the plugin's output"
openssl cms -decrypt -recip "$SM/alice.crt" -inkey "$SM/alice.key" -in "$a" -out /dev/null 2>/dev/null
ok $? "and so can alice"
rm "$SM/certs/admin@example.org.pem"
fails_request 2 >"$T/fails2.eml"
run "$T/fails2.eml"
a=$(last)
is "$(sed -n 's/^outbox-recipient: //p' "$OUT/.meta/${a##*/}" | tr '\n' ' ')" "alice@example.org " \
	"no certificate for the admin: no copy it could not read"
like "$err" 'no copy to the admin <admin@example.org>: the answer is encrypted' "the log says so"

# refused ----------------------------------------------------------------------
# refused FILE CODE DESC: exit 0, no answer, one notice more, the log's code
refused() {
	_a=$(answers) nb=$(notices)
	run "$1"
	is "$code" 0 "$3: exit 0 (not 75)"
	like "$err" "result=refused reason=\"smime: $2: " "$3: refused, $2"
	is "$(answers):$(notices)" "$_a:$((nb + 1))" "$3: no answer, a notice to the admin"
}
sign bob bob@example.org >"$T/bob.eml"
refused "$T/bob.eml" UNTRUSTED "signed by another CA's certificate"
sign carol alice@example.org >"$T/carol.eml"
refused "$T/carol.eml" WRONG_SIGNER "signed by carol's certificate, From alice"
sign carol dave@example.org >"$T/dave.eml"
refused "$T/dave.eml" NO_CERT "From an address without a certificate"
sign erin erin@example.org >"$T/erin.eml"
refused "$T/erin.eml" EXPIRED "an expired certificate"
sign mallory mallory@example.org >"$T/mallory.eml"
refused "$T/mallory.eml" REVOKED "a revoked certificate"
sed 's/^hello(signed)/hello(forged)/' "$T/signed.eml" >"$T/tampered.eml"
refused "$T/tampered.eml" BAD_SIGNATURE "a tampered body"
openssl cms -encrypt -aes256 -from alice@example.org -to commands@example.org -subject mailcom \
	-in "$T/entity" "$SM/server.crt" >"$T/enc-only.eml"
refused "$T/enc-only.eml" UNSIGNED "encrypted only"
printf 'From: alice@example.org\nTo: commands@example.org\nSubject: mailcom\n\nhello(plain)\n' \
	>"$T/plain.eml"
refused "$T/plain.eml" NOT_SMIME "a plain request"
# signed two days ago (max_signature_age 1d), and without a signing time
SIGN_WRAP="faketime -f -2d"
sign alice alice@example.org >"$T/old2d.eml"
SIGN_WRAP=
refused "$T/old2d.eml" STALE "signed two days ago"
sign alice alice@example.org mailcom -noattr >"$T/notime.eml"
refused "$T/notime.eml" STALE "no signing time"
like "$(grep -h 'refused and not' -A2 "$ADMIN"/* | tr -d '\r' | tr '\n' ' ')" 'smime: ' \
	"the notice says why"

# the setup's errors ------------------------------------------------------------
conf smime "$T/missing.key" >"$T/nokey.conf"
_a=$(answers) nb=$(notices)
run "$T/signed.eml" "$T/nokey.conf"
is "$code" 75 "server_key missing: exit 75, Postfix keeps the request"
like "$err" "S/MIME setup: .*missing.key" "a clear log line naming the file"
is "$(answers):$(notices)" "$_a:$nb" "no answer, no notice"
printf '[mdir]\nroot = %s\n[command]\naddress = commands@example.org\nauth = smime\nca_file = %s\ncerts_dir = %s\nserver_cert = %s\n' \
	"$MDIR_ROOT" "$SM/ca.crt" "$SM/certs" "$SM/server.crt" >"$T/nokeykey.conf"
run "$T/signed.eml" "$T/nokeykey.conf"
is "$code:$err" "75:mdir-command: [command] server_key: not set, and auth needs S/MIME" \
	"no server_key at all: exit 75, the key named"

# auth = both -----------------------------------------------------------------
conf both >"$T/both.conf"
ALICE=$("$BIN/mdir-command" -c "$T/both.conf" --totp-enrol alice@example.org | sed -n 's/^secret //p')
like "$ALICE" '^[A-Z2-7]{32}$' "alice enrolled for TOTP"
_a=$(answers)
sign alice alice@example.org "mailcom # $(oathtool --totp -b "$ALICE")" >"$T/both.eml"
run "$T/both.eml" "$T/both.conf"
is "$code:$(answers)" "0:$((_a + 1))" "auth = both: signed, and the code in the subject: answered"
sign alice alice@example.org >"$T/both-nocode.eml"
nb=$(notices)
run "$T/both-nocode.eml" "$T/both.conf"
is "$code:$(answers):$(notices)" "0:$((_a + 1)):$((nb + 1))" "signed, no code: refused, a notice"
like "$err" 'reason="totp: no code' "the code is what is missing"
printf 'From: alice@example.org\nTo: commands@example.org\nSubject: mailcom # %s\n\nhello(plain)\n' \
	"$(oathtool --totp -b "$ALICE" --now "$(date -u -d '@'$(($(date +%s) + 30)) '+%Y-%m-%d %H:%M:%S UTC')")" \
	>"$T/both-unsigned.eml"
run "$T/both-unsigned.eml" "$T/both.conf"
is "$code:$(answers):$(notices)" "0:$((_a + 1)):$((nb + 2))" "a code, not signed: refused"
like "$err" 'reason="smime: NOT_SMIME' "the signature is what is missing"
sign carol alice@example.org "mailcom # $(oathtool --totp -b "$ALICE")" >"$T/both-carol.eml"
run "$T/both-carol.eml" "$T/both.conf"
is "$code:$(answers):$(notices)" "0:$((_a + 1)):$((nb + 3))" \
	"a code, but signed by another's certificate: refused"
like "$err" 'reason="smime: WRONG_SIGNER' "the signer is wrong"
