/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker loop waiting for RX interrupts (worker_loop.h "RX interrupts") on
 * two real net_tap ports, in one process: the test writes frames into the tap
 * interfaces' kernel side with AF_PACKET sockets and reads what the worker
 * forwards on the other one. Needs root (tap devices); skips otherwise.
 *  - an idle worker reaches the deep stage and waits for interrupts: its CPU
 *    use falls to a few per cent, and a SYN sent after the silence wakes it and
 *    is forwarded to the backend port;
 *  - the same ports configured without interrupts: the worker says so and keeps
 *    timed sleeps (no interrupt waits), still forwarding;
 *  - ports made from drivers-cfg/tap.conf, as nlb-dataplane makes them, start
 *    with RX interrupts configured.
 */
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "config.h"
#include "eal_test_main.h"
#include "pipeline/testbed.h"
#include "ports.h"
#include "test_frames.h"
#include "worker_loop.h"

namespace nlb::dataplane {
namespace {

using namespace std::chrono_literals;

int packet_socket(const char *ifname) {
    const int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) return -1;
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    if (a.sll_ifindex == 0 || bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

struct fixture : ::testing::Test {
    testbed tb;
    uint16_t ids[2] = {};
    std::string vdevs[2];
    int in = -1, out = -1;
    worker_context ctx;
    std::unique_ptr<worker> w;
    std::atomic<bool> stop{false};
    std::thread thread;

    /** Two tap ports (nlbwi0, nlbwi1), with or without RX queue interrupts; the worker on them. */
    void start(bool interrupts) {
        static int n = 0;
        for (int p = 0; p < 2; p++) {
            vdevs[p] = "net_tap_wi" + std::to_string(n) + "_" + std::to_string(p);
            const std::string ifname = "nlbwi" + std::to_string(p);
            ASSERT_EQ(rte_vdev_init(vdevs[p].c_str(), ("iface=" + ifname).c_str()), 0);
            ASSERT_EQ(rte_eth_dev_get_port_by_name(vdevs[p].c_str(), &ids[p]), 0);
            std::ofstream("/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6") << "1";
            rte_eth_conf conf{};
            conf.intr_conf.rxq = interrupts ? 1 : 0;
            ASSERT_EQ(rte_eth_dev_configure(ids[p], 1, 1, &conf), 0);
            ASSERT_EQ(rte_eth_rx_queue_setup(ids[p], 0, 256, 0, nullptr, test::test_pool()), 0);
            ASSERT_EQ(rte_eth_tx_queue_setup(ids[p], 0, 256, 0, nullptr), 0);
            ASSERT_EQ(rte_eth_dev_start(ids[p]), 0);
        }
        n++;
        in = packet_socket("nlbwi0");
        out = packet_socket("nlbwi1");
        ASSERT_GE(in, 0);
        ASSERT_GE(out, 0);
        w = std::make_unique<worker>(0, tb.dp);
        ctx.pipeline = w.get();
        ctx.dp = &tb.dp;
        ctx.n_ports = 2;
        ctx.port_ids[0] = ids[0];
        ctx.port_ids[1] = ids[1];
        ctx.stop = &stop;
        ctx.rx_interrupts = true;  // asked for; the worker finds out whether the ports give them
        static unsigned rings = 300;
        ctx.index = rings++;
        std::string error;
        ASSERT_TRUE(create_worker_rings(&ctx, 256, &error)) << error;
        ctx.index = 0;
        tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80, 3)});
        thread = std::thread(worker_main, &ctx);
        cpu_set_t all;
        CPU_ZERO(&all);
        for (int c = 0; c < 64; c++) CPU_SET(c, &all);
        pthread_setaffinity_np(thread.native_handle(), sizeof(all), &all);
    }
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "skipped: needs root (net_tap devices)";
    }
    void TearDown() override {
        stop = true;
        if (thread.joinable()) thread.join();
        if (ctx.slow_ring) free_worker_rings(&ctx);
        if (in >= 0) close(in);
        if (out >= 0) close(out);
        for (int p = 0; p < 2; p++) {
            if (vdevs[p].empty()) continue;
            rte_eth_dev_stop(ids[p]);
            rte_eth_dev_close(ids[p]);
            rte_vdev_uninit(vdevs[p].c_str());
        }
    }
    double worker_cpu_s() {
        clockid_t c;
        timespec ts{};
        if (pthread_getcpuclockid(thread.native_handle(), &c) != 0 || clock_gettime(c, &ts) != 0)
            return 0;
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }
    /** Sends a SYN into nlbwi0; true when its NAT-forwarded copy comes out of nlbwi1 within 1 s. */
    bool forwarded(uint16_t sport) {
        uint8_t f[60], buf[2048];
        test::syn_frame(f, testbed::addr("198.18.1.1"), 80, sport);
        while (recv(out, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
        }
        if (send(in, f, sizeof(f), 0) != static_cast<ssize_t>(sizeof(f))) return false;
        const auto t0 = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - t0 < 1s) {
            sockaddr_ll from{};
            socklen_t fl = sizeof(from);
            const ssize_t got = recvfrom(out, buf, sizeof(buf), MSG_DONTWAIT,
                                         reinterpret_cast<sockaddr *>(&from), &fl);
            if (got >= 54 && from.sll_pkttype != PACKET_OUTGOING && buf[12] == 0x08 &&
                buf[13] == 0 && buf[23] == 6 && (buf[14 + 20 + 13] & 0x02) &&
                std::memcmp(buf + 6, testbed::port_mac(1).addr_bytes, 6) == 0)
                return true;
            std::this_thread::sleep_for(100us);
        }
        return false;
    }
};

