#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Userspace IP-in-IP decapsulator for the lab's tunnel mode (scripts/lab.sh).

The lab kernel has no ipip/ip6tnl (CONFIG_NET_IPIP, CONFIG_IPV6_TUNNEL unset),
so a backend cannot decapsulate what nlb-dataplane's tunnel mode sends it. This
stands in: raw sockets receive IPv4 protocol 4 (IPv4-in-IPv4) and IPv6 next
header 4 / 41 (IPv4/IPv6-in-IPv6) packets addressed to one of --local, and the
inner packet is written to a TUN device (IFF_TUN | IFF_NO_PI) that owns the
VIP, so the backend's kernel delivers it to its TCP stack as if it had arrived
there; the reply goes straight to the client (direct server return).

usage: decap.py --tun vip0 --local 198.19.0.11 --local 2001:2:0:19::11
Counts are printed to stdout on SIGTERM.
"""
import argparse
import fcntl
import ipaddress
import os
import select
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tun", required=True)
    ap.add_argument("--local", action="append", default=[])
    args = ap.parse_args()
    locals4 = {ipaddress.ip_address(a).packed for a in args.local if ":" not in a}
    locals6 = {ipaddress.ip_address(a).packed for a in args.local if ":" in a}
    tun = open_tun(args.tun)
    # IPv4 raw sockets deliver the outer header too; IPv6 raw sockets only the payload
    # (the destination comes from the ancillary IPV6_PKTINFO, so ask for it).
    s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
    s6a = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41)
    s6b = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 4)
    for s in (s6a, s6b):
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    counts = {"v4": 0, "v6": 0, "ignored": 0}

    def stop(*_):
        print("decap: %s" % counts, flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("decap: tun %s, local %s" % (args.tun, ", ".join(args.local)), flush=True)
    while True:
        ready, _, _ = select.select([s4, s6a, s6b], [], [])
        for s in ready:
            if s is s4:
                pkt = s.recv(65535)
                if len(pkt) < 20:
                    continue
                ihl = (pkt[0] & 0x0F) * 4
                if pkt[16:20] not in locals4 or len(pkt) <= ihl:
                    counts["ignored"] += 1
                    continue
                inner = pkt[ihl:]
                counts["v4"] += 1
            else:
                inner, anc, _, _ = s.recvmsg(65535, 256)
                dst = None
                for level, kind, data in anc:
                    if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                        dst = data[:16]
                if dst not in locals6 or not inner:
                    counts["ignored"] += 1
                    continue
                counts["v6"] += 1
            try:
                os.write(tun, inner)
            except OSError:
                counts["ignored"] += 1


if __name__ == "__main__":
    main()
