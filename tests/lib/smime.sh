# tests/lib/smime.sh: a small S/MIME PKI made at test time with the openssl
# command (never a fixed date: validity is relative to now), for the tests
# of libmdir's S/MIME (t/7010) and of mdir-command.
#
#   sm_pki       in $SM: ca.crt (the site's CA, managed by "openssl ca"),
#                other-ca.crt, server.{crt,key} (commands@example.org),
#                and NAME.{crt,key} for
#                  alice    alice@example.org, by the CA
#                  carol    carol@example.org, by the CA
#                  greta    greta@example.org in the subject only, no SAN
#                  bob      bob@example.org, by the other CA
#                  erin     erin@example.org, expired ten days ago
#                  frank    frank@example.org, valid from in ten days
#                  mallory  mallory@example.org, revoked: in crl.pem
#                  petr     пётр@пример.рф, a SmtpUTF8Mailbox SAN (RFC 8398)
#                certs/ADDRESS.pem: each one's certificate by its address
#   sm_sign NAME FROM [openssl cms options] <entity
#                a request signed by NAME (cms -sign), From FROM
SM=$T/pki

# _sm_conf DIR: an "openssl ca" configuration for the CA in DIR
_sm_conf() {
	cat <<EOF
[ca]
default_ca = ca_default
[ca_default]
dir = $1
database = $1/index.txt
serial = $1/serial
crlnumber = $1/crlnumber
new_certs_dir = $1/new
certificate = $1/ca.crt
private_key = $1/ca.key
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
emailAddress = optional
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[smime]
basicConstraints = CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::SM_SAN
[smime_utf8]
basicConstraints = CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = @utf8_san
[utf8_san]
# a section: in a one-line value the comma would split the name
otherName = 1.3.6.1.5.5.7.8.9;FORMAT:UTF8,UTF8:\$ENV::SM_SAN
[smime_nosan]
basicConstraints = CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = emailProtection
EOF
}

# _sm_ca DIR NAME: a self-signed CA in DIR
_sm_ca() {
	mkdir -p "$1/new" && : >"$1/index.txt" && echo 1000 >"$1/serial" &&
		echo 1000 >"$1/crlnumber" && _sm_conf "$1" >"$1/ca.cnf" &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/ca.key" -out "$1/ca.crt" \
			-days 3650 -subj "/CN=$2" -config "$1/ca.cnf" -extensions v3_ca 2>/dev/null
}

# _sm_cert CADIR NAME SUBJECT SAN [openssl ca options]: $SM/NAME.{crt,key};
# SAN "email:ADDRESS", "utf8:ADDRESS" (SmtpUTF8Mailbox) or "" (none)
_sm_cert() {
	_ca=$1 _name=$2 _subj=$3 _san=$4
	shift 4
	case $_san in
	utf8:*) _ext=smime_utf8 _san=${_san#utf8:} ;;
	"") _ext=smime_nosan ;;
	*) _ext=smime ;;
	esac
	openssl req -new -newkey rsa:2048 -nodes -keyout "$SM/$_name.key" \
		-out "$SM/$_name.csr" -subj "$_subj" 2>/dev/null &&
		SM_SAN=$_san openssl ca -batch -config "$_ca/ca.cnf" -extensions $_ext \
			-in "$SM/$_name.csr" -out "$SM/$_name.crt" -notext "$@" 2>/dev/null
}

sm_pki() {
	# the configuration names it: openssl reads it for every command
	SM_SAN=email:nobody@example.org
	export SM_SAN
	mkdir -p "$SM/certs" &&
		_sm_ca "$SM/ca" "mdir test CA" && _sm_ca "$SM/other" "another CA" &&
		cp "$SM/ca/ca.crt" "$SM/ca.crt" && cp "$SM/other/ca.crt" "$SM/other-ca.crt" &&
		_sm_cert "$SM/ca" server "/CN=mdir commands" "email:commands@example.org" &&
		_sm_cert "$SM/ca" alice "/CN=Alice" "email:alice@example.org" &&
		_sm_cert "$SM/ca" carol "/CN=Carol" "email:carol@example.org" &&
		_sm_cert "$SM/ca" greta "/CN=Greta/emailAddress=greta@example.org" "" &&
		_sm_cert "$SM/other" bob "/CN=Bob" "email:bob@example.org" &&
		_sm_cert "$SM/ca" erin "/CN=Erin" "email:erin@example.org" \
			-startdate "$(date -u -d '-40 days' +%y%m%d%H%M%SZ)" \
			-enddate "$(date -u -d '-10 days' +%y%m%d%H%M%SZ)" &&
		_sm_cert "$SM/ca" frank "/CN=Frank" "email:frank@example.org" \
			-startdate "$(date -u -d '+10 days' +%y%m%d%H%M%SZ)" \
			-enddate "$(date -u -d '+40 days' +%y%m%d%H%M%SZ)" &&
		_sm_cert "$SM/ca" mallory "/CN=Mallory" "email:mallory@example.org" &&
		_sm_cert "$SM/ca" petr "/CN=Petr" \
			"utf8:пётр@пример.рф" &&
		openssl ca -batch -config "$SM/ca/ca.cnf" -revoke "$SM/mallory.crt" 2>/dev/null &&
		openssl ca -batch -config "$SM/ca/ca.cnf" -gencrl -out "$SM/crl.pem" 2>/dev/null ||
		return 1
	for n in alice carol greta bob erin frank mallory; do
		cp "$SM/$n.crt" "$SM/certs/$n@example.org.pem" || return 1
	done
	cp "$SM/petr.crt" "$SM/certs/пётр@пример.рф.pem"
}

sm_sign() {
	_sm_who=$1 _sm_from=$2
	shift 2
	openssl cms -sign -signer "$SM/$_sm_who.crt" -inkey "$SM/$_sm_who.key" -from "$_sm_from" \
		-to commands@example.org -subject "mailcom" "$@"
}
