/* SPDX-License-Identifier: Apache-2.0 */
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "snapshot/snapshot_manager.h"
#include "spec_helpers.h"

namespace nlb {
namespace {

using namespace std::chrono_literals;

// Counts the snapshots the manager frees, and remembers them.
struct freed_log {
    std::atomic<int> count{0};
    std::vector<uint64_t> versions;  // writer thread only
    snapshot_manager::reclaimer reclaimer() {
        return [this](snapshot *s) {
            versions.push_back(s->version);
            count++;
            delete s;
        };
    }
};

std::unique_ptr<snapshot> make(uint64_t version) {
    auto s = std::make_unique<snapshot>();
    s->version = version;
    return s;
}

std::unique_ptr<snapshot_manager> manager(unsigned workers, freed_log *log) {
    std::string error;
    auto m = snapshot_manager::create(workers, &error, log ? log->reclaimer() : nullptr);
    EXPECT_TRUE(m) << error;
    return m;
}

TEST(snapshot_manager, refuses_bad_worker_counts) {
    std::string error;
    EXPECT_EQ(snapshot_manager::create(0, &error), nullptr);
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(snapshot_manager::create(max_workers + 1, &error), nullptr);
}

TEST(snapshot_manager, offline_workers_do_not_hold_publication) {
    freed_log log;
    auto m = manager(4, &log);
    EXPECT_EQ(m->current(), nullptr);
    EXPECT_TRUE(m->publish(make(1)));
    EXPECT_EQ(m->current()->version, 1u);
    EXPECT_TRUE(m->publish(make(2), 1s));  // nobody online: immediate
    EXPECT_EQ(m->current()->version, 2u);
    EXPECT_EQ(log.count, 1);
    EXPECT_EQ(m->retired(), 0u);
    EXPECT_EQ(m->publications(), 2u);
}

// publish() returns only after an online worker passed a quiescent state, and
// frees the old snapshot only then.
TEST(snapshot_manager, publish_waits_for_online_workers) {
    freed_log log;
    auto m = manager(2, &log);
    m->publish(make(1));
    std::atomic<int> phase{0};
    std::atomic<uint64_t> seen_after{0};
    std::thread worker([&] {
        m->online(1);
        const snapshot *held = m->current();
        phase = 1;
        while (phase.load() != 2) std::this_thread::sleep_for(1ms);
        // Still ours: not freed even though a newer one was published.
        EXPECT_EQ(held->magic, snapshot::magic_live);
        EXPECT_EQ(held->version, 1u);
        m->quiescent(1);
        seen_after = m->current()->version;
        m->offline(1);
    });
    while (phase.load() != 1) std::this_thread::sleep_for(1ms);
    auto done = std::async(std::launch::async, [&] { return m->publish(make(2)); });
    EXPECT_EQ(done.wait_for(50ms), std::future_status::timeout);
    EXPECT_EQ(log.count, 0);
    phase = 2;
    EXPECT_TRUE(done.get());
    worker.join();
    EXPECT_EQ(log.count, 1);
    EXPECT_EQ(log.versions, std::vector<uint64_t>{1});
    EXPECT_EQ(seen_after, 2u);
}

TEST(snapshot_manager, wait_limit_keeps_the_old_snapshot_until_reclaimed) {
    freed_log log;
    auto m = manager(1, &log);
    m->publish(make(1));
    std::atomic<int> phase{0};
    std::thread worker([&] {
        m->online(0);
        (void)m->current();
        phase = 1;
        while (phase.load() != 2) std::this_thread::sleep_for(1ms);
        m->quiescent(0);
        phase = 3;
        while (phase.load() != 4) std::this_thread::sleep_for(1ms);
        m->offline(0);
    });
    while (phase.load() != 1) std::this_thread::sleep_for(1ms);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(m->publish(make(2), 20ms));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
    EXPECT_EQ(m->current()->version, 2u);  // published all the same
    EXPECT_EQ(m->retired(), 1u);
    EXPECT_EQ(log.count, 0);
    EXPECT_EQ(m->reclaim(), 0u);
    phase = 2;
    while (phase.load() != 3) std::this_thread::sleep_for(1ms);
    EXPECT_EQ(m->reclaim(), 1u);
    EXPECT_EQ(log.count, 1);
    phase = 4;
    worker.join();
}

// The RCU variable is shared with other structures (the connection table):
// a token they take is acknowledged by the same quiescent() calls.
TEST(snapshot_manager, shares_its_rcu_variable) {
    auto m = manager(2, nullptr);
    rte_rcu_qsbr *v = m->rcu();
    ASSERT_NE(v, nullptr);
    m->online(0);
    uint64_t t = rte_rcu_qsbr_start(v);
    EXPECT_EQ(rte_rcu_qsbr_check(v, t, false), 0);  // worker 0 online, not yet quiescent
    m->quiescent(0);
    EXPECT_EQ(rte_rcu_qsbr_check(v, t, false), 1);  // worker 1 is offline: not waited for
    m->offline(0);
}

TEST(snapshot_manager, destructor_frees_current_and_retired) {
    freed_log log;
    {
        auto m = manager(1, &log);
        m->publish(make(1));
        m->online(0);  // this thread plays a worker that never reports
        EXPECT_FALSE(m->publish(make(2), 1ms));
        EXPECT_FALSE(m->publish(make(3), 1ms));
        EXPECT_EQ(m->retired(), 2u);
        m->offline(0);
    }
    EXPECT_EQ(log.count, 3);
}

}  // namespace
}  // namespace nlb
