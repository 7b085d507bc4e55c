#!/usr/bin/env python3
"""An LMTP client for the tests, on Python's smtplib.LMTP.

    lmtp-send.py ADDRESS [--xforward K=V ...] [--size] [--utf8] [--file F ...] FROM RCPT...

The message is standard input, or each --file in turn, one transaction
each in the same session (as Postfix sends down a cached connection).

ADDRESS: /PATH (a Unix socket), inet:HOST:PORT, or stdio:COMMAND (the
command run with a socket as its standard input and output, as inetd
and systemd's Accept=yes run it).  The message is sent as Postfix's lmtp
client sends it: every line ending in CRLF (a CRLF or a bare LF in the
file), dot-stuffed by smtplib.  smtplib.LMTP reads one reply after DATA;
LMTP gives one per accepted recipient (RFC 2033 4.2), read here.

Prints one line per recipient and message, "RCPT CODE TEXT", the RCPT reply for a
refused one and the reply after the data for an accepted one; exits 0.
"""
import shlex
import smtplib
import socket
import subprocess
import sys


def connect(address):
    if address.startswith("stdio:"):
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(shlex.split(address[6:]), stdin=theirs, stdout=theirs)
        theirs.close()
        c = smtplib.LMTP()
        c.sock = ours
        code, _ = c.getreply()
        return c, proc, code
    if address.startswith("inet:"):
        host, port = address[5:].rsplit(":", 1)
        c = smtplib.LMTP()
        code, _ = c.connect(host, int(port))
        return c, None, code
    c = smtplib.LMTP()
    code, _ = c.connect(address)
    return c, None, code


def wire(data):
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((l[:-1] if l.endswith(b"\r") else l) + b"\r\n" for l in lines)


def transaction(c, sender, opts, rcpts, data, xforward):
    """One message; the reply line for each recipient, by recipient."""
    if xforward:
        c.docmd("XFORWARD", " ".join(xforward))
    opts = [o % len(data) if "%" in o else o for o in opts]
    code, text = c.mail(sender, opts)
    if code != 250:
        c.rset()
        return {r: "MAIL %d %s" % (code, text.decode()) for r in rcpts}
    accepted, out = [], {}
    for r in rcpts:
        code, text = c.rcpt(r)
        if code == 250:
            accepted.append(r)
        else:
            out[r] = "%d %s" % (code, text.decode())
    if not accepted:
        c.rset()
        return out
    code, text = c.docmd("DATA")
    if code != 354:
        for r in accepted:
            out[r] = "DATA %d %s" % (code, text.decode())
        return out
    c.send(smtplib._quote_periods(data) + b".\r\n")
    for r in accepted:
        code, text = c.getreply()
        out[r] = "%d %s" % (code, text.decode())
    return out


def main(argv):
    address = argv.pop(0)
    xforward, opts, files = [], [], []
    while argv and argv[0].startswith("--"):
        a = argv.pop(0)
        if a == "--xforward":
            xforward.append(argv.pop(0))
        elif a == "--size":
            opts.append("SIZE=%d")
        elif a == "--utf8":
            opts.append("SMTPUTF8")
        elif a == "--file":
            files.append(argv.pop(0))
    sender, rcpts = argv[0], argv[1:]
    c, proc, code = connect(address)
    if code != 220:
        print("connect %d" % code)
        return 0
    c.ehlo_or_helo_if_needed()
    for f in files or [None]:
        if f is None:
            data = sys.stdin.buffer.read()
        else:
            with open(f, "rb") as fh:
                data = fh.read()
        out = transaction(c, sender, opts, rcpts, wire(data), xforward)
        for r in rcpts:
            print("%s %s" % (r, out[r]), flush=True)
    try:
        c.quit()
    except smtplib.SMTPServerDisconnected:
        pass
    if proc:
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
