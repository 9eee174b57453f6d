/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port bring-up on vdevs under EAL --no-huge --no-pci (eal_test_main): a
 * net_ring port loops what it sends back to its RX queue, net_null reports
 * RSS, and failures come back as "Failed to <step> port N (DEVICE): ...".
 */
#include <gtest/gtest.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstring>
#include <string>

#include "config.h"
#include "eal_test_main.h"
#include "ports.h"

using namespace nlb::dataplane;

namespace {

// A fresh vdev per test, so tests do not depend on each other's stop/close.
std::string make_vdev(const char *driver) {
    static int n = 10;
    std::string name = std::string(driver) + std::to_string(n++);
    EXPECT_EQ(rte_dev_probe(name.c_str()), 0) << name;
    return name;
}

port_config vdev_port(const std::string &vdev, uint16_t queues) {
    port_config p;
    p.name = "test";
    p.vdev = vdev;
    p.role = port_role::both;
    p.rx_queues = queues;
    p.tx_queues = queues;
    p.rx_descriptors = 256;
    p.tx_descriptors = 256;
    p.rss_hash = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
    return p;
}

TEST(ports, ring_port_starts_and_loops_packets_per_queue) {
    port_config cfg = vdev_port(make_vdev("net_ring"), 2);
    port_state st;
    std::string error;
    ASSERT_TRUE(start_port(cfg, 0, nlb::test::test_pool(), &st, &error)) << error;
    EXPECT_TRUE(st.started);
    EXPECT_EQ(st.device, cfg.vdev);
    EXPECT_EQ(st.rx_queues, 2);
    EXPECT_EQ(st.mtu, 1500);
    EXPECT_FALSE(st.rss_enabled);  // net_ring reports no RSS flow types
    EXPECT_EQ(format_mac(st.mac).size(), 17u);

    // What TX queue 1 sends comes back on RX queue 1 and nowhere else.
    rte_mbuf *m = rte_pktmbuf_alloc(nlb::test::test_pool());
    ASSERT_NE(m, nullptr);
    char *data = rte_pktmbuf_append(m, 64);
    ASSERT_NE(data, nullptr);
    std::memset(data, 0xab, 64);
    ASSERT_EQ(rte_eth_tx_burst(st.port_id, 1, &m, 1), 1);
    rte_mbuf *got[4];
    EXPECT_EQ(rte_eth_rx_burst(st.port_id, 0, got, 4), 0);
    ASSERT_EQ(rte_eth_rx_burst(st.port_id, 1, got, 4), 1);
    EXPECT_EQ(rte_pktmbuf_pkt_len(got[0]), 64u);
    rte_pktmbuf_free(got[0]);

    stop_port(&st);
    EXPECT_FALSE(st.started);
    stop_port(&st);  // twice is harmless
    uint16_t id;
    EXPECT_NE(rte_eth_dev_get_port_by_name(cfg.vdev.c_str(), &id), 0) << "closed and released";
}

TEST(ports, rss_is_enabled_where_the_device_reports_it) {
    port_config cfg = vdev_port(make_vdev("net_null"), 4);
    cfg.promiscuous = true;
    port_state st;
    std::string error;
    ASSERT_TRUE(start_port(cfg, 0, nlb::test::test_pool(), &st, &error)) << error;
    rte_eth_dev_info info;
    ASSERT_EQ(rte_eth_dev_info_get(st.port_id, &info), 0);
    ASSERT_NE(info.flow_type_rss_offloads & cfg.rss_hash, 0u) << "net_null reports RSS";
    EXPECT_TRUE(st.rss_enabled);
    EXPECT_EQ(st.rss_hash, cfg.rss_hash & info.flow_type_rss_offloads);
    EXPECT_TRUE(st.promiscuous);
    EXPECT_EQ(rte_eth_promiscuous_get(st.port_id), 1);
    link_status l = port_link(st);
    EXPECT_TRUE(l.up);               // net_null's link is up once started
    EXPECT_FALSE(st.rx_interrupts);  // not asked for
    stop_port(&st);

    // RX interrupts asked for: configured (net_null accepts the setting; whether its
    // queues raise any is for the worker to find out, worker_loop.h).
    cfg = vdev_port(make_vdev("net_null"), 1);
    cfg.rx_interrupts = true;
    ASSERT_TRUE(start_port(cfg, 2, nlb::test::test_pool(), &st, &error)) << error;
    EXPECT_TRUE(st.rx_interrupts);
    stop_port(&st);

    // One queue: no RSS even though the device has it.
    port_config one = vdev_port(make_vdev("net_null"), 1);
    ASSERT_TRUE(start_port(one, 1, nlb::test::test_pool(), &st, &error)) << error;
    EXPECT_FALSE(st.rss_enabled);
    stop_port(&st);
}

TEST(ports, missing_device_is_a_clear_error) {
    port_config cfg = vdev_port("net_ring99,nodeaction=x", 1);
    port_state st;
    std::string error;
    EXPECT_FALSE(start_port(cfg, 3, nlb::test::test_pool(), &st, &error));
    EXPECT_EQ(error.rfind("Failed to find port 3 (net_ring99): no such ethdev", 0), 0u) << error;
}

TEST(ports, too_many_queues_is_a_clear_error) {
    port_config cfg = vdev_port(make_vdev("net_ring"), 17);
    port_state st;
    std::string error;
    EXPECT_FALSE(start_port(cfg, 0, nlb::test::test_pool(), &st, &error));
    EXPECT_EQ(error, "Failed to configure port 0 (" + cfg.vdev +
                         "): 17 RX / 17 TX queues asked, the device has at most 16 / 16");
    EXPECT_FALSE(st.started);
}

TEST(ports, port_set_stops_what_it_started_when_a_later_port_fails) {
    port_config good = vdev_port(make_vdev("net_ring"), 1);
    port_config bad = vdev_port(make_vdev("net_ring"), 1);
    bad.rx_queues = bad.tx_queues = 40;
    port_set set;
    std::string error;
    EXPECT_FALSE(set.start_all({good, bad}, nlb::test::test_pool(), &error));
    EXPECT_NE(error.find("Failed to configure port 1 (" + bad.vdev + ")"), std::string::npos)
        << error;
    EXPECT_TRUE(set.ports().empty());
    uint16_t id;
    EXPECT_NE(rte_eth_dev_get_port_by_name(good.vdev.c_str(), &id), 0)
        << "the first port was stopped and closed";

    port_config a = vdev_port(make_vdev("net_ring"), 1), b = vdev_port(make_vdev("net_null"), 1);
    ASSERT_TRUE(set.start_all({a, b}, nlb::test::test_pool(), &error)) << error;
    ASSERT_EQ(set.ports().size(), 2u);
    EXPECT_EQ(set.ports()[1].index, 1u);
    EXPECT_EQ(set.ports()[1].device, b.vdev);
    set.stop_all();
    EXPECT_TRUE(set.ports().empty());
}

}  // namespace
