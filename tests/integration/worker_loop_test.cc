/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker loop (apps/dataplane/worker_loop.h) on two net_ring ports in one
 * process (no root, no NIC): a worker thread forwards a SYN to a NAT service
 * to the backend port with the backend's MAC, hands ARP to the slow ring and
 * packets for an unknown next hop to the resolve ring, transmits what the main
 * lcore puts on its TX ring, sleeps when idle (and goes offline in RCU, so a
 * publication does not wait for it), and stops when told.
 */
#include "worker_loop.h"

#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring_elem.h>

#include <pthread.h>
#include <sched.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "eal_test_main.h"
#include "net/parse.h"
#include "pipeline/testbed.h"
#include "test_frames.h"

namespace nlb::dataplane {
namespace {

using namespace std::chrono_literals;

/** A TCP SYN client -> dst:port as an mbuf. */
rte_mbuf *syn(const char *dst, uint16_t port, uint16_t sport) {
    return test::syn_mbuf(test::test_pool(), testbed::addr(dst), port, sport);
}

rte_mbuf *arp_request() {
    uint8_t f[60] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0xcc, 0, 0,    0,   2,  8, 6,
                     0,    1,    8,    0,    6,    4,    0, 1,    2, 0xcc, 0,   0,  0, 2,
                     198,  18,   0,    2,    0,    0,    0, 0,    0, 0,    198, 18, 0, 1};
    rte_mbuf *m = rte_pktmbuf_alloc(test::test_pool());
    std::memcpy(rte_pktmbuf_append(m, 60), f, 60);
    return m;
}

struct ring_port {
    rte_ring *rx = nullptr, *tx = nullptr;
    uint16_t id = 0;
};

struct fixture : ::testing::Test {
    testbed tb;
    ring_port ports[2];
    worker_context ctx;
    std::unique_ptr<worker> w;
    std::atomic<bool> stop{false};
    std::thread thread;

    void SetUp() override {
        static int n = 0;
        for (int p = 0; p < 2; p++) {
            const std::string id = std::to_string(n) + "_" + std::to_string(p);
            ports[p].rx =
                rte_ring_create(("wl_rx" + id).c_str(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
            ports[p].tx =
                rte_ring_create(("wl_tx" + id).c_str(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
            const int port =
                rte_eth_from_rings(("net_wl" + id).c_str(), &ports[p].rx, 1, &ports[p].tx, 1, 0);
            ASSERT_GE(port, 0);
            ports[p].id = static_cast<uint16_t>(port);
            rte_eth_conf conf{};
            ASSERT_EQ(rte_eth_dev_configure(ports[p].id, 1, 1, &conf), 0);
            ASSERT_EQ(rte_eth_rx_queue_setup(ports[p].id, 0, 64, 0, nullptr, test::test_pool()), 0);
            ASSERT_EQ(rte_eth_tx_queue_setup(ports[p].id, 0, 64, 0, nullptr), 0);
            ASSERT_EQ(rte_eth_dev_start(ports[p].id), 0);
        }
        n++;
        w = std::make_unique<worker>(0, tb.dp);
        ctx.pipeline = w.get();
        ctx.dp = &tb.dp;
        ctx.n_ports = 2;
        ctx.port_ids[0] = ports[0].id;
        ctx.port_ids[1] = ports[1].id;
        ctx.stop = &stop;
        ctx.backoff.sleep_after_us = 100;
        std::string error;
        // Ring names derive from the index: make them unique per test.
        static unsigned rings = 100;
        ctx.index = rings++;
        ASSERT_TRUE(create_worker_rings(&ctx, 256, &error)) << error;
        ctx.index = 0;
        tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80, 3)});
        start_worker();
    }
    void start_worker() {
        thread = std::thread(worker_main, &ctx);
        // EAL pinned this thread (and so the new one) to lcore 0's CPU; let the worker run on
        // any CPU so a spinning test thread does not delay its wake-ups.
        cpu_set_t all;
        CPU_ZERO(&all);
        for (int c = 0; c < CPU_SETSIZE && c < 64; c++) CPU_SET(c, &all);
        pthread_setaffinity_np(thread.native_handle(), sizeof(all), &all);
    }
    void TearDown() override {
        stop = true;
        if (thread.joinable()) thread.join();
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
    }

    /** Waits up to 2 s for one object on r. */
    template <class T>
    bool wait_one(rte_ring *r, T *out, size_t size = sizeof(void *)) {
        for (int i = 0; i < 2000; i++) {
            const int rc = size == sizeof(void *)
                               ? rte_ring_dequeue(r, reinterpret_cast<void **>(out))
                               : rte_ring_dequeue_elem(r, out, static_cast<unsigned>(size));
            if (rc == 0) return true;
            std::this_thread::sleep_for(1ms);
        }
        return false;
    }
};

TEST_F(fixture, forwards_a_syn_to_the_backend_port_with_its_mac) {
    ASSERT_EQ(rte_ring_enqueue(ports[0].rx, syn("198.18.1.1", 80, 40000)), 0);
    rte_mbuf *m = nullptr;
    ASSERT_TRUE(wait_one(ports[1].tx, &m));
    const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
    packet_meta meta;
    ASSERT_EQ(parse_packet(f, rte_pktmbuf_data_len(m), &meta), drop_reason::none);
    bool to_backend = false;
    for (unsigned b = 1; b <= 3; b++) {
        if (meta.key.dst == testbed::backend_addr(ip_family::v4, b)) {
            to_backend = std::memcmp(f, testbed::backend_mac(b).addr_bytes, 6) == 0;
        }
    }
    EXPECT_TRUE(to_backend);
    EXPECT_EQ(std::memcmp(f + 6, testbed::port_mac(1).addr_bytes, 6), 0);
    rte_pktmbuf_free(m);
    EXPECT_GE(ctx.counters.tx_packets.get(), 1u);
}

TEST_F(fixture, hands_arp_to_the_slow_ring_and_unknown_next_hops_to_the_resolve_ring) {
    ASSERT_EQ(rte_ring_enqueue(ports[0].rx, arp_request()), 0);
    rte_mbuf *m = nullptr;
    ASSERT_TRUE(wait_one(ctx.slow_ring, &m));
    rte_pktmbuf_free(m);

    // A service whose backend has no neighbour entry.
    service_spec s = testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 81, 1);
    s.backends[0].addr = testbed::addr("198.19.0.99");
    tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80, 3), s});
    ASSERT_EQ(rte_ring_enqueue(ports[0].rx, syn("198.18.1.1", 81, 40001)), 0);
    resolve_request r{};
    ASSERT_TRUE(wait_one(ctx.resolve_ring, &r, sizeof(r)));
    EXPECT_EQ(r.next_hop, testbed::addr("198.19.0.99"));
    EXPECT_EQ(r.port, 1);
    EXPECT_EQ(r.family, ip_family::v4);
    rte_pktmbuf_free(r.m);
}

