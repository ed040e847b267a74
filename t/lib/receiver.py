#!/usr/bin/env python3
"""receiver.py - a webhook receiver for the tests: listens on 127.0.0.1,
answers every request, and appends one JSON line per request to a file:
method, path, headers, body, the status it answered and when the request
arrived (t, seconds since the epoch) and on which connection (conn: 1 for
the first the receiver accepted, 2 for the second, ...).

usage: receiver.py PORTFILE LOGFILE [STATUS [PORT]] [--fail P] [--stall P]
                   [--stall-seconds S] [--throttle P] [--retry-after S]
                   [--seed N]
  PORTFILE  where the chosen port is written once it listens
  LOGFILE   where requests are appended, one JSON object a line
  STATUS    the HTTP status to answer (default 200)
  PORT      the port to listen on (default: any free one)
  --fail P        answer 500 to a fraction P of the requests
  --stall P       hold a fraction P of the requests for S seconds before
                  answering (--stall-seconds, default 3): past the timeout
  --throttle P    answer 429 with Retry-After: S (--retry-after, default 2)
                  to a fraction P
  --fail-first N  answer 500 to the first N requests
  --throttle-first N  answer 429 with Retry-After to the first N requests
  --retry-after-date  give Retry-After as an HTTP-date (now + S), not seconds
  --seed N        the random seed (default 1), so that runs repeat
  --answer TEXT   the body of every answer (default: none)
"""
import argparse
import email.utils
import http.server
import json
import os
import random
import socketserver
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("portfile")
ap.add_argument("logfile")
ap.add_argument("status", nargs="?", type=int, default=200)
ap.add_argument("port", nargs="?", type=int, default=0)
ap.add_argument("--fail", type=float, default=0)
ap.add_argument("--stall", type=float, default=0)
ap.add_argument("--stall-seconds", type=float, default=3)
ap.add_argument("--throttle", type=float, default=0)
ap.add_argument("--retry-after", type=int, default=2)
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--throttle-first", type=int, default=0)
ap.add_argument("--retry-after-date", action="store_true")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--answer", default="")
args = ap.parse_args()
rng = random.Random(args.seed)
lock = threading.Lock()
count = [0]
conns = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with lock:
            conns[0] += 1
            self.conn = conns[0]

    def handle_one(self):
        arrived = time.time()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        with lock:
            roll = rng.random()
            count[0] += 1
            nth = count[0]
        status, extra = args.status, {}
        retry_after = str(args.retry_after)
        if args.retry_after_date:
            retry_after = email.utils.formatdate(arrived + args.retry_after, usegmt=True)
        if nth <= args.fail_first:
            status = 500
        elif nth <= args.fail_first + args.throttle_first:
            status, extra = 429, {"Retry-After": retry_after}
        elif roll < args.fail:
            status = 500
        elif roll < args.fail + args.stall:
            time.sleep(args.stall_seconds)
            status = 500  # the client gave up long ago; nobody reads this
        elif roll < args.fail + args.stall + args.throttle:
            status, extra = 429, {"Retry-After": retry_after}
        rec = {"method": self.command, "path": self.path, "t": arrived, "status": status, "conn": self.conn,
               "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        with lock, open(args.logfile, "a") as f:
            f.write(json.dumps(rec) + "\n")
        try:
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            answer = args.answer.encode()
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass  # a client that timed out has gone

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET = handle_one

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass  # a client that hangs up is not news


srv = Server(("127.0.0.1", args.port), Handler)
with open(args.portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.portfile + ".tmp", args.portfile)
srv.serve_forever()
