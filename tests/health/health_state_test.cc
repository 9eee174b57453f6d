/* SPDX-License-Identifier: Apache-2.0 */
/* The socket-free parts of the prober: rule 8 state machine, status line, request. */
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "health_state.h"

namespace nlb::health {
namespace {

TEST(HealthState, InitialBecomesHealthyOnFirstSuccess) {
    target_state st;
    EXPECT_TRUE(apply_result(st, true, "", 3, 3));
    EXPECT_EQ(st.st, status::healthy);
    EXPECT_EQ(st.probes, 1u);
    EXPECT_EQ(st.consecutive_ok, 1u);
}

TEST(HealthState, InitialBecomesUnhealthyAfterExactlyThresholdFailures) {
    target_state st;
    EXPECT_FALSE(apply_result(st, false, "refused", 3, 3));
    EXPECT_FALSE(apply_result(st, false, "refused", 3, 3));
    EXPECT_EQ(st.st, status::initial);
    EXPECT_TRUE(apply_result(st, false, "timeout", 3, 3));
    EXPECT_EQ(st.st, status::unhealthy);
    EXPECT_EQ(st.last_failure, "timeout");
    EXPECT_EQ(st.failures, 3u);
    EXPECT_EQ(st.consecutive_fail, 3u);
}

TEST(HealthState, HealthyNeedsConsecutiveFailures) {
    target_state st;
    apply_result(st, true, "", 2, 2);
    EXPECT_FALSE(apply_result(st, false, "refused", 2, 2));
    EXPECT_FALSE(apply_result(st, true, "", 2, 2));  // the run of failures restarts
    EXPECT_FALSE(apply_result(st, false, "refused", 2, 2));
    EXPECT_EQ(st.st, status::healthy);
    EXPECT_TRUE(apply_result(st, false, "refused", 2, 2));
    EXPECT_EQ(st.st, status::unhealthy);
}

TEST(HealthState, UnhealthyNeedsHealthyThresholdSuccesses) {
    target_state st;
    apply_result(st, false, "refused", 3, 1);
    ASSERT_EQ(st.st, status::unhealthy);
    EXPECT_FALSE(apply_result(st, true, "", 3, 1));
    EXPECT_FALSE(apply_result(st, true, "", 3, 1));
    EXPECT_TRUE(apply_result(st, true, "", 3, 1));
    EXPECT_EQ(st.st, status::healthy);
    EXPECT_EQ(st.last_failure, "refused");  // kept for the view
}

TEST(HealthState, ThresholdZeroActsAsOne) {
    target_state st;
    EXPECT_TRUE(apply_result(st, false, "refused", 0, 0));
    EXPECT_TRUE(apply_result(st, true, "", 0, 0));
}

TEST(HealthState, LoweredThresholdAppliesAtNextResult) {
    target_state st;
    apply_result(st, true, "", 5, 5);
    apply_result(st, false, "x", 5, 5);
    apply_result(st, false, "x", 5, 5);
    EXPECT_EQ(st.st, status::healthy);
    EXPECT_TRUE(apply_result(st, false, "x", 5, 2));  // 3 >= the new threshold 2
}

TEST(StatusLine, Parses) {
    unsigned code = 0;
    EXPECT_EQ(parse_status_line("HTTP/1.1 200 OK\r\n", &code), status_line_result::ok);
    EXPECT_EQ(code, 200u);
    EXPECT_EQ(parse_status_line("HTTP/1.0 503\r\n", &code), status_line_result::ok);
    EXPECT_EQ(code, 503u);
}

TEST(StatusLine, EveryPrefixNeedsMore) {
    const std::string line = "HTTP/1.1 404 Not Found\r\n";
    unsigned code = 0;
    for (size_t i = 0; i <= 12; ++i)
        EXPECT_EQ(parse_status_line(line.substr(0, i), &code), status_line_result::need_more) << i;
    EXPECT_EQ(parse_status_line(line.substr(0, 13), &code), status_line_result::ok);
    EXPECT_EQ(code, 404u);
}

TEST(StatusLine, RejectsGarbage) {
    unsigned code = 0;
    EXPECT_EQ(parse_status_line("SSH-2.0-Open", &code), status_line_result::bad);
    EXPECT_EQ(parse_status_line("HTTP/2 200 ", &code), status_line_result::bad);
    EXPECT_EQ(parse_status_line("HTTP/1.1 2x0 ", &code), status_line_result::bad);
    EXPECT_EQ(parse_status_line("HTTP/1.1 2000", &code), status_line_result::bad);
    EXPECT_EQ(parse_status_line("HTTP/1.1 099 ", &code), status_line_result::bad);
    EXPECT_EQ(parse_status_line("h", &code), status_line_result::bad);
}

TEST(StatusLine, NormalClasses) {
    EXPECT_TRUE(status_is_normal(200, class_2xx));
    EXPECT_TRUE(status_is_normal(299, class_2xx));
    EXPECT_FALSE(status_is_normal(301, class_2xx));
    EXPECT_TRUE(status_is_normal(301, class_2xx | class_3xx));
    EXPECT_FALSE(status_is_normal(404, class_2xx | class_3xx));
    EXPECT_TRUE(status_is_normal(404, class_4xx));
    EXPECT_FALSE(status_is_normal(503, class_2xx | class_3xx | class_4xx));
    EXPECT_FALSE(status_is_normal(101, class_2xx | class_3xx | class_4xx));
}

TEST(HttpRequest, DefaultHostIsAddressAndPort) {
    check_settings s;
    s.m = method::http;
    s.path = "/healthz";
    ip_addr a{};
    inet_pton(AF_INET, "198.18.0.11", a.bytes);
    EXPECT_EQ(build_http_request(s, a, ip_family::v4, 8080),
              "GET /healthz HTTP/1.1\r\nHost: 198.18.0.11:8080\r\nConnection: close\r\n"
              "User-Agent: nlb-health/1\r\nAccept: */*\r\n\r\n");
    ip_addr b{};
    inet_pton(AF_INET6, "2001:2::1", b.bytes);
    EXPECT_NE(build_http_request(s, b, ip_family::v6, 80).find("Host: [2001:2::1]:80\r\n"),
              std::string::npos);
    s.host = "app.example";
    EXPECT_NE(build_http_request(s, a, ip_family::v4, 80).find("Host: app.example\r\n"),
              std::string::npos);
}

TEST(HttpRequest, SettingsCannotInjectLines) {
    check_settings s;
    s.path = "/a b\r\nX-Evil: 1";
    s.host = "h\r\nX-Evil: 2";
    ip_addr a{};
    const std::string req = build_http_request(s, a, ip_family::v4, 80);
    EXPECT_EQ(req.rfind("GET /a%20b%0D%0AX-Evil:%201 HTTP/1.1\r\nHost: hX-Evil:2\r\n", 0), 0u)
        << req;
    EXPECT_EQ(req.find("\r\nX-Evil"), std::string::npos);
}

}  // namespace
}  // namespace nlb::health
