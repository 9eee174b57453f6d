#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Many short or held HTTP/1.1 connections to the lab's VIP, in one process (much faster
than one curl each). Every connection is a new TCP connection that sends one
"GET / HTTP/1.1"; the lab backends answer their name (be1, be2, be3).

  conn_client.py seq HOST PORT N [--source A] [--gap S]
      N sequential connections (each closed before the next opens), optionally bound
      to source address A; one line per connection: the backend's name or "error <what>".
  conn_client.py sources HOST PORT FILE [--rounds R] [--order forward|rotate]
      one connection from each source address listed in FILE (one a line), R rounds
      (rotate: round r starts at the r-th address); one line per connection
      "ADDRESS NAME" (NAME "error" when it failed).
  conn_client.py reuse HOST PORT SPORT
      one connection from local port SPORT, one GET, closed with a RST (SO_LINGER 0), so
      the client keeps no TIME_WAIT and the next call can reuse the same ports at once;
      one line: the backend's name or "error <what>".
  conn_client.py hold HOST PORT N [--interval S]
      opens N connections one after the other, one GET on each, prints "ok NAME" per
      connection, then "held N", then keeps every connection open with a GET on each
      every --interval seconds until SIGTERM (exit 0); the first failure prints
      "error <what>" and exits 1.

Every connect and answer is bounded by --timeout (default 3 s); every loop is bounded
by its count.
"""
import argparse
import signal
import socket
import struct
import sys
import time


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def get(s, host):
    """One GET / on connected socket s; returns the body, stripped."""
    s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\n\r\n" % host).encode())
    buf = b""
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
    return buf[:length].decode().strip()


def one(host, port, timeout, source=None, sport=0):
    """One new connection, one GET, close; returns the answer or "error <what>". With sport,
    from that local port, closed with a RST."""
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if source or sport:
            s.bind((source or "", sport))
        s.connect((host, port))
        return get(s, host)
    except ConnectionResetError:
        return "error reset"
    except socket.timeout:
        return "error timeout"
    except OSError as e:
        return "error %s" % e
    finally:
        s.close()


def cmd_seq(a):
    for _ in range(a.n):
        print(one(a.host, a.port, a.timeout, a.source), flush=True)
        if a.gap:
            time.sleep(a.gap)
    return 0


def cmd_reuse(a):
    print(one(a.host, a.port, a.timeout, sport=a.sport), flush=True)
    return 0


def cmd_sources(a):
    with open(a.file) as f:
        addrs = [line.strip() for line in f if line.strip()]
    for r in range(a.rounds):
        start = r % len(addrs) if a.order == "rotate" else 0
        for addr in addrs[start:] + addrs[:start]:
            answer = one(a.host, a.port, a.timeout, addr)
            print("%s %s" % (addr, "error" if answer.startswith("error") else answer), flush=True)
    return 0


def cmd_hold(a):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    socks = []
    try:
        for _ in range(a.n):
            s = socket.socket(family(a.host), socket.SOCK_STREAM)
            s.settimeout(a.timeout)
            s.connect((a.host, a.port))
            socks.append(s)
            print("ok %s" % get(s, a.host), flush=True)
        print("held %d" % len(socks), flush=True)
        while True:
            time.sleep(a.interval)
            for s in socks:
                get(s, a.host)
    except ConnectionResetError:
        print("error reset", flush=True)
    except socket.timeout:
        print("error timeout", flush=True)
    except OSError as e:
        print("error %s" % e, flush=True)
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=3.0)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("seq")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--source")
    p.add_argument("--gap", type=float, default=0.0)
    p = sub.add_parser("sources")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("file")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--order", choices=("forward", "rotate"), default="forward")
    p = sub.add_parser("reuse")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("sport", type=int)
    p = sub.add_parser("hold")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args()
    return {"seq": cmd_seq, "sources": cmd_sources, "reuse": cmd_reuse, "hold": cmd_hold}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
