#!/bin/sh
# mdir-command without Postfix: requests on stdin under env -i, as pipe(8)
# runs it, TOTP codes made by oathtool.  A code of this step and of the
# next is accepted once; a replay, a code two steps old, a wrong code, a
# sender without a secret are refused; after five failures even the right
# code is; a secrets file of mode 0644 is not read.  Refused requests are
# never answered: a notice goes to the admin's account.  Plugins: one that
# hangs (its group killed at the time-out), one that prints 10 MB (cut,
# killed, memory bounded), an unknown command, ../, help(), a plugin
# others may write; the shipped stat() and freespace().
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v oathtool >/dev/null || skip_all "oathtool is not installed (make deps)"
plan 64

P=$T/plugins
mkdir -p "$P"
chmod 755 "$P"
cat >"$P/hello" <<'EOF'
#!/bin/sh
# description: says hello
printf 'hello %s from %s\n' "$1" "$MDIR_SENDER"
printf 'argc %s\n' "$#"
env | sort | sed 's/^/env /'
EOF
cat >"$P/hang" <<EOF
#!/bin/sh
# description: never ends
sleep 600 &
echo \$! >"$T/hang.bg"
echo \$\$ >"$T/hang.pid"
echo started
sleep 600
EOF
cat >"$P/big" <<EOF
#!/bin/sh
echo \$\$ >"$T/big.pid"
head -c 10485760 /dev/zero | tr '\000' x
echo never
EOF
printf '#!/bin/sh\necho broken >&2\nexit 3\n' >"$P/fails"
printf '#!/bin/sh\necho writable\n' >"$P/open"
cp "$MDIR_SRC/commands/stat" "$MDIR_SRC/commands/freespace" "$P/"
chmod 755 "$P"/*
chmod 777 "$P/open"

C=$T/c.conf
cat >"$C" <<EOF
[mdir]
root = $MDIR_ROOT
[command]
address = commands@example.org
admin = admin@example.org
plugins = $P
timeout = 2s
EOF
mstore -c "$C" init >/dev/null
mstore -c "$C" mkdir SMTP/Accounts/admin@example.org >/dev/null
OUT=$MDIR_ROOT/SMTP/Outbox
ADMIN=$MDIR_ROOT/SMTP/Accounts/admin@example.org

# enrol ADDRESS: prints the secret
enrol() { mdir-command -c "$C" --totp-enrol "$1" | sed -n 's/^secret //p'; }
expect_code 0 "--totp-enrol a Cyrillic address" -- mdir-command -c "$C" --totp-enrol 'иван@пример.рф'
IVAN=$(printf '%s\n' "$out" | sed -n 's/^secret //p')
like "$out" '^uri otpauth://totp/mdir:%D0%B8%D0%B2%D0%B0%D0%BD%40%D0%BF.*\?secret='"$IVAN"'&issuer=mdir' \
	"it prints the secret and an otpauth:// URI, the address percent-encoded"
like "$IVAN" '^[A-Z2-7]{32}$' "20 random bytes in base32"
is "$(stat -c %a "$MDIR_ROOT/.command/totp-secrets")" 600 "the secrets file is mode 0600"
JO=$(enrol jo@example.org)
MAL=$(enrol mallory@example.org)
HANG=$(enrol hang@example.org)
BIG=$(enrol big@example.org)
OPS=$(enrol ops@example.org)
PERM=$(enrol perm@example.org)
# (each code accepted below is a sender's first: a step is used once,
# whenever the clock moves on to the next)
is "$(wc -l <"$MDIR_ROOT/.command/totp-secrets")" 7 "one line a sender"

# code SECRET [SECONDS]: the code of now (plus SECONDS)
code() {
	if [ -n "${2:-}" ]; then
		oathtool --totp -b "$1" --now "$(date -u -d "@$(($(date +%s) + $2))" '+%Y-%m-%d %H:%M:%S UTC')"
	else
		oathtool --totp -b "$1"
	fi
}
n=0
# req FROM SUBJECT BODY: the request's file
req() {
	n=$((n + 1))
	printf 'From: %s\nTo: commands@example.org\nSubject: %s\nMessage-ID: <req-%s@client.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%b' \
		"$1" "$2" "$n" "$3" >"$T/req$n.eml"
	echo "$T/req$n.eml"
}
# run FILE: mdir-command as pipe(8) runs it: empty environment, locale C
run() {
	$ENV_I "$BIN/mdir-command" -c "$C" <"$1"
}
answers() { ls "$OUT" 2>/dev/null | wc -l | tr -d ' '; }
notices() { ls "$ADMIN" 2>/dev/null | grep -c '^Command refused' | tr -d ' '; }
# the newest answer's file; its text, transfer encoding undone, lines joined by ~
last() { ls -t "$OUT"/*.eml | head -n 1; }
text() {
	/usr/bin/python3 -c 'import sys, email
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
sys.stdout.write(m.get_payload(decode=True).decode("utf-8", "replace"))' "$(last)"
}
flat() { text | tr '\n' '~'; }

f=$(req 'Иван <иван@пример.рф>' "mailcom # $(code "$IVAN") отчёт 報告" 'hello(мир)\nhelp()\n> quoted()\n\n-- \nsig()\n')
expect_code 0 "a request with a fresh code: exit 0" -- run "$f"
is "$(answers)" 1 "one answer in SMTP/Outbox"
like "$err" 'request from=<иван@пример.рф> message-id=<req-1@client.test> result=accepted commands=2 failed=0' \
	"one log line for the request, key=value"
a=$(last)
m=$(mstore -c "$C" meta "SMTP/Outbox/${a##*/}")
like "$m" '^outbox-sender: commands@example.org$' "the envelope sender, in the record: the command address"
like "$m" '^outbox-recipient: иван@пример.рф$' "the envelope recipient: the sender, once"
is "$(printf '%s\n' "$m" | grep -c '^outbox-recipient:')" 1 "and nobody else"
like "$(grep '^From: ' "$a")" 'commands@example.org' "From: the command address"
like "$(grep '^In-Reply-To: ' "$a")" '<req-1@client.test>' "In-Reply-To the request"
like "$(printf '%s\n' "$m" | grep '^subject: ')" '^subject: Re: mailcom # [0-9]{6} отчёт 報告$' \
	"Subject: Re: and the request's, in Cyrillic and CJK"
