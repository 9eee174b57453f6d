/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mempool exhaustion and full TX queues, in one process (no root, no NIC): the
 * worker loop (apps/dataplane/worker_loop.h) on two net_ring ports whose TX
 * rings nobody drains, and the main lcore's slow path polled by the test
 * thread, all with one small mbuf pool of their own. Every packet is either
 * sent (it sits in a TX ring) or dropped and counted under its reason
 * (tx_full, slow_path_full, no_mbuf, no_neighbour), and once the TX rings are
 * drained the pool's in-use count is back at its start value: nothing leaks.
 */
#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring_elem.h>

#include <pthread.h>
#include <sched.h>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "eal_test_main.h"
#include "pipeline/testbed.h"
#include "slow_path.h"
#include "test_frames.h"
#include "worker_loop.h"

namespace nlb::dataplane {
namespace {

using namespace std::chrono_literals;

constexpr unsigned pool_size = 511;    // 2^9 - 1: the mempool's best size
constexpr unsigned tx_ring_size = 32;  // holds 31
constexpr unsigned tx_ring_room = tx_ring_size - 1;
constexpr unsigned worker_ring_size = 64;  // slow / resolve / tx rings of the worker: hold 63

/** A TCP SYN 198.18.0.2:sport -> VIP:port in an mbuf of `pool` (nullptr when the pool is empty). */
rte_mbuf *syn(rte_mempool *pool, uint16_t in_port, uint16_t port, uint16_t sport) {
    rte_mbuf *m = test::syn_mbuf(pool, testbed::vip(ip_family::v4), port, sport);
    if (m) m->port = in_port;
    return m;
}

/** An ARP request from 198.18.0.2 for the client port's address 198.18.0.1. */
rte_mbuf *arp_request(rte_mempool *pool, uint16_t in_port) {
    uint8_t f[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0xcc, 0, 0,    0,   2,  8, 6,
                     0,    1,    8,    0,    6,    4,    0, 1,    2, 0xcc, 0,   0,  0, 2,
                     198,  18,   0,    2,    0,    0,    0, 0,    0, 0,    198, 18, 0, 1};
    rte_mbuf *m = rte_pktmbuf_alloc(pool);
    if (!m) return nullptr;
    std::memcpy(rte_pktmbuf_append(m, 60), f, 60);
    m->port = in_port;
    return m;
}

struct ring_port {
    rte_ring *rx = nullptr, *tx = nullptr;
    uint16_t id = 0;
};

struct fixture : ::testing::Test {
    testbed tb{[] {
        testbed_config c;
        c.workers = 2;  // RCU reader 0: the worker, 1: the slow path
        return c;
    }()};
    rte_mempool *pool = nullptr;
    ring_port ports[2];
    worker_context ctx;
    std::unique_ptr<worker> w;
    std::unique_ptr<slow_path> sp;
    std::atomic<bool> stop{false};
    std::thread thread;
    unsigned start_in_use = 0;
    const std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();

    /*
     * The slow path's clock: starts near the testbed's neighbour entries (learnt at 0), so
     * none of them ages (and gets probed, from the pool) while a test runs.
     */
    uint32_t clock_ms() const {
        return 1000 + static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - t0)
                                                .count());
    }

