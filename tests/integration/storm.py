#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The malformed-packet storm of storm_lab_test.sh, run in the nlb-client namespace with the
system python (it has scapy).

  storm.py list DST_MAC            prints "class reason frames" for every class (no sending)
  storm.py send DST_MAC REPEAT     sends every frame of every class REPEAT times (classes
                                   interleaved, paced) and prints "reason count" lines: what
                                   the dataplane must count under each drop reason

Each class is a family of frames that all fail the same check of the parser (lib/net/parse.h),
so each lands under one named drop reason: every header truncated at every length, bad IHL,
IPv4 total length larger and smaller than the frame, TCP data offsets past the end, IPv6
extension chains that overrun or never end, IPv6 fragments, zero / broadcast / loopback /
multicast addresses, stacked VLAN tags, bad versions, checksums, flags and lengths. Addresses
are the lab's (198.18.0.0/15, 2001:2::/48) or the special ones under test.
"""
import logging
import sys
import time

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6EchoRequest, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrRouting, Raw, conf, get_if_hwaddr)

conf.verb = 0
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
IFACE = "eth0"
CLIENT4, CLIENT6 = "198.18.0.2", "2001:2:0:18::2"
VIP4, VIP6 = "198.18.1.1", "2001:2:0:1::1"


def classes(dst_mac):
    """{class: (drop reason, [frames as bytes])}."""
    me = get_if_hwaddr(IFACE)
    eth = Ether(dst=dst_mac, src=me)
    e4 = bytes(Ether(dst=dst_mac, src=me, type=0x0800))
    e6 = bytes(Ether(dst=dst_mac, src=me, type=0x86DD))

    def ip4(**kw):
        kw.setdefault("src", CLIENT4)
        kw.setdefault("dst", VIP4)
        return IP(**kw)

    def ip6(**kw):
        kw.setdefault("src", CLIENT6)
        kw.setdefault("dst", VIP6)
        return IPv6(**kw)

    syn = TCP(sport=40000, dport=80, flags="S")
    syn_opts = TCP(sport=40000, dport=80, flags="S", options=[("MSS", 1460), ("NOP", None),
                                                               ("WScale", 7), ("SAckOK", b"")])
    good4 = bytes(ip4() / syn)
    good6 = bytes(ip6() / syn)
    opts4 = bytes(ip4(options=[b"\x01" * 40]) / syn)  # IHL 15: a 60-byte header
    arp = bytes(ARP(op=1, hwsrc=me, psrc=CLIENT4, pdst=VIP4))

    def l4_cut4(proto_layer, k):
        """IPv4 whose total length says the L4 header is k bytes long (checksum valid)."""
        l4 = bytes(proto_layer)[:k]
        return e4 + bytes(ip4(proto={TCP: 6, UDP: 17, ICMP: 1}[type(proto_layer)]) / Raw(l4))

    def l4_cut6(proto_layer, k):
        l4 = bytes(proto_layer)[:k]
        nh = {TCP: 6, UDP: 17, ICMPv6EchoRequest: 58}[type(proto_layer)]
        return e6 + bytes(ip6(nh=nh) / Raw(l4))

    c = {}
    # ---- truncation: every header at every length it can be cut to
    c["ipv4_header_cut"] = ("ipv4_truncated", [e4 + good4[:k] for k in range(20)])
    c["ipv6_header_cut"] = ("ipv6_truncated", [e6 + good6[:k] for k in range(40)])
    c["ipv4_options_cut"] = ("ipv4_bad_ihl", [e4 + opts4[:k] for k in range(20, 60)])
    c["arp_cut"] = ("arp_malformed", [bytes(Ether(dst=dst_mac, src=me, type=0x0806)) + arp[:k]
                                      for k in range(28)])
    c["tcp4_header_cut"] = ("l4_truncated", [l4_cut4(syn, k) for k in range(20)])
    c["udp4_header_cut"] = ("l4_truncated", [l4_cut4(UDP(sport=5353, dport=53), k) for k in range(8)])
    c["icmp4_header_cut"] = ("l4_truncated", [l4_cut4(ICMP(), k) for k in range(8)])
    c["tcp6_header_cut"] = ("l4_truncated", [l4_cut6(syn, k) for k in range(20)])
    c["udp6_header_cut"] = ("l4_truncated", [l4_cut6(UDP(sport=5353, dport=53), k) for k in range(8)])
    c["icmp6_header_cut"] = ("l4_truncated", [l4_cut6(ICMPv6EchoRequest(), k) for k in range(8)])
    # TCP options announced (data offset 8) but the segment ends inside them
    opt_seg = bytes(syn_opts)
    c["tcp_options_cut"] = ("tcp_bad_data_offset",
                            [e4 + bytes(ip4(proto=6) / Raw(opt_seg[:k])) for k in range(20, len(opt_seg))])
    # ---- IPv4 header fields
    c["ipv4_ihl_below_5"] = ("ipv4_bad_ihl", [e4 + bytes([0x40 | ihl]) + good4[1:] for ihl in range(5)])
    c["ipv4_ihl_past_frame"] = ("ipv4_bad_ihl", [e4 + bytes([0x40 | ihl]) + good4[1:20] for ihl in range(6, 16)])
    c["ipv4_total_over_frame"] = ("ipv4_bad_total_length",
                                  [e4 + fix_ip4_checksum(set16(good4, 2, t))
                                   for t in (41, 42, 60, 100, 576, 1500, 9000, 65535)])
    c["ipv4_total_under_header"] = ("ipv4_bad_total_length",
                                    [e4 + fix_ip4_checksum(set16(good4, 2, t)) for t in range(20)])
    # total length smaller than the frame but cutting into the TCP header: the rest is padding
    c["ipv4_total_under_l4"] = ("l4_truncated",
                                [e4 + fix_ip4_checksum(set16(good4, 2, t)) for t in range(20, 40)])
    c["ipv4_version"] = ("ipv4_bad_version", [e4 + bytes([(v << 4) | 5]) + good4[1:]
                                              for v in range(16) if v != 4])
    c["ipv4_checksum"] = ("ipv4_bad_checksum", [e4 + set16(good4, 10, x) for x in (0, 0x1234, 0xFFFF)])
    # ---- addresses: zero, broadcast, loopback, multicast sources
    bad4 = [("0.0.0.0", VIP4), ("255.255.255.255", VIP4), ("127.0.0.1", VIP4), ("224.0.0.1", VIP4),
            ("0.1.2.3", VIP4), (CLIENT4, "0.0.0.0"), (CLIENT4, "255.255.255.255"),
            (CLIENT4, "127.0.0.1"), ("0.0.0.0", "255.255.255.255")]
    c["ipv4_address"] = ("ipv4_bad_address", [bytes(eth / ip4(src=s, dst=d) / syn) for s, d in bad4]
                         + [bytes(Ether(dst="ff:ff:ff:ff:ff:ff", src=me) / ip4(src="0.0.0.0", dst="255.255.255.255")
                                  / UDP(sport=68, dport=67) / Raw(b"\0" * 8))])
    bad6 = [("::", VIP6), ("::1", VIP6), ("ff02::1", VIP6), ("ff05::2", VIP6), (CLIENT6, "::"),
            (CLIENT6, "::1"), ("::", "::")]
    c["ipv6_address"] = ("ipv6_bad_address", [bytes(eth / ip6(src=s, dst=d) / syn) for s, d in bad6])
    # ---- IPv6 lengths and extension chains
    c["ipv6_payload_over_frame"] = ("ipv6_bad_payload_length",
                                    [e6 + set16(good6, 4, p) for p in (21, 40, 1000, 65535)])
    c["ipv6_version"] = ("ipv6_bad_version", [e6 + bytes([(v << 4)]) + good6[1:] for v in range(16) if v != 6])
    hbh_over = []
    for n in (3, 4, 10, 255):  # an extension header longer than the payload (28 bytes)
        hbh_over.append(e6 + bytes(ip6(nh=0) / Raw(bytes([6, n]) + b"\x01\x04\0\0\0\0") / syn))
    for k in range(2):  # the payload ends inside the extension header's first two bytes
        hbh_over.append(e6 + bytes(ip6(nh=60, plen=k) / Raw(bytes([6, 0, 1, 4, 0, 0, 0, 0][:k]))))
    # a chain whose last header runs past the end
    hbh_over.append(e6 + bytes(ip6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting())[:40 + 16 + 4])
    c["ipv6_ext_overrun"] = ("ipv6_ext_overrun", [fix_plen(f) for f in hbh_over])
    # chains that never end: every header says another follows (the parser walks 8 at most)
    chains = []
    for depth in (9, 12, 20, 50):
        p = ip6()
        for _ in range(depth):
            p = p / IPv6ExtHdrDestOpt()
        chains.append(bytes(eth / p / syn))
    loop = ip6()
    for _ in range(9):
        loop = loop / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting()
    chains.append(bytes(eth / loop / syn))
    c["ipv6_ext_chain"] = ("ipv6_ext_too_many", chains)
    c["ipv6_fragment"] = ("ipv6_fragment",
                          [bytes(eth / ip6() / IPv6ExtHdrFragment(m=m, offset=o, id=0x1234) / syn)
                           for m, o in ((1, 0), (0, 8), (1, 16), (0, 0))]
                          + [bytes(eth / ip6() / IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(m=1) / syn)])
    # ---- L4 fields
    c["tcp_data_offset"] = ("tcp_bad_data_offset",
                            [e4 + bytes(ip4(proto=6) / Raw(set_doff(bytes(syn), d))) for d in list(range(5)) + list(range(6, 16))]
                            + [e6 + bytes(ip6(nh=6) / Raw(set_doff(bytes(syn), d))) for d in (0, 4, 6, 15)])
    c["tcp_flags"] = ("tcp_bad_flags", [bytes(eth / ip4() / TCP(sport=40000, dport=80, flags=f))
                                        for f in ("", "SF", "SR", "SRF", "SFA")]
                      + [bytes(eth / ip6() / TCP(sport=40000, dport=80, flags=f)) for f in ("", "SF", "SR")])
    c["udp_length"] = ("udp_bad_length", [bytes(eth / ip4() / UDP(sport=5353, dport=53, len=n) / Raw(b"q" * 8))
                                          for n in (0, 7, 15, 17, 99, 65535)])
    c["l4_unknown_proto"] = ("l4_unsupported", [bytes(eth / ip4(proto=p) / Raw(b"y" * 20)) for p in (0, 2, 47, 132, 253)]
                             + [bytes(eth / ip6(nh=p) / Raw(b"y" * 20)) for p in (47, 59, 132, 253)]
                             + [bytes(eth / ip6(nh=1) / Raw(b"\x08\0\0\0\0\0\0\0"))])  # ICMPv4 over IPv6
    # ---- L2
    c["ethertype_unknown"] = ("ethertype_unknown", [bytes(Ether(dst=dst_mac, src=me, type=t) / Raw(b"z" * 46))
                                                    for t in (0x0000, 0x05DC, 0x88B5, 0x8847, 0x88CC, 0xFFFF)])
    c["vlan_stack"] = ("vlan_stacked", [
        bytes(Ether(dst=dst_mac, src=me) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / ip4() / syn),
        bytes(Ether(dst=dst_mac, src=me) / Dot1Q(vlan=10) / Dot1Q(vlan=20) / ip4() / syn),
        bytes(Ether(dst=dst_mac, src=me) / Dot1Q(vlan=10) / Dot1Q(vlan=20) / Dot1Q(vlan=30) / ip6() / syn),
        bytes(Ether(dst=dst_mac, src=me, type=0x9100) / Dot1Q(vlan=20) / ip4() / syn),
        bytes(Ether(dst=dst_mac, src=me, type=0x9100) / Raw(b"\0\x0a\x08\x00") / ip4() / syn),
    ])
    return c


def set16(b, off, v):
    b = bytearray(b)
    b[off:off + 2] = v.to_bytes(2, "big")
    return bytes(b)


def fix_ip4_checksum(h):
    """The IPv4 packet h with its header checksum recomputed."""
    ihl = (h[0] & 0x0F) * 4
    b = bytearray(h)
    b[10:12] = b"\0\0"
    s = 0
    for i in range(0, ihl, 2):
        s += (b[i] << 8) | b[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    b[10:12] = (~s & 0xFFFF).to_bytes(2, "big")
    return bytes(b)


def fix_plen(frame):
    """An IPv6 frame whose payload length matches its length (the ext header itself is bad)."""
    return set16(frame, 14 + 4, len(frame) - 14 - 40)


def set_doff(tcp, d):
    b = bytearray(tcp)
    b[12] = (d << 4) | (b[12] & 0x0F)
    return bytes(b)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("list", "send"):
        print(__doc__)
        return 2
    c = classes(argv[2])
    if argv[1] == "list":
        for name in sorted(c):
            print(name, c[name][0], len(c[name][1]))
        return 0
    repeat = int(argv[3])
    frames = []
    counts = {}
    for name in sorted(c):
        reason, fs = c[name]
        counts[reason] = counts.get(reason, 0) + len(fs) * repeat
        frames.extend(fs)
    # Paced (bursts of 50, 5 ms apart, about 10 000 frames/s) so the af_packet ring of a
    # worker that is briefly descheduled on a busy 2-CPU machine does not overflow.
    s = conf.L2socket(iface=IFACE)
    i = 0
    for _ in range(repeat):
        for f in frames:
            s.send(f)
            i += 1
            if i % 50 == 0:
                time.sleep(0.005)
    s.close()
    for reason in sorted(counts):
        print(reason, counts[reason])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
