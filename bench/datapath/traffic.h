/* SPDX-License-Identifier: Apache-2.0 */
/*
 * traffic: the synthetic client traffic of the datapath benchmarks.
 *
 * Flow i is client 198.18.(8 + c/256).(c%256):sport → VIP 198.18.1.1:80 (TCP),
 * with c = i % 60000 and sport = 1024 + i / 60000, so up to 10 M distinct
 * flows stay inside the benchmarking range. write_flow() rewrites only the
 * fields that differ per flow and fixes both checksums arithmetically, the
 * way a NIC would hand over a fresh, valid frame; baseline and nlb pay for it
 * alike.
 */
#pragma once

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace nlb::bench {

inline constexpr uint32_t vip_v4 = (198u << 24) | (18u << 16) | (1u << 8) | 1u;
inline constexpr uint16_t vip_port = 80;
inline constexpr uint16_t tcp_frame_len = 64;   // 14 + 20 + 20 + 10 payload

inline uint32_t client_ip(uint32_t flow) {
    uint32_t c = flow % 60000;
    return (198u << 24) | (18u << 16) | ((8u + c / 256) << 8) | (c % 256);
}
inline uint16_t client_port(uint32_t flow) { return static_cast<uint16_t>(1024 + flow / 60000); }

/** Builds the template frame (flow 0) with the given TCP flags. */
std::vector<uint8_t> make_tcp_frame(uint8_t tcp_flags);

/** Rewrites an mbuf holding a template frame into flow i, checksums valid. */
inline void write_flow(rte_mbuf *m, const uint8_t *tmpl, uint32_t flow) {
    auto *eth = rte_pktmbuf_mtod(m, uint8_t *);
    std::memcpy(eth, tmpl, tcp_frame_len);
    auto *ip = reinterpret_cast<rte_ipv4_hdr *>(eth + sizeof(rte_ether_hdr));
    auto *tcp = reinterpret_cast<rte_tcp_hdr *>(ip + 1);
    uint32_t old_src = client_ip(0), new_src = client_ip(flow);
    uint16_t old_port = client_port(0), new_port = client_port(flow);
    ip->src_addr = rte_cpu_to_be_32(new_src);
    tcp->src_port = rte_cpu_to_be_16(new_port);
    // RFC 1624: HC' = ~(~HC + ~m + m'), summed in host order on 16-bit words. The sums
    // stay below 2^19, so two folds always end the carries.
    auto fold = [](uint32_t s) {
        s = (s & 0xffff) + (s >> 16);
        return static_cast<uint16_t>((s & 0xffff) + (s >> 16));
    };
    const uint32_t d_addr = static_cast<uint16_t>(~(old_src >> 16)) + static_cast<uint16_t>(~old_src) +
                            (new_src >> 16) + (new_src & 0xffff);
    const uint32_t d_port = static_cast<uint16_t>(~old_port) + new_port;
    const uint32_t ip_sum = static_cast<uint16_t>(~rte_be_to_cpu_16(ip->hdr_checksum)) + d_addr;
    const uint32_t tcp_sum = static_cast<uint16_t>(~rte_be_to_cpu_16(tcp->cksum)) + d_addr + d_port;
    ip->hdr_checksum = rte_cpu_to_be_16(static_cast<uint16_t>(~fold(ip_sum)));
    tcp->cksum = rte_cpu_to_be_16(static_cast<uint16_t>(~fold(tcp_sum)));
}

}  // namespace nlb::bench