    void SetUp() override {
        static int n = 0;
        const std::string id = std::to_string(n++);
        pool = rte_pktmbuf_pool_create(("mx_pool" + id).c_str(), pool_size, 0, 0,
                                       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
        ASSERT_NE(pool, nullptr);
        for (int p = 0; p < 2; p++) {
            const std::string pid = id + "_" + std::to_string(p);
            ports[p].rx =
                rte_ring_create(("mx_rx" + pid).c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
            ports[p].tx = rte_ring_create(("mx_tx" + pid).c_str(), tx_ring_size, 0,
                                          RING_F_SP_ENQ | RING_F_SC_DEQ);
            const int port =
                rte_eth_from_rings(("net_mx" + pid).c_str(), &ports[p].rx, 1, &ports[p].tx, 1, 0);
            ASSERT_GE(port, 0);
            ports[p].id = static_cast<uint16_t>(port);
            rte_eth_conf conf{};
            ASSERT_EQ(rte_eth_dev_configure(ports[p].id, 1, 1, &conf), 0);
            ASSERT_EQ(rte_eth_rx_queue_setup(ports[p].id, 0, 64, 0, nullptr, pool), 0);
            ASSERT_EQ(rte_eth_tx_queue_setup(ports[p].id, 0, 64, 0, nullptr), 0);
            ASSERT_EQ(rte_eth_dev_start(ports[p].id), 0);
        }
        w = std::make_unique<worker>(0, tb.dp);
        ctx.pipeline = w.get();
        ctx.dp = &tb.dp;
        ctx.n_ports = 2;
        ctx.port_ids[0] = ports[0].id;
        ctx.port_ids[1] = ports[1].id;
        ctx.stop = &stop;
        std::string error;
        static unsigned rings = 200;  // ring names derive from the index: unique per test
        ctx.index = rings++;
        ASSERT_TRUE(create_worker_rings(&ctx, worker_ring_size, &error)) << error;
        ctx.index = 0;

        // Port 80: three backends with known MACs; port 81: one backend nobody answers for.
        service_spec unresolved =
            testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 81, 1);
        unresolved.backends[0].addr = testbed::addr("198.19.0.99");
        tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80, 3),
                    unresolved});

        slow_path_config c;
        c.dp = &tb.dp;
        c.neighbours = tb.neighbours.get();
        c.pool = pool;
        c.port_ids[0] = ports[0].id;
        c.port_ids[1] = ports[1].id;
        c.slow_rings = {ctx.slow_ring};
        c.resolve_rings = {ctx.resolve_ring};
        c.tx_ring = ctx.tx_ring;
        c.rcu_id = 1;
        c.probe_interval_ms = 20;
        c.max_probes = 2;
        c.max_queued = 4;
        sp = std::make_unique<slow_path>(c);

        thread = std::thread(worker_main, &ctx);
        cpu_set_t all;  // EAL pinned this thread to one CPU; let the worker run anywhere
        CPU_ZERO(&all);
        for (int cpu = 0; cpu < CPU_SETSIZE && cpu < 64; cpu++) CPU_SET(cpu, &all);
        pthread_setaffinity_np(thread.native_handle(), sizeof(all), &all);

        // The slow path's first poll announces the VIP (gratuitous ARP): let it go out, then
        // start from empty TX rings.
        poll_until([] { return false; }, 100ms);
        drain_tx(0);
        drain_tx(1);
        start_in_use = rte_mempool_in_use_count(pool);
    }

    void TearDown() override {
        stop = true;
        if (thread.joinable()) thread.join();
        sp.reset();
        free_worker_rings(&ctx);
        for (auto &p : ports) {
            rte_eth_dev_stop(p.id);
            rte_eth_dev_close(p.id);
            rte_mbuf *m;
            for (rte_ring *r : {p.rx, p.tx}) {
                while (rte_ring_dequeue(r, reinterpret_cast<void **>(&m)) == 0) rte_pktmbuf_free(m);
                rte_ring_free(r);
            }
        }
        if (pool) {
            EXPECT_EQ(rte_mempool_in_use_count(pool), 0u) << "mbufs leaked";
            rte_mempool_free(pool);
        }
    }

    /** Polls the slow path (as the main lcore does) until done() or the time is up. */
    bool poll_until(const std::function<bool()> &done, std::chrono::milliseconds limit = 10s) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < end) {
            sp->poll(clock_ms());
            if (done()) return true;
            std::this_thread::sleep_for(1ms);
        }
        return done();
    }

    unsigned drain_tx(int p) {
        unsigned n = 0;
        rte_mbuf *m;
        while (rte_ring_dequeue(ports[p].tx, reinterpret_cast<void **>(&m)) == 0) {
            rte_pktmbuf_free(m);
            n++;
        }
        return n;
    }

    uint64_t worker_drops(drop_reason r) const {
        return w->counters().drops[static_cast<unsigned>(r)].get();
    }
    uint64_t slow_drops(drop_reason r) const {
        return sp->counters().drops[static_cast<unsigned>(r)].get();
    }
    bool rings_idle() const {
        return rte_ring_count(ports[0].rx) == 0 && rte_ring_count(ports[1].rx) == 0 &&
               rte_ring_count(ctx.slow_ring) == 0 && rte_ring_count(ctx.resolve_ring) == 0 &&
               rte_ring_count(ctx.tx_ring) == 0;
    }
    unsigned in_use() const { return rte_mempool_in_use_count(pool); }
};

TEST_F(fixture, a_full_tx_queue_drops_and_counts_and_leaks_nothing) {
    // 300 SYNs to port 80: each is forwarded to the backend port, whose TX ring holds 31.
    constexpr unsigned n = 300;
    const uint64_t tx_before = ctx.counters.tx_packets.get();
    for (unsigned i = 0; i < n; i++) {
        rte_mbuf *m = syn(pool, ports[0].id, 80, static_cast<uint16_t>(20000 + i));
        ASSERT_NE(m, nullptr);
        ASSERT_EQ(rte_ring_enqueue(ports[0].rx, m), 0);
    }
    ASSERT_TRUE(poll_until([&] {
        return rings_idle() && worker_drops(drop_reason::tx_full) == n - tx_ring_room;
    })) << "tx_full "
        << worker_drops(drop_reason::tx_full);
    EXPECT_EQ(ctx.counters.tx_packets.get() - tx_before, tx_ring_room);
    EXPECT_EQ(rte_ring_count(ports[1].tx), tx_ring_room);
    // What was sent sits in the TX ring; everything refused went back to the pool.
    EXPECT_EQ(in_use(), start_in_use + tx_ring_room);
    EXPECT_EQ(drain_tx(1), tx_ring_room);
    EXPECT_EQ(in_use(), start_in_use);
    EXPECT_EQ(w->counters().new_conns.get(), n);  // every SYN was handled, not lost
}

