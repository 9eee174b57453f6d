/* SPDX-License-Identifier: Apache-2.0 */
#include <gtest/gtest.h>

#include "pipeline/route_table.h"

namespace nlb {
namespace {

ip_addr ip(const char *s) {
    ip_addr a{};
    ip_family f{};
    EXPECT_TRUE(parse_ip(s, &a, &f)) << s;
    return a;
}

TEST(route_table, connected_prefixes_win_over_the_default) {
    route_table r;
    std::string err;
    ASSERT_TRUE(r.add_connected(ip("198.18.0.1"), ip_family::v4, 24, 0, &err));
    ASSERT_TRUE(r.add_connected(ip("198.19.0.1"), ip_family::v4, 24, 1, &err));
    ASSERT_TRUE(r.add_connected(ip("198.19.0.128"), ip_family::v4, 25, 2, &err));
    ASSERT_TRUE(r.add_connected(ip("2001:2:0:18::1"), ip_family::v6, 64, 0, &err));
    ASSERT_TRUE(r.set_default(ip("198.18.0.254"), ip_family::v4, &err));

    next_hop nh{};
    ASSERT_TRUE(r.lookup(ip("198.19.0.11"), ip_family::v4, &nh));
    EXPECT_EQ(nh.port, 1);
    EXPECT_EQ(nh.gateway, ip("198.19.0.11"));
    ASSERT_TRUE(r.lookup(ip("198.19.0.200"), ip_family::v4, &nh));
    EXPECT_EQ(nh.port, 2) << "longest prefix first";
    ASSERT_TRUE(r.lookup(ip("198.18.5.5"), ip_family::v4, &nh));
    EXPECT_EQ(nh.port, 0);
    EXPECT_EQ(nh.gateway, ip("198.18.0.254"));
    ASSERT_TRUE(r.lookup(ip("2001:2:0:18::2"), ip_family::v6, &nh));
    EXPECT_EQ(nh.port, 0);
    EXPECT_FALSE(r.lookup(ip("2001:2:0:99::2"), ip_family::v6, &nh)) << "no v6 default";
    EXPECT_TRUE(r.is_connected(ip("198.19.0.5"), ip_family::v4, 1));
    EXPECT_FALSE(r.is_connected(ip("198.19.0.5"), ip_family::v4, 0));
}

TEST(route_table, rejects_bad_prefixes_and_offlink_gateways) {
    route_table r;
    std::string err;
    EXPECT_FALSE(r.add_connected(ip("198.18.0.1"), ip_family::v4, 33, 0, &err));
    EXPECT_NE(err.find("out of range"), std::string::npos);
    EXPECT_FALSE(r.add_connected(ip("198.18.0.1"), ip_family::v4, 0, 0, &err));
    ASSERT_TRUE(r.add_connected(ip("198.18.0.1"), ip_family::v4, 24, 0, &err));
    EXPECT_FALSE(r.set_default(ip("198.20.0.1"), ip_family::v4, &err));
    EXPECT_NE(err.find("not on any port"), std::string::npos);
    next_hop nh{};
    EXPECT_FALSE(r.lookup(ip("198.20.0.9"), ip_family::v4, &nh));
}

}  // namespace
}  // namespace nlb
