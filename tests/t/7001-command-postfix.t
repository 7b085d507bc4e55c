#!/bin/sh
# Commands by mail end to end: swaks -> a private Postfix -> pipe(8) ->
# mdir-receive -> mdird, whose rule for the command address pipes the
# message to mdir-command -> the answer in SMTP/Outbox -> mdir-outbox ->
# Postfix -> the loopback sink, where the answer is read back and its DKIM
# signatures verified, as t/6020 does.  A request with a wrong code goes
# the same way and is answered by nobody: a notice in SMTP/Command.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
. "$MDIR_SRC/tests/lib/postfix.sh"
. "$MDIR_SRC/tests/lib/dkim.sh"
pf_require
command -v oathtool >/dev/null || skip_all "oathtool is not installed (make deps)"
command -v opendkim >/dev/null || skip_all "opendkim is not installed (make deps)"
plan 17

CMD=commands@example.test
mstore mkdir "SMTP/Accounts/$CMD" >/dev/null
pf_start || { echo "Bail out! the private Postfix did not start"; exit 1; }

# the plugins: root's, readable by the user mdir runs as
P=$T/plugins
mkdir -p "$P"
cp "$MDIR_SRC/commands/stat" "$MDIR_SRC/commands/freespace" "$P/"
chmod 755 "$P" "$P"/*
dk_keys
DK_CONF=$(printf '%s\n' "$DK_CONF" | sed 's/^dkim_domain = .*/dkim_domain = example.test/')
printf '#!/bin/sh\nexec /usr/sbin/sendmail -C %s/etc "$@"\n' "$PF" >"$T/sendmail"
chmod 755 "$T/sendmail"
cat >>"$PF/mdir.conf" <<EOF
[rules]
programs = $PF_BIN/mdir-command
[outbox]
sendmail = $T/sendmail
$DK_CONF
[command]
address = $CMD
plugins = $P
timeout = 10s
EOF
dk_records "$PF/mdir.conf"
printf 'if part = 0 then pipe %s/mdir-command -c %s/mdir.conf\n' "$PF_BIN" "$PF" \
	>"$MDIR_ROOT/SMTP/Accounts/$CMD/.rules"
chown -R "$PF_USER" "$MDIR_ROOT"
as_mdir() { runuser -u "$PF_USER" -- "$@"; }
SECRET=$(as_mdir "$PF_BIN/mdir-command" -c "$PF/mdir.conf" --totp-enrol jo@sender.test |
	sed -n 's/^secret //p')
like "$SECRET" '^[A-Z2-7]{32}$' "a secret for jo@sender.test, enrolled as the user mdir runs as"

SOCK=$MDIR_ROOT/.mdird/mdird.sock
# setpriv execs mdird itself (runuser would stay its parent): $! is mdird
setpriv --reuid="$PF_USER" --regid="$(id -g "$PF_USER")" --init-groups \
	"$PF_BIN/mdird" -F -c "$PF/mdir.conf" >"$T/mdird.log" 2>&1 &
MD=$!
stop_md() { kill "$MD" 2>/dev/null; wait "$MD" 2>/dev/null; }
at_exit stop_md
wait_for 10 test -S "$SOCK"
ok $? "mdird runs as $PF_USER"

# a wrong code first: refused, noticed, never answered
good=$(oathtool --totp -b "$SECRET")
g=$(echo "$good" | sed 's/^0*//')
bad=$(printf '%06d' $(( (${g:-0} + 1) % 1000000 )))
pf_send --from jo@sender.test --to "$CMD" --header "Subject: mailcom # $bad" \
	--header 'Message-Id: <cmd-bad@sender.test>' --body 'stat()'
pf_wait "$PF_QID" "$CMD"
is "$PF_STATUS" sent "Postfix: the request with a wrong code delivered to mdir"
noticed() { ls "$MDIR_ROOT/SMTP/Command" 2>/dev/null | grep -q .; }
wait_for 20 noticed
ok $? "mdir-command refused it: a notice in SMTP/Command"
like "$(cat "$MDIR_ROOT"/SMTP/Command/.meta/* 2>/dev/null)" '^reason: totp: wrong or expired code' \
	"saying why"

# the right one, with a Cyrillic and Japanese subject after the code
pf_send --from jo@sender.test --to "$CMD" \
	--header "Subject: mailcom # $(oathtool --totp -b "$SECRET") отчёт 日本" \
	--header 'Message-Id: <cmd-good@sender.test>' --header 'Content-Type: text/plain; charset=utf-8' \
	--body "$(printf 'help()\nstat()\nfreespace()\n')"
pf_wait "$PF_QID" "$CMD"
is "$PF_STATUS" sent "Postfix: the request delivered to mdir"
answered() { ls "$MDIR_ROOT/SMTP/Outbox" 2>/dev/null | grep -q .; }
wait_for 30 answered
ok $? "mdird piped it to mdir-command: an answer in SMTP/Outbox"
is "$(ls "$MDIR_ROOT/SMTP/Outbox" | wc -l | tr -d ' ')" 1 "one answer: none for the refused request"

is "$(stat -c %a "$MDIR_ROOT/SMTP/Outbox")" 700 "mdir-command made SMTP/Outbox private"
# as root, as t/6020: Postfix's sendmail takes -C (the private instance)
# from root only
expect_code 0 "mdir-outbox sends it through Postfix" -- "$PF_BIN/mdir-outbox" -c "$PF/mdir.conf"
is "$(mstore ls SMTP/Outbox | wc -l | tr -d ' '):$(mstore ls SMTP/Sent | wc -l | tr -d ' ')" "0:1" \
	"and files it under SMTP/Sent"
got_sink() { grep -l 'cmd-good@sender.test' "$PF"/sink/* 2>/dev/null | head -n 1 | grep -q .; }
wait_for 30 got_sink
ok $? "the sink received the answer from Postfix"
f=$(grep -l 'cmd-good@sender.test' "$PF"/sink/* 2>/dev/null | head -n 1)
like "$(grep -i '^X-Rcpt-Args: ' "$f")" '<jo@sender.test>' "sent to the sender, as the record says"
sed -n '/^DKIM-Signature:/,$p' "$f" >"$T/got.eml"
dk_opendkim "$T/got.eml"
ok $? "opendkim: both signatures verify after Postfix"
is "$(dk_python "$T/got.eml")" "True True" "python3-dkim: both verify"
/usr/bin/python3 - "$T/got.eml" >"$T/answer.txt" <<'PY'
import sys, email
from email.header import decode_header, make_header
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
print("Subject:", str(make_header(decode_header(m["Subject"]))))
print("From:", m["From"])
print(m.get_payload(decode=True).decode("utf-8"))
PY
like "$(cat "$T/answer.txt")" '^Subject: Re: mailcom # [0-9]{6} отчёт 日本$' \
	"Re: and the request's subject, Cyrillic and Japanese intact"
like "$(tr '\n' '~' <"$T/answer.txt")" 'help\(\)  the commands.*freespace\(\)  free space.*> stat\(\)~root .*mdird: queue [0-9]+.*\(exit 0\).*> freespace\(\)~Filesystem.*\(exit 0\)' \
	"the answer: help(), stat() with mdird's STATUS, freespace()"
