#!/bin/sh
# mdir-command's S/MIME (smime_open, smime_seal), driven by
# tests/tools/smime-tool, with the real openssl cms and smime commands as
# the clients: requests signed (detached, opaque, the old smime command),
# signed then encrypted as Thunderbird sends them; each refusal by its
# code (encrypted only, tampered, another CA, another's certificate, a
# certificate without the address, expired, not yet valid, revoked, no
# certificate, garbage for the CMS, not S/MIME, not for our key); answers
# that openssl cms verifies and decrypts to the very bytes sealed.  The
# keys and certificates are made now, valid relative to now.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/smime.sh"
TOOL=$MDIR_BUILD/tools/smime-tool
[ -x "$TOOL" ] || skip_all "no $TOOL (make check-build)"
plan 74

sm_pki
ok $? "a CA, another CA, the server and eight senders' certificates, a CRL"
O="--ca $SM/ca.crt --certs $SM/certs --cert $SM/server.crt --key $SM/server.key"

# open FROM [options] <message: $out, $err, $code; the content in $T/content
open_req() {
	_from=$1
	shift
	rm -f "$T/content"
	# shellcheck disable=SC2086 # $O: options, split on purpose
	"$TOOL" open $O --from "$_from" --content "$T/content" "$@" >"$T/.out" 2>"$T/.err"
	code=$?
	out=$(cat "$T/.out") err=$(cat "$T/.err")
}
# accepted SIGNER ENCRYPTED DESC: the last open_req accepted the request
accepted() {
	is "$code $out" "0 signer=$1
encrypted=$2" "$3: accepted, signer $1"
}
# refused CODE DESC: the last open_req refused it with CODE
refused() {
	is "$code ${err%% *}" "1 error=$1" "$2: refused, $1"
	[ "$code" = 1 ] || diag "$out"
}

printf 'Content-Type: text/plain; charset=us-ascii\n\nstat()\nfreespace()\n' >"$T/entity"
sed 's/$/\r/' "$T/entity" >"$T/entity.crlf"

# accepted ------------------------------------------------------------------
sm_sign alice alice@example.org -in "$T/entity" >"$T/detached.eml"
grep -q '^Content-Type: multipart/signed; protocol="application/pkcs7-signature"' \
	"$T/detached.eml"
ok $? "openssl cms -sign makes multipart/signed"
open_req alice@example.org <"$T/detached.eml"
accepted alice@example.org 0 "cms -sign, detached"
cmp -s "$T/content" "$T/entity.crlf"
ok $? "the content: the entity as signed, CRLF"

sed 's/$/\r/' "$T/detached.eml" >"$T/detached-crlf.eml"
open_req alice@example.org <"$T/detached-crlf.eml"
accepted alice@example.org 0 "the same with CRLF line ends"
cmp -s "$T/content" "$T/entity.crlf"
ok $? "the same content"

# shapes of real mail: the Content-Type folded (as Thunderbird writes it)
# and in capitals, trace fields in front, an mbox From_ line (pipe(8)'s
# flag F), a multipart entity signed
awk '/^Content-Type: multipart\/signed/ && !done { sub(/; micalg=/, ";\n micalg=");
	sub(/; boundary=/, ";\n\tboundary="); done = 1 } 1' "$T/detached.eml" >"$T/folded.eml"
open_req alice@example.org <"$T/folded.eml"
accepted alice@example.org 0 "the Content-Type folded over three lines"
sed 's/^Content-Type: multipart\/signed; protocol=/Content-Type: Multipart\/Signed; PROTOCOL=/;
	s/boundary=/BOUNDARY=/' "$T/detached.eml" >"$T/capitals.eml"
open_req alice@example.org <"$T/capitals.eml"
accepted alice@example.org 0 "its type and parameter names in capitals"
{ echo "From alice@example.org  Thu Dec  3 12:00:00 2026"
	printf 'Received: from a.example.org by mx.example.org;
	Thu, 3 Dec 2026 12:00:00 +0000
'
	cat "$T/detached.eml"; } >"$T/traced.eml"
