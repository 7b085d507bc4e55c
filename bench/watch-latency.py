#!/usr/bin/python3
# bench/watch-latency.py BIN CONF ROOT FOLDER RATE FILE...: delivers each
# FILE with BIN/mdir-receive at RATE messages a second (one process each,
# as Postfix runs them) while a watcher (mdird's WATCH, mdird(8)) listens
# on FOLDER; prints the median, 90th percentile and worst time from the
# end of a delivery to the first change line of that message in FOLDER,
# in ms.  A message is known by its Message-ID, read from the entry's
# record in FOLDER/.meta.
import os, socket, subprocess, sys, threading, time

bin_dir, conf, root, folder, rate = sys.argv[1:6]
files = sys.argv[6:]
rate = float(rate)

seen = []  # (monotonic time, entry name), in order
lock = threading.Lock()


def watch(sock):
    buf = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return
        now = time.monotonic()
        buf += data
        *lines, buf = buf.split(b"\n")
        with lock:
            for line in lines:
                words = line.rstrip(b"\r").split(b" ", 2)
                if len(words) == 3 and words[1] == b"+":
                    seen.append((now, words[2].decode("utf-8", "replace")))


sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(os.path.join(root, ".mdird", "mdird.sock"))
f = sock.makefile("rb")
assert f.readline().startswith(b"220"), "mdird did not greet"
sock.sendall(b"WATCH " + folder.encode() + b"\r\n")
assert f.readline().startswith(b"250"), "WATCH refused"
threading.Thread(target=watch, args=(sock,), daemon=True).start()


def message_id(path):
    with open(path, "rb") as m:
        for line in m:
            if line.lower().startswith(b"message-id:"):
                return line.split(b":", 1)[1].strip().strip(b"<>").decode()
            if line in (b"\n", b"\r\n"):
                break
    return None


delivered = {}  # Message-ID: monotonic end of its delivery
start = time.monotonic()
env = {"PATH": "/usr/bin:/bin"}
for i, path in enumerate(files):
    wait = start + i / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    with open(path, "rb") as m:
        subprocess.run([os.path.join(bin_dir, "mdir-receive"), "-c", conf, "-f",
                        "s@sender.test", "--", "jo@example.org"], stdin=m,
                       stdout=subprocess.DEVNULL, env=env, check=True)
    delivered[message_id(path)] = time.monotonic()

# every message heard of, or 60 s
first = {}
deadline = time.monotonic() + 60
meta = os.path.join(root, folder, ".meta")
while len(first) < len(delivered) and time.monotonic() < deadline:
    with lock:
        pending = list(seen)
    for t, name in pending:
        try:
            mid = None
            with open(os.path.join(meta, name), "rb") as r:
                for line in r:
                    if line.startswith(b"message-id:"):
                        mid = line.split(b":", 1)[1].strip().strip(b"<>").decode()
                        break
        except OSError:
            continue
        if mid in delivered and mid not in first:
            first[mid] = t
    time.sleep(0.05)
lat = sorted((first[m] - delivered[m]) * 1000 for m in first)
if not lat:
    sys.exit("watch-latency: no message was heard of")
print("%d of %d heard of; ms from delivery to the watcher: median %.1f, p90 %.1f, max %.1f"
      % (len(lat), len(delivered), lat[len(lat) // 2], lat[int(len(lat) * 0.9)], lat[-1]))
