#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A long-lived HTTP/1.1 client for the end-to-end tests: one TCP connection, one GET /
every --interval seconds on it, one line per answer on stdout ("ok be2"), flushed. On the
first failure it prints "error reset", "error timeout" or "error <what>" and exits 1; on
SIGTERM it exits 0. The connection is never re-opened: every line comes from the same
connection (its local port is printed first, "port N").

usage: hold_client.py HOST PORT [--interval S] [--timeout S]
"""
import argparse
import signal
import socket
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--timeout", type=float, default=3.0)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    s.connect((a.host, a.port))
    print("port %d" % s.getsockname()[1], flush=True)
    req = ("GET / HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n\r\n" % a.host).encode()
    buf = b""
    while True:
        try:
            s.sendall(req)
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionAbortedError("closed")
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(buf) < length:
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionAbortedError("closed")
                buf += chunk
            body, buf = buf[:length], buf[length:]
            print("ok %s" % body.decode().strip(), flush=True)
        except ConnectionResetError:
            print("error reset", flush=True)
            return 1
        except socket.timeout:
            print("error timeout", flush=True)
            return 1
        except OSError as e:
            print("error %s" % e, flush=True)
            return 1
        time.sleep(a.interval)


if __name__ == "__main__":
    sys.exit(main())
