#!/usr/bin/env python3
"""notify_listener.py SOCKET LOG: a datagram socket in the place of
systemd's $NOTIFY_SOCKET; every message it gets (READY=1, STOPPING=1, ...)
is appended to LOG, one a line."""
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as log:
    while True:
        log.write(s.recv(4096).decode() + "\n")
        log.flush()
