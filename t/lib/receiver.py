#!/usr/bin/env python3
"""receiver.py - a webhook receiver for the tests: listens on 127.0.0.1,
answers every request, and appends one JSON line per request (method, path,
headers, body) to a file.

usage: receiver.py PORTFILE LOGFILE [STATUS]
  PORTFILE  where the chosen port is written once it listens
  LOGFILE   where requests are appended, one JSON object a line
  STATUS    the HTTP status to answer (default 200)
"""
import http.server
import json
import socketserver
import sys

PORTFILE, LOGFILE = sys.argv[1], sys.argv[2]
STATUS = int(sys.argv[3]) if len(sys.argv) > 3 else 200


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


srv = Server(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
