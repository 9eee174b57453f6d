/* SPDX-License-Identifier: Apache-2.0 */
/* build_into_mbuf: generated packets written straight into mbufs. */
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <cstring>

#include "eal_test_main.h"
#include "net/build.h"
#include "net/parse.h"
#include "test_util.h"

namespace nlb {
namespace {

TEST(build_mbuf, rst_into_empty_mbuf) {
    rte_mbuf *mb = rte_pktmbuf_alloc(test::test_pool());
    ASSERT_NE(mb, nullptr);
    flow_key k{};
    k.src = test::ip("2001:2:0:1::1");
    k.dst = test::ip("2001:2::2");
    k.sport = htons(80);
    k.dport = htons(40000);
    k.proto = ipproto_tcp;
    k.family = ip_family::v6;
    l2_header l2{test::mac("02:00:00:00:00:01"), test::mac("02:00:00:00:00:aa")};
    ASSERT_TRUE(build_into_mbuf(
        mb, [&](uint8_t *b, uint32_t cap) { return build_tcp_rst(b, cap, l2, k, 1, 2); }));
    EXPECT_EQ(rte_pktmbuf_pkt_len(mb), 14u + 40 + 20);
    packet_meta m;
    ASSERT_EQ(parse_packet(rte_pktmbuf_mtod(mb, uint8_t *), rte_pktmbuf_data_len(mb), &m),
              drop_reason::none);
    EXPECT_EQ(m.key, k);
    // A non-empty mbuf is refused and left as it is.
    EXPECT_FALSE(build_into_mbuf(
        mb, [&](uint8_t *b, uint32_t cap) { return build_tcp_rst(b, cap, l2, k, 1, 2); }));
    EXPECT_EQ(rte_pktmbuf_pkt_len(mb), 14u + 40 + 20);
    rte_pktmbuf_free(mb);
}

TEST(build_mbuf, builder_failure_leaves_mbuf_empty) {
    rte_mbuf *mb = rte_pktmbuf_alloc(test::test_pool());
    ASSERT_NE(mb, nullptr);
    EXPECT_FALSE(build_into_mbuf(mb, [](uint8_t *, uint32_t) { return 0u; }));
    EXPECT_EQ(rte_pktmbuf_pkt_len(mb), 0u);
    // A builder that needs more than the tailroom gets 0 from its own cap check.
    const ip_addr vip = test::ip("2001:2:0:1::1"), target = test::ip("2001:2:0:2::11");
    const rte_ether_addr us = test::mac("02:00:00:00:00:aa");
    EXPECT_FALSE(build_into_mbuf(mb, [&](uint8_t *b, uint32_t) {
        return build_neighbor_solicit(b, 10, us, vip.bytes, target.bytes, false, 0);
    }));
    EXPECT_EQ(rte_pktmbuf_pkt_len(mb), 0u);
    EXPECT_TRUE(build_into_mbuf(mb, [&](uint8_t *b, uint32_t cap) {
        return build_neighbor_solicit(b, cap, us, vip.bytes, target.bytes, false, 0);
    }));
    EXPECT_EQ(rte_pktmbuf_pkt_len(mb), 14u + 40 + 32);
    rte_pktmbuf_free(mb);
}

}  // namespace
}  // namespace nlb
