#!/bin/sh
# The README's Postfix set-up is what the end-to-end tests run (issue 10,
# item 11): the private instance's main.cf and master.cf hold every line
# of the README's blocks, with only the substitutions tests/lib/postfix.sh
# lists; Postfix reads every README value as written (nothing the tests add
# overrides one) and warns about none, on Debian's stock master.cf too; a
# message sent with swaks is filed through the README's pipe entry, and
# the machine's own mail (root's, cron's to mdir) reaches postmaster@.
# mdir-receive(1)'s EXAMPLES agree with the README.  A changed README line
# is noticed, and a missing block or an unsubstituted path stops the
# set-up.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
pf_require
plan 25

# differs NAME FILE: the README's block NAME against its place in FILE
# (main.cf: the first lines, master.cf: the last), there with the listed
# substitutions of tests/lib/postfix.sh undone, written out again here;
# prints the differences, fails if there is one
differs() {
	readme_block "$1" >"$T/want" || return 2
	_n=$(wc -l <"$T/want")
	case $1 in
	main.cf) head -n "$_n" "$2" ;;
	*) tail -n "$_n" "$2" ;;
	esac | sed -e "s|$PF_BIN/|/usr/local/bin/|g" \
		-e "s|$PF/mdir\.conf|/etc/mdir/mdir.conf|g" \
		-e "s|$MDIR_ROOT|/var/lib/mdir|g" \
		-e "s|user=$PF_USER|user=mdir|g" \
		-e "s|inet:127\.0\.0\.1:$PF_POLICY_PORT|inet:127.0.0.1:10040|g" \
		-e "s|$PF_DOMAIN|example.org|g" \
		-e "s|^inet_interfaces = 127\.0\.0\.1\$|$(grep '^inet_interfaces' "$T/want")|" >"$T/got"
	diff "$T/want" "$T/got" | grep '^[<>]'
	cmp -s "$T/want" "$T/got"
}

# joined: a main.cf or master.cf on stdin, one line per entry
# (continuation lines joined, blanks squeezed, comments left out), as
# postconf prints it
joined() {
	awk '
		/^[ \t]*#/ || /^[ \t]*$/ { next }
		/^[ \t]/ { sub(/^[ \t]+/, ""); cur = cur " " $0; next }
		{ if (cur != "") print cur; cur = $0 }
		END { if (cur != "") print cur }' | tr -s ' \t' '  ' | sed 's/ *$//'
}

# unread DIR: the README's main.cf entries that `postconf -n` of the
# instance in DIR does not show as written (overridden or misspelt)
unread() {
	postconf -c "$1" -n 2>/dev/null | tr -s ' \t' '  ' | sed 's/ *$//' >"$T/postconf-n"
	pf_readme_cf main.cf | joined | while IFS= read -r l; do
		grep -qxF -- "$l" "$T/postconf-n" || printf '%s\n' "$l"
	done
}

JO=SMTP/Accounts/jo@example.test
PM=SMTP/Accounts/postmaster@example.test
mstore mkdir "$JO" "$PM" >/dev/null
pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }
chown -R "$PF_USER" "$MDIR_ROOT"
CF=$PF/etc

readme_block main.cf >/dev/null
ok $? "the README has a main.cf block"
readme_block master.cf >/dev/null
ok $? "the README has a master.cf block"
miss=$(differs main.cf "$CF/main.cf")
ok $? "main.cf begins with the README's block, but for the listed substitutions"
[ -z "$miss" ] || diag "$miss"
miss=$(differs master.cf "$CF/master.cf")
ok $? "master.cf ends with the README's block, but for the listed substitutions"
[ -z "$miss" ] || diag "$miss"
is "$(unread "$CF")" "" "postconf -n: every README main.cf value as written (none overridden)"
is "$(postconf -c "$CF" -M mdir/unix 2>&1 | tr -s ' \t' '  ' | sed 's/ *$//')" \
	"$(pf_readme_cf master.cf | joined)" "postconf -M: the README's mdir entry as written"
is "$(postconf -c "$CF" -n 2>&1 >/dev/null)" "" "postconf -n: no warning"
is "$(postfix -c "$CF" check 2>&1)" "" "postfix check: no warning"
is "$(postconf -c "$CF" -h inet_interfaces)" 127.0.0.1 \
	"the private instance listens on loopback only"
like "$(postconf -c "$CF" -h smtpd_recipient_restrictions)" \
	"inet:127\.0\.0\.1:$PF_POLICY_PORT," "its policy service is the test's port, not 10040"

# the admin's own files, as the README has them written: its main.cf, and
# Debian's stock master.cf (from the postfix package) with its block at
# the end; postconf reads them without a warning, every value as written
mkdir -p "$T/admin"
readme_block main.cf >"$T/admin/main.cf"
{ cat /usr/share/postfix/master.cf.dist; readme_block master.cf; } >"$T/admin/master.cf"
is "$(postconf -c "$T/admin" -n 2>&1 >/dev/null)" "" \
	"the README's files on Debian's master.cf: postconf warns about nothing"
is "$(postconf -c "$T/admin" -M mdir/unix 2>&1 | tr -s ' \t' '  ' | sed 's/ *$//')" \
	"$(readme_block master.cf | joined)" \
	"the README's files on Debian's master.cf: the mdir entry as written"

