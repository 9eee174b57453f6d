/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire: protocol constants and unaligned big-endian loads/stores used by the
 * parser, the checksum code, the packet builders and the rewrites.
 *
 * Every function here is a pure byte operation, safe on any thread, and never
 * assumes alignment (packet headers start at arbitrary offsets: a VLAN tag
 * moves the IP header by 4 bytes, IP options move L4 by 4*n).
 */
#pragma once

#include <cstdint>
#include <cstring>

namespace nlb::wire {

/* Ethertypes (host order). */
inline constexpr uint16_t ethertype_ipv4 = 0x0800;
inline constexpr uint16_t ethertype_arp = 0x0806;
inline constexpr uint16_t ethertype_ipv6 = 0x86DD;
inline constexpr uint16_t ethertype_vlan = 0x8100;      // 802.1Q C-tag
inline constexpr uint16_t ethertype_qinq = 0x88A8;      // 802.1ad S-tag
inline constexpr uint16_t ethertype_qinq_old = 0x9100;  // pre-standard QinQ

/* Header sizes in bytes. */
inline constexpr uint32_t eth_len = 14;
inline constexpr uint32_t vlan_len = 4;
inline constexpr uint32_t ipv4_min_len = 20;
inline constexpr uint32_t ipv6_len = 40;
inline constexpr uint32_t tcp_min_len = 20;
inline constexpr uint32_t udp_len = 8;
inline constexpr uint32_t icmp_min_len = 8;    // type, code, checksum, 4 bytes rest-of-header
inline constexpr uint32_t arp_len = 28;        // Ethernet/IPv4 ARP body
inline constexpr uint32_t min_frame_len = 60;  // Ethernet minimum without FCS

/* IPv6 extension headers the parser walks (and the one it refuses). */
inline constexpr uint8_t ipv6_ext_hop_by_hop = 0;
inline constexpr uint8_t ipv6_ext_routing = 43;
inline constexpr uint8_t ipv6_ext_fragment = 44;
inline constexpr uint8_t ipv6_ext_ah = 51;
inline constexpr uint8_t ipv6_ext_dest_opts = 60;

/* TCP flags (byte 13 of the TCP header). */
inline constexpr uint8_t tcp_fin = 0x01;
inline constexpr uint8_t tcp_syn = 0x02;
inline constexpr uint8_t tcp_rst = 0x04;
inline constexpr uint8_t tcp_psh = 0x08;
inline constexpr uint8_t tcp_ack = 0x10;
inline constexpr uint8_t tcp_urg = 0x20;

/* ICMP / ICMPv6 types used by the appliance. */
inline constexpr uint8_t icmp_echo_reply = 0;
inline constexpr uint8_t icmp_echo_request = 8;
inline constexpr uint8_t icmpv6_echo_request = 128;
inline constexpr uint8_t icmpv6_echo_reply = 129;
inline constexpr uint8_t icmpv6_neighbor_solicit = 135;
inline constexpr uint8_t icmpv6_neighbor_advert = 136;

/* Offsets of the checksum field inside each L4 header. */
inline constexpr uint32_t tcp_csum_off = 16;
inline constexpr uint32_t udp_csum_off = 6;
inline constexpr uint32_t icmp_csum_off = 2;
inline constexpr uint32_t ipv4_csum_off = 10;

/** Big-endian 16-bit value at p (host order result). */
inline uint16_t load_be16(const uint8_t *p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
/** Big-endian 32-bit value at p (host order result). */
inline uint32_t load_be32(const uint8_t *p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void store_be16(uint8_t *p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

/**
 * "Raw" loads and stores: the bytes exactly as on the wire, in a native
 * integer (no byte swap). Checksums and addresses are handled raw, because
 * one's complement sums are byte-order independent (RFC 1071 section 2B).
 */
inline uint16_t load_raw16(const uint8_t *p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
inline uint32_t load_raw32(const uint8_t *p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline void store_raw16(uint8_t *p, uint16_t v) {
    std::memcpy(p, &v, 2);
}
inline void store_raw32(uint8_t *p, uint32_t v) {
    std::memcpy(p, &v, 4);
}

/** The raw form of a host-order 16-bit value (what store_be16 would write). */
inline uint16_t raw16_from_host(uint16_t v) {
    uint8_t b[2];
    store_be16(b, v);
    return load_raw16(b);
}

}  // namespace nlb::wire
