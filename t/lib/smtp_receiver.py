#!/usr/bin/env python3
"""smtp_receiver.py - an SMTP server for the tests and the demo: listens on
127.0.0.1, accepts every message and appends one JSON line per message
(mail_from, rcpt_to, data, tls: whether the connection was encrypted, user:
who logged in or null) to a file. Speaks just enough SMTP for libcurl
(EHLO/HELO, STARTTLS, AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, NOOP,
QUIT).

usage: smtp_receiver.py PORTFILE LOGFILE [PORT] [--starttls CERT KEY]
                        [--smtps CERT KEY] [--auth USER:PASSWORD]
  --starttls  offers STARTTLS with this certificate and key; AUTH and MAIL
              are refused before it (530)
  --smtps     TLS from the first byte (implicit TLS, smtps://)
  --auth      MAIL is refused (530) until this user logged in; a wrong
              password gets 535
"""
import argparse
import base64
import json
import os
import socketserver
import ssl

ap = argparse.ArgumentParser()
ap.add_argument("portfile")
ap.add_argument("logfile")
ap.add_argument("port", nargs="?", type=int, default=0)
ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
ap.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
ap.add_argument("--auth")
args = ap.parse_args()
PORTFILE, LOGFILE, PORT = args.portfile, args.logfile, args.port
TLS = None
if args.starttls or args.smtps:
    TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    TLS.load_cert_chain(*(args.starttls or args.smtps))
USER, PASSWORD = args.auth.split(":", 1) if args.auth else (None, None)


class Handler(socketserver.StreamRequestHandler):
    def say(self, line):
        self.wfile.write((line + "\r\n").encode())

    def secure(self):
        self.connection = TLS.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb", buffering=0)
        self.tls = True

    def read_line(self):
        raw = self.rfile.readline()
        return raw.decode("utf-8", "replace").rstrip("\r\n") if raw else None

    def login(self, user, password):
        if user == USER and password == PASSWORD:
            self.user = user
            self.say("235 authenticated")
        else:
            self.say("535 authentication failed")

    def auth(self, line):
        words = line.split()
        mech = words[1].upper() if len(words) > 1 else ""
        if mech == "PLAIN":
            if len(words) > 2:
                resp = words[2]
            else:
                self.say("334 ")
                resp = self.read_line() or ""
            try:
                _, user, password = base64.b64decode(resp).decode().split("\0")
            except Exception:
                self.say("501 bad PLAIN response")
                return
            self.login(user, password)
        elif mech == "LOGIN":
            if len(words) > 2:
                user = base64.b64decode(words[2]).decode()
            else:
                self.say("334 " + base64.b64encode(b"Username:").decode())
                user = base64.b64decode(self.read_line() or "").decode()
            self.say("334 " + base64.b64encode(b"Password:").decode())
            password = base64.b64decode(self.read_line() or "").decode()
            self.login(user, password)
        else:
            self.say("504 unrecognized authentication type")

    def handle(self):
        self.tls, self.user = False, None
        if args.smtps:
            self.secure()
        self.say("220 localhost ESMTP test receiver")
        mail_from, rcpt = None, []
        while True:
            line = self.read_line()
            if line is None:
                return
            cmd = line[:4].upper()
            need_tls = args.starttls and not self.tls
            if cmd == "EHLO":
                ext = ["localhost"]
                if need_tls:
                    ext.append("STARTTLS")
                elif USER:
                    ext.append("AUTH PLAIN LOGIN")
                for i, e in enumerate(ext):
                    self.say("250%s%s" % (" " if i == len(ext) - 1 else "-", e))
            elif cmd == "HELO":
                self.say("250 localhost")
            elif line.upper() == "STARTTLS":
                if not args.starttls or self.tls:
                    self.say("502 not implemented")
                    continue
                self.say("220 go ahead")
                self.secure()
            elif cmd == "AUTH":
                if need_tls:
                    self.say("530 must issue STARTTLS first")
                elif not USER:
                    self.say("502 not implemented")
                else:
                    self.auth(line)
            elif cmd == "MAIL":
                if need_tls:
                    self.say("530 must issue STARTTLS first")
                elif USER and not self.user:
                    self.say("530 authentication required")
                else:
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
                    f.write(json.dumps({"mail_from": mail_from, "rcpt_to": rcpt, "data": "".join(data),
                                        "tls": self.tls, "user": self.user}) + "\n")
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
