#!/bin/sh
# mdir-receive --lmtp on stdin/stdout (inetd, systemd's Accept=yes): the
# protocol as Postfix's lmtp client holds it (RFC 2033), driven by
# Python's smtplib.LMTP and by pipelined command scripts.  One reply per
# accepted recipient after the data, 550 5.1.1 at RCPT for no account,
# dot-unstuffing, CRLF made LF and the Return-Path of pipe(8)'s R flag,
# XFORWARD into the records, RSET, size limits, bad commands, SMTPUTF8
# addresses in Cyrillic and CJK.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v python3 >/dev/null || skip_all "no python3"
plan 66

mstore mkdir SMTP/Accounts/jo@example.org SMTP/Accounts/al@example.org \
	'SMTP/Accounts/дмитрий@пример.рф' 'SMTP/Accounts/用户@例子.中国' >/dev/null
Q=$MDIR_ROOT/.mdird/queue
send() { python3 "$MDIR_SRC/tests/lib/lmtp-send.py" "stdio:$BIN/mdir-receive --lmtp" "$@"; }
# a pipelined script: every command in one write, the replies CR-less
session() { printf "$1" | mdir-receive --lmtp | tr -d '\r'; }
# the replies but the greeting and LHLO's
replies() { grep -v -e '^220 ' -e '^250-' -e '^250 SIZE'; }
field() { grep -m1 "^$1: " "$2" | cut -d' ' -f2-; }

# the greeting and LHLO's extensions
out=$(session 'LHLO client.test\r\nQUIT\r\n')
like "$out" '^220 .* LMTP' "a 220 greeting"
for ext in PIPELINING ENHANCEDSTATUSCODES 8BITMIME SMTPUTF8 'XFORWARD .*ADDR.*HELO.*IDENT' 'SIZE [0-9]+'; do
	like "$out" "^250[- ]$ext" "LHLO announces $ext"
done
like "$out" '221 2\.0\.0' "QUIT: 221"

# a good and an unknown recipient in one transaction
printf 'Subject: one\nMessage-ID: <one@sender.test>\n\n.a line with a dot\n..two dots\nend\n' >"$T/one.eml"
out=$(send --xforward 'ADDR=192.0.2.9 HELO=client.test IDENT=4F2A1' a@sender.test \
	jo@example.org nobody@example.org <"$T/one.eml")
like "$(echo "$out" | sed -n 1p)" '^jo@example\.org 250 2\.0\.0 ' "the account: 250 after the data"
like "$(echo "$out" | sed -n 2p)" '^nobody@example\.org 550 5\.1\.1 .*no such account' \
	"no such account: 550 5.1.1 at RCPT"
is "$(mstore cat mstore:one@sender.test/0)" "Return-Path: <a@sender.test>
Subject: one
Message-ID: <one@sender.test>

.a line with a dot
..two dots
end" "stored: dot-unstuffed, LF line ends, the Return-Path first"
is "$(ls "$Q" | wc -l)" 1 "one batch, for the account"
mstore account add off@example.org 2>/dev/null && mstore account disable off@example.org
out=$(send a@sender.test off@example.org <"$T/one.eml")
like "$out" '^off@example\.org 550 5\.2\.1 .*account disabled' \
	"a disabled account: 550 5.2.1 at RCPT"
