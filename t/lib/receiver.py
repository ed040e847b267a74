#!/usr/bin/env python3
"""receiver.py - a webhook receiver for the tests: listens on 127.0.0.1,
answers every request, and appends one JSON line per request (method, path,
headers, body) to a file.

usage: receiver.py PORTFILE LOGFILE [STATUS [PORT]]
  PORTFILE  where the chosen port is written once it listens
  LOGFILE   where requests are appended, one JSON object a line
  STATUS    the HTTP status to answer (default 200)
  PORT      the port to listen on (default: any free one)
"""
import http.server
import json
import socketserver
import sys

PORTFILE, LOGFILE = sys.argv[1], sys.argv[2]
STATUS = int(sys.argv[3]) if len(sys.argv) > 3 else 200
PORT = int(sys.argv[4]) if len(sys.argv) > 4 else 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_one(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        rec = {"method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        with open(LOGFILE, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(STATUS)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET = handle_one

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up is not news


srv = Server(("127.0.0.1", PORT), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
