/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Frames the worker-loop tests feed to the pipeline of pipeline/testbed.h:
 * a TCP SYN from the lab client 198.18.0.2 to testbed port 0's MAC.
 */
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <cstring>

#include "pipeline/testbed.h"

namespace nlb::test {

inline void put16(uint8_t *p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

/** Writes the 60-byte frame of a TCP SYN 198.18.0.2:sport -> dst:port (IPv4 checksum valid). */
inline void syn_frame(uint8_t *f, const ip_addr &dst, uint16_t port, uint16_t sport) {
    std::memset(f, 0, 60);
    std::memcpy(f, testbed::port_mac(0).addr_bytes, 6);
    const uint8_t client[6] = {2, 0xcc, 0, 0, 0, 2};
    std::memcpy(f + 6, client, 6);
    put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put16(ip + 2, 40);
    ip[8] = 64;
    ip[9] = 6;
    std::memcpy(ip + 12, testbed::addr("198.18.0.2").bytes, 4);
    std::memcpy(ip + 16, dst.bytes, 4);
    uint32_t s = 0;
    for (int i = 0; i < 20; i += 2) s += uint32_t{ip[i]} << 8 | ip[i + 1];
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    put16(ip + 10, static_cast<uint16_t>(~s));
    uint8_t *tcp = ip + 20;
    put16(tcp, sport);
    put16(tcp + 2, port);
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
}

/** The same SYN in an mbuf of pool; nullptr when the pool is empty. */
inline rte_mbuf *syn_mbuf(rte_mempool *pool, const ip_addr &dst, uint16_t port, uint16_t sport) {
    rte_mbuf *m = rte_pktmbuf_alloc(pool);
    if (!m) return nullptr;
    syn_frame(rte_pktmbuf_mtod(m, uint8_t *), dst, port, sport);
    rte_pktmbuf_append(m, 60);
    return m;
}

}  // namespace nlb::test
