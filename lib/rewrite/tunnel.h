/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tunnel: IP-in-IP encapsulation for the `tunnel` forwarding mode.
 *
 * IPv4 packets get an outer IPv4 header (protocol 4, RFC 2003), IPv6 packets
 * an outer IPv6 header (next header 41, RFC 2473); the inner packet stays byte
 * for byte as it arrived (Ethernet padding after it is dropped). The Ethernet
 * header (and 802.1Q tag, if any) is moved to the front unchanged; the caller
 * then sets the MACs (rewrite/eth.h). Any thread; inline; no allocation.
 */
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <cstring>

#include "core/types.h"
#include "net/checksum.h"
#include "net/parse.h"
#include "net/wire.h"

namespace nlb {

inline constexpr uint8_t tunnel_outer_ttl = 64;

/**
 * The outer source address for one flow: base_prefix with the low bits of its
 * host part (the 32 - prefix_len or 128 - prefix_len bits after the prefix,
 * at most 32 of them, the lowest ones) replaced by the same low bits of
 * flow_hash; higher host bits come from base_prefix. Different flows thus
 * reach the backend from different sources and its NIC's RSS spreads them
 * over queues (Katran does the same). prefix_len beyond the family's width
 * is clamped (the result is then base_prefix itself).
 */
inline ip_addr tunnel_outer_source(const ip_addr &base_prefix, unsigned prefix_len,
                                   uint32_t flow_hash, ip_family family) {
    const unsigned width = family == ip_family::v4 ? 32 : 128;
    if (prefix_len > width) prefix_len = width;
    const unsigned host_bits = width - prefix_len;
    const uint32_t mask = host_bits >= 32 ? 0xFFFFFFFFu : (uint32_t{1} << host_bits) - 1;
    ip_addr out = base_prefix;
    uint8_t *low = out.bytes + (family == ip_family::v4 ? 0 : 12);
    const uint32_t v = (wire::load_be32(low) & ~mask) | (flow_hash & mask);
    wire::store_be32(low, v);
    return out;
}

/** Bytes the outer header adds for a packet of this family. */
inline uint32_t tunnel_overhead(ip_family f) {
    return f == ip_family::v4 ? wire::ipv4_min_len : wire::ipv6_len;
}

/**
 * Writes the encapsulated frame at out, given that the original frame
 * (described by m) starts at out + tunnel_overhead(family) and that the
 * inner IP packet is m.ip_len() bytes. Returns the new frame length. Used by
 * tunnel_encap; usable on plain buffers.
 *
 * Outer IPv4: TOS copied from the inner packet (DSCP and ECN, RFC 6040 normal
 * mode), ID 0, DF copied from the inner packet, TTL 64, protocol 4, full
 * header checksum. Outer IPv6: traffic class copied, flow label = the low 20
 * bits of flow_hash, next header 41, hop limit 64.
 */
inline uint32_t tunnel_write(uint8_t *out, const packet_meta &m, const ip_addr &outer_src,
                             const ip_addr &outer_dst, uint32_t flow_hash) {
    const bool v4 = m.kind == l3_kind::ipv4;
    const uint32_t hdr = v4 ? wire::ipv4_min_len : wire::ipv6_len;
    const uint32_t inner_len = m.ip_len();
    std::memmove(out, out + hdr, m.l2_len);
    uint8_t *ip = out + m.l2_len;
    const uint8_t *inner = ip + hdr;
    if (v4) {
        ip[0] = 0x45;
        ip[1] = inner[1];
        wire::store_be16(ip + 2, static_cast<uint16_t>(inner_len + hdr));
        wire::store_be16(ip + 4, 0);
        wire::store_be16(ip + 6, wire::load_be16(inner + 6) & 0x4000);
        ip[8] = tunnel_outer_ttl;
        ip[9] = ipproto_ipip;
        wire::store_raw16(ip + 10, 0);
        std::memcpy(ip + 12, outer_src.bytes, 4);
        std::memcpy(ip + 16, outer_dst.bytes, 4);
        wire::store_raw16(ip + 10, csum::ipv4_header(ip, wire::ipv4_min_len));
    } else {
        const uint32_t tclass = (wire::load_be32(inner) >> 20) & 0xFF;
        wire::store_be32(ip, (6u << 28) | (tclass << 20) | (flow_hash & 0xFFFFF));
        wire::store_be16(ip + 4, static_cast<uint16_t>(inner_len));
        ip[6] = ipproto_ipv6;
        ip[7] = tunnel_outer_ttl;
        std::memcpy(ip + 8, outer_src.bytes, 16);
        std::memcpy(ip + 24, outer_dst.bytes, 16);
    }
    return m.l2_len + hdr + inner_len;
}

/**
 * Encapsulates the frame in mb (parsed into m by parse_packet with result
 * none; IPv4 or IPv6) towards outer_dst from outer_src (same family as the
 * packet; see tunnel_outer_source). The L2 header and the outer IP header
 * must fit in the first segment, which holds the whole frame in practice.
 *
 * Returns:
 *   none          encapsulated; the mbuf grew by tunnel_overhead() bytes
 *                 (minus any Ethernet padding, which is trimmed);
 *   no_headroom   rte_pktmbuf_headroom() is smaller than the outer header;
 *   mtu_exceeded  the outer IP packet would exceed mtu (0 = no limit);
 *   l4_unsupported m is not an IP packet.
 * On any failure the mbuf is untouched. The outer checksum is computed in
 * software; mbuf offload flags and l2_len/l3_len are not changed.
 */
inline drop_reason tunnel_encap(rte_mbuf *mb, const packet_meta &m, const ip_addr &outer_src,
                                const ip_addr &outer_dst, uint32_t flow_hash, uint32_t mtu) {
    if (m.kind != l3_kind::ipv4 && m.kind != l3_kind::ipv6) return drop_reason::l4_unsupported;
    const uint32_t hdr = tunnel_overhead(m.key.family);
    if (rte_pktmbuf_headroom(mb) < hdr) return drop_reason::no_headroom;
    if (mtu != 0 && m.ip_len() + hdr > mtu) return drop_reason::mtu_exceeded;
    const uint32_t frame_len = uint32_t{m.l3_offset} + m.ip_len();
    if (rte_pktmbuf_pkt_len(mb) > frame_len)
        rte_pktmbuf_trim(mb, static_cast<uint16_t>(rte_pktmbuf_pkt_len(mb) - frame_len));
    auto *out = reinterpret_cast<uint8_t *>(rte_pktmbuf_prepend(mb, static_cast<uint16_t>(hdr)));
    tunnel_write(out, m, outer_src, outer_dst, flow_hash);
    return drop_reason::none;
}

}  // namespace nlb