# mdir-receive(1)'s EXAMPLES show the same entries: its master.cf the
# README's, its main.cf lines among the README's
man_cf() {
	awk -v f="/etc/postfix/$1" '$0 == ".Pa " f " :" { want = 1; next }
		want && /^\.Bd/ { inside = 1; next }
		inside && /^\.Ed/ { exit }
		inside' "$MDIR_SRC/man/mdir-receive.1"
}
is "$(man_cf master.cf)" "$(readme_block master.cf)" "mdir-receive(1): the README's master.cf entry"
m=$(man_cf main.cf)
is "${m:+some}:$(printf '%s\n' "$m" | grep -vxF -f "$T/admin/main.cf")" "some:" \
	"mdir-receive(1): its main.cf lines are the README's"

# filed through the README's pipe entry, by mdird as the pipe's user
runuser -u "$PF_USER" -- "$PF_BIN/mdird" -F -c "$PF/mdir.conf" >"$T/mdird.log" 2>&1 &
MD=$!
stop_md() { kill "$MD" 2>/dev/null; wait "$MD" 2>/dev/null; }
at_exit stop_md
wait_for 10 test -S "$MDIR_ROOT/.mdird/mdird.sock"
pf_send --from alice@sender.test --to jo@example.test --header 'Subject: as the README says' \
	--header 'Message-Id: <readme-1@client.test>' --body 'set up as written'
pf_wait "$PF_QID" jo@example.test
is "$PF_STATUS" sent "swaks -> Postfix -> the README's mdir entry: sent"
filed() { mstore ls "$JO" | grep -qx 'as the README says.eml'; }
wait_for 10 filed
ok $? "filed into the account's folder"
# what cron mails (to the mdir user, as the README's crontab runs) and the
# machine's mail for root reach postmaster@, not a bounce nobody reads
# (sendmail as root: the private instance takes no other user's)
for u in mdir root; do
	printf 'Subject: Cron <%s@mx> trouble\nMessage-Id: <cron-%s@mx.example.test>\n\ntrouble\n' \
		"$u" "$u" | sendmail -C "$CF" -f "$u" "$u"
	queued() { grep -q "message-id=<cron-$u@mx.example.test>" "$PF/maillog"; }
	wait_for 10 queued
	qid=$(grep "message-id=<cron-$u@mx.example.test>" "$PF/maillog" | sed 's/.*: \([0-9A-F]*\): message-id=.*/\1/')
	pf_wait "$qid" postmaster@example.test
	is "$PF_STATUS" sent "mail for $u is delivered to postmaster@"
done
filed() { [ "$(mstore ls "$PM" | grep -c '^Cron .* trouble\.eml$')" = 2 ]; }
wait_for 10 filed
ok $? "and filed into postmaster@'s folder"
is "$(grep -c 'warning:' "$PF/maillog")" 0 "Postfix logged no warning"

# the comparison notices a changed README line; a README that the rules
# of postfix.sh do not cover, or without its block, stops the set-up
line=$(readme_block main.cf | grep '^mdir_time_limit')
sed 's/^\( *mdir_time_limit = \).*/\1900s/' "$MDIR_SRC/README" >"$T/README.time"
miss=$(MDIR_README=$T/README.time differs main.cf "$CF/main.cf")
is "$?:$(echo $miss)" "1:< mdir_time_limit = 900s > $line" \
	"a changed README main.cf line is noticed"
line=$(readme_block master.cf | grep -m1 ' flags=')
sed 's/\( flags=[A-Za-z]*\)/\1h/' "$MDIR_SRC/README" >"$T/README.flags"
miss=$(MDIR_README=$T/README.flags differs master.cf "$CF/master.cf")
is "$?:$(echo $miss)" "1:< $(echo $line | sed 's/flags=[A-Za-z]*/&h/') > $(echo $line)" \
	"a changed README master.cf line is noticed"
# config_in README: pf_config's output for another README, in $T/copy
config_in() {
	rm -rf "$T/copy"
	mkdir -p "$T/copy/etc"
	(PF=$T/copy MDIR_README=$1 && pf_config) >"$T/config.out" 2>&1
}
sed '/# mdir: end/d' "$MDIR_SRC/README" >"$T/README.noend"
config_in "$T/README.noend"
like "$?:$(tr '\n' ' ' <"$T/config.out")" "^1:.*no usable '# mdir: main.cf' block" \
	"a README block without its end marker: the set-up bails out"
sed 's|argv=/usr/local/bin/|argv=/usr/local/sbin/|' "$MDIR_SRC/README" >"$T/README.sbin"
config_in "$T/README.sbin"
like "$?:$(tr '\n' ' ' <"$T/config.out")" \
	"^1:Bail out! README's master.cf not made private.*/usr/local/sbin/mdir-receive" \
	"a README path no rule makes private: the set-up bails out"
# a README line that one of the private instance's additions would
# override is noticed by postconf -n
sed 's/^\( *\)mdir_time_limit = .*$/&\n\1message_size_limit = 10240000/' \
	"$MDIR_SRC/README" >"$T/README.size"
config_in "$T/README.size"
is "$?:$(MDIR_README=$T/README.size unread "$T/copy/etc")" "0:message_size_limit = 10240000" \
	"a README value overridden by the tests' additions is noticed"
