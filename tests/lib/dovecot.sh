# tests/lib/dovecot.sh: a private Dovecot (imapd and pop3d) on two free
# ports of 127.0.0.1, for the tests that read mail over IMAP and POP3
# (t/6080) and those that fetch it from a remote server (t/6090, t/6091).
# Source it after tests/lib.sh:
#
#   dv_require            skip the whole file unless root, with Dovecot's
#                         imapd and pop3d and python3
#   dv_config DIR [tls]   writes DIR/dovecot.conf: its base_dir, state and
#                         log in DIR, listening on $DV_IMAP and $DV_POP;
#                         plain IMAP and POP3, or with "tls" IMAPS and
#                         POP3S only (TLS from the first byte), with a
#                         certificate for 127.0.0.1 signed by a CA made
#                         now ($DV_CA, PEM); the test appends its mail
#                         location and users to the file
#   dv_start              dovecot -F in the background, until both ports
#                         listen (30 s: under load Dovecot starts slowly);
#                         stopped at exit
#
# A remote mailbox for the fetchers (after dv_config):
#
#   dv_mailbox USER PASS  USER logs in with PASS (passwd-file); the mail is
#                         the Maildir $DV/mail/USER, Dovecot's processes run
#                         as nobody
#   dv_fill USER TAG FILE...  puts each FILE into USER's Maildir (new/),
#                         its Message-ID given the suffix -TAG so that
#                         each round's messages are new to the store, and
#                         keeps a copy of what it put in $DV/put/TAG/
#   dv_count USER         prints how many messages USER's Maildir holds
#   dv_stored CONF TAG [unfolded]
#                         prints how many of the messages dv_fill put for
#                         TAG the mdir of CONF holds (part 0) byte for
#                         byte; with "unfolded", how many are the same
#                         but for how their header lines (the message's
#                         and its parts') are folded
#
# Dovecot's mail processes must not run as root: the test says which user
# (mail_uid), and makes its Maildirs theirs.  $T is made 0711 so that they
# reach them.

DV=
DV_PID=

dv_require() {
	[ "$(id -u)" = 0 ] || skip_all "needs root (Dovecot's mail processes run as nobody)"
	[ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/pop3 ] ||
		skip_all "dovecot-imapd and dovecot-pop3d are not installed (make deps)"
	command -v python3 >/dev/null || skip_all "python3 is not installed"
}

# dv_cert DIR: DIR/ca.pem, and DIR/cert.pem with DIR/key.pem for
# 127.0.0.1 and localhost signed by it, valid from now for two days
# (never a fixed date: the suite may run as if it were another day,
# tests/run --date); for the other test servers with TLS too
dv_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/ca.key" -out "$1/ca.pem" -days 2 -subj '/CN=mdir test CA' \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/key.pem" -out "$1/cert.csr" -subj '/CN=127.0.0.1' &&
	printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n' \
		>"$1/cert.ext" &&
	openssl x509 -req -in "$1/cert.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" \
		-CAcreateserial -days 2 -extfile "$1/cert.ext" -out "$1/cert.pem"
}

# _dv_listener NAME PORT: a listener on 127.0.0.1, or none (port 0)
_dv_listener() {
	if [ "$2" = 0 ]; then
		printf '  inet_listener %s {\n    port = 0\n  }\n' "$1"
	else
		printf '  inet_listener %s {\n    address = 127.0.0.1\n    port = %s\n  }\n' "$1" "$2"
	fi
}