TEST_F(fixture, the_main_lcores_rings_and_tx_full_drop_and_count_and_leak_nothing) {
    // 200 ARP requests for the client port's address while the slow path is not polled: the
    // worker's ring to the main lcore holds 63 (slow_path_full for the rest). Polled, the slow
    // path answers those 63 through the worker's TX ring, the client port's TX ring takes 31
    // and refuses 32 (tx_full).
    constexpr unsigned n = 200, room = worker_ring_size - 1;
    for (unsigned i = 0; i < n; i++) {
        rte_mbuf *m = arp_request(pool, ports[0].id);
        ASSERT_NE(m, nullptr);
        ASSERT_EQ(rte_ring_enqueue(ports[0].rx, m), 0);
    }
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (rte_ring_count(ctx.slow_ring) + worker_drops(drop_reason::slow_path_full) < n &&
           std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(1ms);
    EXPECT_EQ(rte_ring_count(ctx.slow_ring), room);
    EXPECT_EQ(worker_drops(drop_reason::slow_path_full), n - room);
    EXPECT_EQ(in_use(), start_in_use + room);
    ASSERT_TRUE(poll_until([&] {
        return rings_idle() && worker_drops(drop_reason::tx_full) == room - tx_ring_room;
    })) << "tx_full "
        << worker_drops(drop_reason::tx_full);
    EXPECT_EQ(sp->counters().arp_replies_sent.get(), room);
    EXPECT_EQ(rte_ring_count(ports[0].tx), tx_ring_room);
    EXPECT_EQ(in_use(), start_in_use + tx_ring_room);
    EXPECT_EQ(drain_tx(0), tx_ring_room);
    EXPECT_EQ(in_use(), start_in_use);
}

TEST_F(fixture, an_empty_pool_drops_and_counts_and_leaks_nothing) {
    // Every mbuf of the pool is taken: 4 SYNs to the service whose backend has no known MAC,
    // the rest ballast the test holds. The worker hands the SYNs to the slow path to resolve
    // the next hop; the slow path queues them (max_queued 4, so none is freed meanwhile) and
    // cannot build the ARP probe (no_mbuf); after its max_probes attempts it gives up and
    // drops the 4 queued (no_neighbour).
    constexpr unsigned n = 4;
    std::vector<rte_mbuf *> held;
    for (unsigned i = 0; i < n; i++) {
        rte_mbuf *m = syn(pool, ports[0].id, 81, static_cast<uint16_t>(30000 + i));
        ASSERT_NE(m, nullptr);
        held.push_back(m);
    }
    std::vector<rte_mbuf *> ballast;
    struct release {
        std::vector<rte_mbuf *> &v;
        ~release() {
            for (rte_mbuf *m : v) rte_pktmbuf_free(m);
            v.clear();
        }
    } release_ballast{ballast};
    while (rte_mbuf *m = rte_pktmbuf_alloc(pool)) ballast.push_back(m);
    ASSERT_EQ(rte_mempool_avail_count(pool), 0u);
    EXPECT_EQ(rte_pktmbuf_alloc(pool), nullptr);
    for (rte_mbuf *m : held) ASSERT_EQ(rte_ring_enqueue(ports[0].rx, m), 0);

    ASSERT_TRUE(poll_until([&] {
        return rings_idle() && sp->pending() == 0 && slow_drops(drop_reason::no_neighbour) == n;
    })) << "no_neighbour "
        << slow_drops(drop_reason::no_neighbour) << " pending " << sp->pending() << " no_mbuf "
        << slow_drops(drop_reason::no_mbuf) << " received " << sp->counters().received.get()
        << " rx ring " << rte_ring_count(ports[0].rx) << " resolve ring "
        << rte_ring_count(ctx.resolve_ring) << " slow ring " << rte_ring_count(ctx.slow_ring)
        << " tx ring " << rte_ring_count(ctx.tx_ring) << " clock " << clock_ms();
    EXPECT_GE(slow_drops(drop_reason::no_mbuf), 1u);  // the probes that could not be built
    EXPECT_EQ(sp->counters().probes_sent.get(), 0u);
    // Every SYN went back to the pool; only the ballast is in use.
    EXPECT_EQ(in_use(), start_in_use + ballast.size());
    for (rte_mbuf *m : ballast) rte_pktmbuf_free(m);
    ballast.clear();
    EXPECT_EQ(in_use(), start_in_use);

    // With mbufs again, the same next hop is probed: the probe leaves on the backend port.
    rte_mbuf *m = syn(pool, ports[0].id, 81, 31000);
    ASSERT_NE(m, nullptr);
    ASSERT_EQ(rte_ring_enqueue(ports[0].rx, m), 0);
    ASSERT_TRUE(poll_until([&] { return sp->counters().probes_sent.get() >= 1; }));
    ASSERT_TRUE(poll_until([&] { return rings_idle() && sp->pending() == 0; }))
        << "pending " << sp->pending() << " probes " << sp->counters().probes_sent.get()
        << " clock " << clock_ms();
    drain_tx(1);
    EXPECT_EQ(in_use(), start_in_use);
}

}  // namespace
}  // namespace nlb::dataplane