like "$(grep -i '^Content-Type: ' "$a")" 'text/plain; charset=utf-8' "text/plain, UTF-8"
body=$(text)
like "$body" 'hello мир from иван@пример.рф' "hello(мир): the context as its one argument, the sender in MDIR_SENDER"
like "$body" 'argc 1' "one argument"
# (PWD is the shell's own, of the working directory: /)
is "$(printf '%s\n' "$body" | sed -n 's/^env \([A-Z_]*\)=.*/\1/p' | grep -v '^PWD$' | tr '\n' ' ')" \
	"LANG MDIR_CONF MDIR_ROOT MDIR_SENDER PATH " "a clean environment: PATH, LANG, MDIR_SENDER, MDIR_CONF, MDIR_ROOT"
like "$body" '\(exit 0\)' "the exit status of each"
like "$body" 'hello\(\)  says hello' "help(): each plugin with its description line"
like "$body" 'freespace\(\)  free space' "the shipped plugins listed too"
ok "$(printf '%s\n' "$body" | grep -q 'quoted\|sig()'; [ $? = 1 ]; echo $?)" \
	"quoted lines and the signature are not commands"

expect_code 0 "the same request again" -- run "$f"
like "$err" 'result=refused reason="totp: code used before \(a replay\)"' "a replayed code is refused"
is "$(answers):$(notices)" "1:1" "no answer; a notice in the admin's account"
like "$(cat "$ADMIN"/.meta/Command*)" '^reason: totp: code used before' "the notice says why"

f=$(req "jo@example.org" "mailcom # $(code "$JO" 30)" 'hello(next)\n')
expect_code 0 "the next step's code" -- run "$f"
like "$err" 'result=accepted' "is accepted (a window of one step)"
f=$(req "jo@example.org" "mailcom # $(code "$JO" -60)" 'hello(old)\n')
run "$f" 2>"$T/err"
like "$(cat "$T/err")" 'reason="totp: wrong or expired code"' "a code two steps old is refused"
f=$(req "nobody@example.org" "mailcom # 123456" 'hello()\n')
run "$f" 2>"$T/err"
like "$(cat "$T/err")" 'reason="totp: no TOTP secret for <nobody@example.org>"' "a sender with no secret is refused"
f=$(req "jo@example.org" "mailcom" 'hello()\n')
run "$f" 2>"$T/err"
like "$(cat "$T/err")" 'reason="totp: no code after the subject tag' "a tag without a code is refused"
f=$(req "jo@example.org" "hello there" 'hello()\n')
run "$f" 2>"$T/err"
like "$(cat "$T/err")" 'ignored from=<jo@example.org> .*: no subject tag' "no tag: not a request, ignored"
is "$(answers):$(notices)" "2:4" "none of them answered; each refusal noticed"

# guessing: five wrong codes, then even the right one is refused unchecked
good=$(code "$MAL")
g=$(echo "$good" | sed 's/^0*//')
for i in 1 2 3 4 5; do
	wrong=$(printf '%06d' $(( (${g:-0} + i) % 1000000 )))
	run "$(req mallory@example.org "mailcom # $wrong" 'hello()\n')" 2>>"$T/mal.err"
done
is "$(grep -c 'reason="totp: wrong or expired code"' "$T/mal.err")" 5 "five wrong codes refused"
run "$(req mallory@example.org "mailcom # $good" 'hello()\n')" 2>"$T/err"
like "$(cat "$T/err")" 'reason="totp: rate-limited: 5 failures in the last 900 s"' \
	"the sixth, the right code, is refused: rate-limited"
is "$(answers)" 2 "still no answer"

