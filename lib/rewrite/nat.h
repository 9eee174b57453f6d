/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nat: the address/port rewrites of the `nat` forwarding mode, in place, with
 * incremental checksum updates (RFC 1624; net/checksum.h).
 *
 *   forward (DNAT): client:cport -> VIP:vport becomes client:cport -> backend:bport
 *   reverse (SNAT): backend:bport -> client:cport becomes VIP:vport -> client:cport
 *
 * IPv4 and IPv6; TCP and UDP. The IPv4 header checksum and the TCP/UDP
 * checksum (whose pseudo-header holds the changed address) are updated; a
 * UDP-over-IPv4 checksum of 0 ("none") stays 0 and an updated UDP checksum
 * of 0 is written as 0xFFFF. TTL / hop limit are NOT decremented: like IPVS-DR
 * and Katran, the balancer does not count as a router hop (a traceroute
 * through a VIP shows the backend directly). Nothing else in the packet
 * changes, so checksums stay valid exactly when they were valid before.
 *
 * Callers pass l3 = frame + m.l3_offset and the metadata that parse_packet
 * returned drop_reason::none for on this very frame. Any thread; inline.
 */
#pragma once

#include <cstdint>
#include <cstring>

#include "core/types.h"
#include "net/checksum.h"
#include "net/parse.h"
#include "net/wire.h"

namespace nlb {

namespace nat_detail {

/** Rewrites the destination (dst_side) or source address and port. */
template <bool dst_side>
inline drop_reason rewrite(uint8_t *l3, const packet_meta &m, const ip_addr &addr,
                           uint16_t port_be) {
    uint32_t csum_off;
    if (m.l4_proto == ipproto_tcp)
        csum_off = wire::tcp_csum_off;
    else if (m.l4_proto == ipproto_udp)
        csum_off = wire::udp_csum_off;
    else
        return drop_reason::l4_unsupported;
    uint8_t *l4 = l3 + m.l3_len;
    uint8_t *port = l4 + (dst_side ? 2 : 0);
    uint64_t delta = csum::delta16(wire::load_raw16(port), port_be);
    wire::store_raw16(port, port_be);
    if (m.kind == l3_kind::ipv4) {
        uint8_t *a = l3 + (dst_side ? 16 : 12);
        const uint64_t ad = csum::delta32(wire::load_raw32(a), addr.v4_be());
        std::memcpy(a, addr.bytes, 4);
        wire::store_raw16(l3 + wire::ipv4_csum_off,
                          csum::apply(wire::load_raw16(l3 + wire::ipv4_csum_off), ad));
        delta += ad;
    } else {
        uint8_t *a = l3 + (dst_side ? 24 : 8);
        delta += csum::delta128(a, addr.bytes);
        std::memcpy(a, addr.bytes, 16);
    }
    uint8_t *c = l4 + csum_off;
    const uint16_t old = wire::load_raw16(c);
    wire::store_raw16(
        c, m.l4_proto == ipproto_udp ? csum::apply_udp(old, delta) : csum::apply(old, delta));
    return drop_reason::none;
}

}  // namespace nat_detail

/**
 * DNAT (client -> VIP direction): destination address := backend (same
 * family as the packet), destination port := backend_port_be (network
 * order). Returns none, or l4_unsupported (packet untouched) when the packet
 * is neither TCP nor UDP.
 */
inline drop_reason nat_forward(uint8_t *l3, const packet_meta &m, const ip_addr &backend,
                               uint16_t backend_port_be) {
    return nat_detail::rewrite<true>(l3, m, backend, backend_port_be);
}

/**
 * Reverse SNAT (backend -> client direction): source address := vip, source
 * port := vip_port_be (network order). Same returns as nat_forward.
 */
inline drop_reason nat_reverse(uint8_t *l3, const packet_meta &m, const ip_addr &vip,
                               uint16_t vip_port_be) {
    return nat_detail::rewrite<false>(l3, m, vip, vip_port_be);
}

}  // namespace nlb
