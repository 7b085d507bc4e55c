#!/bin/sh
# mdir-command's CRL check covers the whole chain, not the signer's
# certificate alone: a sender certified by a sub-CA that the site's CA has
# revoked is refused, REVOKED, though its own certificate is in good
# standing; one certified by a sub-CA in good standing is answered; and
# with crl_file set, a CA of the chain whose issuer has no CRL in it is
# refused (as Dovecot's ssl_require_crl and openssl verify -crl_check_all
# do), never passed unchecked.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/smime.sh"
plan 8

sm_pki
ok $? "the site's CA and its CRL"

# sub NAME CN: a sub-CA in $SM/NAME, certified by the site's CA
sub() {
	_d=$SM/$1
	mkdir -p "$_d/new" && : >"$_d/index.txt" && echo 2000 >"$_d/serial" &&
		echo 2000 >"$_d/crlnumber" && _sm_conf "$_d" >"$_d/ca.cnf" &&
		openssl req -new -newkey rsa:2048 -nodes -keyout "$_d/ca.key" -out "$_d/ca.csr" \
			-subj "/CN=$2" 2>/dev/null &&
		openssl ca -batch -config "$SM/ca/ca.cnf" -extensions v3_ca -in "$_d/ca.csr" \
			-out "$_d/ca.crt" -notext 2>/dev/null
}
sub good "a sub-CA" && sub bad "a revoked sub-CA" &&
	_sm_cert "$SM/good" ines "/CN=Ines" "email:ines@example.org" &&
	_sm_cert "$SM/bad" ivan "/CN=Ivan" "email:ivan@example.org" &&
	cp "$SM/ines.crt" "$SM/certs/ines@example.org.pem" &&
	cp "$SM/ivan.crt" "$SM/certs/ivan@example.org.pem" &&
	openssl ca -batch -config "$SM/ca/ca.cnf" -revoke "$SM/bad/ca.crt" 2>/dev/null &&
	openssl ca -batch -config "$SM/ca/ca.cnf" -gencrl -out "$SM/root.crl" 2>/dev/null &&
	openssl ca -batch -config "$SM/good/ca.cnf" -gencrl -out "$SM/good.crl" 2>/dev/null &&
	openssl ca -batch -config "$SM/bad/ca.cnf" -gencrl -out "$SM/bad.crl" 2>/dev/null &&
	cat "$SM/root.crl" "$SM/good.crl" "$SM/bad.crl" >"$SM/all.crl" &&
	cat "$SM/good.crl" "$SM/bad.crl" >"$SM/subs.crl"
ok $? "two sub-CAs, one revoked by the site's CA, a sender under each, their CRLs"

# conf CRL-FILE
conf() {
	printf '[mdir]\nroot = %s\n[command]\naddress = commands@example.org\n' "$MDIR_ROOT"
	printf 'admin = admin@example.org\nauth = smime\nca_file = %s\ncrl_file = %s\n' \
		"$SM/ca.crt" "$1"
	printf 'certs_dir = %s\nplugins = %s\nmax_failures = 100\n' "$SM/certs" "$T/plugins"
	printf 'server_cert = %s\nserver_key = %s\n' "$SM/server.crt" "$SM/server.key"
}
mkdir -p "$T/plugins"
printf '#!/bin/sh\n# description: says hello\necho hello\n' >"$T/plugins/hello"
chmod 755 "$T/plugins" "$T/plugins/hello"
conf "$SM/all.crl" >"$T/all.conf"
conf "$SM/subs.crl" >"$T/subs.conf"
mstore -c "$T/all.conf" init >/dev/null
mstore -c "$T/all.conf" mkdir SMTP/Accounts/admin@example.org >/dev/null
printf 'Content-Type: text/plain; charset=us-ascii\n\nhello()\n' >"$T/entity"

# request WHO SUB-CA: signed by WHO, the sub-CA's certificate sent along
request() {
	{ cat "$T/entity"; printf -- '-- \n%s\n' "$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')"; } \
		>"$T/e.$1"
	openssl cms -sign -signer "$SM/$1.crt" -inkey "$SM/$1.key" -certfile "$SM/$2/ca.crt" \
		-from "$1@example.org" -to commands@example.org -subject mailcom -in "$T/e.$1"
}
# run CONF WHO SUB-CA: the log's result line
run() {
	request "$2" "$3" | $ENV_I "$BIN/mdir-command" -c "$1" 2>&1 >/dev/null |
		grep -o 'result=[a-z]*\( reason="smime: [A-Z_]*\)\?'
}

is "$(run "$T/all.conf" ines good)" "result=accepted" \
	"a sender under a sub-CA in good standing: answered"
is "$(run "$T/all.conf" ivan bad)" 'result=refused reason="smime: REVOKED' \
	"a sender under a revoked sub-CA: refused, REVOKED"
is "$(run "$T/all.conf" alice good)" "result=accepted" \
	"a sender certified by the site's CA itself: answered"
# the site's CA's CRL missing: the sub-CAs cannot be checked
is "$(run "$T/subs.conf" ines good)" 'result=refused reason="smime: UNTRUSTED' \
	"the site's CA's CRL missing from crl_file: refused, not passed unchecked"
request ines good | $ENV_I "$BIN/mdir-command" -c "$T/subs.conf" 2>"$T/err" >/dev/null
like "$(cat "$T/err")" 'unable to get certificate CRL' "and the log says why"
is "$(run "$T/subs.conf" ivan bad)" 'result=refused reason="smime: UNTRUSTED' \
	"nor is the revoked one passed"