# the secrets file must be private
chmod 644 "$MDIR_ROOT/.command/totp-secrets"
f=$(req "perm@example.org" "mailcom # $(code "$PERM")" 'hello()\n')
expect_code 75 "a secrets file others may read: exit 75, the MTA keeps the request" -- run "$f"
like "$err" 'totp_secrets .*: mode 0644.*not read' "and the log says why"
is "$(answers)" 2 "nothing answered"
chmod 600 "$MDIR_ROOT/.command/totp-secrets"
expect_code 0 "once it is 0600 again, the same request" -- run "$f"
like "$err" 'result=accepted' "is accepted"

# plugins that misbehave
f=$(req "hang@example.org" "mailcom # $(code "$HANG")" 'hang()\n')
t0=$(date +%s%N)
expect_code 0 "a plugin that hangs" -- run "$f"
ms=$((($(date +%s%N) - t0) / 1000000))
ok "$([ "$ms" -lt 4000 ]; echo $?)" "is killed at the time-out of 2 s (took $ms ms, under 4 s)"
body=$(text)
like "$body" 'started' "its output so far is in the answer"
like "$body" '\(killed at the time-out of 2 s\)' "and that it was killed at the time-out"
gone() { [ ! -e "/proc/$1" ] || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat"; }
ok "$(gone "$(cat "$T/hang.pid")" && gone "$(cat "$T/hang.bg")"; echo $?)" \
	"its whole process group is gone, what it left in the background too"
like "$(mstore -c "$C" meta "SMTP/Outbox/$(basename "$(last)")" | grep '^outbox-recipient:' | tr '\n' ' ')" \
	'^outbox-recipient: hang@example.org outbox-recipient: admin@example.org $' \
	"a failure: the answer goes to the admin as well"

f=$(req "big@example.org" "mailcom # $(code "$BIG")" 'big()\nnope()\n../x()\nopen()\nfails()\n')
/usr/bin/time -f '%M' -o "$T/rss" $ENV_I "$BIN/mdir-command" -c "$C" <"$f" 2>"$T/err"
is "$?" 0 "a plugin printing 10 MB, and bad commands: exit 0"
a=$(last)
body=$(flat)
like "$body" '\(output truncated at 65536 bytes; killed\)' "the output is cut at max_output, and said so"
ok "$([ "$(wc -c <"$a")" -lt 80000 ]; echo $?)" "the answer is not 10 MB ($(wc -c <"$a") bytes)"
ok "$(printf '%s\n' "$body" | grep -q never; [ $? = 1 ]; echo $?)" "the plugin was stopped before its end"
ok "$(gone "$(cat "$T/big.pid")"; echo $?)" "and killed"
# against the same program on a request with a wrong code (the
# sanitizer's build needs more of its own; the difference is the program's)
/usr/bin/time -f '%M' -o "$T/rss0" $ENV_I "$BIN/mdir-command" -c "$C" \
	<"$(req nobody@example.org 'mailcom # 000000' 'big()\n')" 2>/dev/null
rss=$(tail -n 1 "$T/rss") rss0=$(tail -n 1 "$T/rss0")
ok "$([ "$rss" -lt $((rss0 + 6000)) ]; echo $?)" \
	"memory bounded: $rss KB at most, against $rss0 KB for a refusal (not 10 MB more)"
like "$body" '> nope\(\)~\(refused: unknown command\)' "an unknown command is refused"
like "$body" '> \.\./x\(\)~\(refused: not a command name' "a name with ../ is refused"
like "$body" '> open\(\)~\(refused: the plugin is not an executable file of root' \
	"a plugin others may write is not run"
like "$body" 'broken~\(exit 3\)' "a failing plugin: its output and exit status"
like "$(cat "$T/err")" 'command big from=<big@example.org>: output truncated' "failures are logged"

# the shipped plugins
f=$(req "ops@example.org" "mailcom # $(code "$OPS")" 'stat()\nfreespace()\n')
run "$f" 2>"$T/err"
body=$(text)
like "$body" 'messages +[0-9]+' "stat(): the messages in the store"
like "$body" 'outbox +[0-9]+ waiting' "stat(): the outboxes"
like "$body" 'mdird: not running' "stat(): mdird's state"
like "$body" 'Use%' "freespace(): df of the root"

# S/MIME's requests are t/7002's; without its keys, a setup error
printf '[mdir]\nroot = %s\n[command]\naddress = commands@example.org\nauth = smime\nplugins = %s\n' \
	"$MDIR_ROOT" "$P" >"$T/smime.conf"
$ENV_I "$BIN/mdir-command" -c "$T/smime.conf" <"$f" 2>"$T/err"
is "$?:$(cat "$T/err")" "75:mdir-command: [command] ca_file: not set, and auth needs S/MIME" \
	"auth = smime without ca_file: exit 75, a clear line"
printf '[mdir]\nroot = %s\n' "$MDIR_ROOT" >"$T/none.conf"
$ENV_I "$BIN/mdir-command" -c "$T/none.conf" <"$f" 2>"$T/err"
is "$?:$(cat "$T/err")" "75:mdir-command: [command] address: not set to one address (the commands' address)" \
	"no command address: exit 75, a clear line"
