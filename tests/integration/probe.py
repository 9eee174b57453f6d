#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Packet-level probes for the end-to-end tests, run in the nlb-client namespace with the
system python (it has scapy).

  probe.py arp IP            ARP who-has IP on eth0; prints the answering MAC, exit 1 if none
  probe.py ns IP6            Neighbor Solicitation for IP6; prints the advertised MAC
  probe.py ping IP [COUNT]   ICMP/ICMPv6 echo; prints "replies N/COUNT"; exit 1 if none
  probe.py malformed N DST_MAC
                             sends N malformed frames to DST_MAC (the dataplane's port) and
                             prints how many of each kind went out, as "kind count" lines
"""
import random
import sys
import time

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Ether, ICMPv6EchoRequest, ICMPv6ND_NS,
                       ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrFragment, Raw, conf, get_if_hwaddr,
                       sendp, sr1, srp1)

conf.verb = 0
IFACE = "eth0"
VIP4, VIP6 = "198.18.1.1", "2001:2:0:1::1"


def arp(ip):
    ans = srp1(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, pdst=ip), iface=IFACE, timeout=2)
    if ans is None or ARP not in ans or ans[ARP].op != 2 or ans[ARP].psrc != ip:
        return 1
    print(ans[ARP].hwsrc)
    return 0


def ns(ip6):
    import ipaddress
    packed = ipaddress.IPv6Address(ip6).packed
    snm = str(ipaddress.IPv6Address(b"\xff\x02" + b"\0" * 9 + b"\x01\xff" + packed[13:]))
    mac = "33:33:ff:%02x:%02x:%02x" % (packed[13], packed[14], packed[15])
    me = get_if_hwaddr(IFACE)
    pkt = (Ether(dst=mac, src=me) / IPv6(src="2001:2:0:18::2", dst=snm, hlim=255) /
           ICMPv6ND_NS(tgt=ip6) / ICMPv6NDOptSrcLLAddr(lladdr=me))
    ans = srp1(pkt, iface=IFACE, timeout=2, filter="icmp6")
    if ans is None or ans.haslayer("ICMPv6ND_NA") == 0 or ans["ICMPv6ND_NA"].tgt != ip6:
        return 1
    opt = ans.getlayer("ICMPv6NDOptDstLLAddr")
    print(opt.lladdr if opt else ans[Ether].src)
    return 0


def ping(ip, count):
    got = 0
    for seq in range(count):
        pkt = (IPv6(dst=ip) / ICMPv6EchoRequest(id=0x4242, seq=seq) if ":" in ip
               else IP(dst=ip) / ICMP(id=0x4242, seq=seq))
        ans = sr1(pkt, timeout=1)
        if ans is not None:
            got += 1
    print("replies %d/%d" % (got, count))
    return 0 if got else 1


def malformed(n, dst_mac):
    """N frames, round-robin over kinds the parser must reject (or the appliance drop)."""
    me = get_if_hwaddr(IFACE)
    eth = Ether(dst=dst_mac, src=me)
    good4 = IP(src="198.18.0.2", dst=VIP4) / TCP(sport=40000, dport=80, flags="S")
    good6 = IPv6(src="2001:2:0:18::2", dst=VIP6) / TCP(sport=40000, dport=80, flags="S")

    def b(p):
        return bytes(p)

    g4, g6 = b(eth / good4), b(eth / good6)
    kinds = {
        # Ethernet / L3 truncation (frames under 14 bytes never leave a veth, so none here)
        # (no 802.1ad/QinQ frames: the kernel strips the outer tag before af_packet sees it)
        "ipv6_bad_address": lambda r: b(eth / IPv6(src="ff02::1", dst=VIP6) / TCP(dport=80, flags="S")),
        "arp_malformed": lambda r: b(eth / ARP(hwlen=7, pdst=VIP4))[:42],
        "ipv4_truncated": lambda r: g4[:14 + random.randint(0, 19)],
        "ipv6_truncated": lambda r: g6[:14 + random.randint(0, 39)],
        # bad lengths
        "ipv4_bad_total_length": lambda r: b(eth / IP(bytes(good4)[:2] + b"\xff\xff" + bytes(good4)[4:])),
        "ipv4_bad_ihl": lambda r: b(Ether(dst=dst_mac, src=me, type=0x0800)) + bytes([0x43]) + bytes(good4)[1:],
        "ipv6_bad_payload_length": lambda r: g6[:18] + b"\x7f\xff" + g6[20:],
        "udp_bad_length": lambda r: b(eth / IP(src="198.18.0.2", dst=VIP4) / UDP(sport=1, dport=53, len=99) / Raw(b"x" * 8)),
        "tcp_bad_data_offset": lambda r: b(eth / IP(src="198.18.0.2", dst=VIP4) / TCP(sport=40001, dport=80, dataofs=15, flags="S")),
        # bad checksums
        "ipv4_bad_checksum": lambda r: b(eth / IP(src="198.18.0.2", dst=VIP4, chksum=0x1234) / TCP(dport=80, flags="S")),
        # fragments (IPv6 only: the af_packet PMD's PACKET_FANOUT_FLAG_DEFRAG makes the kernel
        # reassemble IPv4 fragments before the dataplane sees them, so lone ones never arrive)
        "ipv6_fragment": lambda r: b(eth / IPv6(src="2001:2:0:18::2", dst=VIP6) / IPv6ExtHdrFragment(m=1) / TCP(dport=80, flags="S")),
        # unknown protocols / ethertypes
        "l4_unsupported": lambda r: b(eth / IP(src="198.18.0.2", dst=VIP4, proto=253) / Raw(b"y" * 20)),
        "ethertype_unknown": lambda r: b(Ether(dst=dst_mac, src=me, type=0x88B5) / Raw(b"z" * 46)),
        "tcp_bad_flags": lambda r: b(eth / IP(src="198.18.0.2", dst=VIP4) / TCP(sport=40002, dport=80, flags="SF")),
    }
    names = sorted(kinds)
    frames = {}
    for k in names:
        frames[k] = [kinds[k](i) for i in range(16)]
    counts = dict.fromkeys(names, 0)
    batch = []
    for i in range(n):
        k = names[i % len(names)]
        batch.append(frames[k][i % 16])
        counts[k] += 1
    # Paced (bursts of 50, 5 ms apart, about 10 000 frames/s) so the af_packet ring of a
    # worker that is briefly descheduled on a busy 2-CPU machine does not overflow.
    s = conf.L2socket(iface=IFACE)
    for i, f in enumerate(batch):
        s.send(f)
        if i % 50 == 49:
            time.sleep(0.005)
    s.close()
    for k in names:
        print(k, counts[k])
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == "arp":
        return arp(argv[2])
    if cmd == "ns":
        return ns(argv[2])
    if cmd == "ping":
        return ping(argv[2], int(argv[3]) if len(argv) > 3 else 3)
    if cmd == "malformed":
        return malformed(int(argv[2]), argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
