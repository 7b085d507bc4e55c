#!/usr/bin/python3
# bench/gen-corpus.py DIR [N]: a deterministic mixed corpus for the
# receive benchmark: mostly small text mails, some with attachments of a
# few KB to a few hundred KB, a few HTML alternatives and forwards.
import base64, os, random, sys

out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 400
os.makedirs(out, exist_ok=True)
rnd = random.Random(42)
words = "the mail server files every part into folders that people and scripts use".split()

def text(k):
    return "\n".join(" ".join(rnd.choice(words) for _ in range(12)) for _ in range(k)) + "\n"

def blob(size):
    return base64.encodebytes(rnd.randbytes(size)).decode()

for i in range(n):
    head = (f"From: Sender {i} <s{i}@sender.test>\nTo: jo@example.org\n"
            f"Subject: benchmark message {i}\nMessage-ID: <bench-{i}@sender.test>\n"
            f"Date: Sun, 22 Nov 2026 10:00:00 +0100\nMIME-Version: 1.0\n")
    kind = rnd.random()
    if kind < 0.55:
        body = "Content-Type: text/plain; charset=utf-8\n\n" + text(rnd.randint(5, 60))
    elif kind < 0.75:
        body = ("Content-Type: multipart/alternative; boundary=a\n\n--a\n"
                "Content-Type: text/plain; charset=utf-8\n\n" + text(20) +
                "--a\nContent-Type: text/html; charset=utf-8\n\n<p>" + text(20) + "</p>\n--a--\n")
    elif kind < 0.95:
        size = rnd.choice([4000, 20000, 60000, 150000, 400000])
        body = ("Content-Type: multipart/mixed; boundary=m\n\n--m\n"
                "Content-Type: text/plain\n\n" + text(10) +
                f"--m\nContent-Type: application/pdf; name=doc{i}.pdf\n"
                f"Content-Disposition: attachment; filename=doc{i}.pdf\n"
                "Content-Transfer-Encoding: base64\n\n" + blob(size) + "--m--\n")
    else:
        inner = ("From: b@other.test\nSubject: inner\nMIME-Version: 1.0\n"
                 "Content-Type: multipart/mixed; boundary=i\n\n--i\nContent-Type: text/plain\n\n"
                 + text(5) + "--i\nContent-Type: image/png; name=x.png\n"
                 "Content-Transfer-Encoding: base64\n\n" + blob(30000) + "--i--\n")
        body = ("Content-Type: multipart/mixed; boundary=f\n\n--f\nContent-Type: text/plain\n\n"
                + text(3) + "--f\nContent-Type: message/rfc822\n\n" + inner + "\n--f--\n")
    with open(os.path.join(out, f"{i:04d}.eml"), "w") as f:
        f.write(head + body)
