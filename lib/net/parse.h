/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parse: turns the raw bytes of one received Ethernet frame into packet_meta,
 * or names the drop_reason that makes the frame unusable.
 *
 * The parser runs on every packet of every worker, so it is inline, allocates
 * nothing, and loops only over IPv6 extension headers (at most
 * ipv6_max_ext_headers) and the IPv4 header checksum (5 + options words). It
 * works on plain bytes (data, len), not on an mbuf, so tests and fuzzers feed
 * it arbitrary buffers. Every read is bounds-checked against len: for any len
 * and any content it never reads outside [data, data + len).
 */
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <cstring>

#include "core/types.h"
#include "net/checksum.h"
#include "net/wire.h"

namespace nlb {

/** What the frame carries after the Ethernet (and optional 802.1Q) header. */
enum class l3_kind : uint8_t { none = 0, arp, ipv4, ipv6 };

/** The parser walks at most this many IPv6 extension headers; one more is ipv6_ext_too_many. */
inline constexpr unsigned ipv6_max_ext_headers = 8;

/**
 * Everything the pipeline needs to know about a frame. Offsets are from the
 * start of the frame. parse_packet zeroes it first; when it returns none
 * every field is set (fields that do not apply stay zero). 64 bytes: one
 * cache line, so a burst of them can live on the worker's stack.
 */
struct packet_meta {
    /**
     * The 5-tuple as on the wire (network order), pad zero.
     * TCP/UDP: the ports. ICMP/ICMPv6 echo request or reply: sport = the
     * echo identifier (wire order), dport = 0. Other ICMP types: both 0.
     * ARP: src = sender IPv4, dst = target IPv4, ports 0, proto 0.
     */
    flow_key key;
    uint16_t l2_len;     // 14, or 18 with an 802.1Q tag
    uint16_t l3_offset;  // == l2_len
    uint16_t l3_len;     // IPv4: IHL*4; IPv6: 40 + extension headers; ARP: 28
    uint16_t l4_offset;  // l3_offset + l3_len
    uint16_t l4_len;     // from the IP length fields (Ethernet padding excluded)
    uint16_t ethertype;  // host order, the one after the VLAN tag if any
    uint16_t vlan_tci;   // host order; 0 without a tag
    l3_kind kind;
    bool has_vlan;
    uint8_t l4_proto;     // same as key.proto (0 for ARP)
    uint8_t tcp_flags;    // the whole flags byte (CWR/ECE included); 0 unless TCP
    uint8_t tcp_hdr_len;  // TCP data offset in bytes (20..60); 0 unless TCP
    uint8_t icmp_type;    // ICMP or ICMPv6 type; 0 otherwise
    uint8_t icmp_code;
    uint8_t ttl;  // IPv4 TTL or IPv6 hop limit

