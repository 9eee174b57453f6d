/* SPDX-License-Identifier: Apache-2.0 */
/* Test frames: TCP/UDP over IPv4/IPv6 with correct checksums, and checks on output frames. */
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <vector>

#include "core/types.h"
#include "net/checksum.h"
#include "net/parse.h"
#include "net/wire.h"

namespace nlb::test {

struct frame_spec {
    ip_family family = ip_family::v4;
    const char *src = "198.18.0.2";
    const char *dst = "198.18.1.1";
    uint16_t sport = 40000;
    uint16_t dport = 80;
    uint8_t proto = ipproto_tcp;
    uint8_t tcp_flags = wire::tcp_syn;
    uint32_t seq = 1000;
    uint32_t ack = 0;
    uint16_t payload = 0;
};

inline std::vector<uint8_t> make_frame(const frame_spec &s) {
    ip_addr src{}, dst{};
    ip_family f{};
    parse_ip(s.src, &src, &f);
    parse_ip(s.dst, &dst, &f);
    const bool v4 = s.family == ip_family::v4;
    const uint32_t l3 = v4 ? 20 : 40;
    const uint32_t l4 = (s.proto == ipproto_tcp ? 20 : 8) + s.payload;
    std::vector<uint8_t> b(14 + l3 + l4, 0);
    const uint8_t dmac[6] = {2, 0, 0, 0, 0, 1}, smac[6] = {2, 0, 0, 0, 9, 9};
    std::memcpy(b.data(), dmac, 6);
    std::memcpy(b.data() + 6, smac, 6);
    wire::store_be16(b.data() + 12, v4 ? wire::ethertype_ipv4 : wire::ethertype_ipv6);
    uint8_t *ip = b.data() + 14;
    uint8_t *p = ip + l3;
    if (v4) {
        ip[0] = 0x45;
        wire::store_be16(ip + 2, static_cast<uint16_t>(l3 + l4));
        wire::store_be16(ip + 6, 0x4000);
        ip[8] = 64;
        ip[9] = s.proto;
        std::memcpy(ip + 12, src.bytes, 4);
        std::memcpy(ip + 16, dst.bytes, 4);
        wire::store_raw16(ip + 10, csum::ipv4_header(ip, 20));
    } else {
        wire::store_be32(ip, 6u << 28);
        wire::store_be16(ip + 4, static_cast<uint16_t>(l4));
        ip[6] = s.proto;
        ip[7] = 64;
        std::memcpy(ip + 8, src.bytes, 16);
        std::memcpy(ip + 24, dst.bytes, 16);
    }
    wire::store_be16(p, s.sport);
    wire::store_be16(p + 2, s.dport);
    if (s.proto == ipproto_tcp) {
        wire::store_be32(p + 4, s.seq);
        wire::store_be32(p + 8, s.ack);
        p[12] = 5 << 4;
        p[13] = s.tcp_flags;
        wire::store_be16(p + 14, 65535);
    } else {
        wire::store_be16(p + 4, static_cast<uint16_t>(l4));
    }
    for (uint16_t i = 0; i < s.payload; i++) p[l4 - s.payload + i] = static_cast<uint8_t>(i);
    const uint32_t off = s.proto == ipproto_tcp ? wire::tcp_csum_off : wire::udp_csum_off;
    uint16_t c = v4 ? csum::l4_v4(ip + 12, ip + 16, s.proto, p, l4)
                    : csum::l4_v6(ip + 8, ip + 24, s.proto, p, l4);
    if (s.proto == ipproto_udp) c = csum::udp_nonzero(c);
    wire::store_raw16(p + off, c);
    return b;
}

inline rte_mbuf *to_mbuf(rte_mempool *pool, const std::vector<uint8_t> &f) {
    rte_mbuf *m = rte_pktmbuf_alloc(pool);
    if (!m) return nullptr;
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
    return m;
}

/** True when the IP header checksum (v4) and the TCP/UDP checksum of an IP packet verify. */
inline bool checksums_ok(const uint8_t *frame, uint32_t len) {
    packet_meta m;
    if (parse_packet(frame, len, &m) != drop_reason::none) return false;
    const uint8_t *ip = frame + m.l3_offset;
    const uint8_t *l4 = frame + m.l4_offset;
    uint64_t sum = m.kind == l3_kind::ipv4
                       ? csum::pseudo_v4(ip + 12, ip + 16, m.l4_proto, m.l4_len)
                       : csum::pseudo_v6(ip + 8, ip + 24, m.l4_proto, m.l4_len);
    sum = csum::add_bytes(sum, l4, m.l4_len);
    return csum::fold(sum) == 0xFFFF;
}

}  // namespace nlb::test
