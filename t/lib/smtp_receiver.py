#!/usr/bin/env python3
"""smtp_receiver.py - an SMTP server for the tests and the demo: listens on
127.0.0.1, accepts every message and appends one JSON line per message
(mail_from, rcpt_to, data) to a file. Speaks just enough SMTP for libcurl
(EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT).

usage: smtp_receiver.py PORTFILE LOGFILE [PORT]
"""
import json
import os
import socketserver
import sys

PORTFILE, LOGFILE = sys.argv[1], sys.argv[2]
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 0


class Handler(socketserver.StreamRequestHandler):
    def say(self, line):
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self.say("220 localhost ESMTP test receiver")
        mail_from, rcpt = None, []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            cmd = line[:4].upper()
            if cmd in ("EHLO", "HELO"):
                self.say("250 localhost")
            elif cmd == "MAIL":
                mail_from, rcpt = line.split(":", 1)[1].strip().strip("<>"), []
                self.say("250 OK")
            elif cmd == "RCPT":
                rcpt.append(line.split(":", 1)[1].strip().strip("<>"))
                self.say("250 OK")
            elif cmd == "DATA":
                self.say("354 end with <CRLF>.<CRLF>")
                data = []
                while True:
                    l = self.rfile.readline()
                    if not l or l in (b".\r\n", b".\n"):
                        break
                    if l.startswith(b".."):
                        l = l[1:]
                    data.append(l.decode("utf-8", "replace"))
                with open(LOGFILE, "a") as f:
                    f.write(json.dumps({"mail_from": mail_from, "rcpt_to": rcpt, "data": "".join(data)}) + "\n")
                self.say("250 OK queued")
            elif cmd == "QUIT":
                self.say("221 bye")
                return
            elif cmd in ("RSET", "NOOP"):
                self.say("250 OK")
            else:
                self.say("502 not implemented")


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up is not news


srv = Server(("127.0.0.1", PORT), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
