#!/usr/bin/env python3
"""Delivers files over LMTP as Postfix's lmtp client does, for the kill -9
test: one session down which the messages go; a lost connection or a 4xx
reply is tried again on a new one (at most 50 tries a message), until a
250 or a 5xx.

    lmtp-deliver.py SOCKET RESULTS RECIPIENT FILE...

Appends to RESULTS one line per FILE, as tests/stress/deliver.sh does:
    FILE RECIPIENT FINAL-CODE TRIES KILLS CODE,CODE,...
with the pipe mode's codes: 0 for 250, 67 for 550, 75 for another 4xx,
137 for a connection lost (the session's process killed).
"""
import smtplib
import sys
import time


def wire(data):
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((l[:-1] if l.endswith(b"\r") else l) + b"\r\n" for l in lines)


def session(path):
    c = smtplib.LMTP(timeout=60)
    c.connect(path)
    c.ehlo()
    return c


def code_of(reply):
    if reply == 250:
        return 0
    if reply == 550:
        return 67
    return 75


def once(c, rcpt, data):
    """One try: the pipe mode's code of its outcome."""
    code, _ = c.mail("sender@example.net")
    if code != 250:
        c.rset()
        return code_of(code)
    code, _ = c.rcpt(rcpt)
    if code != 250:
        c.rset()
        return code_of(code)
    code, _ = c.docmd("DATA")
    if code != 354:
        return code_of(code)
    c.send(smtplib._quote_periods(data) + b".\r\n")
    code, _ = c.getreply()
    return code_of(code)


def main(argv):
    path, results, rcpt = argv[:3]
    c = None
    for f in argv[3:]:
        data = wire(open(f, "rb").read())
        tries, kills, codes, rc = 0, 0, [], None
        while tries < 50:
            tries += 1
            try:
                if c is None:
                    c = session(path)
                rc = once(c, rcpt, data)
            except (OSError, smtplib.SMTPException):
                rc = 137
                kills += 1
                c = None
                time.sleep(0.05)  # the server may be starting again
            codes.append(str(rc))
            if rc in (0, 67):
                break
        with open(results, "a") as out:
            out.write("%s %s %d %d %d %s,\n" % (f, rcpt, rc, tries, kills, ",".join(codes)))
    if c is not None:
        try:
            c.quit()
        except (OSError, smtplib.SMTPException):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
