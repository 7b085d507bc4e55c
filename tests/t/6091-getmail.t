#!/bin/sh
# getmail6 fetching into an account through mdir-receive (issue 11), with
# the README's getmailrc (MDA_external): the remote mailbox of t/6090 (a
# private Dovecot, POP3S and IMAPS, the certificate checked with
# ca_certs), the same three messages.  getmail runs as the user who owns
# the mdir root (nobody here), as cron runs it, bounded by timeout.
# Delivered: each message stored as the server held it but for the folding
# of header lines (getmail folds long ones anew, which the README says), queued
# for the account, gone from the server, filed by mdird.  A failing
# delivery (no such account: 67; a full disk: 75) is a delivery error to
# getmail: every message stays on the server, getmail exits 127, and the
# next run delivers them.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/fetch.sh"
dv_require
command -v getmail >/dev/null || skip_all "getmail6 is not installed (make deps)"
plan 31

# the mdir root on a small file system of its own (tests/lib/fetch.sh), to
# fill it later; getmail's directory elsewhere
fetch_setup
GM=$T/getmail
mkdir -m 0700 "$GM"
chown nobody "$GM"

readme_block getmailrc >"$T/readme-getmailrc" ||
	{ echo "Bail out! no getmailrc block in the README"; exit 1; }
sed -n 's/.*run `\(\/usr\/bin\/getmail [^`]*\)`$/\1/p' "$MDIR_SRC/README" >"$T/readme-cron"
# gm_rc POP3|IMAP ACCOUNT: the README's getmailrc, made private: the
# server here, its port and CA, the build's mdir-receive, the test's
# configuration, ACCOUNT for jo@example.org; for IMAP, the README's
# changes for it
gm_rc() {
	if [ "$1" = IMAP ]; then
		set -- "$2" -e 's/^type = SimplePOP3SSLRetriever$/type = SimpleIMAPSSLRetriever\nrecord_mailbox = false/' \
			-e "s/^port = 995\$/port = $DV_IMAP/"
	else
		set -- "$2" -e "s/^port = 995\$/port = $DV_POP/"
	fi
	_acct=$1
	shift
	sed "$@" -e 's/^server = pop\.example\.net$/server = localhost/' \
		-e "s|^ca_certs = .*|ca_certs = $DV_CA|" \
		-e "s|/usr/local/bin/|$BIN/|" \
		-e "s|/etc/mdir/mdir\\.conf|$CONF|" \
		-e "s|\"jo@example\\.org\")\$|\"$_acct\")|" \
		"$T/readme-getmailrc" >"$GM/getmailrc"
	chown nobody "$GM/getmailrc"
	chmod 0600 "$GM/getmailrc"
}
# gm: one getmail run as nobody, as the README's cron job runs it; its
# output in $T/gm.out, its status in $GM_RC
gm() {
	runuser -u nobody -- $ENV_I PATH=/usr/bin:/bin HOME="$GM" LOGNAME=nobody SHELL=/bin/sh \
		timeout 60 sh -c "$(sed -e "s|/var/lib/mdir/\\.getmail|$GM|" "$T/readme-cron")" \
		>"$T/gm.out" 2>&1
	GM_RC=$?
}
# stored TAG: how many of the messages put on the server for round TAG
# are in the store as the server held them, but for the folding
stored() { dv_stored "$CONF" "$1" unfolded; }

gm_rc POP3 jo@example.org
is "$(grep -c -e "^server = localhost\$" -e "^port = $DV_POP\$" -e "^ca_certs = $DV_CA\$" \
	-e "^path = $BIN/mdir-receive\$" \
	-e "^arguments = (\"-c\", \"$CONF\", \"-f\", \"%(sender)\", \"--\", \"jo@example.org\")\$" \
	"$GM/getmailrc")" 5 "the README's getmailrc, made private"
is "$(cat "$T/readme-cron")" "/usr/bin/getmail --quiet --getmaildir /var/lib/mdir/.getmail" \
	"the README's command for cron"
# mdir-receive(1) shows the same [destination] and [options]
missing=$(sed -n '/^\[destination\]$/,$p' "$T/readme-getmailrc" | while IFS= read -r l; do
	grep -qxF -- "$l" "$MDIR_SRC/man/mdir-receive.1" || echo "$l"
done)
is "$missing" "" "mdir-receive(1) has the README's [destination] and [options]"
dv_start
ok $? "dovecot listens on 127.0.0.1:$DV_IMAP (imaps) and :$DV_POP (pop3s)"

# POP3, an account that does not exist: 67, a delivery error to getmail
dv_fill "$REMOTE" pop $MSGS
gm_rc POP3 nobody@example.org
gm
is "$(grep -c '^Delivery error (command mdir-receive [0-9]* error (67, ))$' "$T/gm.out")" 3 \
	"POP3, no such account: mdir-receive exits 67 for each message, a delivery error"
is "$(dv_count "$REMOTE")" 3 "all three stay on the server"
is "$(stored pop)" 0 "nothing stored"
is "$GM_RC" 127 "getmail exits 127"

# then with the README's account
gm_rc POP3 jo@example.org
gm
is "$GM_RC" 0 "POP3: getmail exits 0"
is "$(cat "$T/gm.out")" "" "and prints nothing (cron mails nothing)"
is "$(stored pop)" 3 "each stored as the server held it, but for the folding of header lines"
is "$(dv_stored "$CONF" pop)" 2 "(byte for byte: the two with no header line getmail folds anew)"
is "$(fetch_queued)" 3 "three batches for $JO"
is "$(dv_count "$REMOTE")" 0 "the server's mailbox is empty"
b=$(grep -l '^message-id: fetch-8bit-pop@remote.test$' "$MDIR_ROOT/.mdird/queue"/* | head -n 1)
is "$(grep -m1 '^envelope-from: ' "$b")" "envelope-from: rene@sender.test" \
	"%(sender): the Return-Path is the sender"

# IMAP, a full disk: 75 for each, everything stays remote, unseen
dv_fill "$REMOTE" imap $MSGS
gm_rc IMAP jo@example.org
fetch_full
gm
is "$(grep -c '^Delivery error (command mdir-receive [0-9]* error (75, ))$' "$T/gm.out")" 3 \
	"IMAP, a full disk: mdir-receive exits 75 for each message, a delivery error"
is "$(dv_count "$REMOTE")" 3 "all three stay on the server"
is "$(ls "$DV/mail/$REMOTE/cur" "$DV/mail/$REMOTE/new" | grep -c ':2,[A-Z]*S')" 0 "none marked seen"
is "$(stored imap)" 0 "nothing stored"
is "$(fetch_queued)" 3 "nothing queued"
is "$GM_RC" 127 "getmail exits 127"

# space again: the next run delivers them
fetch_room
gm
is "$GM_RC" 0 "IMAP after the disk has room: getmail exits 0"
is "$(stored imap)" 3 "each stored as the server held it, but for the folding of header lines"
is "$(cat "$MDIR_ROOT"/.mstore/msg/*/*/0 | grep -c '^X-getmail')" 0 \
	"no field of getmail's own (record_mailbox = false)"
is "$(fetch_queued)" 6 "three more batches for $JO"
is "$(dv_count "$REMOTE")" 0 "the server's mailbox is empty"

# mdird files them
fetch_filed 2
