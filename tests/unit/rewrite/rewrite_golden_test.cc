/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Golden-packet tests (Katran style): every row of golden_packets.h is parsed,
 * rewritten by nlb, and compared byte for byte with the output scapy built
 * independently (golden_gen.py).
 */
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cstring>
#include <vector>

#include "eal_test_main.h"
#include "golden_packets.h"
#include "net/parse.h"
#include "rewrite/dsr.h"
#include "rewrite/eth.h"
#include "rewrite/nat.h"
#include "rewrite/tunnel.h"

namespace nlb {
namespace {

using test::golden_case;
using test::golden_op;

rte_ether_addr mac(const char *text) {
    rte_ether_addr a{};
    EXPECT_EQ(rte_ether_unformat_addr(text, &a), 0) << text;
    return a;
}

ip_addr addr(const char *text) {
    ip_addr a{};
    ip_family f;
    EXPECT_TRUE(parse_ip(text, &a, &f)) << text;
    return a;
}

std::string hex(const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; i++) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

/** Runs one row; returns the rewritten frame. */
std::vector<uint8_t> run(const golden_case &c) {
    std::vector<uint8_t> in = test::from_hex(c.input_hex);
    const rte_ether_addr dst_mac = mac(test::golden_new_dst_mac);
    const rte_ether_addr src_mac = mac(test::golden_new_src_mac);
    packet_meta m;
    EXPECT_EQ(parse_packet(in.data(), static_cast<uint32_t>(in.size()), &m), drop_reason::none);
    switch (c.op) {
        case golden_op::nat_fwd:
            EXPECT_EQ(nat_forward(in.data() + m.l3_offset, m, addr(c.addr), htons(c.port)),
                      drop_reason::none);
            set_eth_addrs(in.data(), dst_mac, src_mac);
            return in;
        case golden_op::nat_rev:
            EXPECT_EQ(nat_reverse(in.data() + m.l3_offset, m, addr(c.addr), htons(c.port)),
                      drop_reason::none);
            set_eth_addrs(in.data(), dst_mac, src_mac);
            return in;
        case golden_op::dsr:
            dsr_rewrite(in.data(), dst_mac, src_mac);
            return in;
        case golden_op::tunnel: {
            rte_mbuf *mb = rte_pktmbuf_alloc(test::test_pool());
            EXPECT_NE(mb, nullptr);
            if (!mb) return {};
            std::memcpy(rte_pktmbuf_append(mb, static_cast<uint16_t>(in.size())), in.data(),
                        in.size());
            const bool v4 = m.key.family == ip_family::v4;
            const ip_addr src = tunnel_outer_source(
                addr(v4 ? test::golden_tunnel_prefix4 : test::golden_tunnel_prefix6),
                v4 ? test::golden_tunnel_prefix4_len : test::golden_tunnel_prefix6_len,
                test::golden_flow_hash, m.key.family);
            EXPECT_EQ(tunnel_encap(mb, m, src, addr(c.addr), test::golden_flow_hash, 1500),
                      drop_reason::none);
            auto *p = rte_pktmbuf_mtod(mb, uint8_t *);
            set_eth_addrs(p, dst_mac, src_mac);
            std::vector<uint8_t> out(p, p + rte_pktmbuf_pkt_len(mb));
            rte_pktmbuf_free(mb);
            return out;
        }
    }
    return {};
}

TEST(rewrite_golden, every_case_matches_scapy) {
    size_t n = 0;
    for (const golden_case &c : test::golden_cases) {
        SCOPED_TRACE(c.description);
        const std::vector<uint8_t> want = test::from_hex(c.expected_hex);
        const std::vector<uint8_t> got = run(c);
        EXPECT_EQ(hex(got.data(), got.size()), hex(want.data(), want.size()));
        n++;
    }
    EXPECT_GE(n, 40u);
}

TEST(rewrite_golden, rewritten_packets_still_parse) {
    // The output of every NAT/DSR row is itself a valid packet (checksums verified by
    // parse_packet for IPv4 headers).
    for (const golden_case &c : test::golden_cases) {
        SCOPED_TRACE(c.description);
        std::vector<uint8_t> out = run(c);
        packet_meta m;
        const drop_reason r = parse_packet(out.data(), static_cast<uint32_t>(out.size()), &m);
        if (c.op == golden_op::tunnel)
            EXPECT_EQ(r, drop_reason::l4_unsupported);  // outer protocol 4 / 41
        else
            EXPECT_EQ(r, drop_reason::none);
    }
}

}  // namespace
}  // namespace nlb
