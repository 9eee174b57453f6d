/* SPDX-License-Identifier: Apache-2.0 */
#include "net/build.h"

#include <cstring>

#include "net/checksum.h"
#include "net/wire.h"

namespace nlb {

namespace {

constexpr uint8_t gen_ttl = 64;
constexpr uint8_t nd_hop_limit = 255;  // RFC 4861: ND messages must carry 255

/** Zero-pads the frame to the Ethernet minimum; returns the final length or 0. */
uint32_t pad(uint8_t *buf, uint32_t len, uint32_t cap) {
    if (len >= wire::min_frame_len) return len;
    if (cap < wire::min_frame_len) return 0;
    std::memset(buf + len, 0, wire::min_frame_len - len);
    return wire::min_frame_len;
}

uint32_t l2_size(bool vlan) {
    return wire::eth_len + (vlan ? wire::vlan_len : 0);
}

/** Plain 20-byte IPv4 header with full checksum. */
void write_ipv4(uint8_t *ip, uint8_t tos, uint16_t total, uint16_t frag_flags, uint8_t ttl,
                uint8_t proto, const uint8_t *src, const uint8_t *dst) {
    ip[0] = 0x45;
    ip[1] = tos;
    wire::store_be16(ip + 2, total);
    wire::store_be16(ip + 4, 0);
    wire::store_be16(ip + 6, frag_flags);
    ip[8] = ttl;
    ip[9] = proto;
    wire::store_raw16(ip + 10, 0);
    std::memcpy(ip + 12, src, 4);
    std::memcpy(ip + 16, dst, 4);
    wire::store_raw16(ip + 10, csum::ipv4_header(ip, wire::ipv4_min_len));
}

/** 40-byte IPv6 header; vtcfl is the host-order first word (version, class, label). */
void write_ipv6(uint8_t *ip, uint32_t vtcfl, uint16_t payload, uint8_t nh, uint8_t hop,
                const uint8_t *src, const uint8_t *dst) {
    wire::store_be32(ip, vtcfl);
    wire::store_be16(ip + 4, payload);
    ip[6] = nh;
    ip[7] = hop;
    std::memcpy(ip + 8, src, 16);
    std::memcpy(ip + 24, dst, 16);
}

uint32_t build_arp(uint8_t *out, uint32_t cap, const l2_header &l2, uint16_t op,
                   const rte_ether_addr &sha, uint32_t spa_be, const rte_ether_addr &tha,
                   uint32_t tpa_be) {
    const uint32_t len = l2_size(l2.vlan) + wire::arp_len;
    if (cap < len) return 0;
    uint8_t *p = out + write_l2(out, l2, wire::ethertype_arp);
    wire::store_be16(p, 1);
    wire::store_be16(p + 2, wire::ethertype_ipv4);
    p[4] = 6;
    p[5] = 4;
    wire::store_be16(p + 6, op);
    std::memcpy(p + 8, sha.addr_bytes, 6);
    std::memcpy(p + 14, &spa_be, 4);
    std::memcpy(p + 18, tha.addr_bytes, 6);
    std::memcpy(p + 24, &tpa_be, 4);
    return pad(out, len, cap);
}

}  // namespace

uint32_t write_l2(uint8_t *buf, const l2_header &l2, uint16_t ethertype) {
    std::memcpy(buf, l2.dst.addr_bytes, 6);
    std::memcpy(buf + 6, l2.src.addr_bytes, 6);
    if (l2.vlan) {
        wire::store_be16(buf + 12, wire::ethertype_vlan);
        wire::store_be16(buf + 14, l2.vlan_tci);
        wire::store_be16(buf + 16, ethertype);
        return wire::eth_len + wire::vlan_len;
    }
    wire::store_be16(buf + 12, ethertype);
    return wire::eth_len;
}

uint32_t build_tcp_rst(uint8_t *buf, uint32_t cap, const l2_header &l2, const flow_key &key,
                       uint32_t seq, uint32_t ack) {
    if (key.proto != ipproto_tcp) return 0;
    const bool v4 = key.family == ip_family::v4;
    if (!v4 && key.family != ip_family::v6) return 0;
    const uint32_t l3 = v4 ? wire::ipv4_min_len : wire::ipv6_len;
    const uint32_t len = l2_size(l2.vlan) + l3 + wire::tcp_min_len;
    if (cap < len) return 0;
    uint8_t *ip = buf + write_l2(buf, l2, v4 ? wire::ethertype_ipv4 : wire::ethertype_ipv6);
    uint8_t *tcp = ip + l3;
    std::memcpy(tcp, &key.sport, 2);
    std::memcpy(tcp + 2, &key.dport, 2);
    wire::store_be32(tcp + 4, seq);
    wire::store_be32(tcp + 8, ack);
    tcp[12] = 5 << 4;
    tcp[13] = wire::tcp_rst | wire::tcp_ack;
    wire::store_be16(tcp + 14, 0);  // window
    wire::store_raw16(tcp + 16, 0);
    wire::store_be16(tcp + 18, 0);  // urgent pointer
    uint16_t c;
    if (v4) {
        write_ipv4(ip, 0, static_cast<uint16_t>(l3 + wire::tcp_min_len), 0x4000, gen_ttl,
                   ipproto_tcp, key.src.bytes, key.dst.bytes);
        c = csum::l4_v4(key.src.bytes, key.dst.bytes, ipproto_tcp, tcp, wire::tcp_min_len);
    } else {
        write_ipv6(ip, 6u << 28, wire::tcp_min_len, ipproto_tcp, gen_ttl, key.src.bytes,
                   key.dst.bytes);
        c = csum::l4_v6(key.src.bytes, key.dst.bytes, ipproto_tcp, tcp, wire::tcp_min_len);
    }
    wire::store_raw16(tcp + 16, c);
    return pad(buf, len, cap);
}

uint32_t build_echo_reply(uint8_t *out, uint32_t cap, const uint8_t *req, uint32_t req_len,
                          const packet_meta &m) {
    const bool v4 = m.kind == l3_kind::ipv4;
    if (v4 ? (m.l4_proto != ipproto_icmp || m.icmp_type != wire::icmp_echo_request)
           : (m.kind != l3_kind::ipv6 || m.l4_proto != ipproto_icmpv6 ||
              m.icmp_type != wire::icmpv6_echo_request))
        return 0;
    if (uint32_t{m.l4_offset} + m.l4_len > req_len || m.l4_len < wire::icmp_min_len) return 0;
    const uint32_t l3 = v4 ? wire::ipv4_min_len : wire::ipv6_len;
    const uint32_t new_l4 = uint32_t{m.l2_len} + l3;
    const uint32_t len = new_l4 + m.l4_len;
    if (cap < len) return 0;

    // Everything the new headers need is read before anything is written
    // (out may be req).
    const uint8_t *rip = req + m.l3_offset;
    l2_header l2;
    std::memcpy(l2.dst.addr_bytes, req + 6, 6);
    std::memcpy(l2.src.addr_bytes, req, 6);
    l2.vlan = m.has_vlan;
    l2.vlan_tci = m.vlan_tci;
    uint8_t src[16], dst[16];
    const uint32_t alen = v4 ? 4 : 16;
    std::memcpy(src, rip + (v4 ? 16 : 24), alen);  // reply source = request destination
    std::memcpy(dst, rip + (v4 ? 12 : 8), alen);
    const uint8_t tos = rip[1];
    const uint16_t frag = wire::load_be16(rip + 6) & 0x4000;  // DF only
    const uint32_t vtcfl = wire::load_be32(rip);

    uint8_t *icmp = out + new_l4;
    std::memmove(icmp, req + m.l4_offset, m.l4_len);
    write_l2(out, l2, m.ethertype);
    uint8_t *ip = out + m.l2_len;
    const uint16_t old_word = wire::load_raw16(icmp);
    icmp[0] = v4 ? wire::icmp_echo_reply : wire::icmpv6_echo_reply;
    wire::store_raw16(icmp + 2,
                      csum::update16(wire::load_raw16(icmp + 2), old_word, wire::load_raw16(icmp)));
    if (v4) {
        write_ipv4(ip, tos, static_cast<uint16_t>(l3 + m.l4_len), frag, gen_ttl, ipproto_icmp, src,
                   dst);
    } else {
        // Swapping source and destination leaves the pseudo-header sum unchanged.
        write_ipv6(ip, vtcfl, m.l4_len, ipproto_icmpv6, gen_ttl, src, dst);
    }
    return pad(out, len, cap);
}

uint32_t build_arp_reply(uint8_t *out, uint32_t cap, const rte_ether_addr &our_mac,
                         uint32_t our_ip_be, const arp_info &req, bool vlan, uint16_t vlan_tci) {
    l2_header l2{req.sender_mac, our_mac, vlan, vlan_tci};
    return build_arp(out, cap, l2, 2, our_mac, our_ip_be, req.sender_mac, req.sender_ip_be);
}

uint32_t build_gratuitous_arp(uint8_t *out, uint32_t cap, const rte_ether_addr &mac, uint32_t ip_be,
                              bool vlan, uint16_t vlan_tci) {
    l2_header l2{{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}}, mac, vlan, vlan_tci};
    return build_arp(out, cap, l2, 1, mac, ip_be, rte_ether_addr{}, ip_be);
}

