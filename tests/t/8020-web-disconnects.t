#!/bin/sh
# mdir-web and clients that go away, as a browser does with the spare
# connections it opens ahead and with a page left before it came: a
# connection reset before mdir-web accepts it (mdir-web stopped
# meanwhile), a request cut in its headers or in its body, a download
# reset while it is sent, requests written back to back on one
# connection, Expect: 100-continue, an empty form, and six clients at
# once doing all this.  After each, mdir-web answers the next request, and
# at the end its log holds no critical, no warning, no sanitizer report
# (tests/run makes a critical fatal: a connection reset before it was
# accepted used to end mdir-web so, from libsoup's critical on a socket
# without a peer address).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
/usr/bin/python3 -c 'import socket' 2>/dev/null || skip_all "python3 is not installed (make deps)"
plan 11

C=$T/c.conf
free_ports 1
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.test\nrole_accounts = false\n[web]\nlisten = inet:127.0.0.1:%s\n' \
	"$MDIR_ROOT" "$PORT" >"$C"
mstore -c "$C" init >/dev/null
mstore -c "$C" account add jo@example.test >/dev/null
mstore -c "$C" mkdir Big >/dev/null
head -c 4000000 /dev/urandom >"$T/big.bin"
mstore -c "$C" put -t application/octet-stream "$T/big.bin" Big >/dev/null
printf 'pw\npw\n' | mdir-web -c "$C" --passwd admin
mdir-web -c "$C" 2>"$T/web.log" &
WEB=$!
stop_web() { kill -CONT "$WEB" 2>/dev/null; kill "$WEB" 2>/dev/null; wait "$WEB" 2>/dev/null; true; }
at_exit stop_web
wait_for 10 sh -c "ss -Htln '( sport = :$PORT )' | grep -q ."
ok $? "mdir-web listens"

# client.py STEP: one kind of client that goes away, then a request that
# must be answered; prints "answered" when it was
cat >"$T/client.py" <<'PY'
import re, socket, struct, sys, threading

port, step = int(sys.argv[1]), sys.argv[2]
state = sys.argv[3] if len(sys.argv) > 3 else None


def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    return s


def reset(s):
    """Closes @s with a reset, not a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def exchange(data, limit=None):
    s = conn()
    s.sendall(data)
    out = b""
    while limit is None or len(out) < limit:
        b = s.recv(65536)
        if not b:
            break
        out += b
    if limit is None:
        s.close()
    else:
        reset(s)
    return out


def req(method, path, body=None, cookie=None, extra=""):
    h = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, path)
    if cookie:
        h += "Cookie: %s\r\n" % cookie
    if body is not None:
        h += "Content-Type: application/x-www-form-urlencoded\r\n"
        h += "Content-Length: %d\r\n" % len(body)
    return (h + extra + "\r\n").encode() + (body or "").encode()


def login():
    r = exchange(req("POST", "/login", "user=admin&password=pw"))
    cookie = re.search(rb"Set-Cookie: (mdir_session=[0-9a-f]+)", r).group(1).decode()
    page = exchange(req("GET", "/accounts", cookie=cookie))
    csrf = re.search(rb"name=csrf value='([0-9a-f]+)'", page).group(1).decode()
    return cookie, csrf


def resets():
    # connected, then reset: mdir-web is stopped, so it accepts them after
    for i in range(5):
        reset(conn())


def cut(cookie, csrf):
    form = "csrf=%s&action=add&address=cut%%40example.test" % csrf
    for whole in (req("GET", "/accounts", cookie=cookie),
                  req("POST", "/accounts", form, cookie)):
        for n in (10, len(whole) // 2, len(whole) - 3):
            s = conn()
            s.sendall(whole[:n])
            reset(s)
            s = conn()
            s.sendall(whole[:n])
            s.shutdown(socket.SHUT_WR)
            s.close()
        # whole, and gone before the answer
        s = conn()
        s.sendall(whole)
        reset(s)


def download(cookie, csrf):
    path = "/folders/download?path=Big&name=big.bin"
    for limit in (1, 100000, 1000000):
        got = exchange(req("GET", path, cookie=cookie), limit)
        assert got.startswith(b"HTTP/1.1 200"), got[:60]


def pipelined(cookie, csrf):
    both = req("GET", "/accounts", cookie=cookie) + req(
        "POST", "/accounts", "csrf=%s&action=disable&address=jo%%40example.test" % csrf, cookie)
    for limit in (None, 10):
        exchange(both, limit)


def expect(cookie, csrf):
    form = "csrf=%s&action=enable&address=jo%%40example.test" % csrf
    r = exchange(req("POST", "/accounts", form, cookie, "Expect: 100-continue\r\n"))
    assert b" 303 " in r, r[:60]
    s = conn()
    s.sendall(req("POST", "/accounts", form, cookie, "Expect: 100-continue\r\n")[:-len(form)])
    s.recv(100)
    reset(s)


def empty(cookie, csrf):
    for path in ("/login", "/accounts", "/api/accounts"):
        exchange(req("POST", path, "", cookie))


def crowd(cookie, csrf):
    def one(n):
        for i in range(2):
            cut(cookie, csrf)
            download(cookie, csrf)
            pipelined(cookie, csrf)
            exchange(req("POST", "/accounts",
                         "csrf=%s&action=add&address=c%d.%d%%40example.test" % (csrf, n, i),
                         cookie), 10)
    threads = [threading.Thread(target=one, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if step == "resets":
    resets()
    sys.exit(0)
if step != "none":
    cookie, csrf = login()
    globals()[step](cookie, csrf)
r = exchange(req("GET", "/login"))
print("answered" if r.startswith(b"HTTP/1.1 200 ") else "not answered: %r" % r[:60])
PY
client() { timeout 120 /usr/bin/python3 "$T/client.py" "$PORT" "$@" 2>>"$T/client.err"; }

kill -STOP "$WEB"
client resets
kill -CONT "$WEB"
is "$(client none)" "answered" "connections reset before they were accepted"
is "$(client cut)" "answered" "requests cut in their headers or body, or left unanswered"
is "$(client download)" "answered" "a download reset while it is sent"
is "$(client pipelined)" "answered" "two requests back to back on one connection"
is "$(client expect)" "answered" "Expect: 100-continue, and a client gone after the 100"
is "$(client empty)" "answered" "an empty form"
is "$(client crowd)" "answered" "six clients at once"
grep -q 'action=account-enable address=jo@example.test' "$T/web.log"
ok $? "the requests it could answer were answered"
stop_web
is "$(grep -E 'CRITICAL|WARNING \*\*|AddressSanitizer|LeakSanitizer|runtime error' "$T/web.log" |
	sort | uniq -c | sort -rn | head -n 3 | cut -c 1-200)" "" \
	"mdir-web's log: no critical, no warning, no sanitizer report"
is "$(cat "$T/client.err")" "" "the clients saw what they expected"
