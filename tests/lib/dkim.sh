# tests/lib/dkim.sh: DKIM keys for a test, and the two independent
# verifiers, run offline against the records mdir-outbox prints.
#
#   dk_keys               RSA and Ed25519 keys in $T, [outbox] lines in $DK_CONF
#   dk_records            the TXT records, from mdir-outbox --dkim-record
#   dk_opendkim FILE      opendkim -t with a TestPublicKeys file; status 0 if
#                         every signature verifies, $DK_OUT has what it said
#   dk_opendkim_fails FILE  status 0 only if opendkim read FILE and found
#                         both signatures false (not on any other error)
#   dk_python FILE        python3-dkim, dnsfunc from the records; prints one
#                         True/False a signature

dk_keys() {
	openssl genrsa -out "$T/rsa.pem" 2048 2>/dev/null &&
		openssl genpkey -algorithm ed25519 -out "$T/ed.pem" 2>/dev/null &&
		chmod 600 "$T/rsa.pem" "$T/ed.pem"
	DK_CONF="dkim_domain = example.org
dkim_selector = s1
dkim_key = $T/rsa.pem
dkim_ed25519_key = $T/ed.pem"
}

dk_records() {
	mdir-outbox -c "$1" --dkim-record >"$T/records.txt" &&
		/usr/bin/python3 - "$T/records.txt" >"$T/testkeys" <<'PY'
import re, sys
for line in open(sys.argv[1]):
    m = re.match(r'(\S+)\. IN TXT \((.*)\)', line)
    print(m.group(1), "".join(re.findall(r'"([^"]*)"', m.group(2))))
PY
	printf 'Mode v\nTestPublicKeys %s\nSyslog no\nAlwaysAddARHeader yes\n' "$T/testkeys" \
		>"$T/opendkim.conf"
}

# passes when opendkim's Authentication-Results says dkim=pass for both
dk_opendkim() {
	DK_OUT=$(opendkim -x "$T/opendkim.conf" -vvv -t "$1" 2>&1)
	[ "$(printf '%s\n' "$DK_OUT" | grep -c 'dkim=pass')" = 2 ]
}

# the tampering tests: a missing file or a broken key is not "fail"
dk_opendkim_fails() {
	DK_OUT=$(opendkim -x "$T/opendkim.conf" -vvv -t "$1" 2>&1)
	[ "$(printf '%s\n' "$DK_OUT" |
	    grep -c 'dkim=fail reason="signature verification failed"')" = 2 ] &&
		! printf '%s\n' "$DK_OUT" | grep -q 'dkim=pass'
}

dk_python() {
	/usr/bin/python3 - "$T/testkeys" "$1" <<'PY'
import sys, dkim
keys = dict(l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1]))
msg = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
dns = lambda name, timeout=5: keys.get(name.decode().rstrip("."), "").encode()
n = msg.count(b"\r\nDKIM-Signature:") + msg.startswith(b"DKIM-Signature:")
def verify(i):
    try:
        return dkim.DKIM(msg).verify(idx=i, dnsfunc=dns)
    except dkim.DKIMException:
        return False
print(" ".join(str(verify(i)) for i in range(n)))
PY
}
