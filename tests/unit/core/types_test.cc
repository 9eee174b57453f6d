/* SPDX-License-Identifier: Apache-2.0 */
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/types.h"

namespace nlb {
namespace {

TEST(ip_addr, parses_and_formats_both_families) {
    ip_addr a{};
    ip_family f{};
    ASSERT_TRUE(parse_ip("198.18.1.1", &a, &f));
    EXPECT_EQ(f, ip_family::v4);
    EXPECT_EQ(a.bytes[0], 198);
    EXPECT_EQ(a.bytes[3], 1);
    for (int i = 4; i < 16; i++) EXPECT_EQ(a.bytes[i], 0);
    EXPECT_EQ(format_ip(a, f), "198.18.1.1");

    ASSERT_TRUE(parse_ip("2001:2:0:18::2", &a, &f));
    EXPECT_EQ(f, ip_family::v6);
    EXPECT_EQ(format_ip(a, f), "2001:2:0:18::2");
}

TEST(ip_addr, rejects_bad_text_and_leaves_output_alone) {
    ip_addr a = ip_addr::from_v4_be(0x01020304);
    ip_family f = ip_family::v4;
    for (const char *bad : {"", "198.18.1", "198.18.1.256", "1.2.3.4 ", "2001:::1", "x"}) {
        EXPECT_FALSE(parse_ip(bad, &a, &f)) << bad;
        EXPECT_EQ(a, ip_addr::from_v4_be(0x01020304));
    }
}

TEST(ip_prefix, contains_exactly_the_addresses_under_its_length) {
    ip_prefix p;
    ASSERT_TRUE(parse_ip("198.18.0.0", &p.addr, &p.family));
    p.length = 15;
    ip_addr a{};
    ip_family f{};
    ASSERT_TRUE(parse_ip("198.19.255.1", &a, &f));
    EXPECT_TRUE(prefix_contains(p, a));
    ASSERT_TRUE(parse_ip("198.20.0.1", &a, &f));
    EXPECT_FALSE(prefix_contains(p, a));
    ASSERT_TRUE(parse_ip("2001:2::", &p.addr, &p.family));
    p.length = 48;
    ASSERT_TRUE(parse_ip("2001:2:0:ffff::1", &a, &f));
    EXPECT_TRUE(prefix_contains(p, a));
    ASSERT_TRUE(parse_ip("2001:3::1", &a, &f));
    EXPECT_FALSE(prefix_contains(p, a));
    p.length = 0;
    EXPECT_TRUE(prefix_contains(p, a)) << "/0 contains everything";
}

TEST(flow_key, equal_only_when_every_byte_is) {
    flow_key a{};
    a.src = ip_addr::from_v4_be(0x0A0012C6u);  // 198.18.0.10
    a.dst = ip_addr::from_v4_be(0x010112C6u);  // 198.18.1.1
    a.sport = 0x3412;
    a.dport = 0x5000;
    a.proto = 6;
    a.family = ip_family::v4;
    flow_key b = a;
    EXPECT_TRUE(a == b);
    // One bit flipped at each of the 40 byte positions (both 16-byte halves and the tail).
    for (size_t i = 0; i < sizeof(flow_key); i++) {
        for (uint8_t bit : {uint8_t{0x01}, uint8_t{0x80}}) {
            flow_key c = a;
            reinterpret_cast<uint8_t *>(&c)[i] ^= bit;
            EXPECT_FALSE(a == c) << "byte " << i;
            EXPECT_FALSE(c == a) << "byte " << i;
        }
    }
}

TEST(drop_reason, every_reason_has_a_unique_name) {
    std::set<std::string> names;
    for (std::size_t i = 0; i < drop_reason_count; i++) {
        std::string n = drop_reason_name(static_cast<drop_reason>(i));
        EXPECT_NE(n, "unknown") << i;
        EXPECT_TRUE(names.insert(n).second) << n;
    }
}

}  // namespace
}  // namespace nlb
