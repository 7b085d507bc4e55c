#!/bin/sh
# The EXAMPLES of every man page run as written.  Each .Bd -literal block
# of each EXAMPLES section is extracted (with \e, \& and \- undone as a
# reader sees them) and run or loaded in the test's own root by its kind,
# from the table below, which names every block: a block that is not in it,
# or an entry whose block is gone, fails.
#
#   sh      "$ " lines run under sh -e, 30 s each; the lines after one are
#           what it prints (stdout and stderr), "..." standing for any text
#           (with the word it ends, as in "p=MIIBIj...").  It must exit 0,
#           or the code the table gives.
#   cron    each crontab line's command runs and prints nothing.
#   conf    an mdir.conf loads without warning (mstore -c FILE init).
#   rules   a rules file parses (mdir_rules_parse) into as many rules as it
#           has; filing: and as an account's .rules, mdird files a list's
#           mail, spam and an invoice as its comments say.
#   c       wrapped in main(), compiled with -Wall -Werror against the build
#           tree, run: exit 0.
#   master  the argv of a master.cf entry runs with Postfix's $ macros
#           filled in; main: main.cf and that master.cf pass postconf with
#           no warning.
#   record  a stored part's record has every field of a record, in that
#           order.
#   log     a log line has the keys, in order, of the line mdir-receive logs.
#   unit    "systemctl enable --now UNIT": systemctl needs systemd and root,
#           so the unit itself is checked: it is in systemd/, and its
#           ExecStart runs a program the build makes, as a user of its own.
#   skip    cannot run here; the table says why.
#
# Only what must be is substituted: /etc/mdir/mdir.conf by the test's
# configuration (the mdir.conf(5) example itself, with a stand-in sendmail
# and a free port for the policy service), /etc/mdir/ by a directory of the
# test, /usr/local/bin/ and /usr/local/sbin/ by the build's programs, /var/lib/mdir by the
# block's own fresh root, 127.0.0.1:10040 by the free port.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
for p in perl socat openssl cc pkg-config; do
	command -v $p >/dev/null || skip_all "$p is not installed"
done

# page.N          kind    (sh: exit=CODE, or skip=REGEX for commands not run, and why)
table='
libmdir.3.1       c
mdir-command.1.1  sh
mdir-command.1.2  conf
mdir-command.1.3  rules
mdir-command.1.4  conf
mdir-command.1.5  sh      skip=^printf needs a sender key and a real sendmail
mdir-outbox.1.1   sh
mdir-outbox.1.2   cron
mdir-outbox.1.3   sh
mdir-receive.1.1  master
mdir-receive.1.2  main
mdir-receive.1.3  sh
mdir-receive.1.4  log
mdir-web.8.1      sh
mdir-web.8.2      unit
mdir-rules.5.1    filing
mdir-rules.5.2    rules
mdir.5.1          record
mdir.5.2          sh
mdir.conf.5.1     conf
mdir.conf.5.2     sh      exit=78
mdird.8.1         unit
mdird.8.2         sh
mdird.8.3         sh
mstore.1.1        sh
mstore.1.2        sh
mstore.1.3        sh
mstore.1.4        sh      skip=^mutt mutt is an interactive mail reader
mstore.1.5        cron
mstore.1.6        sh
smtp-stats.1.1    cron
smtp-stats.1.2    sh
'

EX=$T/ex ETC=$T/etc/mdir W=$T/work HOME=$T/home
export HOME
mkdir -p "$EX" "$ETC" "$W" "$HOME" "$T/roots" "$T/run"
free_ports 1 # the policy service's: checked free, not guessed from the PID
san=$(nm -D "$MDIR_BUILD/lib/libmdir.so" | grep -q __asan && echo "-fsanitize=address,undefined")

