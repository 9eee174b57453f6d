/* SPDX-License-Identifier: Apache-2.0 */
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "pipeline/neighbour_table.h"

namespace nlb {
namespace {

neighbour_info make(uint32_t host, uint8_t mac_last, neighbour_state st = neighbour_state::reachable) {
    neighbour_info n{};
    n.ip = ip_addr::from_v4_be(__builtin_bswap32(0xC6130000u | host));  // 198.19.x.x
    n.family = ip_family::v4;
    n.state = st;
    n.port = 1;
    for (int i = 0; i < 6; i++) n.mac.addr_bytes[i] = mac_last;
    return n;
}

TEST(neighbour_table, resolves_only_usable_entries) {
    neighbour_table t(64);
    rte_ether_addr mac{};
    auto a = make(11, 0xaa), b = make(12, 0xbb, neighbour_state::incomplete);
    EXPECT_FALSE(t.lookup(a.ip, &mac));
    ASSERT_TRUE(t.update(a));
    ASSERT_TRUE(t.update(b));
    ASSERT_TRUE(t.lookup(a.ip, &mac));
    EXPECT_EQ(mac.addr_bytes[0], 0xaa);
    EXPECT_FALSE(t.lookup(b.ip, &mac)) << "incomplete neighbours have no MAC";
    b.state = neighbour_state::stale;
    b.mac.addr_bytes[0] = 0xbc;
    ASSERT_TRUE(t.update(b));
    ASSERT_TRUE(t.lookup(b.ip, &mac));
    EXPECT_EQ(mac.addr_bytes[0], 0xbc);
    EXPECT_EQ(t.size(), 2u);
}

TEST(neighbour_table, forget_keeps_probe_chains_and_slots_are_reused) {
    neighbour_table t(16);  // 16 slots, 12 usable
    for (uint32_t h = 1; h <= 12; h++) ASSERT_TRUE(t.update(make(h, static_cast<uint8_t>(h))));
    EXPECT_FALSE(t.update(make(13, 13))) << "a full table refuses, it never overwrites";
    for (uint32_t h = 1; h <= 12; h += 2) t.forget(make(h, 0).ip);
    rte_ether_addr mac{};
    for (uint32_t h = 1; h <= 12; h++) {
        EXPECT_EQ(t.lookup(make(h, 0).ip, &mac), h % 2 == 0) << h;
        if (h % 2 == 0) {
            EXPECT_EQ(mac.addr_bytes[5], h);
        }
    }
    EXPECT_EQ(t.size(), 6u);
    // Forgotten slots are reused by inserts whose probe chain crosses them:
    // the forgotten addresses themselves always find theirs again.
    for (uint32_t h = 1; h <= 12; h += 2)
        ASSERT_TRUE(t.update(make(h, static_cast<uint8_t>(h + 100)))) << h;
    ASSERT_TRUE(t.lookup(make(3, 0).ip, &mac));
    EXPECT_EQ(mac.addr_bytes[5], 103);
    unsigned seen = 0;
    t.for_each([&](const neighbour_info &) { seen++; });
    EXPECT_EQ(seen, 12u);
}

TEST(neighbour_table, readers_never_see_a_torn_mac) {
    neighbour_table t(64);
    auto n = make(11, 0);
    ASSERT_TRUE(t.update(n));
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> torn{0}, reads{0};
    std::thread reader([&] {
        rte_ether_addr mac{};
        while (!stop.load(std::memory_order_relaxed)) {
            if (!t.lookup(n.ip, &mac)) continue;
            reads++;
            for (int i = 1; i < 6; i++)
                if (mac.addr_bytes[i] != mac.addr_bytes[0]) torn++;
        }
    });
    // Write until the reader has done plenty of reads (bounded by a count and ~10 s).
    for (unsigned i = 0; i < 50'000'000 && (i < 200000 || reads.load() < 100000); i++) {
        for (int b = 0; b < 6; b++) n.mac.addr_bytes[b] = static_cast<uint8_t>(i);
        t.update(n);
    }
    stop = true;
    reader.join();
    EXPECT_GT(reads.load(), 0u);
    EXPECT_EQ(torn.load(), 0u);
}

}  // namespace
}  // namespace nlb
