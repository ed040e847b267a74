#!/usr/bin/env python3
"""slowclients.py - holds many slow connections against a server: each
sends a request head one byte at a time, a byte every few seconds, and is
opened again when the server closes it, until SECONDS have passed.

usage: slowclients.py HOST PORT N SECONDS [INTERVAL]
  N         connections to hold
  SECONDS   how long
  INTERVAL  seconds between two bytes of one connection (default 10)

Prints, at the end, how many connections it opened and how many the server
closed."""
import selectors
import socket
import sys
import time

host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
interval = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
head = b"GET /status HTTP/1.1\r\nHost: %s:%d\r\nX-Slow: " % (host.encode(), port) + b"a" * 4000

sel = selectors.DefaultSelector()
opened = closed = 0
conns = {}  # socket -> [next byte index, when to send it]


def open_one(now):
    global opened
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        return
    conns[s] = [0, now + (opened % 100) * interval / 100]
    sel.register(s, selectors.EVENT_READ)
    opened += 1


start = time.time()
while len(conns) < n:
    open_one(start)
while time.time() - start < seconds:
    now = time.time()
    for s, st in list(conns.items()):
        if st[1] <= now:
            try:
                s.send(head[st[0] % len(head):st[0] % len(head) + 1])
            except OSError:
                pass
            st[0] += 1
            st[1] = now + interval
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            del conns[s]
            closed += 1
            open_one(time.time())
print("opened %d connections, the server closed %d" % (opened, closed))
