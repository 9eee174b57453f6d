#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus/).

  pipeline/        Ethernet frames addressed like lib/pipeline/testbed.h's lab:
                   SYN / ACK / UDP to every service of fuzz-pipeline (v4, v6;
                   nat, dsr, tunnel), replies from a backend, ARP, ICMP echo,
                   ND, VLAN-tagged, IPv4 options, IPv6 extension headers, and
                   bursts (frames joined by the separator "NLB|")
  config/          the drivers-cfg profiles, the lab configs (scripts/lab.sh
                   config MODE) and variations of them
  api-validation/  serialized nlb.v1 requests (protoc --encode), each after
                   the selector byte fuzz_api_validation.cc reads

Plain Python (no scapy) and protoc; run from anywhere: tests/fuzz/make_seeds.py
"""
import hashlib
import ipaddress
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
CORPUS = os.path.join(HERE, 'corpus')

PORT0_MAC = bytes([2, 0, 0, 0, 0, 1])
PORT1_MAC = bytes([2, 0, 0, 0, 0, 2])
CLIENT_MAC = bytes([2, 0, 0, 0, 0x0c, 2])
BACKEND_MAC = bytes([2, 0, 0, 0, 2, 0x11])
CLIENT4, VIP4, BE4 = '198.18.0.2', '198.18.1.1', '198.19.0.11'
CLIENT6, VIP6, BE6 = '2001:2:0:18::2', '2001:2:0:1::1', '2001:2:0:19::11'
SEP = b'NLB|'


def csum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def ip(a):
    return ipaddress.ip_address(a).packed


def eth(dst, src, ethertype, payload, vlan=None):
    if vlan is not None:
        return dst + src + struct.pack('!HHH', 0x8100, vlan, ethertype) + payload
    return dst + src + struct.pack('!H', ethertype) + payload


def tcp(sport, dport, flags, seq=1000, ack=0, payload=b''):
    return struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport, dport, payload=b''):
    return struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload


def l4_with_csum(proto, l4, pseudo):
    off = 16 if proto == 6 else 6
    c = csum(pseudo + l4)
    if proto == 17 and c == 0:
        c = 0xffff
    return l4[:off] + struct.pack('!H', c) + l4[off + 2:]


def ipv4(src, dst, proto, l4, options=b'', ttl=64, fix_l4=True):
    s, d = ip(src), ip(dst)
    if fix_l4 and proto in (6, 17):
        l4 = l4_with_csum(proto, l4, s + d + struct.pack('!BBH', 0, proto, len(l4)))
    ihl = 5 + len(options) // 4
    hdr = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, ihl * 4 + len(l4), 1, 0x4000, ttl, proto, 0,
                      s, d) + options
    hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
    return hdr + l4


def ipv6(src, dst, proto, l4, ext=b'', first=None, hlim=64):
    s, d = ip(src), ip(dst)
    if proto in (6, 17):
        l4 = l4_with_csum(proto, l4, s + d + struct.pack('!I3xB', len(l4), proto))
    elif proto == 58:
        c = csum(s + d + struct.pack('!I3xB', len(l4), 58) + l4)
        l4 = l4[:2] + struct.pack('!H', c) + l4[4:]
    nh = first if first is not None else proto
    return struct.pack('!IHBB16s16s', 6 << 28, len(ext) + len(l4), nh, hlim, s, d) + ext + l4


def v4_frame(src, dst, proto, l4, **kw):
    return eth(PORT0_MAC, CLIENT_MAC, 0x0800, ipv4(src, dst, proto, l4, **kw))


def v6_frame(src, dst, proto, l4, **kw):
    return eth(PORT0_MAC, CLIENT_MAC, 0x86DD, ipv6(src, dst, proto, l4, **kw))


def pipeline_seeds():
    seeds = {}
    # (port, proto) of fuzz-pipeline's services in both families.
    services = [(80, 6, 'nat-wrr'), (53, 17, 'nat-udp'), (443, 6, 'nat-persist'),
                (81, 6, 'dsr'), (82, 6, 'tunnel'), (82, 17, 'tunnel-udp')]
    for fam, client, vip, frame in (('v4', CLIENT4, VIP4, v4_frame), ('v6', CLIENT6, VIP6, v6_frame)):
        for port, proto, name in services:
            if proto == 6:
                syn = frame(client, vip, 6, tcp(40000, port, 0x02))
                ack = frame(client, vip, 6, tcp(40000, port, 0x10, 1001, 5000, b'GET / HTTP/1.0\r\n\r\n'))
                fin = frame(client, vip, 6, tcp(40000, port, 0x11, 1019, 5000))
                rst = frame(client, vip, 6, tcp(40000, port, 0x04, 1019, 0))
                seeds[f'{fam}-{name}-syn'] = syn
                seeds[f'{fam}-{name}-ack'] = ack
                seeds[f'{fam}-{name}-burst'] = SEP.join([syn, ack, ack, fin, rst])
            else:
                dg = frame(client, vip, 17, udp(40000, port, b'query'))
                seeds[f'{fam}-{name}'] = dg
                seeds[f'{fam}-{name}-burst'] = SEP.join([dg, dg, dg])
        seeds[f'{fam}-no-service'] = frame(client, vip, 6, tcp(40000, 9999, 0x02))
    # A NAT reply from backend be1 (port 1) after a SYN: the burst opens the flow, then answers.
    syn = v4_frame(CLIENT4, VIP4, 6, tcp(40001, 80, 0x02))
    for b in range(1, 4):
        be = f'198.19.0.{10 + b}'
        reply = eth(PORT1_MAC, bytes([2, 0, 0, 0, 2, 0x10 + b]), 0x0800,
                    ipv4(be, CLIENT4, 6, tcp(8080, 40001, 0x12, 5000, 1001)))
        seeds[f'v4-nat-reply-be{b}'] = SEP.join([syn, reply])
    syn6 = v6_frame(CLIENT6, VIP6, 6, tcp(40001, 80, 0x02))
    reply6 = eth(PORT1_MAC, BACKEND_MAC, 0x86DD, ipv6(BE6, CLIENT6, 6, tcp(8080, 40001, 0x12, 5000, 1001)))
    seeds['v6-nat-reply'] = SEP.join([syn6, reply6])
    # ARP request for the port's address and a reply.
    arp_req = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, CLIENT_MAC, ip(CLIENT4), b'\0' * 6,
                          ip('198.18.0.1'))
    seeds['arp-request'] = eth(b'\xff' * 6, CLIENT_MAC, 0x0806, arp_req + b'\0' * 18)
    arp_rep = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 2, CLIENT_MAC, ip(CLIENT4), PORT0_MAC,
                          ip('198.18.0.1'))
    seeds['arp-reply'] = eth(PORT0_MAC, CLIENT_MAC, 0x0806, arp_rep + b'\0' * 18)
    # ICMP echo to the VIP and to the port address; ICMPv6 echo.
    echo = struct.pack('!BBHHH', 8, 0, 0, 0x1234, 1) + b'ping' * 8
    echo = echo[:2] + struct.pack('!H', csum(echo)) + echo[4:]
    seeds['v4-echo-vip'] = v4_frame(CLIENT4, VIP4, 1, echo)
    seeds['v4-echo-port'] = v4_frame(CLIENT4, '198.18.0.1', 1, echo)
    echo6 = struct.pack('!BBHHH', 128, 0, 0, 0x1234, 1) + b'ping' * 8
    seeds['v6-echo-vip'] = v6_frame(CLIENT6, VIP6, 58, echo6)
    # ND: neighbour solicitation for the port address (solicited-node multicast), advertisement.
    target = ip('2001:2:0:18::1')
    ns = struct.pack('!BBHI16s', 135, 0, 0, 0, target) + struct.pack('!BB6s', 1, 1, CLIENT_MAC)
    snm = 'ff02::1:ff00:1'
    seeds['v6-nd-solicit'] = eth(bytes([0x33, 0x33, 0xff, 0, 0, 1]), CLIENT_MAC, 0x86DD,
                                 ipv6(CLIENT6, snm, 58, ns, hlim=255))
    na = struct.pack('!BBHI16s', 136, 0, 0, 0x60000000, ip(CLIENT6)) + struct.pack('!BB6s', 2, 1, CLIENT_MAC)
    seeds['v6-nd-advert'] = eth(PORT0_MAC, CLIENT_MAC, 0x86DD, ipv6(CLIENT6, '2001:2:0:18::1', 58, na, hlim=255))
    # VLAN-tagged SYNs.
    seeds['v4-vlan-syn'] = eth(PORT0_MAC, CLIENT_MAC, 0x0800, ipv4(CLIENT4, VIP4, 6, tcp(40002, 80, 0x02)), vlan=100)
    seeds['v6-vlan-syn'] = eth(PORT0_MAC, CLIENT_MAC, 0x86DD, ipv6(CLIENT6, VIP6, 6, tcp(40002, 80, 0x02)), vlan=100)
    # IPv4 options (NOP, NOP, timestamp-ish padding, EOL) on a SYN and a UDP datagram.
    opts = bytes([1, 1, 0x44, 8, 5, 0, 0, 0, 0, 0, 0, 0])
    seeds['v4-options-syn'] = v4_frame(CLIENT4, VIP4, 6, tcp(40003, 80, 0x02), options=opts)
    seeds['v4-options-udp'] = v4_frame(CLIENT4, VIP4, 17, udp(40003, 53, b'q'), options=bytes([1, 1, 1, 0]))
    # IPv6 extension headers: hop-by-hop (PadN) then destination options, then TCP / UDP.
    hbh = struct.pack('!BB', 60, 0) + bytes([1, 4, 0, 0, 0, 0])
    dst = struct.pack('!BB', 6, 0) + bytes([1, 4, 0, 0, 0, 0])
    seeds['v6-ext-syn'] = v6_frame(CLIENT6, VIP6, 6, tcp(40004, 80, 0x02), ext=hbh + dst, first=0)
    dst_udp = struct.pack('!BB', 17, 0) + bytes([1, 4, 0, 0, 0, 0])
    seeds['v6-ext-udp'] = v6_frame(CLIENT6, VIP6, 17, udp(40004, 53, b'q'), ext=dst_udp, first=60)
    # A fragment (dropped) and a TTL-1 packet (ttl_exceeded).
    frag = struct.pack('!BBHI', 6, 0, 0x0001, 7)
    seeds['v6-fragment'] = v6_frame(CLIENT6, VIP6, 6, tcp(40005, 80, 0x02), ext=frag, first=44)
    seeds['v4-ttl1'] = v4_frame(CLIENT4, VIP4, 6, tcp(40005, 80, 0x02), ttl=1)
    # A full-size TCP segment (MTU 1500) to the tunnel service (mtu_exceeded / headroom paths).
    seeds['v4-tunnel-big'] = v4_frame(CLIENT4, VIP4, 6, tcp(40006, 82, 0x02, payload=b'x' * 1460))
    seeds['v6-tunnel-big'] = v6_frame(CLIENT6, VIP6, 6, tcp(40006, 82, 0x02, payload=b'x' * 1440))
    return seeds


def config_seeds():
    seeds = {}
    cfg_dir = os.path.join(ROOT, 'drivers-cfg')
    for f in sorted(os.listdir(cfg_dir)):
        if f.endswith('.conf'):
            with open(os.path.join(cfg_dir, f), 'rb') as fh:
                seeds['profile-' + f[:-5]] = fh.read()
    lab = os.path.join(ROOT, 'scripts', 'lab.sh')
    labs = {}
    for mode in ('nat', 'dsr', 'tunnel'):
        out = subprocess.run(['bash', lab, 'config', mode], capture_output=True)
        if out.returncode == 0 and out.stdout:
            labs[mode] = out.stdout
            seeds['lab-' + mode] = out.stdout
    base = labs.get('nat', b'')
    if base:
        seeds['lab-nat-no-ipv6'] = b'\n'.join(l for l in base.split(b'\n') if b'ipv6' not in l)
        seeds['lab-nat-ring'] = base.replace(b'profile = "af_packet"', b'profile = "ring"')
        seeds['lab-nat-workers'] = base.replace(b'workers = [1];', b'workers = [1, 2, 3];')
        seeds['lab-nat-bad-lcores'] = base.replace(b'lcores = "0-1"', b'lcores = "0-9999"')
        seeds['lab-nat-unknown-key'] = base + b'\nextra = 1;\n'
        seeds['lab-nat-tunnel'] = base + b'\ntunnel = { source_v4 = "198.19.128.0/17"; source_v6 = "2001:2:0:19:8000::/80"; };\n'
        seeds['lab-nat-truncated'] = base[:len(base) // 2]
    seeds['pci-port'] = (b'eal = { lcores = "0-3"; main_lcore = 0; };\n'
                         b'ports = ( { name = "p0"; profile = "i40e"; pci = "0000:3b:00.0"; role = "both";\n'
                         b'  ipv4 = "10.0.0.1/24"; gateway_v4 = "10.0.0.254"; rx_queues = 2; tx_queues = 3; } );\n')
    seeds['empty'] = b''
    seeds['syntax-error'] = b'eal = { lcores = "0-1" \n ports = ( { ;\n'
    return seeds


# (selector, message type, text format) for fuzz_api_validation.cc.
API_SEEDS = [
    (0, 'CreateLoadBalancerRequest', 'load_balancer_id: "lb1" load_balancer { vips: "198.18.1.1" vips: "2001:2:0:1::1" region: "r1" vpc: "v" zone: "z" }'),
    (0, 'CreateLoadBalancerRequest', 'load_balancer_id: "bad id!" load_balancer { vips: "198.18.1.300" vips: "2001:0002:0000:0001:0000:0000:0000:0001" }'),
    (1, 'UpdateLoadBalancerRequest', 'load_balancer { name: "lb1" vips: "198.18.1.2" } update_mask { paths: "vips" }'),
    (1, 'UpdateLoadBalancerRequest', 'load_balancer { name: "lb1" region: "r2" } update_mask { paths: "name" paths: "nonexistent" }'),
    (2, 'CreateBackendServiceRequest', 'load_balancer: "lb1" backend_service_id: "bs1" backend_service { protocol: TCP port: 8080 scheduler: WLC session_persistence: true persistence_timeout_seconds: 600 drain_timeout_seconds: 30 health_check { method: HEALTH_CHECK_HTTP port: 8081 timeout_seconds: 2 interval_seconds: 5 unhealthy_threshold: 3 healthy_threshold: 2 normal_codes: STATUS_2XX normal_codes: STATUS_3XX path: "/health/check" } server_group: "sg1" }'),
    (2, 'CreateBackendServiceRequest', 'load_balancer: "" backend_service_id: "bs2" backend_service { protocol: UDP port: 70000 scheduler: SOURCE_IP persistence_timeout_seconds: 0 health_check { method: HEALTH_CHECK_TCP path: "/x" normal_codes: STATUS_4XX timeout_seconds: 100 } }'),
    (3, 'UpdateBackendServiceRequest', 'backend_service { name: "bs1" load_balancer: "lb1" scheduler: SOURCE_IP health_check { method: HEALTH_CHECK_HTTP path: "/a/b" } } update_mask { paths: "scheduler" paths: "health_check" }'),
    (3, 'UpdateBackendServiceRequest', 'backend_service { name: "bs1" load_balancer: "lb1" health_check { interval_seconds: 1 } } update_mask { paths: "health_check.interval_seconds" paths: "port" }'),
    (4, 'CreateListenerRequest', 'load_balancer: "lb1" listener_id: "l1" listener { protocol: TCP port: 80 mode: DSR backend_service: "bs1" }'),
    (4, 'CreateListenerRequest', 'load_balancer: "lb1" listener_id: "" listener { protocol: UDP port: 0 mode: TUNNEL }'),
    (5, 'UpdateListenerRequest', 'listener { name: "l1" load_balancer: "lb1" mode: TUNNEL } update_mask { paths: "mode" }'),
    (6, 'CreateServerGroupRequest', 'server_group_id: "sg1" server_group { type: VIRTUAL region: "r1" instances { id: "i1" address: "198.19.0.11" port: 8080 weight: 10 } instances { id: "i2" address: "2001:2:0:19::12" weight: 0 } }'),
    (6, 'CreateServerGroupRequest', 'server_group_id: "sg2" server_group { type: AVAILABILITY instances { id: "i1" address: "198.19.0.11" port: 8080 weight: 101 } instances { id: "i1" address: "not-an-ip" } }'),
    (7, 'UpdateServerGroupRequest', 'server_group { name: "sg1" instances { id: "i3" address: "198.19.0.13" } } update_mask { paths: "instances" }'),
    (8, 'AddInstancesRequest', 'server_group: "sg1" instances { id: "i4" address: "198.19.0.14" port: 9090 weight: 5 } instances { id: "i5" address: "::1" }'),
    (18, 'AddInstancesRequest', 'server_group: "sg1" instances { id: "i6" address: "198.19.0.16" weight: 50 }'),
    (9, 'ListServerGroupsRequest', 'page_size: 10 page_token: "/health" type: VIRTUAL associable_with_load_balancer: "lb1" associable_with_backend_service: "bs1"'),
    (9, 'ListServerGroupsRequest', 'page_size: -1 page_token: "2001:0db8::0001"'),
]


def api_seeds():
    seeds = {}
    proto_dir = os.path.join(ROOT, 'proto', 'api', 'nlb', 'v1')
    for i, (sel, msg, text) in enumerate(API_SEEDS):
        out = subprocess.run(['protoc', '--proto_path=' + proto_dir, '--encode=nlb.v1.' + msg,
                              'nlb.proto'], input=text.encode(), capture_output=True)
        if out.returncode != 0:
            sys.exit(f'protoc --encode {msg}: {out.stderr.decode()}')
        seeds[f'{sel:02d}-{msg}-{i}'] = bytes([sel]) + out.stdout
    return seeds


def write(kind, seeds):
    d = os.path.join(CORPUS, kind)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as fh:
            fh.write(data)
    print(f'{kind}: {len(seeds)} seeds')


if __name__ == '__main__':
    write('pipeline', pipeline_seeds())
    write('config', config_seeds())
    write('api-validation', api_seeds())