open_req alice@example.org <"$T/traced.eml"
accepted alice@example.org 0 "a From_ line and a folded Received in front"
printf 'Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

stat()
--inner
Content-Type: text/html

<p>stat()</p>
--inner--
' >"$T/nested"
sm_sign alice alice@example.org -in "$T/nested" >"$T/nested.eml"
open_req alice@example.org <"$T/nested.eml"
accepted alice@example.org 0 "a multipart/alternative signed"
is "$(tr -d '\r' <"$T/content")" "$(cat "$T/nested")" "its content whole, inner boundaries and all"

sm_sign alice alice@example.org -nodetach -in "$T/entity" >"$T/opaque.eml"
grep -q '^Content-Type: application/pkcs7-mime; smime-type=signed-data' "$T/opaque.eml"
ok $? "cms -sign -nodetach makes application/pkcs7-mime signed-data"
open_req alice@example.org <"$T/opaque.eml"
accepted alice@example.org 0 "cms -sign -nodetach"
cmp -s "$T/content" "$T/entity.crlf"
ok $? "the content from inside the signature"

openssl smime -sign -signer "$SM/alice.crt" -inkey "$SM/alice.key" -from alice@example.org \
	-in "$T/entity" >"$T/smime.eml"
grep -q 'protocol="application/x-pkcs7-signature"' "$T/smime.eml"
ok $? "openssl smime -sign says x-pkcs7-signature"
open_req alice@example.org <"$T/smime.eml"
accepted alice@example.org 0 "smime -sign (PKCS #7)"

sm_sign alice alice@example.org -nodetach -in "$T/entity" |
	openssl cms -encrypt -aes256 -from alice@example.org -to commands@example.org \
		-subject mailcom "$SM/server.crt" >"$T/thunderbird.eml"
open_req alice@example.org <"$T/thunderbird.eml"
accepted alice@example.org 1 "signed (opaque), then encrypted: Thunderbird's order"
cmp -s "$T/content" "$T/entity.crlf"
ok $? "the content, decrypted and verified"

sm_sign alice alice@example.org -in "$T/entity" |
	openssl cms -encrypt -aes256 "$SM/server.crt" >"$T/enc-detached.eml"
open_req alice@example.org <"$T/enc-detached.eml"
accepted alice@example.org 1 "multipart/signed, then encrypted"

# as Thunderbird does it: an extra certificate in the signature (its
# encryption one), encrypted to the recipient and to the sender too
sm_sign alice alice@example.org -certfile "$SM/carol.crt" -in "$T/entity" |
	openssl cms -encrypt -aes256 "$SM/alice.crt" "$SM/server.crt" >"$T/two-recipients.eml"
open_req alice@example.org <"$T/two-recipients.eml"
accepted alice@example.org 1 "another certificate along, and two recipients, ours second"

open_req Alice@EXAMPLE.org <"$T/detached.eml"
accepted alice@example.org 0 "the From address in another case"

sm_sign greta greta@example.org -in "$T/entity" >"$T/greta.eml"
open_req greta@example.org <"$T/greta.eml"
accepted greta@example.org 0 "an address in the subject's emailAddress only"

sm_sign petr пётр@пример.рф -in "$T/entity" >"$T/petr.eml"
open_req пётр@пример.рф <"$T/petr.eml"
accepted пётр@пример.рф 0 "a UTF-8 address in a SmtpUTF8Mailbox SAN (RFC 8398)"
open_req 'ПЁТР@xn--e1afmkfd.xn--p1ai' <"$T/petr.eml"
accepted пётр@пример.рф 0 "the same From in capitals and A-labels"

open_req alice@example.org --crl "$SM/crl.pem" <"$T/detached.eml"
accepted alice@example.org 0 "with the CRL: alice is not in it"

