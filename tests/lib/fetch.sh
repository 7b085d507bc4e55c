# tests/lib/fetch.sh: what the fetch tests share (t/6090 fetchmail, t/6091
# getmail).  Source it after tests/lib.sh:
#
#   fetch_setup           the remote side: a private Dovecot over TLS
#                         (tests/lib/dovecot.sh, $DV_IMAP, $DV_POP, $DV_CA)
#                         with the mailbox $REMOTE (password "secret");
#                         the local side: the mdir root $MDIR_ROOT on a
#                         small tmpfs of its own (to fill it), its
#                         configuration $CONF (mdird's socket that of
#                         tests/lib/mdird.sh), the account $JO, all of
#                         it owned by nobody, who runs the fetchers;
#                         $MSGS, the three messages to fetch
#   fetch_full / fetch_room   fill the root's file system / free it again
#   fetch_queued          prints how many batches wait for $JO
#   fetch_filed N         starts mdird and checks (5 tests) that it files
#                         every batch: N copies of each message in $JO
#                         (the Cyrillic subject, the CJK file name, the
#                         8-bit one), and that mstore fsck is clean

. "$MDIR_SRC/tests/lib/dovecot.sh"
. "$MDIR_SRC/tests/lib/readme.sh"

REMOTE=jo@example.net
JO=SMTP/Accounts/jo@example.org
MSGS="$DATA/fetch-cyrillic-cjk.eml $DATA/fetch-8bit.eml $DATA/fetch-plain.eml"

_fetch_umount() { umount -l "$T/disk" 2>/dev/null; }

fetch_setup() {
	dv_config "$T/remote" tls
	dv_mailbox "$REMOTE" secret
	mkdir -p "$T/disk"
	mount -t tmpfs -o size=8m tmpfs "$T/disk" || { echo "Bail out! cannot mount a tmpfs"; exit 1; }
	at_exit _fetch_umount
	MDIR_ROOT=$T/disk/root
	. "$MDIR_SRC/tests/lib/mdird.sh"
	CONF=$T/mdir.conf
	printf '[mdir]\nroot = %s\nsocket = %s\n' "$MDIR_ROOT" "$MD_SOCK" >"$CONF"
	chmod 644 "$CONF"
	mstore -c "$CONF" mkdir "$JO" >/dev/null
	chown -R nobody "$MDIR_ROOT"
}

fetch_full() { dd if=/dev/zero of="$MDIR_ROOT/filler" bs=64k 2>/dev/null; true; }
fetch_room() { rm -f "$MDIR_ROOT/filler"; }

fetch_queued() { grep -l "^account: $JO\$" "$MDIR_ROOT/.mdird/queue"/* 2>/dev/null | wc -l; }

fetch_filed() {
	md_start || { echo "Bail out! mdird did not start"; exit 1; }
	md_idle 10
	is "$(ls "$MDIR_ROOT/.mdird/queue" | wc -l)" 0 "mdird files every batch"
	is "$(ls "$MDIR_ROOT/$JO" | grep -c '^報告書.*\.pdf$')" "$1" "the CJK attachment name, $1 times"
	is "$(ls "$MDIR_ROOT/$JO" | grep -c '^Отчёт за третий квартал.*\.eml$')" "$1" "the Cyrillic subject"
	is "$(ls "$MDIR_ROOT/$JO" | grep -c '^Crème brûlée.*\.eml$')" "$1" "the 8-bit message"
	mstore -c "$CONF" fsck >"$T/fsck.out" 2>&1
	ok $? "mstore fsck is clean" || sed 's/^/# /' "$T/fsck.out"
}
