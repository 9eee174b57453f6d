/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every profile in drivers-cfg/ loads through the loader, on its own and as
 * the profile of a port, and the documented families are all there.
 */
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "config.h"

using namespace nlb::dataplane;

namespace {

std::set<std::string> profile_names() {
    std::set<std::string> names;
    for (const auto &e : std::filesystem::directory_iterator(NLB_SOURCE_DRIVERS_CFG))
        if (e.path().extension() == ".conf") names.insert(e.path().stem().string());
    return names;
}

TEST(profiles, every_documented_family_has_a_profile) {
    std::set<std::string> names = profile_names();
    for (const char *want :
         {"mlx5", "ixgbe", "i40e", "ice", "virtio", "af_packet", "af_xdp", "tap", "memif", "ring"})
        EXPECT_TRUE(names.count(want)) << "drivers-cfg/" << want << ".conf is missing";
}

// RX queue interrupts (the deep idle stage waits for them) are asked for exactly where the
// DPDK 22.11 driver implements them; the others would only log a refusal at start.
TEST(profiles, rx_interrupts_where_the_driver_gives_them) {
    auto load = [](const std::string &name) {
        return load_profile(std::string(NLB_SOURCE_DRIVERS_CFG) + "/" + name + ".conf");
    };
    for (const char *name : {"mlx5", "ixgbe", "i40e", "ice", "virtio", "tap"}) {
        profile_result p = load(name);
        ASSERT_TRUE(p.ok()) << p.error;
        EXPECT_TRUE(p.profile->rx_interrupts) << name;
    }
    for (const char *name : {"af_packet", "af_xdp", "memif", "ring"}) {
        profile_result p = load(name);
        ASSERT_TRUE(p.ok()) << p.error;
        EXPECT_FALSE(p.profile->rx_interrupts) << name;
    }
}

TEST(profiles, every_profile_loads_alone_and_as_a_port_default) {
    std::set<std::string> names = profile_names();
    ASSERT_FALSE(names.empty());
    load_options opt;
    opt.drivers_cfg_dir = NLB_SOURCE_DRIVERS_CFG;
    for (const std::string &name : names) {
        SCOPED_TRACE(name);
        profile_result p = load_profile(std::string(NLB_SOURCE_DRIVERS_CFG) + "/" + name + ".conf");
        ASSERT_TRUE(p.ok()) << p.error;
        EXPECT_EQ(p.profile->name, name);
        EXPECT_FALSE(p.profile->driver.empty());
        EXPECT_LE(p.profile->mtu, p.profile->max_mtu);
        EXPECT_LE(p.profile->min_descriptors, p.profile->rx_descriptors);
        EXPECT_LE(p.profile->rx_descriptors, p.profile->max_descriptors);
        if (p.profile->is_vdev) {
            EXPECT_EQ(p.profile->devargs.rfind(p.profile->driver, 0), 0u)
                << "a vdev template starts with its driver";
            EXPECT_NE(p.profile->devargs.find("{index}"), std::string::npos)
                << "vdev names must be unique per port";
        }

        std::string device = p.profile->is_vdev ? "iface = \"veth-" + name.substr(0, 8) + "\";"
                                                : "pci = \"0000:03:00.0\";";
        std::string text =
            "eal = { lcores = \"0-1\"; no_huge = true; };\n"
            "mempool = { size = 131071; };\n"
            "ports = ( { profile = \"" +
            name + "\"; " + device + " role = \"both\"; ipv4 = \"198.18.0.1/24\"; } );\n";
        config_result c = load_config_string(text, name + "-port.conf", opt);
        ASSERT_TRUE(c.ok()) << c.error;
        const port_config &port = c.config->ports[0];
        EXPECT_EQ(port.mtu, p.profile->mtu);
        EXPECT_EQ(port.rx_descriptors, p.profile->rx_descriptors);
        EXPECT_EQ(port.promiscuous, p.profile->promiscuous);
        EXPECT_EQ(port.rx_interrupts, p.profile->rx_interrupts);
        EXPECT_EQ(port.tx_offloads, p.profile->tx_offloads);
        EXPECT_EQ(port.rx_queues, 1);  // one worker
        EXPECT_EQ(port.tx_queues, p.profile->paired_queues ? 1 : 2);
        if (p.profile->is_vdev) {
            EXPECT_EQ(port.device_name().rfind(p.profile->driver, 0), 0u) << port.vdev;
            EXPECT_EQ(port.vdev.find('{'), std::string::npos) << "template fully expanded";
        }
    }
}

}  // namespace