void ipv6_solicited_node(const uint8_t *target, uint8_t *out16) {
    static constexpr uint8_t prefix[13] = {0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xFF};
    std::memcpy(out16, prefix, 13);
    std::memcpy(out16 + 13, target + 13, 3);
}

rte_ether_addr ipv6_multicast_mac(const uint8_t *ip16) {
    rte_ether_addr mac{{0x33, 0x33, ip16[12], ip16[13], ip16[14], ip16[15]}};
    return mac;
}

namespace {

/** Shared by NA and NS: a 32-byte ICMPv6 ND message with one link-layer option. */
uint32_t build_nd(uint8_t *out, uint32_t cap, const l2_header &l2, const uint8_t *src_ip,
                  const uint8_t *dst_ip, uint8_t type, uint32_t flags, const uint8_t *target,
                  uint8_t opt_type, const rte_ether_addr &opt_mac) {
    constexpr uint32_t icmp_len = 32;  // 4 header + 4 flags/reserved + 16 target + 8 option
    const uint32_t len = l2_size(l2.vlan) + wire::ipv6_len + icmp_len;
    if (cap < len) return 0;
    uint8_t *ip = out + write_l2(out, l2, wire::ethertype_ipv6);
    write_ipv6(ip, 6u << 28, icmp_len, ipproto_icmpv6, nd_hop_limit, src_ip, dst_ip);
    uint8_t *icmp = ip + wire::ipv6_len;
    icmp[0] = type;
    icmp[1] = 0;
    wire::store_raw16(icmp + 2, 0);
    wire::store_be32(icmp + 4, flags);
    std::memcpy(icmp + 8, target, 16);
    icmp[24] = opt_type;
    icmp[25] = 1;  // length in units of 8 bytes
    std::memcpy(icmp + 26, opt_mac.addr_bytes, 6);
    wire::store_raw16(icmp + 2, csum::l4_v6(src_ip, dst_ip, ipproto_icmpv6, icmp, icmp_len));
    return pad(out, len, cap);
}

}  // namespace