# refused ------------------------------------------------------------------
openssl cms -encrypt -aes256 -in "$T/entity" "$SM/server.crt" >"$T/enc-only.eml"
open_req alice@example.org <"$T/enc-only.eml"
refused UNSIGNED "encrypted only (anyone can encrypt to us)"

sed 's/^freespace()/freespacE()/' "$T/detached.eml" >"$T/tampered.eml"
cmp -s "$T/detached.eml" "$T/tampered.eml"
is $? 1 "one byte changed after signing"
open_req alice@example.org <"$T/tampered.eml"
refused BAD_SIGNATURE "the tampered body"
like "$err" "content verify error" "the log line says why"

# the opaque one tampered: a byte of the content inside the DER
/usr/bin/python3 - "$T/opaque.eml" "$T/tampered-opaque.eml" <<'PY'
import base64, sys
text = open(sys.argv[1]).read()
head, body = text.split("\n\n", 1)
der = bytearray(base64.b64decode(body))
i = der.find(b"freespace")
der[i] ^= 0x20
b64 = base64.encodebytes(bytes(der)).decode()
open(sys.argv[2], "w").write(head + "\n\n" + b64)
PY
open_req alice@example.org <"$T/tampered-opaque.eml"
refused BAD_SIGNATURE "signed-data with its content tampered"

sm_sign bob bob@example.org -in "$T/entity" >"$T/bob.eml"
open_req bob@example.org <"$T/bob.eml"
refused UNTRUSTED "a certificate of another CA (configured for bob)"

sm_sign carol alice@example.org -in "$T/entity" >"$T/carol.eml"
open_req alice@example.org <"$T/carol.eml"
refused WRONG_SIGNER "From alice, signed with carol's certificate"
like "$err" "signed by /CN=Carol, not by the certificate configured for alice@example.org" \
	"the log line names the signer"

# a twin CA of the same name issues a certificate with alice's serial:
# the signer's identifier (issuer and serial) is alice's, the bytes not
_sm_ca "$SM/twin" "mdir test CA" &&
	openssl x509 -in "$SM/alice.crt" -noout -serial | sed 's/^serial=//' >"$SM/twin/serial" &&
	_sm_cert "$SM/twin" twin "/CN=Alice" "email:alice@example.org"
ok $? "a certificate under alice's issuer name and serial, by a twin CA"
sm_sign twin alice@example.org -in "$T/entity" >"$T/twin.eml"
open_req alice@example.org <"$T/twin.eml"
refused WRONG_SIGNER "it is not byte for byte the certificate configured"

cp "$SM/carol.crt" "$SM/certs/dave@example.org.pem"
sm_sign carol dave@example.org -in "$T/entity" >"$T/dave.eml"
open_req dave@example.org <"$T/dave.eml"
refused WRONG_SIGNER "the certificate configured for dave carries carol's address"

sm_sign erin erin@example.org -in "$T/entity" >"$T/erin.eml"
open_req erin@example.org <"$T/erin.eml"
refused EXPIRED "a certificate that expired ten days ago"

sm_sign frank frank@example.org -in "$T/entity" >"$T/frank.eml"
open_req frank@example.org <"$T/frank.eml"
refused EXPIRED "a certificate valid only from in ten days"

sm_sign mallory mallory@example.org -in "$T/entity" >"$T/mallory.eml"
open_req mallory@example.org --crl "$SM/crl.pem" <"$T/mallory.eml"
refused REVOKED "a revoked certificate, with the CRL"
open_req mallory@example.org <"$T/mallory.eml"
accepted mallory@example.org 0 "the same without a CRL configured"

open_req zed@example.org <"$T/detached.eml"
refused NO_CERT "no certificate configured for the From address"
cp "$SM/alice.crt" "$T/alice@example.org.pem"
open_req ../alice@example.org <"$T/detached.eml"
refused NO_CERT "a From that would name a path out of the directory"
open_req '.alice@example.org' <"$T/detached.eml"
refused NO_CERT "a From that would name a hidden file"

