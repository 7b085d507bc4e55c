# tests/lib/postfix.sh: a private, throwaway Postfix on 127.0.0.1 for the
# end-to-end tests.  Source it after tests/lib.sh:
#
#   pf_require            skip the whole file unless root with Postfix and swaks
#   pf_start [EXTRA]      config and queue under $PF, mdir-receive as $PF_USER;
#                         EXTRA lines are appended to main.cf
#   pf_config [EXTRA]     only writes $PF/etc/main.cf and master.cf; with
#                         PF_README_MORE=NAME, the README's block NAME
#                         last in main.cf (the LMTP variant: main.cf-lmtp)
#   pf_readme_cf NAME     the README's block NAME made private, as pf_config
#                         puts it in
#   pf_send ARGS...       swaks to the plain listener; sets $PF_QID
#   pf_wait QID RCPT      polls the log until the delivery ends; sets
#                         $PF_STATUS (sent, deferred, bounced) and $PF_DSN
#                         (of the log lines with $PF_RELAY: "relay=mdir,",
#                         the pipe entry, by default)
#   pf_flush              retry the deferred queue now
#   pf_stop               (at exit by itself)
#
# The mdir root is $MDIR_ROOT, owned by $PF_USER; mdir-receive runs with
# -c $PF/mdir.conf.  $PF_USER is a system user made for this test file and
# removed at its end; the programs it runs are copies of the build's in
# $PF_BIN (with their library), so that no directory outside $T is opened
# to it.  Ports: $PF_PORT (plain smtpd), $PF_PORT+1 (the sink for
# everything that is not example.test, bounces included), $PF_PORT+2
# (an smtpd for which no client is in mynetworks, so that it asks the
# policy service, for the stats tests), $PF_POLICY_PORT ($PF_PORT+3, free:
# where main.cf's check_policy_service looks for smtp-stats policy).
#
# main.cf and master.cf are the README's blocks, made private by the
# substitutions listed at _pf_private, plus what a private instance needs.
#
# What the set-up rests on (Debian 12's Postfix 3.7):
# - Every Postfix command here takes -c "$PF/etc": without it, it reads
#   /etc/postfix/main.cf, which a "No configuration" install does not
#   have.  The package's other files in /etc/postfix serve as they are.
# - A failed "postfix start" says why only on a terminal; here it is just
#   a status of 1, and the reason is in $PF/maillog (maillog_file, which
#   needs the postlog service in master.cf).
# - master binds its listeners with SO_REUSEPORT: a port another listener
#   already has does not stop it, and the two then share the connections.
#   Hence ports checked free before the start (_pf_pick_ports).

. "$MDIR_SRC/tests/lib/readme.sh"

PF_USER=mdir-test-$$
PF_DOMAIN=example.test

pf_require() {
	[ "$(id -u)" = 0 ] || skip_all "needs root to run a private Postfix"
	command -v postfix >/dev/null || skip_all "postfix is not installed (make deps)"
	command -v swaks >/dev/null || skip_all "swaks is not installed (make deps)"
	[ -x /usr/sbin/smtp-sink ] || command -v smtp-sink >/dev/null ||
		skip_all "smtp-sink is not installed"
}

# Four consecutive free ports (tests/lib.sh)
_pf_pick_ports() {
	free_ports 4 && PF_PORT=$PORT && PF_POLICY_PORT=$((PORT + 3))
}