    /** Length of the IP packet (header + payload) without Ethernet padding. */
    uint32_t ip_len() const { return uint32_t{l3_len} + l4_len; }
};
static_assert(sizeof(packet_meta) == 64);

/** An Ethernet/IPv4 ARP packet (RFC 826). Addresses as on the wire. */
struct arp_info {
    uint16_t op;  // host order: 1 request, 2 reply
    rte_ether_addr sender_mac;
    rte_ether_addr target_mac;
    uint32_t sender_ip_be;
    uint32_t target_ip_be;
};

namespace parse_detail {

/*
 * What the first byte of an IPv4 address says about it, one byte per value:
 * never valid as a source (0/8 "this network", 127/8 loopback, 224/4
 * multicast), never valid as a destination (0/8, 127/8), and 255 (the limited
 * broadcast 255.255.255.255 is neither, so the whole word is compared then).
 * Two loads decide both addresses of a packet instead of a compare per range.
 */
enum : uint8_t { ipv4_top_src_bad = 1, ipv4_top_dst_bad = 2, ipv4_top_255 = 4 };
inline constexpr struct ipv4_top_table {
    uint8_t v[256] = {};
    constexpr ipv4_top_table() {
        v[0] = ipv4_top_src_bad | ipv4_top_dst_bad;
        v[127] = ipv4_top_src_bad | ipv4_top_dst_bad;
        for (unsigned t = 224; t <= 239; t++) v[t] = ipv4_top_src_bad;
        v[255] = ipv4_top_255;
    }
} ipv4_top{};
/**
 * True when src cannot be a packet's source (0/8, 127/8, 224/4, 255.255.255.255) or dst its
 * destination (0/8, 127/8, 255.255.255.255); the broadcast compares only when a first byte is 255.
 */
inline bool ipv4_addrs_bad(uint32_t src, uint32_t dst) {
    const uint8_t ts = ipv4_top.v[src >> 24], td = ipv4_top.v[dst >> 24];
    if (((ts & ipv4_top_src_bad) | (td & ipv4_top_dst_bad)) != 0) return true;
    return ((ts | td) & ipv4_top_255) != 0 && (src == 0xFFFFFFFFu || dst == 0xFFFFFFFFu);
}

/*
 * TCP flag combinations (the low six bits: FIN SYN RST PSH ACK URG) no segment
 * may carry: none at all, SYN with FIN, SYN with RST. Bit f of the mask is set
 * for a bad combination f.
 */
inline constexpr uint64_t tcp_bad_flags_mask = [] {
    uint64_t m = 0;
    for (unsigned f = 0; f < 64; f++)
        if (f == 0 || (f & (wire::tcp_syn | wire::tcp_fin)) == (wire::tcp_syn | wire::tcp_fin) ||
            (f & (wire::tcp_syn | wire::tcp_rst)) == (wire::tcp_syn | wire::tcp_rst))
            m |= uint64_t{1} << f;
    return m;
}();
inline bool tcp_flags_bad(uint8_t flags) { return ((tcp_bad_flags_mask >> (flags & 0x3F)) & 1) != 0; }

inline bool ipv6_is_unspecified(const uint8_t *a) {
    static constexpr uint8_t zero[16] = {};
    return std::memcmp(a, zero, 16) == 0;
}
inline bool ipv6_is_loopback(const uint8_t *a) {
    static constexpr uint8_t lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(a, lo, 16) == 0;
}

/** Validates the fixed part of an Ethernet/IPv4 ARP body at p (rem bytes available). */
inline bool arp_ok(const uint8_t *p, uint32_t rem) {
    if (rem < wire::arp_len) return false;
    const uint16_t op = wire::load_be16(p + 6);
    return wire::load_be16(p) == 1 && wire::load_be16(p + 2) == wire::ethertype_ipv4 && p[4] == 6 &&
           p[5] == 4 && (op == 1 || op == 2);
}

/** L4 part shared by both families; l4 has exactly m->l4_len bytes inside the frame. */
inline drop_reason parse_l4(const uint8_t *l4, packet_meta *m) {
    const uint32_t l4_len = m->l4_len;
    switch (m->l4_proto) {
        case ipproto_tcp: {
            if (l4_len < wire::tcp_min_len) return drop_reason::l4_truncated;
            const uint32_t doff = (uint32_t{l4[12]} >> 4) * 4;
            if (doff < wire::tcp_min_len || doff > l4_len) return drop_reason::tcp_bad_data_offset;
            const uint8_t flags = l4[13];
            if (tcp_flags_bad(flags)) return drop_reason::tcp_bad_flags;
            m->tcp_flags = flags;
            m->tcp_hdr_len = static_cast<uint8_t>(doff);
            std::memcpy(&m->key.sport, l4, 2);
            std::memcpy(&m->key.dport, l4 + 2, 2);
            return drop_reason::none;
        }
        case ipproto_udp: {
            if (l4_len < wire::udp_len) return drop_reason::l4_truncated;
            if (wire::load_be16(l4 + 4) != l4_len) return drop_reason::udp_bad_length;
            // RFC 8200 8.1: a zero UDP checksum is not allowed over IPv6.
            if (m->kind == l3_kind::ipv6 && wire::load_raw16(l4 + wire::udp_csum_off) == 0)
                return drop_reason::l4_bad_checksum;
            std::memcpy(&m->key.sport, l4, 2);
            std::memcpy(&m->key.dport, l4 + 2, 2);
            return drop_reason::none;
        }
        case ipproto_icmp:
        case ipproto_icmpv6: {
            const bool v6 = m->l4_proto == ipproto_icmpv6;
            if (v6 != (m->kind == l3_kind::ipv6)) return drop_reason::l4_unsupported;
            if (l4_len < wire::icmp_min_len) return drop_reason::l4_truncated;
            m->icmp_type = l4[0];
            m->icmp_code = l4[1];
            const bool echo =
                v6 ? (l4[0] == wire::icmpv6_echo_request || l4[0] == wire::icmpv6_echo_reply)
                   : (l4[0] == wire::icmp_echo_request || l4[0] == wire::icmp_echo_reply);
            if (echo) std::memcpy(&m->key.sport, l4 + 4, 2);
            return drop_reason::none;
        }
        default:
            return drop_reason::l4_unsupported;
    }
}

inline drop_reason parse_ipv4(const uint8_t *ip, uint32_t rem, packet_meta *m) {
    if (rem < wire::ipv4_min_len) return drop_reason::ipv4_truncated;
    uint32_t ihl = wire::ipv4_min_len;
    if (ip[0] != 0x45) {  // version 4 with options, or not version 4 at all
        if ((ip[0] >> 4) != 4) return drop_reason::ipv4_bad_version;
        ihl = uint32_t{ip[0] & 0x0Fu} * 4;
        if (ihl < wire::ipv4_min_len || ihl > rem) return drop_reason::ipv4_bad_ihl;
    }
    const uint32_t total = wire::load_be16(ip + 2);
    if (total < ihl || total > rem) return drop_reason::ipv4_bad_total_length;
    if (!csum::ipv4_header_ok(ip, ihl)) return drop_reason::ipv4_bad_checksum;
    if (wire::load_be16(ip + 6) & 0x3FFF) return drop_reason::ipv4_fragment;  // MF | offset
    if (ipv4_addrs_bad(wire::load_be32(ip + 12), wire::load_be32(ip + 16)))
        return drop_reason::ipv4_bad_address;
    m->kind = l3_kind::ipv4;
    m->key.family = ip_family::v4;
    std::memcpy(m->key.src.bytes, ip + 12, 4);
    std::memcpy(m->key.dst.bytes, ip + 16, 4);
    m->ttl = ip[8];
    m->l4_proto = ip[9];
    m->key.proto = ip[9];
    m->l3_len = static_cast<uint16_t>(ihl);
    m->l4_offset = static_cast<uint16_t>(m->l3_offset + ihl);
    m->l4_len = static_cast<uint16_t>(total - ihl);
    return parse_l4(ip + ihl, m);
}

inline drop_reason parse_ipv6(const uint8_t *ip, uint32_t rem, packet_meta *m) {
    if (rem < wire::ipv6_len) return drop_reason::ipv6_truncated;
    if ((ip[0] >> 4) != 6) return drop_reason::ipv6_bad_version;
    const uint32_t end = wire::ipv6_len + wire::load_be16(ip + 4);
    if (end > rem) return drop_reason::ipv6_bad_payload_length;
    const uint8_t *src = ip + 8;
    const uint8_t *dst = ip + 24;
    if (ipv6_is_unspecified(src) || src[0] == 0xFF || ipv6_is_loopback(src) ||
        ipv6_is_unspecified(dst) || ipv6_is_loopback(dst))
        return drop_reason::ipv6_bad_address;
    uint8_t nh = ip[6];
    uint32_t off = wire::ipv6_len;
    for (unsigned n = 0;; n++) {
        uint32_t ext_len;
        if (nh == wire::ipv6_ext_hop_by_hop || nh == wire::ipv6_ext_routing ||
            nh == wire::ipv6_ext_dest_opts || nh == wire::ipv6_ext_ah) {
            if (n == ipv6_max_ext_headers) return drop_reason::ipv6_ext_too_many;
            if (off + 2 > end) return drop_reason::ipv6_ext_overrun;
            ext_len = nh == wire::ipv6_ext_ah ? (uint32_t{ip[off + 1]} + 2) * 4
                                              : (uint32_t{ip[off + 1]} + 1) * 8;
            if (off + ext_len > end) return drop_reason::ipv6_ext_overrun;
        } else if (nh == wire::ipv6_ext_fragment) {
            return drop_reason::ipv6_fragment;
        } else {
            break;
        }
        nh = ip[off];
        off += ext_len;
    }
    m->kind = l3_kind::ipv6;
    m->key.family = ip_family::v6;
    std::memcpy(m->key.src.bytes, src, 16);
    std::memcpy(m->key.dst.bytes, dst, 16);
    m->ttl = ip[7];
    m->l4_proto = nh;
    m->key.proto = nh;
    m->l3_len = static_cast<uint16_t>(off);
    m->l4_offset = static_cast<uint16_t>(m->l3_offset + off);
    m->l4_len = static_cast<uint16_t>(end - off);
    return parse_l4(ip + off, m);
}

}  // namespace parse_detail

/**
 * Parses one Ethernet frame [data, data + len). Any thread.
 *
 * Returns drop_reason::none and a complete *m for a usable frame:
 *   - Ethernet II with at most one 802.1Q tag (TCI kept in vlan_tci). A second
 *     tag, or an 802.1ad/0x9100 tag at all, is vlan_stacked.
 *   - ARP: Ethernet/IPv4, op 1 or 2, else arp_malformed (see parse_arp).
 *   - IPv4: version, IHL, total length (padding after it ignored), header
 *     checksum, no fragment (MF or offset), sane addresses (source not 0/8,
 *     127/8, 224/4 or 255.255.255.255; destination not 0/8, 127/8 or
 *     255.255.255.255; multicast destinations are accepted).
 *   - IPv6: version, payload length, addresses (source not ::, ::1 or
 *     multicast; destination not :: or ::1; multicast destinations are
 *     accepted, for ND), extension headers hop-by-hop / routing / destination
 *     options / AH walked (at most ipv6_max_ext_headers), a Fragment header
 *     is ipv6_fragment.
 *   - L4 (TCP, UDP, ICMP on IPv4, ICMPv6 on IPv6): the header fits in the
 *     L4 length taken from the IP header; TCP data offset 5..15 and within
 *     it; TCP flags not none, SYN+FIN or SYN+RST; UDP length field equal to
 *     the L4 length; UDP over IPv6 with checksum 0 is l4_bad_checksum
 *     (RFC 8200 8.1); ICMP at least 8 bytes.
 * Any other IP protocol returns l4_unsupported with the L3 fields of *m
 * filled (kind, addresses, l4_offset/l4_len, l4_proto), so a caller may
 * still look at it. Every other failure returns the first failing check's
 * reason; *m is then partially filled and must not be used.
 * L4 checksums are otherwise not verified (the NIC or the backend does that).
 */
inline drop_reason parse_packet(const uint8_t *data, uint32_t len, packet_meta *m) {
    *m = packet_meta{};
    if (len < wire::eth_len) return drop_reason::eth_truncated;
    uint16_t et = wire::load_be16(data + 12);
    uint32_t off = wire::eth_len;
    if (et != wire::ethertype_ipv4 &&  // the common case first: untagged IPv4
        (et == wire::ethertype_vlan || et == wire::ethertype_qinq ||
         et == wire::ethertype_qinq_old)) {
        if (et != wire::ethertype_vlan) return drop_reason::vlan_stacked;
        if (len < wire::eth_len + wire::vlan_len) return drop_reason::eth_truncated;
        m->has_vlan = true;
        m->vlan_tci = wire::load_be16(data + 14);
        et = wire::load_be16(data + 16);
        off += wire::vlan_len;
        if (et == wire::ethertype_vlan || et == wire::ethertype_qinq ||
            et == wire::ethertype_qinq_old)
            return drop_reason::vlan_stacked;
    }
    m->l2_len = static_cast<uint16_t>(off);
    m->l3_offset = static_cast<uint16_t>(off);
    m->ethertype = et;
    const uint8_t *l3 = data + off;
    const uint32_t rem = len - off;
    switch (et) {
        case wire::ethertype_ipv4:
            return parse_detail::parse_ipv4(l3, rem, m);
        case wire::ethertype_ipv6:
            return parse_detail::parse_ipv6(l3, rem, m);
        case wire::ethertype_arp:
            if (!parse_detail::arp_ok(l3, rem)) return drop_reason::arp_malformed;
            m->kind = l3_kind::arp;
            m->key.family = ip_family::v4;
            std::memcpy(m->key.src.bytes, l3 + 14, 4);
            std::memcpy(m->key.dst.bytes, l3 + 24, 4);
            m->l3_len = wire::arp_len;
            m->l4_offset = static_cast<uint16_t>(off + wire::arp_len);
            return drop_reason::none;
        default:
            return drop_reason::ethertype_unknown;
    }
}

/**
 * Reads the ARP body at data + l3_offset (frame of len bytes). Any thread.
 * Returns none and fills *out for an Ethernet/IPv4 ARP (htype 1, ptype
 * 0x0800, hlen 6, plen 4, op request or reply) that fits in the frame;
 * arp_malformed otherwise (*out untouched). Never reads outside the frame.
 */
inline drop_reason parse_arp(const uint8_t *data, uint32_t len, uint32_t l3_offset, arp_info *out) {
    if (l3_offset > len || !parse_detail::arp_ok(data + l3_offset, len - l3_offset))
        return drop_reason::arp_malformed;
    const uint8_t *p = data + l3_offset;
    out->op = wire::load_be16(p + 6);
    std::memcpy(out->sender_mac.addr_bytes, p + 8, 6);
    std::memcpy(&out->sender_ip_be, p + 14, 4);
    std::memcpy(out->target_mac.addr_bytes, p + 18, 6);
    std::memcpy(&out->target_ip_be, p + 24, 4);
    return drop_reason::none;
}

}  // namespace nlb
