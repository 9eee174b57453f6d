/* SPDX-License-Identifier: Apache-2.0 */
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "sched/maglev.h"

namespace nlb {
namespace {

std::vector<maglev_backend> backends(uint32_t n, uint32_t weight = 10, uint64_t first_key = 1000) {
    std::vector<maglev_backend> v;
    for (uint32_t i = 0; i < n; i++) v.push_back({first_key + i * 7919, weight});
    return v;
}

std::map<uint64_t, uint32_t> shares(const maglev_table &t) {
    std::map<uint64_t, uint32_t> n;
    for (uint32_t p = 0; p < t.size(); p++) n[t.owner_key(p)]++;
    return n;
}

TEST(maglev, sizes_are_the_allowed_primes) {
    for (uint32_t s : maglev_allowed_sizes) {
        EXPECT_TRUE(maglev_table::valid_size(s));
        for (uint32_t d = 2; d * d <= s; d++) ASSERT_NE(s % d, 0u) << s << " is not prime";
    }
    EXPECT_FALSE(maglev_table::valid_size(65536));
    EXPECT_EQ(maglev_table::build(backends(3), 1000).size(), 0u);
    EXPECT_EQ(maglev_table().lookup_hash(123), sched_none);
}

TEST(maglev, equal_weights_fill_evenly) {
    auto b = backends(10);
    auto t = maglev_table::build(b, maglev_default_size);
    ASSERT_EQ(t.size(), maglev_default_size);
    auto n = shares(t);
    ASSERT_EQ(n.size(), 10u);  // no empty position
    for (auto &[key, count] : n) {
        EXPECT_NE(key, maglev_table::no_key);
        EXPECT_NEAR(count, 6553.7, 2) << key;  // turns are exactly round robin
    }
}

TEST(maglev, weights_give_proportional_shares_and_zero_gets_nothing) {
    std::vector<maglev_backend> b = {{11, 100}, {22, 50}, {33, 25}, {44, 25}, {55, 0}};
    auto t = maglev_table::build(b, maglev_default_size);
    auto n = shares(t);
    EXPECT_EQ(n.count(55), 0u);
    EXPECT_EQ(n.count(maglev_table::no_key), 0u);
    double total = 200;
    for (auto &m : b) {
        if (!m.weight) continue;
        double want = maglev_default_size * m.weight / total;
        EXPECT_NEAR(n[m.key], want, want * 0.03) << "key " << m.key;
    }
    // All weights zero: every position empty, every lookup "none".
    std::vector<maglev_backend> z = {{1, 0}, {2, 0}};
    auto tz = maglev_table::build(z, 251);
    EXPECT_EQ(shares(tz).size(), 1u);
    EXPECT_EQ(tz.lookup_hash(77), sched_none);
    // A single backend owns everything.
    std::vector<maglev_backend> one = {{9, 0}, {5, 3}};
    auto t1 = maglev_table::build(one, 1021);
    EXPECT_EQ(shares(t1)[5], 1021u);
    EXPECT_EQ(t1.lookup_hash(12345), 1u);
}

// The "all lcores and all appliances compute the same table" claim: two
// independent builds, even from differently ordered input, are identical
// position by position; and the table is pinned to known values, so a change
// to the hash functions or seeds (which would remap every client on upgrade)
// fails here.
TEST(maglev, independent_builds_are_identical) {
    auto b = backends(50);
    auto t1 = maglev_table::build(b, maglev_default_size);
    auto shuffled = b;
    std::mt19937 rng(7);
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    auto t2 = maglev_table::build(shuffled, maglev_default_size);
    ASSERT_EQ(t1.size(), t2.size());
    for (uint32_t p = 0; p < t1.size(); p++) ASSERT_EQ(t1.owner_key(p), t2.owner_key(p)) << p;
    auto t3 = maglev_table::build(b, maglev_default_size);
    EXPECT_TRUE(std::equal(t1.entries(), t1.entries() + t1.size(), t3.entries()));

    std::vector<maglev_backend> pinned = {{1, 10}, {2, 10}, {3, 10}};
    auto tp = maglev_table::build(pinned, 251);
    std::vector<uint64_t> first;
    for (uint32_t p = 0; p < 12; p++) first.push_back(tp.owner_key(p));
    EXPECT_EQ(first, (std::vector<uint64_t>{2, 2, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3}));
    EXPECT_EQ(hash_client_ip(ip_addr::from_v4_be(0x0100a8c0u)), 343633106u);
}

uint32_t moved_from_unaffected(const std::vector<maglev_change> &delta, const maglev_table &prev,
                               const maglev_table &next, uint64_t affected) {
    uint32_t n = 0;
    for (auto &c : delta) {
        uint64_t was = c.previous == sched_none ? maglev_table::no_key : prev.keys()[c.previous];
        uint64_t now = c.current == sched_none ? maglev_table::no_key : next.keys()[c.current];
        if (was != affected && now != affected) n++;
    }
    return n;
}

// Maglev trades a little extra disruption for its even spread: besides the
// positions that must move, a few others change owner because the fill order
// shifts. The extra grows with backends per table size (measured over every
// choice of removed backend: worst 1.02x ideal at 10 backends, 1.24x at 50,
// 1.60x at 100 for size 65537); these bounds pin that behaviour with ~10 %
// margin. A bigger table (131071) reduces it.
struct disruption_bound {
    uint32_t backends;
    double total;       // moved positions / ideal (size / backends)
    double unaffected;  // positions moved between backends not added/removed / ideal
};
constexpr disruption_bound bounds[] = {{10, 1.08, 0.08}, {50, 1.35, 0.35}, {100, 1.75, 0.75}};

TEST(maglev, removing_one_of_n_moves_about_one_nth) {
    for (auto [n, total_bound, unaffected_bound] : bounds) {
        auto b = backends(n);
        auto before = maglev_table::build(b, maglev_default_size);
        uint64_t gone = b[n / 2].key;
        b.erase(b.begin() + n / 2);
        std::vector<maglev_change> delta;
        auto after = maglev_table::build(b, maglev_default_size, &before, &delta);
        double ideal = double(maglev_default_size) / n;
        // Every position the removed backend owned must move...
        uint32_t owned = shares(before)[gone];
        EXPECT_GE(delta.size(), owned);
        // ...and little else: Maglev's extra disruption stays within a few %.
        EXPECT_LE(delta.size(), ideal * total_bound) << n << " backends";
        EXPECT_LE(moved_from_unaffected(delta, before, after, gone), ideal * unaffected_bound) << n;
        for (auto &c : delta) {
            EXPECT_EQ(after.entries()[c.position], c.current);
            EXPECT_NE(before.owner_key(c.position), after.owner_key(c.position));
        }
        // Positions not in the delta keep their owner.
        std::vector<bool> changed(maglev_default_size, false);
        for (auto &c : delta) changed[c.position] = true;
        for (uint32_t p = 0; p < maglev_default_size; p++) {
            if (!changed[p]) {
                ASSERT_EQ(before.owner_key(p), after.owner_key(p));
            }
        }
    }
}

TEST(maglev, adding_one_moves_about_one_over_n_plus_one) {
    for (auto [n, total_bound, unaffected_bound] : bounds) {
        auto b = backends(n);
        auto before = maglev_table::build(b, maglev_default_size);
        maglev_backend added{424242, 10};
        b.push_back(added);
        std::vector<maglev_change> delta;
        auto after = maglev_table::build(b, maglev_default_size, &before, &delta);
        double ideal = double(maglev_default_size) / (n + 1);
        uint32_t gained = shares(after)[added.key];
        EXPECT_NEAR(gained, ideal, ideal * 0.02);
        EXPECT_GE(delta.size(), gained);
        EXPECT_LE(delta.size(), ideal * total_bound) << n << " backends";
        EXPECT_LE(moved_from_unaffected(delta, before, after, added.key), ideal * unaffected_bound)
            << n;
    }
}

TEST(maglev, weight_change_moves_only_what_it_must) {
    auto b = backends(20);
    auto before = maglev_table::build(b, maglev_default_size);
    b[3].weight = 5;  // halves one backend's share
    std::vector<maglev_change> delta;
    auto after = maglev_table::build(b, maglev_default_size, &before, &delta);
    double ideal = maglev_default_size / 20.0;
    EXPECT_GE(delta.size(), ideal * 0.45);
    EXPECT_LE(delta.size(), ideal * 1.0);
}

TEST(maglev, client_lookups_spread_over_backends) {
    auto b = backends(4);
    auto t = maglev_table::build(b, maglev_default_size);
    std::vector<uint32_t> n(4, 0);
    for (uint32_t i = 0; i < 40000; i++) {
        uint32_t be = __builtin_bswap32(0xc6120000u + i);  // 198.18.x.x
        uint32_t idx = t.lookup(ip_addr::from_v4_be(be));
        ASSERT_LT(idx, 4u);
        n[idx]++;
    }
    for (uint32_t c : n) EXPECT_NEAR(c, 10000, 600);
    // The same client always maps to the same backend.
    auto a = ip_addr::from_v4_be(0x0b0012c6u);
    EXPECT_EQ(t.lookup(a), t.lookup(a));
}

}  // namespace
}  // namespace nlb
