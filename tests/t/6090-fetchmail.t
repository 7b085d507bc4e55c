#!/bin/sh
# fetchmail fetching into an account through mdir-receive (issue 11), with
# the README's fetchmailrc: a private Dovecot (tests/lib/dovecot.sh) holds
# a remote mailbox, over POP3S and IMAPS with a certificate made now and
# checked (sslcertck against the test's CA); three messages: a Cyrillic
# subject with a CJK attachment name, an 8-bit body, a folded header.
# fetchmail runs as the user who owns the mdir root (nobody here, mdir on
# a server), bounded by timeout, no daemon, no syslog.  Delivered: each
# message stored byte for byte as the server held it, queued for the
# account, gone from the server, filed by mdird.  A failing delivery (no
# such account: 67; a full disk: 75) leaves every message on the server,
# and the next run delivers them; fetchmail's own exit status is 0 all
# the same, which the README says.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/fetch.sh"
dv_require
command -v fetchmail >/dev/null || skip_all "fetchmail is not installed (make deps)"
plan 31

# the mdir root on a small file system of its own (tests/lib/fetch.sh), to
# fill it later; fetchmail's home (its lock) elsewhere, or a full disk
# stops fetchmail before it reaches mdir-receive
fetch_setup
mkdir -m 0700 "$T/fm"
chown nobody "$T/fm"

# fm_rc PROTO PORT ACCOUNT: the README's fetchmailrc, made private: the
# server here, its port and CA, the build's mdir-receive, the test's
# configuration, and ACCOUNT for jo@example.org
readme_block fetchmailrc >"$T/readme-fetchmailrc" ||
	{ echo "Bail out! no fetchmailrc block in the README"; exit 1; }
# and how cron runs it
sed -n 's/.*run `\(\/usr\/bin\/fetchmail [^`]*\)` from the$/\1/p' "$MDIR_SRC/README" >"$T/readme-cron"
fm_rc() {
	sed -e 's|pop\.example\.net|localhost|' \
		-e "s|proto POP3 port 995|proto $1 port $2|" \
		-e "s|sslcertck|sslcertck sslcertfile \"$DV_CA\"|" \
		-e "s|/usr/local/bin/|$BIN/|" \
		-e "s|/etc/mdir/mdir\\.conf|$CONF|" \
		-e "s|is \"jo@example\\.org\" here|is \"$3\" here|" \
		"$T/readme-fetchmailrc" >"$T/fm/fetchmailrc"
	chown nobody "$T/fm/fetchmailrc"
	chmod 0600 "$T/fm/fetchmailrc"
}
# fm: one fetchmail run as nobody, as the README's cron job runs it (an
# empty environment but cron's), with no syslog; its output in $T/fm.out,
# its status in $FM_RC
fm() {
	runuser -u nobody -- $ENV_I PATH=/usr/bin:/bin HOME="$T/fm" LOGNAME=nobody SHELL=/bin/sh \
		timeout 60 sh -c "$(sed -e "s|/etc/mdir/fetchmailrc|$T/fm/fetchmailrc|" \
		-e 's|$| --nosyslog|' "$T/readme-cron")" >"$T/fm.out" 2>&1
	FM_RC=$?
}
# stored TAG: how many of the messages put on the server for round TAG
# are in the store byte for byte
stored() { dv_stored "$CONF" "$1"; }

fm_rc POP3 "$DV_POP" jo@example.org
is "$(grep -c -e "localhost with proto POP3 port $DV_POP" -e "sslcertfile \"$DV_CA\"" \
	-e "mda \"$BIN/mdir-receive -c $CONF -f %F -- %T\"" "$T/fm/fetchmailrc")" 3 \
	"the README's fetchmailrc, made private"
is "$(cat "$T/readme-cron")" "/usr/bin/fetchmail --silent -f /etc/mdir/fetchmailrc" \
	"the README's command for cron"
# mdir-receive(1) shows the same lines
missing=$(while IFS= read -r l; do
	grep -qxF -- "$l" "$MDIR_SRC/man/mdir-receive.1" || echo "$l"
done <"$T/readme-fetchmailrc")
is "$missing" "" "mdir-receive(1) has the README's fetchmailrc"
dv_start
ok $? "dovecot listens on 127.0.0.1:$DV_IMAP (imaps) and :$DV_POP (pop3s)"

# POP3, a local name with no account: mdir-receive says 67, fetchmail
# leaves the messages on the server
dv_fill "$REMOTE" pop $MSGS
fm_rc POP3 "$DV_POP" nobody@example.org
fm
is "$(grep -c 'MDA returned nonzero status 67' "$T/fm.out")" 3 "POP3, no such account: mdir-receive exits 67 for each message"
is "$(dv_count "$REMOTE")" 3 "all three stay on the server"
is "$(stored pop)" 0 "nothing stored"
is "$FM_RC" 0 "fetchmail's exit status: 0 all the same (it retrieved them)"

# then with the README's account: delivered, deleted remotely
fm_rc POP3 "$DV_POP" jo@example.org
fm
is "$FM_RC" 0 "POP3: fetchmail exits 0"
is "$(cat "$T/fm.out")" "" "and prints nothing (cron mails nothing)"
is "$(stored pop)" 3 "each stored byte for byte as the server held it"
is "$(fetch_queued)" 3 "three batches for $JO"
is "$(dv_count "$REMOTE")" 0 "the server's mailbox is empty"
b=$(grep -l '^message-id: fetch-8bit-pop@remote.test$' "$MDIR_ROOT/.mdird/queue"/* | head -n 1)
is "$(grep -m1 '^envelope-from: ' "$b")" "envelope-from: rene@sender.test" "%F: the Return-Path is the sender"

# IMAP, a full disk: 75 for each, everything stays remote
dv_fill "$REMOTE" imap $MSGS
fm_rc IMAP "$DV_IMAP" jo@example.org
fetch_full
fm
is "$(grep -c 'MDA returned nonzero status 75' "$T/fm.out")" 3 "IMAP, a full disk: mdir-receive exits 75 for each message"
is "$(dv_count "$REMOTE")" 3 "all three stay on the server"
is "$(ls "$DV/mail/$REMOTE/cur" "$DV/mail/$REMOTE/new" | grep -c ':2,[A-Z]*S')" 0 "none marked seen"
is "$(stored imap)" 0 "nothing stored"
is "$(fetch_queued)" 3 "nothing queued"
is "$FM_RC" 0 "fetchmail's exit status: 0 all the same"
is "$(find "$MDIR_ROOT/.mstore/tmp" -type f | wc -l)" 0 "nothing left half-written"

# space again: the next run delivers them
fetch_room
fm
is "$FM_RC" 0 "IMAP after the disk has room: fetchmail exits 0"
is "$(stored imap)" 3 "each stored byte for byte"
is "$(fetch_queued)" 6 "three more batches for $JO"
is "$(dv_count "$REMOTE")" 0 "the server's mailbox is empty"
fm
is "$FM_RC" 1 "a run with nothing to fetch: 1"

# mdird files them: the Cyrillic subject and the CJK file name in the account
fetch_filed 2