TEST_F(fixture, transmits_what_the_main_lcore_queues) {
    rte_mbuf *m = arp_request();
    m->port = 1;
    ASSERT_EQ(rte_ring_enqueue(ctx.tx_ring, m), 0);
    rte_mbuf *out = nullptr;
    ASSERT_TRUE(wait_one(ports[1].tx, &out));
    EXPECT_EQ(out, m);
    rte_pktmbuf_free(out);
}

TEST_F(fixture, sleeps_when_idle_without_holding_up_publication_and_wakes_for_traffic) {
    std::this_thread::sleep_for(200ms);
    const uint64_t sleeps = ctx.counters.sleeps.get();
    EXPECT_GT(sleeps, 10u);
    // Publication waits only for online readers; an idle worker is offline most of the time.
    const auto t0 = std::chrono::steady_clock::now();
    tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80, 2)});
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    ASSERT_EQ(rte_ring_enqueue(ports[0].rx, syn("198.18.1.1", 80, 40002)), 0);
    rte_mbuf *m = nullptr;
    ASSERT_TRUE(wait_one(ports[1].tx, &m));
    rte_pktmbuf_free(m);
}

/*
 * Wake-up latency: a packet put on the RX ring after the worker has been idle
 * for `idle` until it leaves on the TX ring (the test thread spins on the ring).
 * Prints median and 90th percentile; asserts only that each packet was sent.
 */
std::vector<double> wake_latencies_us(fixture &f, std::chrono::milliseconds idle, int n) {
    std::vector<double> out;
    for (int i = 0; i < n; i++) {
        std::this_thread::sleep_for(idle);
        rte_mbuf *m = syn("198.18.1.1", 80, static_cast<uint16_t>(41000 + i));
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_EQ(rte_ring_enqueue(f.ports[0].rx, m), 0);
        rte_mbuf *sent = nullptr;
        while (rte_ring_dequeue(f.ports[1].tx, reinterpret_cast<void **>(&sent)) != 0) {
            if (std::chrono::steady_clock::now() - t0 > 1s) break;
        }
        out.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count());
        if (sent) rte_pktmbuf_free(sent);
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST_F(fixture, wakes_up_quickly_for_traffic_after_idling) {
    auto light = wake_latencies_us(*this, 5ms, 40);   // light sleeps (idle < deep_after_ms)
    auto deep = wake_latencies_us(*this, 120ms, 15);  // deep sleeps
    std::printf(
        "wake-up after 5 ms idle: median %.0f us, p90 %.0f us; after 120 ms idle: median %.0f us, "
        "p90 %.0f us\n",
        light[light.size() / 2], light[light.size() * 9 / 10], deep[deep.size() / 2],
        deep[deep.size() * 9 / 10]);
    // On a shared CI machine scheduling noise dominates (even the always-polling baseline
    // sees milliseconds when the CPUs are oversubscribed), so the figures are printed and
    // only delivery is asserted: every packet left within the 1 s limit.
    EXPECT_LT(light.back(), 1e6);
    EXPECT_LT(deep.back(), 1e6);
    // Baseline from the same run: the loop without back-off (always polling).
    stop = true;
    thread.join();
    stop = false;
    ctx.backoff.enabled = false;
    start_worker();
    auto spin = wake_latencies_us(*this, 5ms, 40);
    std::printf("baseline without back-off: median %.0f us, p90 %.0f us\n", spin[spin.size() / 2],
                spin[spin.size() * 9 / 10]);
}

TEST_F(fixture, stops_when_told) {
    stop = true;
    const auto t0 = std::chrono::steady_clock::now();
    thread.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    // Offline after stopping: a publication does not wait for it.
    const auto t1 = std::chrono::steady_clock::now();
    tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80, 1)});
    EXPECT_LT(std::chrono::steady_clock::now() - t1, 1s);
}

}  // namespace
}  // namespace nlb::dataplane
