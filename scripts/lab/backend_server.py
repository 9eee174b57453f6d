#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A lab backend: a real HTTP/1.1 server for scripts/lab.sh.

GET /        -> 200, body "<name>\n"            (which backend answered)
GET /health  -> 200, body "ok\n"                (health probes)
anything else -> 404

For the health tests, from loopback only (ip netns exec nlb-beN curl ...):
POST /lab/health?status=CODE -> 200; from then on GET /health answers CODE
(status=200 restores the default). From any other address POST is 404.

Threaded (one thread per connection) and HTTP/1.1 with Content-Length on every
answer, so concurrent and keep-alive connections work. Listens on [::]:PORT with
IPV6_V6ONLY off, i.e. on every IPv4 and IPv6 address of its namespace.
"""
import argparse
import http.server
import socket
import sys


class handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nlb-lab-backend"

    def _answer(self, code, body):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._answer(200, self.server.backend_name + "\n")
        elif path == "/health":
            code = self.server.health_status
            self._answer(code, "ok\n" if code == 200 else "health status %d\n" % code)
        else:
            self._answer(404, "not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        host = self.client_address[0]
        loopback = host in ("127.0.0.1", "::1", "::ffff:127.0.0.1")
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        if loopback and path == "/lab/health" and params.get("status", "").isdigit() and \
                100 <= int(params["status"]) <= 599:
            self.server.health_status = int(params["status"])
            self._answer(200, "health status %d\n" % self.server.health_status)
        else:
            self._answer(404, "not found\n")

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % args))


class dual_stack_server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="what GET / answers, e.g. be1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    server = dual_stack_server(("::", args.port), handler)
    server.backend_name = args.name
    server.health_status = 200
    sys.stderr.write("%s listening on [::]:%d\n" % (args.name, args.port))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