# garbage where the CMS should be: in the signature part, and opaque
awk '/^Content-Disposition: attachment; filename="smime.p7s"/ { print; getline; print;
	print "R2FyYmFnZSwgbm90IERFUg=="; skip = 1; next }
	skip && /^------/ { skip = 0 } !skip' "$T/detached.eml" >"$T/garbage.eml"
open_req alice@example.org <"$T/garbage.eml"
refused MALFORMED "garbage for the detached signature"
sed '/^$/q' "$T/opaque.eml" >"$T/garbage2.eml"
head -c 3000 /dev/urandom | base64 >>"$T/garbage2.eml"
open_req alice@example.org <"$T/garbage2.eml"
refused MALFORMED "random bytes for the signed-data"
sed '/^------/,$d' "$T/detached.eml" >"$T/cut.eml"
open_req alice@example.org <"$T/cut.eml"
refused MALFORMED "multipart/signed cut before its parts"

sm_sign alice alice@example.org -signer "$SM/carol.crt" -inkey "$SM/carol.key" \
	-in "$T/entity" >"$T/two-signers.eml"
open_req alice@example.org <"$T/two-signers.eml"
refused MALFORMED "two signers (alice and carol)"
{ printf 'From: alice@example.org\nMIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=certs-only\nContent-Transfer-Encoding: base64\n\n'
	openssl crl2pkcs7 -nocrl -certfile "$SM/alice.crt" -outform DER | base64; } >"$T/certs-only.eml"
open_req alice@example.org <"$T/certs-only.eml"
refused UNSIGNED "certs-only: signed-data without a signer"

printf 'From: alice@example.org\nSubject: mailcom\n\nstat()\n' >"$T/plain.eml"
open_req alice@example.org <"$T/plain.eml"
refused NOT_SMIME "a plain message"
printf 'From: alice@example.org\nMIME-Version: 1.0\nContent-Type: multipart/signed; protocol="application/pgp-signature"; boundary=b\n\n--b\nContent-Type: text/plain\n\nstat()\n--b\nContent-Type: application/pgp-signature\n\n-----BEGIN PGP SIGNATURE-----\n--b--\n' >"$T/pgp.eml"
open_req alice@example.org <"$T/pgp.eml"
refused NOT_SMIME "an OpenPGP multipart/signed"

sm_sign alice alice@example.org -nodetach -in "$T/entity" |
	openssl cms -encrypt -aes256 "$SM/carol.crt" >"$T/for-carol.eml"
open_req alice@example.org <"$T/for-carol.eml"
refused DECRYPT "encrypted to somebody else"

# the setup's own trouble is not the request's
open_req alice@example.org --ca "$T/nothing.pem" <"$T/detached.eml"
is "$code ${err%% *}" "2 error=OTHER" "a CA file that is missing: an error of the setup"
like "$err" "nothing\.pem" "naming the file"

# sealing ------------------------------------------------------------------
printf 'Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nstat(): 12 messages\r\n\r\nfreespace(): 81%%\r\n' >"$T/answer"
# shellcheck disable=SC2086
"$TOOL" seal $O <"$T/answer" >"$T/signed"
ok $? "seal: signed"
like "$(head -1 "$T/signed")" '^Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg="sha-256"; boundary=' \
	"multipart/signed, pkcs7-signature, SHA-256"
is "$(grep -c "$(printf '\r')\$" "$T/signed")" "$(wc -l <"$T/signed")" "every line ends in CRLF"
{ printf 'From: commands@example.org\r\nTo: alice@example.org\r\nSubject: mailcom\r\nMIME-Version: 1.0\r\n'
	cat "$T/signed"; } >"$T/signed.eml"
openssl cms -verify -CAfile "$SM/ca.crt" -purpose smimesign -in "$T/signed.eml" \
	-out "$T/verified" 2>"$T/verify.err"