uint32_t build_neighbor_advert(uint8_t *out, uint32_t cap, const l2_header &l2,
                               const uint8_t *target, const rte_ether_addr &target_mac,
                               const uint8_t *dst_ip) {
    static constexpr uint8_t all_nodes[16] = {0xFF, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    constexpr uint32_t flag_solicited = 0x40000000u, flag_override = 0x20000000u;
    l2_header hdr = l2;
    uint32_t flags = flag_override;
    if (dst_ip) {
        flags |= flag_solicited;
    } else {
        dst_ip = all_nodes;
        hdr.dst = ipv6_multicast_mac(all_nodes);
    }
    return build_nd(out, cap, hdr, target, dst_ip, wire::icmpv6_neighbor_advert, flags, target,
                    2 /* target link-layer address */, target_mac);
}

uint32_t build_neighbor_solicit(uint8_t *out, uint32_t cap, const rte_ether_addr &src_mac,
                                const uint8_t *src_ip, const uint8_t *target, bool vlan,
                                uint16_t vlan_tci) {
    uint8_t dst_ip[16];
    ipv6_solicited_node(target, dst_ip);
    l2_header l2{ipv6_multicast_mac(dst_ip), src_mac, vlan, vlan_tci};
    return build_nd(out, cap, l2, src_ip, dst_ip, wire::icmpv6_neighbor_solicit, 0, target,
                    1 /* source link-layer address */, src_mac);
}

}  // namespace nlb