dv_config() {
	DV=$1
	mkdir -p "$DV/run" "$DV/state"
	chmod 0711 "$T"
	free_ports 2
	DV_IMAP=$PORT
	DV_POP=$((PORT + 1))
	if [ "${2:-}" = tls ]; then
		dv_cert "$DV" >"$DV/openssl.log" 2>&1 ||
			{ echo "Bail out! openssl: $(tail -n 3 "$DV/openssl.log")"; exit 1; }
		DV_CA=$DV/ca.pem
		_plain=0 _tls=1
	else
		_plain=1 _tls=0
	fi
	{
		cat <<CONF
listen = 127.0.0.1
base_dir = $DV/run
state_dir = $DV/state
log_path = $DV/dovecot.log
auth_mechanisms = plain
first_valid_uid = 0
first_valid_gid = 0
CONF
		if [ $_tls = 1 ]; then
			printf 'ssl = required\nssl_cert = <%s/cert.pem\nssl_key = <%s/key.pem\n' "$DV" "$DV"
		else
			printf 'ssl = no\ndisable_plaintext_auth = no\n'
		fi
		echo 'service imap-login {'
		_dv_listener imap $((_plain * DV_IMAP))
		_dv_listener imaps $((_tls * DV_IMAP))
		echo '}'
		echo 'service pop3-login {'
		_dv_listener pop3 $((_plain * DV_POP))
		_dv_listener pop3s $((_tls * DV_POP))
		echo '}'
	} >"$DV/dovecot.conf"
}

_dv_port_open() {
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null
}

_dv_stop() { [ -n "$DV_PID" ] && kill "$DV_PID" 2>/dev/null && wait "$DV_PID"; true; }

dv_start() {
	at_exit _dv_stop
	dovecot -F -c "$DV/dovecot.conf" >"$DV/stderr" 2>&1 &
	DV_PID=$!
	wait_for 30 _dv_port_open "$DV_IMAP" && wait_for 30 _dv_port_open "$DV_POP" && return 0
	diag "dovecot did not listen:" "$(cat "$DV/stderr")" "$(tail -n 5 "$DV/dovecot.log" 2>/dev/null)"
	return 1
}

dv_mailbox() {
	cat >>"$DV/dovecot.conf" <<CONF
protocols = imap pop3
mail_location = maildir:$DV/mail/%u
mail_uid = nobody
mail_gid = nogroup
passdb {
  driver = passwd-file
  args = $DV/passwd
}
userdb {
  driver = static
  args = home=$DV/mail/%u
}
CONF
	printf '%s:{PLAIN}%s\n' "$1" "$2" >>"$DV/passwd"
	mkdir -p "$DV/mail/$1/new" "$DV/mail/$1/cur" "$DV/mail/$1/tmp"
	chown -R nobody:nogroup "$DV/mail"
}

dv_fill() {
	_u=$1 _tag=$2
	shift 2
	mkdir -p "$DV/put/$_tag"
	_i=0
	for _f in "$@"; do
		_i=$((_i + 1))
		sed "s/^\(Message-ID: <[^@>]*\)/\1-$_tag/" "$_f" >"$DV/put/$_tag/$_i"
		cp "$DV/put/$_tag/$_i" "$DV/mail/$_u/tmp/$_tag.$_i.remote"
		chown nobody:nogroup "$DV/mail/$_u/tmp/$_tag.$_i.remote"
		mv "$DV/mail/$_u/tmp/$_tag.$_i.remote" "$DV/mail/$_u/new/$(date +%s).$_tag$_i.remote"
	done
}

dv_count() {
	find "$DV/mail/$1/new" "$DV/mail/$1/cur" -type f | wc -l
}

dv_stored() {
	_same=0
	for _f in "$DV/put/$2"/*; do
		_id=$(sed -n 's/^Message-ID: <\(.*\)>$/\1/p' "$_f")
		mstore -c "$1" cat "mstore:$_id/0" >"$DV/stored" 2>/dev/null || continue
		if [ "${3:-}" = unfolded ]; then
			_dv_unfold "$_f" "$DV/stored"
		else
			cmp -s "$_f" "$DV/stored"
		fi && _same=$((_same + 1))
	done
	echo $_same
}

# _dv_unfold A B: A and B are the same but for how header lines are
# folded, the message's and its parts' (every line break before a blank
# taken out, and the blanks where one was, on both)
_dv_unfold() {
	python3 - "$1" "$2" <<'PY'
import re, sys
def unfold(path):
    return re.sub(rb'[ \t]+', b' ', re.sub(rb'\n(?=[ \t])', b'', open(path, 'rb').read()))
sys.exit(unfold(sys.argv[1]) != unfold(sys.argv[2]))
PY
}
