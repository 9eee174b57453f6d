/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-process tests of the pure validation functions (control/validation.h):
 * path levels, names, addresses and page sizes, without a server.
 */
#include "validation.h"

#include <gtest/gtest.h>

namespace nlb::control {
namespace {

bool path_ok(const std::string &p) {
    violations v;
    check_path("path", p, v);
    return v.empty();
}

TEST(validation, path_levels_length_and_characters) {
    EXPECT_TRUE(path_ok("/"));
    EXPECT_TRUE(path_ok("/a/b/c/d/e"));
    EXPECT_TRUE(path_ok("/a/b/c/d/e/"));  // a trailing slash is no extra level
    EXPECT_FALSE(path_ok("/a/b/c/d/e/f"));
    EXPECT_TRUE(path_ok("/a//b"));  // empty segments are not levels
    EXPECT_FALSE(path_ok(""));
    EXPECT_FALSE(path_ok("a/b"));
    EXPECT_TRUE(path_ok("/" + std::string(99, 'x')));
    EXPECT_FALSE(path_ok("/" + std::string(100, 'x')));
    EXPECT_FALSE(path_ok("/a\tb"));
    EXPECT_FALSE(path_ok("/caf\xc3\xa9"));
    EXPECT_TRUE(path_ok("/status?verbose=1&x=%20"));
}

TEST(validation, ids) {
    violations v;
    check_id("f", std::string(64, 'a'), v);
    check_id("f", "a.b_c-D9", v);
    EXPECT_TRUE(v.empty());
    for (const std::string &bad : {std::string(65, 'a'), std::string(), std::string("a b"),
                                   std::string("a/b"), std::string("\xc3\xa9")}) {
        violations w;
        check_id("f", bad, w);
        ASSERT_EQ(w.size(), 1u) << bad;
        EXPECT_EQ(w[0].field, "f");
    }
}

TEST(validation, canonical_ip) {
    EXPECT_EQ(canonical_ip("198.18.0.1"), "198.18.0.1");
    EXPECT_EQ(canonical_ip("2001:2:0:0::1"), "2001:2::1");
    EXPECT_EQ(canonical_ip("::ffff:198.18.0.1"), "::ffff:198.18.0.1");
    EXPECT_FALSE(canonical_ip("198.18.0.256"));
    EXPECT_FALSE(canonical_ip("198.18.0"));
    EXPECT_FALSE(canonical_ip(" 198.18.0.1"));
    EXPECT_FALSE(canonical_ip("example.com"));
}

TEST(validation, page_size) {
    violations v;
    EXPECT_EQ(page_size_or_default(0, v), 50);
    EXPECT_EQ(page_size_or_default(1, v), 1);
    EXPECT_EQ(page_size_or_default(1000, v), 1000);
    EXPECT_EQ(page_size_or_default(1001, v), 1000);
    EXPECT_TRUE(v.empty());
    page_size_or_default(-1, v);
    EXPECT_EQ(v.size(), 1u);
}

TEST(validation, every_violation_is_reported) {
    v1::BackendService bs;
    bs.set_port(0);
    bs.mutable_health_check()->set_timeout_seconds(61);
    bs.mutable_health_check()->set_path("/x");
    auto v = validate_backend_service(bs, "b");
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[0].field, "b.port");
    EXPECT_EQ(v[1].field, "b.health_check.timeout_seconds");
    EXPECT_EQ(v[2].field, "b.health_check.path");
}

}  // namespace
}  // namespace nlb::control
