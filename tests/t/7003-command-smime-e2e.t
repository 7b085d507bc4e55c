#!/bin/sh
# Commands by mail with S/MIME, end to end: a request made by openssl cms
# (signed; signed then encrypted) -> swaks -> a private Postfix -> pipe(8)
# -> mdir-receive -> mdird, whose rule pipes it to mdir-command -> the
# answer in SMTP/Outbox -> mdir-outbox -> Postfix -> the loopback sink,
# where the answer is read back: its S/MIME signature verified by openssl
# cms -verify -CAfile, after decrypting it with the sender's key when the
# request was encrypted.  A request signed by another's certificate goes
# the same way and is answered by nobody: a notice in SMTP/Command.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
. "$MDIR_SRC/tests/lib/dkim.sh"
. "$MDIR_SRC/tests/lib/smime.sh"
pf_require
command -v opendkim >/dev/null || skip_all "opendkim is not installed (make deps)"
plan 16

CMD=commands@example.test
mstore mkdir "SMTP/Accounts/$CMD" >/dev/null
pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }
sm_pki
ok $? "the test PKI: the CA, the server's and the senders' certificates"

P=$T/plugins
mkdir -p "$P"
printf '#!/bin/sh\n# description: says hello\nprintf "hello %%s from %%s\\n" "$1" "$MDIR_SENDER"\n' \
	>"$P/hello"
chmod 755 "$P" "$P/hello"
dk_keys
DK_CONF=$(printf '%s\n' "$DK_CONF" | sed 's/^dkim_domain = .*/dkim_domain = example.test/')
printf '#!/bin/sh\nexec /usr/sbin/sendmail -C %s/etc "$@"\n' "$PF" >"$T/sendmail"
chmod 755 "$T/sendmail"
cat >>"$PF/mdir.conf" <<EOF
[rules]
programs = $PF_BIN/mdir-command
[outbox]
sendmail = $T/sendmail
$DK_CONF
[command]
address = $CMD
plugins = $P
timeout = 10s
auth = smime
ca_file = $SM/ca.crt
crl_file = $SM/crl.pem
certs_dir = $SM/certs
server_cert = $SM/server.crt
server_key = $SM/server.key
EOF
dk_records "$PF/mdir.conf"
printf 'if part = 0 then pipe %s/mdir-command -c %s/mdir.conf\n' "$PF_BIN" "$PF" \
	>"$MDIR_ROOT/SMTP/Accounts/$CMD/.rules"
# the server's key: the user mdir runs as reads it, nobody else
chown -R "$PF_USER" "$MDIR_ROOT" "$SM"
chmod 755 "$SM"
chmod 600 "$SM/server.key"

SOCK=$MDIR_ROOT/.mdird/mdird.sock
setpriv --reuid="$PF_USER" --regid="$(id -g "$PF_USER")" --init-groups \
	"$PF_BIN/mdird" -F -c "$PF/mdir.conf" >"$T/mdird.log" 2>&1 &
MD=$!
stop_md() { kill "$MD" 2>/dev/null; wait "$MD" 2>/dev/null; }
at_exit stop_md
wait_for 10 test -S "$SOCK"
ok $? "mdird runs as $PF_USER"

printf 'Content-Type: text/plain; charset=us-ascii\n\nhello(by mail)\n' >"$T/entity"
# request WHO ID [cms options]: a request signed by WHO, From WHO's
# address, Message-ID <ID@sender.test>
request() {
	_who=$1 _id=$2
	shift 2
	printf 'Message-ID: <%s@sender.test>\n' "$_id"
	# a text of its own: the same text signed twice in one second would be
	# the same signature, a replay
	{ cat "$T/entity"; printf -- '-- \n%s\n' "$_id"; } >"$T/entity.$_id"
	openssl cms -sign -signer "$SM/$_who.crt" -inkey "$SM/$_who.key" \
		-from "$_who@example.org" -to "$CMD" -subject mailcom -in "$T/entity.$_id" "$@"
}
# send FILE ID: through Postfix to mdir
send() {
	pf_send --from "$(sed -n 's/^From: //p' "$1" | head -n 1)" --to "$CMD" --data "$1"
	pf_wait "$PF_QID" "$CMD"
}
noticed() { ls "$MDIR_ROOT/SMTP/Command" 2>/dev/null | grep -q .; }
answers() { ls "$MDIR_ROOT/SMTP/Outbox" 2>/dev/null | wc -l | tr -d ' '; }
two_answers() { [ "$(answers)" = 2 ]; }

# refused first: carol's certificate, From alice
request carol forged | sed 's/^From: carol@/From: alice@/' >"$T/forged.eml"
send "$T/forged.eml"
is "$PF_STATUS" sent "Postfix: the forged request delivered to mdir"
wait_for 20 noticed
ok $? "mdir-command refused it: a notice in SMTP/Command"
like "$(cat "$MDIR_ROOT"/SMTP/Command/.meta/* 2>/dev/null)" '^reason: smime: WRONG_SIGNER: ' \
	"saying why"

request alice signed >"$T/signed.eml"
send "$T/signed.eml"
is "$PF_STATUS" sent "Postfix: the signed request delivered to mdir"
request alice sealed -nodetach | sed 1d |
	openssl cms -encrypt -aes256 -from alice@example.org -to "$CMD" -subject mailcom \
		"$SM/server.crt" >"$T/enc.body"
{ printf 'Message-ID: <sealed@sender.test>\n'; cat "$T/enc.body"; } >"$T/sealed.eml"
send "$T/sealed.eml"
is "$PF_STATUS" sent "Postfix: the signed and encrypted request delivered to mdir"
wait_for 30 two_answers
ok $? "two answers in SMTP/Outbox, none for the forged request"

expect_code 0 "mdir-outbox sends them through Postfix" -- "$PF_BIN/mdir-outbox" -c "$PF/mdir.conf"
# at_sink ID: the sink's file of the answer to <ID@sender.test>
at_sink() { grep -l "In-Reply-To: <$1@sender.test>" "$PF"/sink/* 2>/dev/null | head -n 1; }
got_both() { [ -n "$(at_sink signed)" ] && [ -n "$(at_sink sealed)" ]; }
wait_for 30 got_both
ok $? "the sink received both answers from Postfix"

f=$(at_sink signed)
like "$(grep -i '^X-Rcpt-Args: ' "$f")" '<alice@example.org>' "the answer sent to alice"
sed -n '/^DKIM-Signature:/,$p' "$f" >"$T/got-signed.eml"
openssl cms -verify -CAfile "$SM/ca.crt" -purpose smimesign -in "$T/got-signed.eml" \
	-out "$T/v1" 2>"$T/verr"
ok $? "openssl cms -verify -CAfile: the answer's signature holds after Postfix"
like "$(tr -d '\r' <"$T/v1")" 'hello by mail from alice@example.org' "the command's output in it"

f=$(at_sink sealed)
sed -n '/^DKIM-Signature:/,$p' "$f" >"$T/got-sealed.eml"
openssl cms -decrypt -recip "$SM/alice.crt" -inkey "$SM/alice.key" -in "$T/got-sealed.eml" \
	-out "$T/dec" 2>/dev/null
ok $? "the answer to the encrypted request: decrypted with alice's key"
openssl cms -verify -CAfile "$SM/ca.crt" -purpose smimesign -in "$T/dec" -out "$T/v2" 2>/dev/null
ok $? "and its signature holds"
like "$(tr -d '\r' <"$T/v2")" 'hello by mail from alice@example.org' "the command's output in it"
