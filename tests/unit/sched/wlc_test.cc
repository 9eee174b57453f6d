/* SPDX-License-Identifier: Apache-2.0 */
#include <gtest/gtest.h>

#include <vector>

#include "sched/wlc.h"
#include "sched/worker_sched.h"

namespace nlb {
namespace {

struct fake_backends {
    std::vector<uint32_t> weight, active;
    std::vector<bool> usable;
    uint32_t pick(uint32_t start) {
        return wlc_pick(
            weight.size(), start, [&](uint32_t i) { return weight[i]; },
            [&](uint32_t i) { return active[i]; }, [&](uint32_t i) { return bool(usable[i]); });
    }
};

TEST(wlc, picks_fewest_connections_per_weight) {
    fake_backends b{{10, 20, 10}, {5, 8, 4}, {true, true, true}};
    // ratios 0.5, 0.4, 0.4: the first of the two minima from start.
    EXPECT_EQ(b.pick(0), 1u);
    EXPECT_EQ(b.pick(2), 2u);
    b.active = {5, 11, 4};  // 0.5, 0.55, 0.4
    EXPECT_EQ(b.pick(0), 2u);
}

TEST(wlc, skips_weight_zero_and_unusable) {
    fake_backends b{{0, 10, 10}, {0, 3, 1}, {true, true, false}};
    EXPECT_EQ(b.pick(0), 1u);
    b.usable = {true, false, false};
    EXPECT_EQ(b.pick(0), sched_none);
    fake_backends empty{};
    EXPECT_EQ(empty.pick(0), sched_none);
}

TEST(wlc, large_counts_do_not_overflow) {
    fake_backends b{{100, 1}, {4000000000u, 39999999u}, {true, true}};
    // 40000000/100 = 4e7 > 39999999/1
    EXPECT_EQ(b.pick(0), 1u);
}

// A worker's picks, with counts updated as connections open, converge to the
// weight proportions, and a rotating start shares ties evenly.
TEST(wlc, spreads_new_connections_in_weight_proportions) {
    wlc_counts counts(8);
    std::vector<uint32_t> weights = {10, 20, 30, 40};
    std::vector<uint32_t> gen = {1, 1, 7, 1};
    std::vector<uint32_t> got(4, 0);
    for (uint32_t n = 0; n < 1000; n++) {
        uint32_t b = wlc_pick(
            4, n, [&](uint32_t i) { return weights[i]; },
            [&](uint32_t i) { return counts.active(i, gen[i]); }, [](uint32_t) { return true; });
        ASSERT_NE(b, sched_none);
        counts.opened({b, gen[b]});
        got[b]++;
    }
    EXPECT_EQ(got, (std::vector<uint32_t>{100, 200, 300, 400}));

    // Equal, idle backends share new connections when each closes at once.
    wlc_counts idle(4);
    std::vector<uint32_t> shares(4, 0);
    for (uint32_t n = 0; n < 400; n++) {
        uint32_t b = wlc_pick(
            4, n, [](uint32_t) { return 10u; }, [&](uint32_t i) { return idle.active(i, 1); },
            [](uint32_t) { return true; });
        idle.opened({b, 1});
        idle.closed({b, 1});
        shares[b]++;
    }
    EXPECT_EQ(shares, (std::vector<uint32_t>{100, 100, 100, 100}));
}

TEST(wlc_counts, generation_change_resets_and_ignores_stale_closes) {
    wlc_counts c(4);
    c.opened({2, 5});
    c.opened({2, 5});
    EXPECT_EQ(c.active(2, 5), 2u);
    EXPECT_EQ(c.active(2, 6), 0u);
    c.closed({2, 5});
    EXPECT_EQ(c.active(2, 5), 1u);
    c.opened({2, 6});  // slot reused by a new backend
    EXPECT_EQ(c.active(2, 6), 1u);
    EXPECT_EQ(c.active(2, 5), 0u);
    c.closed({2, 5});  // close of the old backend's connection: ignored
    EXPECT_EQ(c.active(2, 6), 1u);
    c.closed({2, 6});
    c.closed({2, 6});  // never below 0
    EXPECT_EQ(c.active(2, 6), 0u);
    c.opened({9, 1});  // beyond capacity: ignored
    EXPECT_EQ(c.active(9, 1), 0u);
}

TEST(worker_sched, cursors_are_per_service_and_staggered_per_worker) {
    worker_sched w0(4, 16, 0), w1(4, 16, 1);
    EXPECT_NE(*w0.cursor(0), *w1.cursor(0));
    *w0.cursor(1) = 42;
    EXPECT_EQ(*w0.cursor(1), 42u);
    EXPECT_NE(*w0.cursor(0), 42u);
    EXPECT_NE(w0.cursor(100), nullptr);  // out of range still gives a cursor
    EXPECT_EQ(w0.counts().capacity(), 16u);
}

}  // namespace
}  // namespace nlb