# the blocks, as a reader sees them: $EX/PAGE.N
perl -e '
	my $dir = shift;
	for my $p (@ARGV) {
		open(my $f, "<", $p) or die "$p: $!\n";
		(my $page = $p) =~ s{.*/}{};
		my ($ex, $in, $n, $out) = (0, 0, 0);
		while (<$f>) {
			if (/^\.Sh (.*)/) { $ex = $1 eq "EXAMPLES"; next }
			next unless $ex;
			if (!$in && /^\.Bd -literal/) {
				$n++; $in = 1;
				open($out, ">", "$dir/$page.$n") or die;
				next;
			}
			if ($in && /^\.Ed/) { $in = 0; close $out; next }
			next unless $in;
			die "$page.$n: a macro inside a display: $_" if /^\./;
			s/\\&//g; s/\\-/-/g; s/\\\(aq/\x27/g; s/\\\(dq/"/g;
			die "$page.$n: an escape this test does not know: $_" if /\\[^e]/;
			s/\\e/\\/g;
			print $out $_;
		}
	}' "$EX" "$MDIR_SRC"/man/*.[1-8] 2>"$T/extract.err"
# and each line is one the page shows, as mandoc renders it (spaces aside)
norm() { perl -pe 's/.\x08//g; s/\s+/ /g; s/^ //; s/ $//; $_ .= "\n"'; }
if command -v mandoc >/dev/null; then
	for f in "$EX"/*; do
		n=${f##*/} page=${n%.*}
		mandoc -Tascii "$MDIR_SRC/man/$page" | norm >"$T/shown"
		norm <"$f" | grep -v '^$' | grep -vxFf "$T/shown" |
			sed "s|^|$n: not in the rendered page: |" >>"$T/extract.err"
	done
fi
is "$(cat "$T/extract.err")" "" "the examples extract as the pages show them"
have=$(cd "$EX" && ls | sort)
listed=$(printf '%s\n' "$table" | awk 'NF && $1 !~ /^#/ { print $1 }' | sort)
is "$have" "$listed" "the table names every example, and only those"

# subst FILE: what must be substituted, on standard output
subst() {
	EXCONF=$EXCONF ETC=$ETC BIN=$BIN ROOT=$MDIR_ROOT PORT=$PORT perl -pe '
		s{/etc/mdir/mdir\.conf}{$ENV{EXCONF}}g;
		s{/etc/mdir/}{$ENV{ETC}/}g;
		s{/usr/local/s?bin/}{$ENV{BIN}/}g;
		s{/var/lib/mdir}{$ENV{ROOT}}g;
		s{127\.0\.0\.1:10040}{127.0.0.1:$ENV{PORT}}g;' "$1"
}

# the test's configuration: the mdir.conf(5) example
MDIR_ROOT=$T/root
EXCONF=$T/mdir.conf
CONF=$EXCONF
cat >"$T/sendmail" <<EOF
#!/bin/sh
cat >>"$T/sent"
EOF
chmod +x "$T/sendmail"
{ subst "$EX/mdir.conf.5.1"; printf 'sendmail = %s\n[stats]\npolicy_listen = inet:127.0.0.1:%s\n' "$T/sendmail" "$PORT"; } >"$CONF"
grep -q '^\[outbox\]' "$CONF" && [ "$(grep '^\[' "$CONF" | tail -n 2 | head -n 1)" = "[outbox]" ] ||
	{ echo "Bail out! the mdir.conf(5) example no longer ends with [outbox]"; exit 1; }
MDIR_CONF=$CONF
export MDIR_CONF

# spawn COMMAND...: runs in the background until the block ends
_bg=""
spawn() { "$@" >>"$T/bg.log" 2>&1 & _bg="$_bg $!"; }
stop_bg() {
	for p in $_bg; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	_bg=""
}
at_exit stop_bg
# fill FOLDER N: N changes (entries f1.txt ...)
fill() {
	i=1
	while [ "$i" -le "$2" ]; do
		printf '%s\n' "$i" | mstore put -n "f$i.txt" - "$1" >/dev/null || return 1
		i=$((i + 1))
	done
}
msg=$DATA/multipart-mixed.eml
account() { mstore mkdir SMTP/Accounts/jo@example.org >/dev/null; }
mdird_up() {
	spawn mdird -F -c "$CONF"
	wait_for 10 test -S "$MDIR_ROOT/.mdird/mdird.sock"
}
mdird_ask() {
	printf '%s\r\nQUIT\r\n' "$1" | timeout 5 socat -t 2 - UNIX-CONNECT:"$MDIR_ROOT/.mdird/mdird.sock" | tr -d '\r'
}

