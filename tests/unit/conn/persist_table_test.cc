/* SPDX-License-Identifier: Apache-2.0 */
#include "conn/persist_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "conn_test_util.h"

namespace nlb {
namespace {

using test::v4;
using test::v6;

std::unique_ptr<persist_table> make(uint64_t cap) {
    std::string err;
    auto t = persist_table::create(cap, &err);
    EXPECT_NE(t, nullptr) << err;
    return t;
}

TEST(persist_table, create_rejects_zero) {
    std::string err;
    EXPECT_EQ(persist_table::create(0, &err), nullptr);
    EXPECT_FALSE(err.empty());
}

TEST(persist_table, update_lookup_per_client_and_service) {
    auto t = make(100);
    ip_addr a = v4(0xc6120002), b = v6(2);
    ASSERT_TRUE(t->update(a, 1, persist_table::hash(a, 1), {4, 9}, 60, 0));
    ASSERT_TRUE(t->update(b, 1, persist_table::hash(b, 1), {5, 9}, 60, 0));
    backend_ref out{};
    EXPECT_TRUE(t->lookup(a, 1, persist_table::hash(a, 1), 10, &out));
    EXPECT_EQ(out, (backend_ref{4, 9}));
    EXPECT_TRUE(t->lookup(b, 1, persist_table::hash(b, 1), 10, &out));
    EXPECT_EQ(out, (backend_ref{5, 9}));
    EXPECT_FALSE(t->lookup(a, 2, persist_table::hash(a, 2), 10, &out));  // other service
    // Replacing the backend keeps one entry.
    ASSERT_TRUE(t->update(a, 1, persist_table::hash(a, 1), {6, 1}, 60, 20));
    EXPECT_TRUE(t->lookup(a, 1, persist_table::hash(a, 1), 30, &out));
    EXPECT_EQ(out, (backend_ref{6, 1}));
    EXPECT_EQ(t->count_live(30), 2u);
}

TEST(persist_table, timeout_and_refresh_on_activity) {
    auto t = make(100);
    ip_addr a = v4(0xc6120002);
    uint32_t h = persist_table::hash(a, 3);
    ASSERT_TRUE(t->update(a, 3, h, {1, 1}, 10, 1000));
    backend_ref out;
    EXPECT_TRUE(t->lookup(a, 3, h, 10999, &out));
    EXPECT_FALSE(t->lookup(a, 3, h, 11000, &out));  // 10 s idle: gone
    ASSERT_TRUE(t->update(a, 3, h, {1, 1}, 10, 20000));
    EXPECT_TRUE(t->touch(a, 3, h, 29000));           // activity
    EXPECT_TRUE(t->lookup(a, 3, h, 38999, &out));     // 10 s after the touch
    EXPECT_FALSE(t->lookup(a, 3, h, 39000, &out));
    EXPECT_FALSE(t->touch(a, 3, h, 39000));           // too late to refresh
    EXPECT_EQ(t->count_live(39000), 0u);
}

TEST(persist_table, erase_forgets) {
    auto t = make(10);
    ip_addr a = v4(7);
    uint32_t h = persist_table::hash(a, 1);
    ASSERT_TRUE(t->update(a, 1, h, {2, 2}, 100, 0));
    EXPECT_TRUE(t->erase(a, 1, h));
    backend_ref out;
    EXPECT_FALSE(t->lookup(a, 1, h, 1, &out));
    EXPECT_FALSE(t->erase(a, 1, h));
}

TEST(persist_table, expired_slots_are_reused_and_capacity_is_fixed) {
    const uint64_t cap = 1000;
    auto t = make(cap);
    uint64_t stored = 0;
    for (uint32_t i = 0; i < 3 * cap; i++) {
        ip_addr a = v4(i + 1);
        if (t->update(a, 1, persist_table::hash(a, 1), {i, 0}, 5, 0)) stored++;
    }
    EXPECT_GE(stored, cap * 9 / 10);            // the probe window fills the table well
    EXPECT_LE(stored, t->slot_count());
    EXPECT_EQ(t->count_live(1), stored);
    // Once expired, the same slots take new clients.
    uint64_t later = 0;
    for (uint32_t i = 0; i < cap; i++) {
        ip_addr a = v4(100000 + i);
        if (t->update(a, 1, persist_table::hash(a, 1), {i, 1}, 5, 10000)) later++;
    }
    EXPECT_GE(later, cap * 95 / 100);
    EXPECT_EQ(t->count_live(10001), later);
    uint64_t seen = 0;
    t->for_each(10001, [&](const persist_entry &e) {
        EXPECT_EQ(e.backend.generation, 1u);
        seen++;
    });
    EXPECT_EQ(seen, later);
}

TEST(persist_table, concurrent_readers_never_see_torn_entries) {
    // Writers store backend {x, ~x} for client x; readers check the pair.
    auto t = make(256);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> bad{0}, hits{0};
    auto writer = [&](uint32_t seed) {
        uint32_t n = seed;
        while (!stop.load(std::memory_order_relaxed)) {
            n = n * 1103515245u + 12345u;
            uint32_t client = (n >> 8) % 512;
            ip_addr a = v4(client + 1);
            uint32_t x = n;
            t->update(a, 1, persist_table::hash(a, 1), {x, ~x ^ client}, 100, 0);
        }
    };
    auto reader = [&]() {
        uint32_t n = 7;
        while (!stop.load(std::memory_order_relaxed)) {
            n = n * 1103515245u + 12345u;
            uint32_t client = (n >> 8) % 512;
            ip_addr a = v4(client + 1);
            backend_ref out;
            if (t->lookup(a, 1, persist_table::hash(a, 1), 1, &out)) {
                hits.fetch_add(1, std::memory_order_relaxed);
                if (out.generation != (~out.index ^ client)) bad.fetch_add(1);
            }
        }
    };
    std::vector<std::thread> th;
    th.emplace_back(writer, 1);
    th.emplace_back(writer, 2);
    th.emplace_back(reader);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    stop = true;
    for (auto &x : th) x.join();
    EXPECT_EQ(bad.load(), 0u);
    EXPECT_GT(hits.load(), 0u);
}

}  // namespace
}  // namespace nlb