ok $? "openssl cms -verify -CAfile takes it"
cmp -s "$T/verified" "$T/answer"
ok $? "its content byte for byte the entity sealed"
openssl cms -verify -CAfile "$SM/other-ca.crt" -in "$T/signed.eml" -out /dev/null 2>/dev/null
is $? 4 "and another CA does not"

# shellcheck disable=SC2086
"$TOOL" seal $O --to alice@example.org <"$T/answer" >"$T/sealed"
ok $? "seal: signed, then encrypted to alice"
like "$(sed -n '/^Content-Type:/p' "$T/sealed")" 'application/pkcs7-mime; smime-type=enveloped-data' \
	"application/pkcs7-mime enveloped-data"
{ printf 'From: commands@example.org\r\nMIME-Version: 1.0\r\n'; cat "$T/sealed"; } >"$T/sealed.eml"
like "$(openssl cms -cmsout -print -in "$T/sealed.eml" | grep -A1 contentEncryptionAlgorithm)" \
	'aes-256-cbc' "AES-256"
openssl cms -decrypt -recip "$SM/alice.crt" -inkey "$SM/alice.key" -in "$T/sealed.eml" \
	-out "$T/decrypted" 2>/dev/null
ok $? "openssl cms -decrypt with alice's key"
openssl cms -verify -CAfile "$SM/ca.crt" -in "$T/decrypted" -out "$T/verified2" 2>/dev/null
ok $? "what it holds verifies"
cmp -s "$T/verified2" "$T/answer"
ok $? "its content byte for byte the entity sealed"
openssl cms -decrypt -recip "$SM/carol.crt" -inkey "$SM/carol.key" -in "$T/sealed.eml" \
	-out /dev/null 2>/dev/null
is $? 4 "carol's key cannot decrypt it"

# shellcheck disable=SC2086
"$TOOL" seal $O --to zed@example.org <"$T/answer" >/dev/null 2>"$T/.err"
is "$?:$(cut -d' ' -f1 "$T/.err")" "1:error=NO_CERT" "seal to an address without a certificate"
# shellcheck disable=SC2086
"$TOOL" seal $O --key "$SM/alice.key" <"$T/answer" >/dev/null 2>"$T/.err"
like "$?:$(cat "$T/.err")" '^2:error=OTHER .*alice\.key: not the key of the certificate' \
	"a server key that is not the certificate's"

openssl pkey -in "$SM/server.key" -aes256 -passout pass:secret -out "$T/locked.key"
# shellcheck disable=SC2086
"$TOOL" seal $O --key "$T/locked.key" <"$T/answer" >/dev/null 2>"$T/.err"
like "$?:$(cat "$T/.err")" '^2:error=OTHER .*locked\.key: not a PEM private key' \
	"a key with a passphrase: an error of the setup, no prompt"

# round trip: what we seal, we open, as a request from the server's address
cp "$SM/server.crt" "$SM/certs/commands@example.org.pem"
open_req commands@example.org <"$T/signed.eml"
accepted commands@example.org 0 "a sealed answer opened again"
cmp -s "$T/content" "$T/answer"
ok $? "to the entity sealed"
open_req commands@example.org --cert "$SM/alice.crt" --key "$SM/alice.key" <"$T/sealed.eml"
accepted commands@example.org 1 "the encrypted one, with alice's key"

# LF line ends in, CRLF out: the content verified is the CRLF form
tr -d '\r' <"$T/answer" >"$T/answer.lf"
# shellcheck disable=SC2086
"$TOOL" seal $O <"$T/answer.lf" >"$T/signed-lf"
openssl cms -verify -CAfile "$SM/ca.crt" -in "$T/signed-lf" -out "$T/verified3" 2>/dev/null
ok $? "an entity with LF line ends: sealed, verified"
cmp -s "$T/verified3" "$T/answer"
ok $? "its content made CRLF"
