#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Generates golden_packets.h: {description, input, expected output} for the
rewrite tests. Expected packets are built independently with scapy (scapy
computes every checksum and length), never by nlb's own code.

Run (documentation only; the tests do not need python):
    /usr/bin/python3 tests/unit/rewrite/golden_gen.py > tests/unit/rewrite/golden_packets.h
"""
import ipaddress
from scapy.all import (Ether, Dot1Q, IP, IPv6, TCP, UDP, IPOption_RR, IPOption_NOP,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, Raw, raw)

CLIENT_MAC, IN_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
NEW_DST_MAC, NEW_SRC_MAC = "02:00:00:00:00:bb", "02:00:00:00:00:aa"  # backend, egress port

C4, VIP4, BE4 = "198.18.0.2", "198.18.1.1", "198.19.0.11"
C6, VIP6, BE6 = "2001:2::2", "2001:2:0:1::1", "2001:2:0:2::11"
CPORT, VPORT, BPORT = 40000, 80, 8080
PAYLOAD = Raw(b"GET / HTTP/1.1\r\n\r\n")

# tunnel: outer source prefix + flow hash; the expected outer source is computed
# here with plain integer arithmetic.
PFX4, PFX4_LEN = "198.18.128.0", 17
PFX6, PFX6_LEN = "2001:2:0:ff::", 64
HASH = 0x9ABC5678


def outer_src(prefix, plen, width):
    host_bits = width - plen
    n = min(host_bits, 32)
    mask = (1 << n) - 1
    base = int(ipaddress.ip_address(prefix))
    return str(ipaddress.ip_address((base & ~mask) | (HASH & mask)))


cases = []


def add(desc, op, inp, exp, addr="", port=0):
    cases.append((desc, op, addr, port, raw(inp) if not isinstance(inp, bytes) else inp,
                  raw(exp) if not isinstance(exp, bytes) else exp))


def l2(vlan, dst=IN_MAC, src=CLIENT_MAC):
    e = Ether(dst=dst, src=src)
    return e / Dot1Q(vlan=100, prio=3) if vlan else e


def l4(proto, sport, dport, flags="PA", chksum=None):
    if proto == "tcp":
        return TCP(sport=sport, dport=dport, seq=1000, ack=2000, flags=flags, window=8192)
    u = UDP(sport=sport, dport=dport)
    if chksum is not None:
        u.chksum = chksum
    return u


def ip4(src, dst, **kw):
    return IP(src=src, dst=dst, ttl=61, id=0x1234, flags="DF", tos=0x28, **kw)


def ip6(src, dst, ext=None):
    p = IPv6(src=src, dst=dst, hlim=61, tc=0x28, fl=0x12345)
    return p / ext if ext is not None else p


def ext6():
    return IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()


# ---- NAT forward (DNAT) and reverse (SNAT) ------------------------------------------------
for vlan in (False, True):
    for proto in ("tcp", "udp"):
        v = " vlan" if vlan else ""
        add(f"nat fwd v4 {proto}{v}", "nat_fwd",
            l2(vlan) / ip4(C4, VIP4) / l4(proto, CPORT, VPORT) / PAYLOAD,
            l2(vlan, NEW_DST_MAC, NEW_SRC_MAC) / ip4(C4, BE4) / l4(proto, CPORT, BPORT) / PAYLOAD,
            BE4, BPORT)
        add(f"nat rev v4 {proto}{v}", "nat_rev",
            l2(vlan) / ip4(BE4, C4) / l4(proto, BPORT, CPORT) / PAYLOAD,
            l2(vlan, NEW_DST_MAC, NEW_SRC_MAC) / ip4(VIP4, C4) / l4(proto, VPORT, CPORT) / PAYLOAD,
            VIP4, VPORT)
        add(f"nat fwd v6 {proto}{v}", "nat_fwd",
            l2(vlan) / ip6(C6, VIP6) / l4(proto, CPORT, VPORT) / PAYLOAD,
            l2(vlan, NEW_DST_MAC, NEW_SRC_MAC) / ip6(C6, BE6) / l4(proto, CPORT, BPORT) / PAYLOAD,
            BE6, BPORT)
        add(f"nat rev v6 {proto}{v}", "nat_rev",
            l2(vlan) / ip6(BE6, C6) / l4(proto, BPORT, CPORT) / PAYLOAD,
            l2(vlan, NEW_DST_MAC, NEW_SRC_MAC) / ip6(VIP6, C6) / l4(proto, VPORT, CPORT) / PAYLOAD,
            VIP6, VPORT)

opts = [IPOption_RR(routers=["198.18.9.9"]), IPOption_NOP()]
for proto in ("tcp", "udp"):
    add(f"nat fwd v4 {proto} ip options", "nat_fwd",
        l2(False) / ip4(C4, VIP4, options=opts) / l4(proto, CPORT, VPORT) / PAYLOAD,
        l2(False, NEW_DST_MAC, NEW_SRC_MAC) / ip4(C4, BE4, options=opts) / l4(proto, CPORT, BPORT) / PAYLOAD,
        BE4, BPORT)
    add(f"nat fwd v6 {proto} ext headers", "nat_fwd",
        l2(True) / ip6(C6, VIP6, ext6()) / l4(proto, CPORT, VPORT) / PAYLOAD,
        l2(True, NEW_DST_MAC, NEW_SRC_MAC) / ip6(C6, BE6, ext6()) / l4(proto, CPORT, BPORT) / PAYLOAD,
        BE6, BPORT)
    add(f"nat rev v6 {proto} routing header", "nat_rev",
        l2(False) / ip6(BE6, C6, IPv6ExtHdrRouting(addresses=[]) / IPv6ExtHdrDestOpt()) /
        l4(proto, BPORT, CPORT) / PAYLOAD,
        l2(False, NEW_DST_MAC, NEW_SRC_MAC) / ip6(VIP6, C6, IPv6ExtHdrRouting(addresses=[]) / IPv6ExtHdrDestOpt()) /
        l4(proto, VPORT, CPORT) / PAYLOAD,
        VIP6, VPORT)

add("nat fwd v4 udp checksum 0 stays 0", "nat_fwd",
    l2(False) / ip4(C4, VIP4) / l4("udp", CPORT, VPORT, chksum=0) / PAYLOAD,
    l2(False, NEW_DST_MAC, NEW_SRC_MAC) / ip4(C4, BE4) / l4("udp", CPORT, BPORT, chksum=0) / PAYLOAD,
    BE4, BPORT)
add("nat rev v4 udp checksum 0 stays 0 vlan", "nat_rev",
    l2(True) / ip4(BE4, C4) / l4("udp", BPORT, CPORT, chksum=0) / PAYLOAD,
    l2(True, NEW_DST_MAC, NEW_SRC_MAC) / ip4(VIP4, C4) / l4("udp", VPORT, CPORT, chksum=0) / PAYLOAD,
    VIP4, VPORT)
# A SYN without payload: 54-byte frame with 6 bytes of Ethernet padding that must survive.
pad = b"\xab" * 6
add("nat fwd v4 tcp syn with ethernet padding", "nat_fwd",
    raw(l2(False) / ip4(C4, VIP4) / l4("tcp", CPORT, VPORT, flags="S")) + pad,
    raw(l2(False, NEW_DST_MAC, NEW_SRC_MAC) / ip4(C4, BE4) / l4("tcp", CPORT, BPORT, flags="S")) + pad,
    BE4, BPORT)

# ---- DSR: MACs only ----------------------------------------------------------------------
for vlan in (False, True):
    v = " vlan" if vlan else ""
    for fam, pkt in (("v4", ip4(C4, VIP4)), ("v6", ip6(C6, VIP6))):
        for proto in ("tcp", "udp"):
            add(f"dsr {fam} {proto}{v}", "dsr",
                l2(vlan) / pkt / l4(proto, CPORT, VPORT) / PAYLOAD,
                l2(vlan, NEW_DST_MAC, NEW_SRC_MAC) / pkt / l4(proto, CPORT, VPORT) / PAYLOAD)

# ---- tunnel: IPIP / IP6IP6 -------------------------------------------------------------------
src4 = outer_src(PFX4, PFX4_LEN, 32)
src6 = outer_src(PFX6, PFX6_LEN, 128)
for vlan in (False, True):
    v = " vlan" if vlan else ""
    for proto in ("tcp", "udp"):
        for df in ("DF", 0):
            inner = IP(src=C4, dst=VIP4, ttl=61, id=0x1234, flags=df, tos=0x2b) / l4(proto, CPORT, VPORT) / PAYLOAD
            add(f"tunnel v4 {proto}{v} df={df}", "tunnel", l2(vlan) / inner,
                l2(vlan, NEW_DST_MAC, NEW_SRC_MAC) /
                IP(src=src4, dst=BE4, ttl=64, id=0, flags=df, tos=0x2b, proto=4) / raw(inner), BE4)
        inner6 = ip6(C6, VIP6) / l4(proto, CPORT, VPORT) / PAYLOAD
        add(f"tunnel v6 {proto}{v}", "tunnel", l2(vlan) / inner6,
            l2(vlan, NEW_DST_MAC, NEW_SRC_MAC) /
            IPv6(src=src6, dst=BE6, hlim=64, tc=0x28, fl=HASH & 0xFFFFF, nh=41) / raw(inner6), BE6)
inner = ip4(C4, VIP4, options=opts) / l4("tcp", CPORT, VPORT) / PAYLOAD
add("tunnel v4 tcp ip options", "tunnel", l2(False) / inner,
    l2(False, NEW_DST_MAC, NEW_SRC_MAC) /
    IP(src=src4, dst=BE4, ttl=64, id=0, flags="DF", tos=0x28, proto=4) / raw(inner), BE4)
inner6 = ip6(C6, VIP6, ext6()) / l4("udp", CPORT, VPORT) / PAYLOAD
add("tunnel v6 udp ext headers", "tunnel", l2(True) / inner6,
    l2(True, NEW_DST_MAC, NEW_SRC_MAC) /
    IPv6(src=src6, dst=BE6, hlim=64, tc=0x28, fl=HASH & 0xFFFFF, nh=41) / raw(inner6), BE6)
inner = ip4(C4, VIP4) / l4("tcp", CPORT, VPORT, flags="S")
add("tunnel v4 tcp syn, ethernet padding trimmed", "tunnel", raw(l2(False) / inner) + pad,
    l2(False, NEW_DST_MAC, NEW_SRC_MAC) /
    IP(src=src4, dst=BE4, ttl=64, id=0, flags="DF", tos=0x28, proto=4) / raw(inner), BE4)


def hexstr(b):
    return "".join(f"{x:02x}" for x in b)


print("/* SPDX-License-Identifier: Apache-2.0 */")
print("/* Generated by golden_gen.py (scapy); do not edit by hand. */")
print("#pragma once")
print()
print('#include "golden_case.h"')
print()
print("namespace nlb::test {")
print()
print(f'inline constexpr const char *golden_tunnel_prefix4 = "{PFX4}";')
print(f"inline constexpr unsigned golden_tunnel_prefix4_len = {PFX4_LEN};")
print(f'inline constexpr const char *golden_tunnel_prefix6 = "{PFX6}";')
print(f"inline constexpr unsigned golden_tunnel_prefix6_len = {PFX6_LEN};")
print(f"inline constexpr uint32_t golden_flow_hash = 0x{HASH:08x};")
print(f'inline constexpr const char *golden_new_dst_mac = "{NEW_DST_MAC}";')
print(f'inline constexpr const char *golden_new_src_mac = "{NEW_SRC_MAC}";')
print()
print("inline const golden_case golden_cases[] = {")
for desc, op, addr, port, inp, exp in cases:
    print(f'    {{"{desc}", golden_op::{op}, "{addr}", {port},')
    print(f'     "{hexstr(inp)}",')
    print(f'     "{hexstr(exp)}"}},')
print("};")
print()
print("}  // namespace nlb::test")