b=$Q/$(ls "$Q")
is "$(field queue-id "$b")" 4F2A1 "XFORWARD IDENT: the queue id"
is "$(field client-address "$b")" 192.0.2.9 "XFORWARD ADDR: the client address"
is "$(field client-helo "$b")" client.test "XFORWARD HELO: the HELO name"
is "$(field envelope-from "$b")" a@sender.test "the sender"
rm -f "$Q"/*

# two accounts: two replies after one DATA, one copy stored
printf 'Subject: two\nMessage-ID: <two@sender.test>\n\nhi\n' >"$T/two.eml"
out=$(send a@sender.test jo@example.org al@example.org <"$T/two.eml")
is "$(echo "$out" | cut -d' ' -f1-3)" "jo@example.org 250 2.0.0
al@example.org 250 2.0.0" "two accounts, one reply each"
is "$(ls "$Q" | wc -l)" 2 "a batch each"
rm -f "$Q"/*

# SMTPUTF8: Cyrillic and CJK addresses
printf 'Subject: utf8\nMessage-ID: <utf8@sender.test>\n\nпривет\n' >"$T/utf8.eml"
out=$(send --utf8 'отправитель@пример.рф' 'дмитрий@пример.рф' '用户@例子.中国' 'нет@пример.рф' <"$T/utf8.eml")
is "$(echo "$out" | cut -d' ' -f1-3)" "дмитрий@пример.рф 250 2.0.0
用户@例子.中国 250 2.0.0
нет@пример.рф 550 5.1.1" "UTF-8 recipients: two accounts, one unknown"
is "$(grep -h '^account: ' "$Q"/* | sort -u)" "account: SMTP/Accounts/дмитрий@пример.рф
account: SMTP/Accounts/用户@例子.中国" "queued for both"
is "$(grep -h -m1 '^envelope-from: ' "$Q"/* | sort -u)" "envelope-from: отправитель@пример.рф" \
	"the UTF-8 sender recorded"
rm -f "$Q"/*

# a quoted local part, as Postfix sends one (RFC 5321 4.1.2): the pipe
# mode delivers it, so does LMTP, the Return-Path quoted as pipe(8)'s
printf 'Message-ID: <quoted@sender.test>\n\nhi\n' >"$T/q.eml"
out=$(send '"john doe"@sender.test' jo@example.org <"$T/q.eml")
like "$out" '^jo@example\.org 250 2\.0\.0 ' "a sender with a quoted local part: delivered"
is "$(mstore cat mstore:quoted@sender.test/0 | head -n 1)" 'Return-Path: <"john doe"@sender.test>' \
	"its Return-Path, quoted"
out=$(session 'LHLO c\r\nMAIL FROM:<"a\r"@sender.test>\r\nMAIL FROM:<"a b@sender.test>\r\nMAIL FROM:<a b@sender.test>\r\nQUIT\r\n' | replies)
is "$(echo "$out" | grep -e '^553' -e '^501' | cut -c1-9)" "553 5.1.7
501 5.5.4
553 5.1.7" "a control inside quotes: 553; an unclosed quote: 501; a bare space: 553"
rm -f "$Q"/*

# a client whose lines end in a bare LF (doc/VIOLATIONS): taken as CRLF,
# but only CRLF "." CRLF ends the data
out=$(mdir-receive --lmtp <"$DATA/lmtp-bare-lf.lmtp" | tr -d '\r' | replies)
is "$out" "250 2.1.0 ok
250 2.1.5 ok
354 go ahead, end with <CRLF>.<CRLF>
250 2.0.0 <jo@example.org> delivered as mstore:bare-lf@sender.test
221 2.0.0 bye" "bare LF line ends: the same dialogue"
is "$(mstore cat mstore:bare-lf@sender.test/0 | od -An -c | tr -s ' ' | tail -n 4)" \
	"$(printf 'Return-Path: <a@sender.test>\nMessage-ID: <bare-lf@sender.test>\nSubject: bare LF\n\nevery line of this session ends in a bare LF\n.and this one was dot-stuffed\na CR alone\rstays\n.\nand a lone dot after a bare LF is text\n' |
	od -An -c | tr -s ' ' | tail -n 4)" "stored as from CRLF lines; a CR alone kept; .<LF> is text"
rm -f "$Q"/*

# SMTP smuggling: a message's end as one side might read it, a second
# transaction after it.  Neither <CR>.<CR><LF> nor <LF>.<LF> ends the
# data: one message, whole, and no other.
i=0
for end in '\r\r.\r\n' '\r\n\r.\r\n' '\n.\n' '\r\n.\n' '\n.\r\n'; do
	i=$((i + 1))
	name=$(printf '%s' "$end" | sed 's/\\r/<CR>/g; s/\\n/<LF>/g')
	rm -f "$Q"/*
	out=$(session "LHLO c\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<jo@example.org>\r\nDATA\r\nMessage-ID: <smuggle@sender.test>\r\n\r\nbody${end}MAIL FROM:<ceo@example.org>\r\nRCPT TO:<al@example.org>\r\nDATA\r\nMessage-ID: <forged@sender.test>\r\n\r\nforged\r\n.\r\nQUIT\r\n" | replies)
	like "$(echo "$out" | grep -c '^250 2\.0\.0')" '^1$' "$name: one delivery"
	is "$(mstore cat mstore:forged@sender.test/0 2>/dev/null)" "" "$name: nothing smuggled"
	like "$(mstore cat mstore:smuggle@sender.test/0 2>/dev/null)" 'MAIL FROM:<ceo@example\.org>' \
		"$name: the text after it kept in the message"
	mstore rm SMTP/Accounts/jo@example.org/'smuggle@sender.test.eml' >/dev/null 2>&1
done
rm -f "$Q"/*

# pipelining: a whole transaction in one write, the replies in order
out=$(session 'LHLO c\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<jo@example.org>\r\nRCPT TO:<x@example.org>\r\nRCPT TO:<al@example.org>\r\nDATA\r\nMessage-ID: <pipe@sender.test>\r\n\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n' |
	replies)
is "$(echo "$out" | cut -c1-9)" "250 2.1.0
250 2.1.5
550 5.1.1
250 2.1.5
354 go ah
250 2.0.0
250 2.0.0
250 2.0.0
221 2.0.0" "pipelined: every reply, one per accepted recipient after the data"
is "$(ls "$Q" | wc -l)" 2 "pipelined: delivered to both accounts"
rm -f "$Q"/*

# RSET, and DATA with no recipient
out=$(session 'LHLO c\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<jo@example.org>\r\nRSET\r\nDATA\r\nMAIL FROM:<a@sender.test>\r\nDATA\r\nQUIT\r\n' |
	replies)
is "$(echo "$out" | cut -c1-9)" "250 2.1.0
250 2.1.5
250 2.0.0
503 5.5.1
250 2.1.0
503 5.5.1
221 2.0.0" "RSET forgets the transaction; DATA without a recipient is 503"
is "$(ls "$Q" | wc -l)" 0 "nothing queued"

# bad commands
long=$(head -c 5000 /dev/zero | tr '\0' x)
out=$(session "MAIL FROM:<a@b>\r\nLHLO c\r\nRCPT TO:<jo@example.org>\r\nFROB\r\nHELO c\r\nEHLO c\r\nNOOP $long\r\nMAIL FROM:<a@b> FOO=1\r\nMAIL FROM a@b\r\nVRFY jo@example.org\r\nNOOP\r\nQUIT\r\n" |
	replies | cut -c1-9)
is "$out" "503 5.5.1
503 5.5.1
500 5.5.2
500 5.5.1
500 5.5.1
500 5.5.2
555 5.5.4
501 5.5.4
252 2.5.0
250 2.0.0
221 2.0.0" "MAIL before LHLO, RCPT before MAIL, unknown, HELO, EHLO, a long line, a bad parameter, bad syntax, VRFY: each its code, the session goes on"
out=$(i=0; while [ $i -lt 25 ]; do printf 'FROB\r\n'; i=$((i + 1)); done | mdir-receive --lmtp | tr -d '\r')
is "$(echo "$out" | tail -n 1 | cut -c1-9)" "421 4.7.0" "too many bad commands: 421, closed"
is "$(echo "$out" | grep -c '^500')" 20 "after 20"

# size limits: SIZE= at MAIL, and the data itself
printf '[receive]\nlmtp_max_message_size = 1k\n' >>"$MDIR_CONF"
head -c 3000 /dev/zero | tr '\0' y | fold -w 70 >"$T/big.body"
{ printf 'Message-ID: <big@sender.test>\n\n'; cat "$T/big.body"; } >"$T/big.eml"
out=$(send --size a@sender.test jo@example.org <"$T/big.eml")
like "$out" '^jo@example\.org MAIL 552 5\.3\.4 ' "SIZE= over lmtp_max_message_size: 552 5.3.4 at MAIL"
out=$(send a@sender.test jo@example.org al@example.org <"$T/big.eml")
is "$(echo "$out" | cut -d' ' -f2-3)" "552 5.3.4
552 5.3.4" "data over the limit: 552 5.3.4 for each recipient"
is "$(ls "$Q" | wc -l)" 0 "nothing queued"
is "$(mstore cat mstore:big@sender.test/0 2>/dev/null | wc -c)" 0 "nothing stored"
is "$(find "$MDIR_ROOT/.mstore/tmp" -mindepth 1 | wc -l)" 0 "nothing left in tmp"
out=$(session "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<jo@example.org>\r\nDATA\r\n$(sed 's/$/\\r\\n/' "$T/big.body" | tr -d '\n').\r\nNOOP\r\nQUIT\r\n" |
	replies | cut -c1-9)
is "$(echo "$out" | tail -n 3)" "552 5.3.4
250 2.0.0
221 2.0.0" "after a message too big, the session goes on"

# the client leaves in the middle of the data: no reply, nothing queued
out=$(session 'LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<jo@example.org>\r\nDATA\r\nMessage-ID: <cut@x>\r\n\r\nhalf')
is "$(echo "$out" | tail -n 1 | cut -c1-3)" 354 "a cut data: no reply after 354"
is "$(ls "$Q" | wc -l)" 0 "nothing queued"
is "$(find "$MDIR_ROOT/.mstore/tmp" -mindepth 1 | wc -l)" 0 "nothing left in tmp"

# a stalled client: the time-out ends the session with 421
printf '[receive]\nlmtp_timeout = 1s\n' >>"$MDIR_CONF"
(printf 'LHLO c\r\n'; sleep 4) | {
	start=$(date +%s)
	mdir-receive --lmtp | tr -d '\r' >"$T/out"
	echo $(($(date +%s) - start)) >"$T/secs"
}
is "$(tail -n 1 "$T/out" | cut -c1-9)" "421 4.4.2" "a silent client: 421 4.4.2"
ok "$([ "$(cat "$T/secs")" -lt 4 ]; echo $?)" "ended before its input did"

# a configuration that cannot be read: a 421 instead of the greeting
out=$(mdir-receive -c "$T/none.conf" --lmtp </dev/null | tr -d '\r')
like "$out" "^421 4\.3\.0 mdir-receive: configuration: .*none\.conf" "a broken configuration: 421"

# the log line, the pipe mode's
printf '[mdir]\nlog_file = %s/lmtp.log\n' "$T" >>"$MDIR_CONF"
printf 'Message-ID: <logged@sender.test>\n\nhi\n' | send --xforward IDENT=7B3C9 a@sender.test \
	jo@example.org >/dev/null
like "$(cat "$T/lmtp.log")" '7B3C9: message-id=<logged@sender\.test> from=<a@sender\.test> to=SMTP/Accounts/jo@example\.org size=[0-9]+ parts=1 defects=0 outcome=delivered stored=new ms=[0-9]+' \
	"one log line in the pipe mode's queue_id: key=value style"

# accounts disabled or removed after RCPT: before DATA, in the middle of
# the data, and every recipient of a transaction so; each recipient's reply
# after the data says why, as the pipe mode's exit would (5.2.1 disabled,
# 5.1.1 no account), and the message goes to none of them
rm -f "$Q"/*
for a in d1 g1 d2 g2 d3 g3; do mstore account add $a@example.org >/dev/null; done
cat >"$T/changed.py" <<'PY'
import os, socket, subprocess, sys
ours, theirs = socket.socketpair()
p = subprocess.Popen([os.environ["BIN"] + "/mdir-receive", "--lmtp"], stdin=theirs, stdout=theirs)
theirs.close()
f = ours.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline().decode().rstrip("\r\n")
        lines.append(l)
        if len(l) < 4 or l[3] != "-":
            return lines
def say(line):
    ours.sendall(line.encode() + b"\r\n")
    return reply()[-1]
def change(d, g):
    subprocess.run(["mstore", "account", "disable", d + "@example.org"], check=True)
    subprocess.run(["mstore", "account", "rm", g + "@example.org"], check=True)
reply()
say("LHLO c")
for n, (rcpts, when) in enumerate([(["jo", "d1", "g1"], "before"), (["jo", "d2", "g2"], "during"),
                                   (["d3", "g3"], "during")]):
    say("MAIL FROM:<a@sender.test>")
    for r in rcpts:
        assert say("RCPT TO:<%s@example.org>" % r).startswith("250"), r
    if when == "before":
        change(rcpts[1], rcpts[2])
    say("DATA")
    ours.sendall(b"Message-ID: <changed%d@sender.test>\r\n\r\nhalf\r\n" % n)
    if when == "during":
        change(rcpts[-2], rcpts[-1])
    ours.sendall(b"the rest\r\n.\r\n")
    for r in rcpts:
        print(r, " ".join(reply()[-1].split(" ")[:2]))
say("QUIT")
PY
out=$(BIN=$BIN python3 "$T/changed.py" 2>&1)
is "$(echo "$out" | sed -n 1,3p | tr '\n' ' ')" "jo 250 2.0.0 d1 550 5.2.1 g1 550 5.1.1 " \
	"changed between RCPT and DATA: 250 for the account, 550 5.2.1 disabled, 550 5.1.1 removed"
is "$(echo "$out" | sed -n 4,6p | tr '\n' ' ')" "jo 250 2.0.0 d2 550 5.2.1 g2 550 5.1.1 " \
	"changed in the middle of the data: the same"
is "$(echo "$out" | sed -n 7,8p | tr '\n' ' ')" "d3 550 5.2.1 g3 550 5.1.1 " \
	"every recipient so: each its own reason"
is "$(for b in "$Q"/*; do field account "$b"; done | sort | uniq -c | sed 's/^ *//')" "2 SMTP/Accounts/jo@example.org" \
	"only the account still taking mail got the message, twice"