# Per block: set-up_PAGE_N (dots and dashes as _), run in the block's root
# with the working directory $W.
setup_mdir_outbox_1_3() {
	mstore mkdir SMTP/Accounts/jo@example.org/Outbox >/dev/null
	mdir-outbox 2>/dev/null # cron has run before (the first run sets modes)
	printf 'From: Jo <jo@example.org>\nTo: Alice <alice@example.net>\nSubject: Hello\n\nHello Alice.\n' >letter.eml
}
setup_mdir_receive_1_1() { account; }
setup_mdir_receive_1_3() { account; cp "$msg" message.eml; }
setup_mdir_5_2() {
	mstore mkdir SMTP/Accounts/jo@example.org >/dev/null
	printf '%%PDF-1.4 one\n' >report.pdf
	mstore put report.pdf SMTP/Accounts/jo@example.org >/dev/null
	printf '%%PDF-1.4 two\n' >report.pdf
	mstore put report.pdf SMTP/Accounts/jo@example.org >/dev/null
	mstore rm SMTP/Accounts/jo@example.org/report.pdf >/dev/null
	cd "$MDIR_ROOT"
}
setup_mdir_conf_5_2() {
	sed 's/^deadline = 120s$/deadline = soon/' "$CONF" >"$T/bad.conf"
	EXCONF=$T/bad.conf
}
watching() { mdird_ask STATUS | grep -q '^250-watched-folders 1$'; }
deliver_when_watched() { wait_for 10 watching && mdir-receive -- jo@example.org <"$msg"; }
setup_mdird_8_2() {
	account
	fill SMTP/Accounts/jo@example.org 41
	mdird_up
	spawn deliver_when_watched
}
setup_mdird_8_3() { mdird_up; }
setup_mstore_1_1() {
	{ printf '%%PDF-1.4\n'; head -c 48204 /dev/zero | tr '\0' x; } >"$HOME/invoice.pdf"
}
setup_mstore_1_2() {
	account
	fill SMTP/Accounts/jo@example.org 40
	printf 'old\n' | mstore put -n old.txt - SMTP/Accounts/jo@example.org >/dev/null
	printf '%%PDF-1.4\n' | mstore put -n report.pdf - SMTP/Accounts/jo@example.org >/dev/null
	mstore rm SMTP/Accounts/jo@example.org/old.txt >/dev/null
}
setup_mstore_1_3() {
	account
	printf '%%PDF-1.4\n' | mstore put -n report.pdf - SMTP/Accounts/jo@example.org >/dev/null
	printf 'notes\n' | mstore put -n notes.txt - SMTP/Accounts/jo@example.org >/dev/null
}
setup_mstore_1_4() { account; mstore put "$msg" SMTP/Accounts/jo@example.org >/dev/null; }
policy_up() {
	printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=127.0.0.1\nsender=a@b.test\nrecipient=x@elsewhere.test\n\n' |
		timeout 2 socat -t 1 - TCP:127.0.0.1:$PORT 2>/dev/null | grep -q action=
}
setup_smtp_stats_1_2() {
	account
	spawn smtp-stats policy
	wait_for 10 policy_up
}

