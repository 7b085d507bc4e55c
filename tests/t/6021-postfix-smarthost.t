#!/bin/sh
# Sending through a smarthost (issue 11), as the README sets it up:
# mdir-outbox -> Postfix's sendmail (a private instance) -> Postfix relays
# with the README's relayhost lines, SASL and TLS, made private -> a relay
# on loopback (python3's aiosmtpd) that offers STARTTLS with a certificate
# made now, takes AUTH only over TLS and only with the README's password,
# and keeps what it receives.  The message arrives over TLS, after AUTH as
# the README's user, DKIM-signed by mdir-outbox, and the signatures verify.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
. "$MDIR_SRC/tests/lib/dkim.sh"
. "$MDIR_SRC/tests/lib/dovecot.sh"
pf_require
command -v opendkim >/dev/null || skip_all "opendkim is not installed (make deps)"
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd is not installed (make deps)"
ls /usr/lib/*/sasl2/libplain.so* >/dev/null 2>&1 ||
	skip_all "libsasl2-modules is not installed (make deps)"
plan 11

# the relay: STARTTLS required, AUTH PLAIN or LOGIN over TLS only, one
# user; each message in $T/relay/N.eml with what the session was in N.env
mkdir -p "$T/relay" "$T/tls"
dv_cert "$T/tls" >"$T/tls/openssl.log" 2>&1 || { echo "Bail out! openssl failed"; exit 1; }
cat >"$T/relay.py" <<'PY'
import os, signal, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
port, tls, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class Keep:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(out) if f.endswith('.eml')])
        with open('%s/%d.env' % (out, n), 'w') as f:
            f.write('from %s\nto %s\ntls %s\nauth %s\n' % (envelope.mail_from,
                ' '.join(envelope.rcpt_tos), session.ssl is not None,
                session.authenticated and session.auth_data.login.decode()))
        with open('%s/%d.eml.tmp' % (out, n), 'wb') as f:
            f.write(envelope.original_content)
        os.rename('%s/%d.eml.tmp' % (out, n), '%s/%d.eml' % (out, n))
        return '250 2.0.0 kept'
def check(server, session, envelope, mechanism, data):
    ok = (isinstance(data, LoginPassword) and data.login == b'jo@example.net'
          and data.password == b'secret')
    return AuthResult(success=ok, handled=False, auth_data=data)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(tls + '/cert.pem', tls + '/key.pem')
c = Controller(Keep(), hostname='127.0.0.1', port=port, tls_context=ctx,
               require_starttls=True, auth_required=True, auth_require_tls=True,
               authenticator=check, ready_timeout=10)
c.start()
print('ready', flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
c.stop()
PY
free_ports 1
RELAY=$PORT
/usr/bin/python3 "$T/relay.py" "$RELAY" "$T/tls" "$T/relay" >"$T/relay.log" 2>&1 &
RELAY_PID=$!
_relay_stop() { kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null; true; }
at_exit _relay_stop
wait_for 10 grep -q '^ready' "$T/relay.log"
ok $? "the relay listens on 127.0.0.1:$RELAY (STARTTLS, AUTH)" || sed 's/^/# /' "$T/relay.log"

# the README's lines, made private: the relay here, the password map in $T
private() {
	sed -e "s|\\[smtp\\.example\\.net\\]:587|[127.0.0.1]:$RELAY|g" \
		-e "s|/etc/postfix/sasl_passwd|$T/sasl_passwd|g" \
		-e "s|^postmap |postmap -c $T/postfix/etc |"
}
readme_block main.cf-smarthost >"$T/readme-smarthost" &&
	readme_block sasl_passwd >"$T/readme-sasl" ||
	{ echo "Bail out! no main.cf-smarthost or sasl_passwd block in the README"; exit 1; }
private <"$T/readme-smarthost" >"$T/smarthost.cf"
private <"$T/readme-sasl" >"$T/sasl.sh"
is "$(grep -c -e "^relayhost = \\[127.0.0.1\\]:$RELAY\$" -e "hash:$T/sasl_passwd\$" "$T/smarthost.cf")" 2 \
	"the README's main.cf lines, made private"
missing=$(while IFS= read -r l; do
	grep -qxF -- "$l" "$MDIR_SRC/man/mdir-outbox.1" || echo "$l"
done <"$T/readme-smarthost")
is "$missing" "" "mdir-outbox(1) shows the same lines"
# (they come after the private instance's own relayhost, the sink: the
# last one is Postfix's)
pf_start "$(cat "$T/smarthost.cf")" || { echo "Bail out! the private Postfix did not start"; exit 1; }
# the SMTP client's TLS needs tlsmgr(8), which Debian's master.cf has and
# the private one leaves out (tests/lib/postfix.sh)
postconf -c "$PF/etc" -M tlsmgr/unix='tlsmgr unix - - n 1000? 1 tlsmgr' &&
	postfix -c "$PF/etc" reload >/dev/null 2>&1 ||
	{ echo "Bail out! cannot add tlsmgr to the private Postfix"; exit 1; }
is "$(postconf -c "$PF/etc" -h relayhost smtp_sasl_auth_enable smtp_tls_security_level \
	smtp_sasl_security_options 2>/dev/null | tr '\n' ' ')" "[127.0.0.1]:$RELAY yes encrypt noanonymous " \
	"postconf: Postfix reads them as written (they come last)"
sh -e "$T/sasl.sh" >"$T/sasl.out" 2>&1
ok $? "the README's password map: written, postmap'd" || sed 's/^/# /' "$T/sasl.out"

# mdir-outbox -> Postfix's sendmail, as in t/6020
dk_keys
printf '#!/bin/sh\nexec /usr/sbin/sendmail -C %s/etc "$@"\n' "$PF" >"$T/sendmail"
chmod +x "$T/sendmail"
printf '[mdir]\nroot = %s\n[outbox]\nsendmail = %s\n%s\n' "$MDIR_ROOT" "$T/sendmail" \
	"$DK_CONF" >"$T/c.conf"
dk_records "$T/c.conf"
mstore mkdir SMTP/Accounts/jo@example.org/Outbox >/dev/null
printf 'From: Jo <jo@example.org>\nTo: Ann <ann@remote.test>\nSubject: through the smarthost\nMessage-ID: <smarthost-1@example.org>\n\nHello Ann.\n' \
	>"$MDIR_ROOT/SMTP/Accounts/jo@example.org/Outbox/to-ann.eml"
expect_code 0 "mdir-outbox hands it to Postfix's sendmail" -- mdir-outbox -c "$T/c.conf"
wait_for 30 test -f "$T/relay/0.eml"
ok $? "the relay received it from Postfix" ||
	diag "$(grep -F 'relay=' "$PF/maillog" | tail -n 3)"
is "$(cat "$T/relay/0.env" 2>/dev/null)" "from jo@example.org
to ann@remote.test
tls True
auth jo@example.net" "over TLS, after AUTH as the README's user, with the envelope"
like "$(grep -F "to=<ann@remote.test>" "$PF/maillog" | tail -n 1)" \
	"relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:$RELAY, .*status=sent" "Postfix: sent through the relayhost"
dk_opendkim "$T/relay/0.eml"
ok $? "opendkim: mdir-outbox's signatures verify at the relay"
is "$(dk_python "$T/relay/0.eml")" "True True" "python3-dkim: both verify"