TEST_F(fixture, an_idle_worker_waits_for_rx_interrupts_and_wakes_for_a_packet) {
    start(true);
    std::this_thread::sleep_for(300ms);  // past deep_after_ms (50 ms): the deep stage
    ASSERT_TRUE(ctx.counters.rx_interrupts.load()) << "the tap ports gave no RX interrupts";
    const double c0 = worker_cpu_s();
    const uint64_t waits0 = ctx.counters.intr_waits.get();
    std::this_thread::sleep_for(500ms);
    const double cpu = (worker_cpu_s() - c0) / 0.5 * 100.0;
    const uint64_t waits = ctx.counters.intr_waits.get() - waits0;
    std::printf("idle worker waiting for RX interrupts: %.1f %% of a CPU, %lu waits in 0.5 s\n",
                cpu, static_cast<unsigned long>(waits));
    // Timed deep sleeps of 30 us use ~22 % here; waits bounded by 1 ms about 1-2 %.
    EXPECT_LT(cpu, 10.0);
    EXPECT_GT(waits, 50u);    // about one per intr_timeout_ms (1 ms)
    EXPECT_LT(waits, 1000u);  // ... not a spin
    // Five SYNs, each after 150 ms of silence: each is forwarded, and at least one of them
    // (in practice all) ended a wait as an interrupt rather than at its timeout.
    const uint64_t wakeups0 = ctx.counters.intr_wakeups.get();
    for (uint16_t i = 0; i < 5; i++) {
        std::this_thread::sleep_for(150ms);
        EXPECT_TRUE(forwarded(static_cast<uint16_t>(42000 + i))) << "SYN " << i;
    }
    EXPECT_GE(ctx.counters.intr_wakeups.get() - wakeups0, 1u);
}

TEST_F(fixture, ports_without_interrupts_keep_the_timed_back_off) {
    start(false);
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(ctx.counters.rx_interrupts.load());
    EXPECT_EQ(ctx.counters.intr_waits.get(), 0u);
    EXPECT_GT(ctx.counters.sleeps.get(), 100u);  // timed sleeps of 20-30 us
    EXPECT_TRUE(forwarded(43000));
}

// The tap profile as nlb-dataplane uses it: one queue pair per worker (net_tap refuses more
// TX than RX queues) and RX interrupts configured.
TEST(tap_profile, ports_start_with_rx_interrupts) {
    if (geteuid() != 0) GTEST_SKIP() << "skipped: needs root (net_tap devices)";
    load_options opt;
    opt.drivers_cfg_dir = NLB_SOURCE_DRIVERS_CFG;
    config_result c = load_config_string(
        "eal = { lcores = \"0-1\"; no_huge = true; };\n"
        "ports = ( { profile = \"tap\"; iface = \"nlbwp0\"; role = \"client\";\n"
        "            ipv4 = \"198.18.0.1/24\"; },\n"
        "          { profile = \"tap\"; iface = \"nlbwp1\"; role = \"backend\";\n"
        "            ipv4 = \"198.19.0.1/24\"; } );\n",
        "tap.conf", opt);
    ASSERT_TRUE(c.ok()) << c.error;
    port_state st[2];
    for (unsigned p = 0; p < 2; p++) {
        const port_config &pc = c.config->ports[p];
        EXPECT_TRUE(pc.rx_interrupts);
        EXPECT_EQ(pc.rx_queues, pc.tx_queues);
        // What EAL does with the --vdev argument nlb-dataplane passes it.
        const size_t comma = pc.vdev.find(',');
        ASSERT_EQ(rte_vdev_init(pc.vdev.substr(0, comma).c_str(),
                                comma == std::string::npos ? "" : pc.vdev.c_str() + comma + 1),
                  0)
            << pc.vdev;
        std::string error;
        ASSERT_TRUE(start_port(pc, p, test::test_pool(), &st[p], &error)) << error;
        EXPECT_TRUE(st[p].rx_interrupts);
    }
    for (unsigned p = 0; p < 2; p++) {
        stop_port(&st[p]);
        rte_vdev_uninit(c.config->ports[p].device_name().c_str());
    }
}

}  // namespace
}  // namespace nlb::dataplane