_pf_user() {
	if ! id "$PF_USER" >/dev/null 2>&1; then
		# useradd fails while another holds the lock on /etc/passwd: retry
		wait_for 10 useradd --system --no-create-home --shell /usr/sbin/nologin \
			"$PF_USER" || return 1
		at_exit _pf_userdel
	fi
	# pipe(8) runs mdir-receive as this user: copies of the programs in
	# $T, the one directory opened to it (rpath $ORIGIN/../lib holds)
	mkdir -p "$T/pf"
	cp -R "$MDIR_BUILD/bin" "$MDIR_BUILD/lib" "$T/pf/" || return 1
	# tests/run --date: what Postfix's pipe(8) and mdird's rules start,
	# each with an environment of its own, keeps the run's clock
	if [ -n "${FAKETIME:-}" ]; then
		mv "$T/pf/bin" "$T/pf/real" && mkdir "$T/pf/bin" || return 1
		for _p in "$T/pf/real"/*; do
			printf '#!/bin/sh\nexport LD_PRELOAD=%s FAKETIME=%s NO_FAKE_STAT=1\nexec %s "$@"\n' \
				"$LD_PRELOAD" "$FAKETIME" "$_p" >"$T/pf/bin/${_p##*/}" || return 1
		done
	fi
	chmod -R go+rX "$T/pf"
	chmod 755 "$T" "$T/pf/bin"/*
	PF_BIN=$T/pf/bin
}

_pf_user_idle() { ! pgrep -u "$PF_USER" >/dev/null 2>&1; }

_pf_userdel() {
	# the user's processes (ours: Postfix's pipe, the tests' runuser) end
	# with Postfix; userdel refuses a user still running
	wait_for 10 _pf_user_idle || diag "$PF_USER still runs: $(pgrep -u "$PF_USER" | tr '\n' ' ')"
	userdel "$PF_USER" 2>/dev/null || diag "cannot remove user $PF_USER"
}

pf_start() {
	_pf_user || { diag "cannot make user $PF_USER"; return 1; }
	at_exit pf_stop
	# ports checked free can be taken before Postfix binds them (by
	# another run on the machine): then again, on other ports
	for _try in 1 2 3; do
		_pf_start_once "$@" && return 0
		grep -q 'Address already in use' "$T/postfix/maillog" 2>/dev/null || break
		diag "a port was taken meanwhile; again on others"
		pf_stop
		rm -rf "$T/postfix"
	done
	diag "postfix did not start:" "$(tail -n 5 "$T/postfix/maillog" 2>/dev/null)"
	return 1
}

_pf_start_once() {
	_pf_pick_ports || { diag "no free ports"; return 1; }
	PF=$T/postfix
	mkdir -p "$PF/etc" "$PF/spool"
	chmod 755 "$PF"
	mkdir -p "$MDIR_ROOT"
	printf '[mdir]\nroot = %s\nsocket = %s/.mdird/mdird.sock\n' "$MDIR_ROOT" "$MDIR_ROOT" \
		>"$PF/mdir.conf"
	chmod 644 "$PF/mdir.conf"
	pf_config "${1:-}"
	smtp_sink=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
	mkdir -p "$PF/sink"
	chmod 777 "$PF/sink"
	"$smtp_sink" -u nobody -d "$PF/sink/%Y%m%d%H%M%S." 127.0.0.1:$((PF_PORT + 1)) 20 \
		>/dev/null 2>&1 &
	PF_SINK=$!
	postfix -c "$PF/etc" start >/dev/null 2>&1 || return 1
	wait_for 10 _pf_banner || { diag "no 220 banner on $PF_PORT"; return 1; }
}

_pf_bail() {
	echo "Bail out! $*"
	exit 1
}

# The README's main.cf and master.cf blocks ("Behind Postfix") are this
# instance's configuration, so that the README and the tests cannot drift.
# Every difference between the admin's set-up and this private instance is
# one of these substitutions (_pf_private), and nothing else:
#
#   example.org           -> $PF_DOMAIN (example.test), in every line: the
#                            tests' domain (myhostname, mydomain,
#                            relay_domains, transport_maps)
#   inet_interfaces = ... -> 127.0.0.1: loopback only, never the machine's
#                            interfaces
#   inet:127.0.0.1:10040  -> inet:127.0.0.1:$PF_POLICY_PORT: a free port of
#                            this test, not a policy service of the machine
#   user=mdir             -> user=$PF_USER, the user made for this test file
#   /usr/local/bin/       -> $PF_BIN/, copies of the build's programs
#   /etc/mdir/mdir.conf   -> $PF/mdir.conf, this instance's configuration
#   /var/lib/mdir         -> $MDIR_ROOT, the test's root
#   /run/mdir/            -> $T/run/, where the LMTP server's socket is
#
# No README line is dropped.  A line that still names /var/lib/mdir,
# /usr/local, /etc/mdir, example.org, another policy endpoint or another
# pipe user after this stops the test: a new README line needs a rule here.
#
# What a private instance adds comes after the README's lines, each with
# its reason (_pf_main_extra, _pf_master_base); t/6050 checks that none of
# them overrides a README line.
_pf_private() {
	sed -e "s|example\.org|$PF_DOMAIN|g" \
	    -e 's|^inet_interfaces[[:blank:]]*=.*|inet_interfaces = 127.0.0.1|' \
	    -e "s|inet:127\.0\.0\.1:10040\b|inet:127.0.0.1:$PF_POLICY_PORT|g" \
	    -e "s/\(^\|[[:blank:]]\)user=mdir\([[:blank:]]\|\$\)/\1user=$PF_USER\2/" \
	    -e "s|/usr/local/bin/|$PF_BIN/|g" \
	    -e "s|/etc/mdir/mdir\.conf|$PF/mdir.conf|g" \
	    -e "s|/var/lib/mdir|$MDIR_ROOT|g" \
	    -e "s|/run/mdir/|$T/run/|g"
}

# pf_readme_cf NAME: the README's block NAME as this instance has it
pf_readme_cf() {
	readme_block "$1" >"$T/.readme-$1" || return 1
	_pf_private <"$T/.readme-$1"
}

# _pf_leftovers FILE: prints what a private instance must not have
_pf_leftovers() {
	grep -nE '/var/lib/mdir|/usr/local|/etc/mdir|example\.org' "$1"
	grep -noE 'inet:[^ ,}]*' "$1" | grep -vF "inet:127.0.0.1:$PF_POLICY_PORT"
	grep -noE '(^|[[:blank:]])user=[^[:blank:]]*' "$1" | grep -vE "[[:blank:]:]user=$PF_USER\$"
}

# What the private instance adds to the README's main.cf, and why
_pf_main_extra() {
	cat <<EOF
# the private instance: its own queue and data, run by Debian's users
queue_directory = $PF/spool
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
# loopback only, IPv4 (a machine may have no IPv6)
inet_protocols = ipv4
# every other domain, and every bounce, goes to the local sink: no DNS
relayhost = [127.0.0.1]:$((PF_PORT + 1))
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
alias_database =
biff = no
# a log of its own, read by pf_wait (needs postlog in master.cf)
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
# quick retries, big attachments
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
message_size_limit = 104857600
EOF
}

# The private instance's master.cf, before the README's lines: Debian's
# services with chroot off everywhere (no /etc/hosts in a chroot: lookups
# would go to DNS), two loopback listeners instead of "smtp inet", and no
# local(8): the README's mydestination = localhost would deliver into the
# machine's /var/mail (the tests send nothing to localhost).  The second
# listener treats no client as its own (mynetworks is TEST-NET-1; an
# empty value would mean the default, 127.0.0.0/8 among them), so that the
# README's smtpd_recipient_restrictions ask the policy service there.
_pf_master_base() {
	cat <<EOF
127.0.0.1:$PF_PORT inet n - n - - smtpd
127.0.0.1:$((PF_PORT + 2)) inet n - n - - smtpd
  -o syslog_name=postfix/grey
  -o mynetworks=192.0.2.0/24
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# pf_config [EXTRA]: writes $PF/etc/main.cf (the README's, then
# _pf_main_extra, then EXTRA) and $PF/etc/master.cf (_pf_master_base, then
# the README's); bails out if the README's blocks are not usable
pf_config() {
	for _f in main.cf master.cf; do
		pf_readme_cf $_f >"$T/.$_f" ||
			_pf_bail "README: no usable '# mdir: $_f' block for the private Postfix"
		_left=$(_pf_leftovers "$T/.$_f")
		[ -z "$_left" ] || _pf_bail "README's $_f not made private" \
			"(rules in tests/lib/postfix.sh): $(echo "$_left" | tr '\n' ' ')"
	done
	if [ -n "${PF_README_MORE:-}" ]; then
		pf_readme_cf "$PF_README_MORE" >"$T/.more.cf" ||
			_pf_bail "README: no usable '# mdir: $PF_README_MORE' block"
	fi
	{ cat "$T/.main.cf"; _pf_main_extra; printf '%s\n' "${1:-}"
	  [ -n "${PF_README_MORE:-}" ] && cat "$T/.more.cf"; } >"$PF/etc/main.cf"
	{ _pf_master_base; cat "$T/.master.cf"; } >"$PF/etc/master.cf"
}

_pf_banner() {
	# a bounded read of the greeting; QUIT politely
	printf 'QUIT\r\n' | timeout 2 socat - TCP:127.0.0.1:$PF_PORT 2>/dev/null | grep -q '^220'
}

pf_stop() {
	[ -n "${PF:-}" ] || return 0
	postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
	pid=$(head -n 1 "$PF/spool/pid/master.pid" 2>/dev/null | tr -d ' ')
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "${PF_SINK:-}" ] && kill "$PF_SINK" 2>/dev/null
	PF= PF_SINK=
}

# pf_send SWAKS-ARGS...: sends to the plain listener; $PF_QID is the queue id.
pf_send() {
	PF_QID=
	swaks --server 127.0.0.1:$PF_PORT --timeout 20 --helo client.test "$@" \
		>"$T/swaks.out" 2>&1
	_rc=$?
	PF_QID=$(sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p' "$T/swaks.out" | tail -n 1)
	return $_rc
}

_pf_status_line() {
	grep -F " $1: to=<$2>," "$PF/maillog" | grep -F "${PF_RELAY:-relay=mdir,}" |
		grep -E 'status=(sent|bounced)' | tail -n 1
}

# pf_wait QID RCPT [SECONDS]: until the delivery is sent or bounced (or,
# with PF_WANT=deferred, deferred); sets $PF_STATUS and $PF_DSN.
pf_wait() {
	_want=${PF_WANT:-final}
	if [ "$_want" = deferred ]; then
		wait_for "${3:-10}" sh -c "grep -F ' $1: to=<$2>,' '$PF/maillog' | grep -q 'status=deferred'"
	else
		wait_for "${3:-10}" _pf_has_final "$1" "$2"
	fi
	_line=$(grep -F " $1: to=<$2>," "$PF/maillog" | grep -F "${PF_RELAY:-relay=mdir,}" | tail -n 1)
	PF_STATUS=$(echo "$_line" | sed -n 's/.*status=\([a-z]*\).*/\1/p')
	PF_DSN=$(echo "$_line" | sed -n 's/.*dsn=\([0-9.]*\).*/\1/p')
	PF_LINE=$_line
}

_pf_has_final() {
	[ -n "$(_pf_status_line "$1" "$2")" ]
}

pf_flush() {
	postqueue -c "$PF/etc" -f >/dev/null 2>&1
}