# matches WANT GOT: GOT is what WANT shows, "..." standing for any text
matches() {
	perl -e '
		local $/;
		open(my $w, "<", $ARGV[0]) or die; my $want = <$w>;
		open(my $g, "<", $ARGV[1]) or die; my $got = <$g>;
		$got =~ s/\r//g; s/\n+\z// for ($want, $got);
		my @p = split(/\.\.\./, $want, -1);
		for my $i (0 .. $#p - 1) { $p[$i] =~ s/\w+\z// }
		my $re = join(".*", map { quotemeta } @p);
		exit($got =~ /\A$re\z/s ? 0 : 1);' "$1" "$2"
}

# run_sh ID EXTRA: each "$ " command (with its continuation lines) and
# what it prints
run_sh() {
	d=$T/run/$1
	mkdir -p "$d"
	subst "$EX/$1" | perl -e '
		my ($d, $k, $cont) = (shift, 0, 0);
		while (<STDIN>) {
			if (/^[\$#] (.*\n)/) {
				$k++; open(C, ">", "$d/$k.cmd"); print C $1;
				open(O, ">", "$d/$k.want"); close O;
				$cont = /(\\|\||&&)\n\z/; next;
			}
			if ($k && $cont) { print C $_; $cont = /(\\|\||&&)\n\z/; next }
			die "a line before any command: $_" unless $k;
			open(O, ">>", "$d/$k.want"); print O $_; close O;
		}' "$d" 2>"$d/parse.err"
	want_rc=0 skipre='^$'
	case $2 in
	exit=*) want_rc=${2#exit=} ;;
	skip=*) skipre=${2#skip=} skipre=${skipre%% *} ;;
	esac
	fail=$(cat "$d/parse.err") k=1
	while [ -z "$fail" ] && [ -f "$d/$k.cmd" ]; do
		if head -n 1 "$d/$k.cmd" | grep -Eq -- "$skipre"; then
			k=$((k + 1))
			continue
		fi
		timeout 30 sh -e "$d/$k.cmd" >"$d/$k.got" 2>&1 </dev/null
		rc=$?
		if [ "$rc" != "$want_rc" ]; then
			fail="exit $rc, wanted $want_rc"
		elif ! matches "$d/$k.want" "$d/$k.got"; then
			fail="not what the page shows"
		fi
		[ -n "$fail" ] && diag "$(cat "$d/$k.cmd")" "$fail; it printed:" "$(cat "$d/$k.got")" \
			"the page shows:" "$(cat "$d/$k.want")"
		k=$((k + 1))
	done
	[ "$k" -gt 1 ] || fail="no command"
	ok "$([ -z "$fail" ]; echo $?)" "$1: runs as written"
}

run_unit() {
	fail=""
	unit=$(subst "$EX/$1" | sed -n 's/^# systemctl enable --now \([a-z-]*\)$/\1/p')
	f=$MDIR_SRC/systemd/$unit.service
	prog=$(sed -n 's|^ExecStart=@[A-Z]*@/\([a-z-]*\) .*|\1|p' "$f" 2>/dev/null)
	if [ -z "$unit" ]; then
		fail="no systemctl enable --now line"
	elif [ ! -f "$f" ]; then
		fail="systemd/$unit.service is not in the tree"
	elif [ -z "$prog" ] || [ ! -x "$MDIR_BUILD/bin/$prog" ]; then
		fail="its ExecStart runs no program the build makes"
	elif ! grep -q '^User=mdir$' "$f"; then
		fail="it does not run as the mdir user"
	fi
	[ -n "$fail" ] && diag "$fail"
	ok "$([ -z "$fail" ]; echo $?)" "$1: the unit it enables is installed, runs $prog as mdir"
}

run_cron() {
	fail=""
	subst "$EX/$1" | sed -n 's/^[[:space:]]*\([^[:space:]]\{1,\}[[:space:]]\{1,\}\)\{5\}//p' >"$T/cron"
	[ -s "$T/cron" ] || fail="no crontab line"
	while IFS= read -r line; do
		got=$(timeout 60 sh -e -c "$line" 2>&1 </dev/null)
		rc=$?
		[ "$rc" = 0 ] && [ -z "$got" ] && continue
		fail=1
		diag "$line" "exit $rc, printed: $got"
	done <"$T/cron"
	ok "$([ -z "$fail" ]; echo $?)" "$1: each crontab line runs quietly"
}

run_conf() {
	subst "$EX/$1" >"$T/$1"
	mstore -c "$T/$1" init >/dev/null 2>"$T/conf.err"
	rc=$?
	[ "$rc" = 0 ] && [ ! -s "$T/conf.err" ] || diag "exit $rc: $(cat "$T/conf.err")"
	ok "$([ "$rc" = 0 ] && [ ! -s "$T/conf.err" ]; echo $?)" "$1: loads without warning"
}

run_rules() {
	[ -x "$T/rules-check" ] || cat >"$T/rules-check.c" <<'EOF'
#include <stdio.h>
#include <mdir.h>

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	g_autoptr(MdirRules) rules = NULL;

	if (argc != 2 || !g_file_get_contents(argv[1], &text, NULL, &error) ||
	    (rules = mdir_rules_parse(text, argv[1], TRUE, &error)) == NULL) {
		fprintf(stderr, "%s\n", error ? error->message : "usage");
		return 1;
	}
	printf("%u\n", mdir_rules_count(rules));
	return 0;
}
EOF
	[ -x "$T/rules-check" ] || build_c "$T/rules-check"
	# a rule: a line that is not blank, a comment or a continuation
	want=$(awk '!/^[[:space:]]*(#|$)/ && !c { n++ } { c = /\\$/ } END { print n + 0 }' "$EX/$1")
	is "$("$T/rules-check" "$EX/$1" 2>&1)" "$want" "$1: parses into its $want rules"
}

# letter FILE HEADER...: a message with HEADERs and an invoice.pdf
letter() {
	f=$1
	shift
	{
		printf 'From: Alice <alice@example.net>\nTo: jo@example.org\n'
		printf 'Date: Mon, 23 Nov 2026 09:00:00 +0000\n'
		printf '%s\n' "$@"
		printf 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n'
		printf -- '--b\nContent-Type: text/plain\n\nHello.\n'
		printf -- '--b\nContent-Type: application/pdf\n'
		printf 'Content-Disposition: attachment; filename=invoice.pdf\n\n%%PDF-1.4\n--b--\n'
	} >"$f"
}
queue_empty() { [ -z "$(ls "$MDIR_ROOT/.mdird/queue" "$MDIR_ROOT/.mdird/work" 2>/dev/null)" ]; }

run_filing() {
	run_rules "$1"
	A=$MDIR_ROOT/SMTP/Accounts/jo@example.org
	account
	cp "$EX/$1" "$A/.rules"
	mdird_up
	letter "$T/list.eml" 'Subject: Weekly digest' 'Message-ID: <list@example.net>' \
		'List-Id: Developers <dev.lists.example.org>'
	letter "$T/spam.eml" 'Subject: Cheap pills' 'Message-ID: <spam@example.net>' 'X-Spam-Flag: yes'
	letter "$T/invoice.eml" 'Subject: Your invoice 42' 'Message-ID: <invoice@example.net>'
	for m in list spam invoice; do
		mdir-receive -- jo@example.org <"$T/$m.eml" || diag "$m: mdir-receive exited $?"
	done
	wait_for 10 queue_empty || diag "mdird did not file the mail"
	got=$(cd "$MDIR_ROOT" && find Invoices SMTP -type f ! -path '*/.*' | sort)
	is "$got" "Invoices/2026/invoice.pdf
SMTP/Accounts/jo@example.org/Lists/dev.lists.example.org/Weekly digest.eml
SMTP/Accounts/jo@example.org/Lists/dev.lists.example.org/Weekly digest.txt
SMTP/Accounts/jo@example.org/Lists/dev.lists.example.org/invoice.pdf
SMTP/Accounts/jo@example.org/Your invoice 42.eml
SMTP/Accounts/jo@example.org/Your invoice 42.txt
SMTP/Accounts/jo@example.org/invoice.pdf
SMTP/Spam/Cheap pills.eml
SMTP/Spam/Cheap pills.txt
SMTP/Spam/invoice.pdf" "$1: as an account's rules, mdird files as its comments say"
}

# build_c NAME: NAME.c against the build tree
build_c() {
	cc $san -std=gnu11 -Wall -Wextra -Werror -o "$1" "$1.c" -I"$MDIR_SRC/libmdir" \
		$(pkg-config --cflags glib-2.0) -L"$MDIR_BUILD/lib" -lmdir \
		$(pkg-config --libs glib-2.0) -Wl,-rpath,"$MDIR_BUILD/lib" >"$1.err" 2>&1 ||
		{ diag "$(cat "$1.err")"; return 1; }
}

run_c() {
	{
		printf '#include <syslog.h>\n#include <mdir.h>\n\nint\nmain(void)\n{\n'
		cat "$EX/$1"
		printf '\treturn 0;\n}\n'
	} >"$T/example.c"
	printf 'a note\n' >notes.txt
	fail=""
	if build_c "$T/example"; then
		"$T/example" >"$T/example.out" 2>&1 || fail="exit $?: $(cat "$T/example.out")"
		[ -z "$fail" ] && [ "$(cat "$MDIR_ROOT"/Users/Jo/Notes/notes.txt 2>&1)" != "a note" ] &&
			fail="no Users/Jo/Notes/notes.txt"
	else
		fail="does not compile"
	fi
	[ -n "$fail" ] && diag "$fail"
	ok "$([ -z "$fail" ]; echo $?)" "$1: compiles with -Wall -Werror and runs"
}

run_master() {
	mkdir -p "$T/postfix"
	subst "$EX/$1" >"$T/postfix/master.cf"
	argv=$(sed -n '/argv=/,$p' "$T/postfix/master.cf" | tr '\n' ' ' | sed 's/.*argv=//' |
		sed 's/\${queue_id}/4gkvHD5qV5/; s/\${sender}/alice@example.net/; s/\${client_address}/192.0.2.1/;
		     s/\${client_helo}/mail.example.net/; s/\${recipient}/jo@example.org/')
	got=$(sh -c "exec $argv" <"$msg" 2>&1)
	rc=$?
	[ "$rc" = 0 ] || diag "$argv" "exit $rc: $got"
	ok "$([ "$rc" = 0 ] && [ -n "$(ls "$MDIR_ROOT/.mdird/queue")" ]; echo $?)" "$1: its argv delivers"
}

run_main() {
	if ! command -v postconf >/dev/null; then
		skip "postconf is not installed" "$1"
		return
	fi
	subst "$EX/$1" >"$T/postfix/main.cf"
	keys=$(sed -n 's/^\([a-z_]*\) *=.*/\1/p' "$T/postfix/main.cf" | sort)
	got=$(postconf -c "$T/postfix" -n 2>"$T/postconf.err" | sed 's/ =.*//' | grep -v '^config_directory$' | sort)
	postconf -c "$T/postfix" -M >/dev/null 2>>"$T/postconf.err"
	[ -s "$T/postconf.err" ] && diag "$(cat "$T/postconf.err")"
	ok "$([ ! -s "$T/postconf.err" ] && [ "$got" = "$keys" ]; echo $?)" \
		"$1: postconf takes it and the master.cf above with no warning"
}

run_record() {
	mstore mkdir SMTP/Accounts/jo@example.org >/dev/null
	mdir-receive -- jo@example.org <"$msg"
	# the fields the example shows, in the order of a real record's
	mstore meta mstore:mixed@sender.test/2 | sed 's/:.*//' >"$T/real"
	sed 's/:.*//' "$EX/$1" >"$T/shown"
	is "$(grep -Fxf "$T/shown" "$T/real")" "$(cat "$T/shown")" \
		"$1: a real record has its every field, in that order"
}

run_log() {
	sed 's/^\[mdir\]$/[mdir]\nlog_file = '"$(printf '%s' "$T/receive.log" | sed 's/[\/&]/\\&/g')"'/' "$CONF" >"$T/log.conf"
	account
	mdir-receive -c "$T/log.conf" -q 4gkvHD5qV5 -f alice@example.net -- jo@example.org <"$msg"
	keys() { tr ' \n' '\n\n' | sed -n 's/^\([a-z-]*\)=.*/\1/p' | tr '\n' ' '; }
	got=$(grep 'mdir-receive\[' "$T/receive.log" | tail -n 1 | keys)
	is "$(keys <"$EX/$1")" "$got" "$1: the keys of the line mdir-receive logs"
}

printf '%s\n' "$table" | awk 'NF && $1 !~ /^#/' >"$T/table"
while read -r id kind extra <&3; do
	[ -f "$EX/$id" ] || continue
	MDIR_ROOT=$T/roots/$id EXCONF=$CONF
	export MDIR_ROOT
	mstore init >/dev/null
	cd "$W" || exit 1
	if [ "$kind" = skip ]; then
		skip "$extra" "$id"
		continue
	fi
	fn=setup_$(printf '%s' "$id" | tr '.-' '__')
	if command -v "$fn" >/dev/null; then
		"$fn" || diag "$id: its set-up failed"
	fi
	case $kind in
	sh) run_sh "$id" "$extra" ;;
	*) "run_$kind" "$id" ;;
	esac
	stop_bg
	cd "$W"
done 3<"$T/table"
plan "$_n"
