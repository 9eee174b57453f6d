/* SPDX-License-Identifier: Apache-2.0 */
/*
 * health_prober against real servers on 127.0.0.1 (port 0), no root:
 * TCP and HTTP probes, rule 8 thresholds counted exactly, failure reasons,
 * timeouts, edits that keep state, one instance in two services, fail open,
 * and a loop that keeps its schedule while many probes hang.
 */
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "health_prober.h"
#include "test_server.h"

namespace nlb::health {
namespace {

using namespace std::chrono_literals;
using test::http_mode;
using test::http_server;

ip_addr v4(const char *text) {
    ip_addr a{};
    inet_pton(AF_INET, text, a.bytes);
    return a;
}

target make_target(const std::string &service, const std::string &instance, uint16_t port,
                   const char *addr = "127.0.0.1") {
    target t;
    t.key = {service, instance};
    t.addr = v4(addr);
    t.family = ip_family::v4;
    t.traffic_port = port;
    return t;
}

check_settings tcp_check(std::chrono::milliseconds interval = 50ms, unsigned unhealthy = 3,
                         unsigned healthy = 3) {
    check_settings s;
    s.m = method::tcp;
    s.interval = interval;
    s.timeout = 300ms;
    s.unhealthy_threshold = unhealthy;
    s.healthy_threshold = healthy;
    return s;
}

check_settings http_check(const std::string &path = "/", unsigned unhealthy = 1) {
    check_settings s = tcp_check(50ms, unhealthy, 1);
    s.m = method::http;
    s.path = path;
    return s;
}

prober_options exact_options() {
    prober_options o;
    o.jitter = 0;
    o.spread_first_probe = false;
    return o;
}

/** prefix + number (spelled out: GCC 12 warns falsely on "literal" + std::string). */
std::string name(const char *prefix, int i) {
    std::string s(prefix);
    s.append(std::to_string(i));
    return s;
}

bool wait_for(const std::function<bool()> &pred, std::chrono::milliseconds limit = 3000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(2ms);
    }
    return pred();
}

/** Records every change with the target's state at that moment. */
struct change_log {
    struct item {
        target_key key;
        status from, to;
        std::string reason;
        target_state at;
    };
    std::mutex mu;
    std::vector<item> items;

    void attach(health_prober &p) {
        p.on_change(
            [this, &p](const target_key &k, status from, status to, const std::string &reason) {
                auto st = p.state(k);
                std::lock_guard lk(mu);
                items.push_back({k, from, to, reason, st.value_or(target_state{})});
            });
    }
    std::vector<item> of(const std::string &instance) {
        std::lock_guard lk(mu);
        std::vector<item> r;
        for (auto &i : items)
            if (i.key.instance == instance) r.push_back(i);
        return r;
    }
};

status status_of(const health_prober &p, const target_key &k) {
    auto st = p.state(k);
    return st ? st->st : status::initial;
}

/** Probes one HTTP target until it leaves INITIAL; returns its state. */
target_state judge_http(http_server &srv, const check_settings &s) {
    health_prober p(exact_options());
    EXPECT_TRUE(p.start());
    p.upsert(make_target("svc", "i1", srv.port()), s);
    EXPECT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) != status::initial; }));
    return p.state({"svc", "i1"}).value();
}

TEST(HealthProberTcp, ListeningServerBecomesHealthyOnFirstProbe) {
    http_server srv;
    health_prober p(exact_options());
    change_log log;
    log.attach(p);
    ASSERT_TRUE(p.start());
    p.upsert(make_target("svc", "i1", srv.port()), tcp_check());
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::healthy; }));
    ASSERT_TRUE(wait_for([&] { return log.of("i1").size() >= 1u; }));  // callbacks follow the state
    auto ch = log.of("i1");
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch[0].from, status::initial);
    EXPECT_EQ(ch[0].to, status::healthy);
    EXPECT_EQ(ch[0].reason, "");
    EXPECT_EQ(ch[0].at.probes, 1u);
    EXPECT_FALSE(p.service_fail_open("svc"));
}

TEST(HealthProberTcp, RefusedBecomesUnhealthyAfterExactlyThreshold) {
    health_prober p(exact_options());
    change_log log;
    log.attach(p);
    ASSERT_TRUE(p.start());
    p.upsert(make_target("svc", "i1", test::closed_port()), tcp_check(50ms, 3, 3));
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::unhealthy; }));
    ASSERT_TRUE(wait_for([&] { return log.of("i1").size() >= 1u; }));  // callbacks follow the state
    auto ch = log.of("i1");
    ASSERT_EQ(ch.size(), 1u);
    EXPECT_EQ(ch[0].from, status::initial);
    EXPECT_EQ(ch[0].to, status::unhealthy);
    EXPECT_EQ(ch[0].reason, "refused");
    EXPECT_EQ(ch[0].at.probes, 3u);
    EXPECT_EQ(ch[0].at.failures, 3u);
    EXPECT_EQ(p.state({"svc", "i1"})->last_failure, "refused");
}

TEST(HealthProberTcp, RecoversAfterExactlyHealthyThreshold) {
    const uint16_t port = test::closed_port();
    health_prober p(exact_options());
    change_log log;
    log.attach(p);
    ASSERT_TRUE(p.start());
    p.upsert(make_target("svc", "i1", port), tcp_check(50ms, 2, 3));
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::unhealthy; }));
    int lfd = test::listen_on("127.0.0.1", port);
    ASSERT_GE(lfd, 0);
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::healthy; }));
    ::close(lfd);
    ASSERT_TRUE(wait_for([&] { return log.of("i1").size() >= 2u; }));  // callbacks follow the state
    auto ch = log.of("i1");
    ASSERT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch[1].from, status::unhealthy);
    EXPECT_EQ(ch[1].to, status::healthy);
    EXPECT_EQ(ch[1].at.consecutive_ok, 3u);
    EXPECT_EQ(ch[1].at.probes, ch[1].at.failures + 3);
}

TEST(HealthProberTcp, HealthyNeedsConsecutiveFailuresToGoDown) {
    const uint16_t port = test::closed_port();
    int lfd = test::listen_on("127.0.0.1", port);
    ASSERT_GE(lfd, 0);
    health_prober p(exact_options());
    change_log log;
    log.attach(p);
    ASSERT_TRUE(p.start());
    p.upsert(make_target("svc", "i1", port), tcp_check(50ms, 3, 1));
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::healthy; }));
    ::close(lfd);
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::unhealthy; }));
    ASSERT_TRUE(wait_for([&] { return log.of("i1").size() >= 2u; }));  // callbacks follow the state
    auto ch = log.of("i1");
    ASSERT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch[1].at.consecutive_fail, 3u);
    EXPECT_EQ(ch[1].reason, "refused");
}

TEST(HealthProberHttp, StatusCodesAgainstNormalClasses) {
    http_server srv;
    srv.set(http_mode::status, 200);
    EXPECT_EQ(judge_http(srv, http_check()).st, status::healthy);
    srv.set(http_mode::status, 301);
    EXPECT_EQ(judge_http(srv, http_check()).st, status::healthy);  // 2xx+3xx by default
    srv.set(http_mode::status, 503);
    auto st = judge_http(srv, http_check());
    EXPECT_EQ(st.st, status::unhealthy);
    EXPECT_EQ(st.last_failure, "status 503");
    srv.set(http_mode::status, 404);
    st = judge_http(srv, http_check());
    EXPECT_EQ(st.st, status::unhealthy);
    EXPECT_EQ(st.last_failure, "status 404");
    auto with_4xx = http_check();
    with_4xx.normal_classes = class_2xx | class_4xx;
    EXPECT_EQ(judge_http(srv, with_4xx).st, status::healthy);
    srv.set(http_mode::status, 301);
    auto only_2xx = http_check();
    only_2xx.normal_classes = class_2xx;
    st = judge_http(srv, only_2xx);
    EXPECT_EQ(st.st, status::unhealthy);
    EXPECT_EQ(st.last_failure, "status 301");
}

TEST(HealthProberHttp, FailureReasons) {
    http_server srv;
    srv.set(http_mode::garbage);
    EXPECT_EQ(judge_http(srv, http_check()).last_failure, "bad response");
    srv.set(http_mode::close);
    EXPECT_EQ(judge_http(srv, http_check()).last_failure, "closed");
    srv.set(http_mode::reset);
    EXPECT_EQ(judge_http(srv, http_check()).last_failure, "reset");
    auto refused = http_check();
    health_prober p(exact_options());
    ASSERT_TRUE(p.start());
    p.upsert(make_target("svc", "i1", test::closed_port()), refused);
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::unhealthy; }));
    EXPECT_EQ(p.state({"svc", "i1"})->last_failure, "refused");
}

TEST(HealthProberHttp, HangTimesOutWithinTheTimeout) {
    http_server srv;
    srv.set(http_mode::hang);
    auto s = http_check();
    s.timeout = 200ms;
    s.interval = 1000ms;
    const auto t0 = std::chrono::steady_clock::now();
    auto st = judge_http(srv, s);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(st.last_failure, "timeout");
    EXPECT_GE(st.last_duration, 195ms);
    EXPECT_LE(st.last_duration, 350ms);
    EXPECT_LE(took, 600ms);
}

TEST(HealthProberHttp, SlowAnswerPassesInsideTimeoutOnly) {
    http_server srv;
    srv.set(http_mode::slow, 200);
    srv.set_delay(100ms);
    auto s = http_check();
    s.timeout = 400ms;
    s.interval = 1000ms;
    auto st = judge_http(srv, s);
    EXPECT_EQ(st.st, status::healthy);
    EXPECT_GE(st.last_duration, 95ms);
    srv.set_delay(300ms);
    s.timeout = 150ms;
    st = judge_http(srv, s);
    EXPECT_EQ(st.st, status::unhealthy);
    EXPECT_EQ(st.last_failure, "timeout");
}

TEST(HealthProberHttp, ResponseSplitAcrossWrites) {
    http_server srv;
    srv.set(http_mode::split, 204);
    auto st = judge_http(srv, http_check());
    EXPECT_EQ(st.st, status::healthy);
    srv.set(http_mode::split, 500);
    st = judge_http(srv, http_check());
    EXPECT_EQ(st.last_failure, "status 500");
}

TEST(HealthProberHttp, SendsConfiguredPathAndHost) {
    http_server srv;
    auto s = http_check("/a/b/c?ready=1");
    s.host = "app.example";
    judge_http(srv, s);
    auto reqs = srv.requests();
    ASSERT_GE(reqs.size(), 1u);
    EXPECT_EQ(reqs[0].rfind("GET /a/b/c?ready=1 HTTP/1.1\r\n", 0), 0u) << reqs[0];
    EXPECT_NE(reqs[0].find("\r\nHost: app.example\r\n"), std::string::npos);
    EXPECT_NE(reqs[0].find("\r\nConnection: close\r\n"), std::string::npos);
    s.host.clear();
    judge_http(srv, s);
    reqs = srv.requests();
    EXPECT_NE(reqs.back().find("\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) + "\r\n"),
              std::string::npos);
}

TEST(HealthProberHttp, CheckPortOverridesTrafficPort) {
    http_server srv;
    auto s = http_check("/port");
    s.port = srv.port();
    health_prober p(exact_options());
    ASSERT_TRUE(p.start());
    p.upsert(make_target("svc", "i1", test::closed_port()), s);
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::healthy; }));
}

TEST(HealthProberTcp, Ipv6Target) {
    int lfd = test::listen_on_v6_loopback();
    if (lfd < 0) GTEST_SKIP() << "no IPv6 loopback";
    const uint16_t port = test::port_of_v6(lfd);
    health_prober p(exact_options());
    ASSERT_TRUE(p.start());
    target t = make_target("svc", "i6", port);
    t.family = ip_family::v6;
    inet_pton(AF_INET6, "::1", t.addr.bytes);
    p.upsert(t, tcp_check(50ms, 1, 1));
    EXPECT_TRUE(wait_for([&] { return status_of(p, {"svc", "i6"}) == status::healthy; }));
    ::close(lfd);
    EXPECT_TRUE(wait_for([&] { return status_of(p, {"svc", "i6"}) == status::unhealthy; }));
    EXPECT_EQ(p.state({"svc", "i6"})->last_failure, "refused");
}

TEST(HealthProberHttp, SourceAddressIsBound) {
    http_server srv;
    auto o = exact_options();
    o.source_v4 = v4("127.0.0.2");
    health_prober p(o);
    ASSERT_TRUE(p.start());
    p.upsert(make_target("svc", "i1", srv.port()), http_check());
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::healthy; }));
    auto peers = srv.peers();
    ASSERT_FALSE(peers.empty());
    EXPECT_EQ(peers[0], "127.0.0.2");
}

TEST(HealthProberEdit, SettingsChangeKeepsStateAndApplyAtNextProbe) {
    http_server srv;
    health_prober p(exact_options());
    change_log log;
    log.attach(p);
    ASSERT_TRUE(p.start());
    const target t = make_target("svc", "i1", srv.port());
    auto s = http_check("/old");
    s.interval = 40ms;
    p.upsert(t, s);
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::healthy; }));
    ASSERT_TRUE(wait_for([&] { return srv.request_count() >= 3; }));
    const auto before = p.state({"svc", "i1"}).value();
    const size_t n0 = srv.request_count();
    s.path = "/new";
    s.interval = 60ms;
    s.unhealthy_threshold = 2;
    p.upsert(t, s);
    auto after = p.state({"svc", "i1"}).value();
    EXPECT_EQ(after.st, status::healthy);
    EXPECT_GE(after.probes, before.probes);
    ASSERT_TRUE(wait_for([&] { return srv.request_count() >= n0 + 3; }));
    auto reqs = srv.requests();
    // n0 may have been in flight with the old settings; every later one is new.
    for (size_t i = n0 + 1; i < reqs.size(); ++i)
        EXPECT_EQ(reqs[i].rfind("GET /new ", 0), 0u) << i << ": " << reqs[i];
    EXPECT_EQ(status_of(p, {"svc", "i1"}), status::healthy);
    EXPECT_EQ(log.of("i1").size(), 1u);  // never left HEALTHY
    // The new unhealthy threshold (2) applies: two 503s take it down.
    srv.set(http_mode::status, 503);
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i1"}) == status::unhealthy; }));
    ASSERT_TRUE(wait_for([&] { return log.of("i1").size() >= 2u; }));  // callbacks follow the state
    auto ch = log.of("i1");
    ASSERT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch[1].at.consecutive_fail, 2u);
    EXPECT_EQ(ch[1].reason, "status 503");
}

TEST(HealthProberEdit, UpdateServiceChangesEveryTargetOfThatServiceOnly) {
    http_server srv;
    health_prober p(exact_options());
    ASSERT_TRUE(p.start());
    auto s = http_check("/old");
    s.interval = 40ms;
    p.upsert(make_target("svc", "i1", srv.port()), s);
    p.upsert(make_target("svc", "i2", srv.port()), s);
    p.upsert(make_target("other", "i1", srv.port()), tcp_check(40ms, 1, 1));
    ASSERT_TRUE(wait_for([&] {
        return status_of(p, {"svc", "i1"}) == status::healthy &&
               status_of(p, {"svc", "i2"}) == status::healthy &&
               status_of(p, {"other", "i1"}) == status::healthy;
    }));
    s.path = "/new";
    EXPECT_EQ(p.update_service("svc", s), 2u);
    EXPECT_EQ(p.update_service("nothing", s), 0u);
    const size_t n0 = srv.request_count();
    ASSERT_TRUE(wait_for([&] { return srv.request_count() >= n0 + 6; }));
    auto reqs = srv.requests();
    for (size_t i = n0 + 2; i < reqs.size(); ++i)  // two may have been in flight
        EXPECT_EQ(reqs[i].rfind("GET /new ", 0), 0u) << i << ": " << reqs[i];
    EXPECT_EQ(status_of(p, {"svc", "i1"}), status::healthy);
    EXPECT_EQ(status_of(p, {"svc", "i2"}), status::healthy);
}

TEST(HealthProberEdit, SameInstanceInTwoServicesIsProbedPerService) {
    http_server srv;
    srv.set(http_mode::status, 503);
    health_prober p(exact_options());
    ASSERT_TRUE(p.start());
    p.upsert(make_target("svc-a", "i1", srv.port()), tcp_check(40ms, 1, 1));
    auto s = http_check("/b");
    s.interval = 200ms;
    p.upsert(make_target("svc-b", "i1", srv.port()), s);
    ASSERT_TRUE(wait_for([&] {
        return status_of(p, {"svc-a", "i1"}) == status::healthy &&
               status_of(p, {"svc-b", "i1"}) == status::unhealthy;
    }));
    EXPECT_EQ(p.state({"svc-b", "i1"})->last_failure, "status 503");
    EXPECT_EQ(p.state({"svc-a", "i1"})->last_failure, "");
    std::this_thread::sleep_for(600ms);
    const auto a = p.state({"svc-a", "i1"})->probes;
    const auto b = p.state({"svc-b", "i1"})->probes;
    EXPECT_GE(a, 3 * b) << a << " vs " << b;  // 40 ms vs 200 ms intervals
    EXPECT_TRUE(p.service_fail_open("svc-b"));
    EXPECT_FALSE(p.service_fail_open("svc-a"));
}

TEST(HealthProberService, FailOpenWhenNoInstanceIsHealthy) {
    http_server srv;
    health_prober p(exact_options());
    std::mutex mu;
    std::vector<std::pair<std::string, bool>> flips;
    p.on_fail_open([&](const std::string &svc, bool fo) {
        std::lock_guard lk(mu);
        flips.emplace_back(svc, fo);
    });
    auto s = tcp_check(100ms, 1, 1);
    const uint16_t dead = test::closed_port();
    p.upsert(make_target("svc", "i1", dead), s);
    p.upsert(make_target("svc", "i2", dead), s);
    EXPECT_FALSE(p.service_fail_open("svc"));  // all INITIAL: nothing judged yet
    ASSERT_TRUE(p.start());
    ASSERT_TRUE(wait_for([&] {
        return status_of(p, {"svc", "i1"}) == status::unhealthy &&
               status_of(p, {"svc", "i2"}) == status::unhealthy;
    }));
    EXPECT_TRUE(p.service_fail_open("svc"));
    p.upsert(make_target("svc", "i2", srv.port()), s);  // i2 comes back
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"svc", "i2"}) == status::healthy; }));
    EXPECT_FALSE(p.service_fail_open("svc"));
    ASSERT_TRUE(wait_for([&] {
        std::lock_guard lk(mu);
        return flips.size() >= 2;
    }));
    std::lock_guard lk(mu);
    ASSERT_EQ(flips.size(), 2u);
    EXPECT_EQ(flips[0], std::make_pair(std::string("svc"), true));
    EXPECT_EQ(flips[1], std::make_pair(std::string("svc"), false));
}

TEST(HealthProberService, RemoveForgetsTargetAndStopsProbing) {
    http_server srv;
    health_prober p(exact_options());
    ASSERT_TRUE(p.start());
    p.upsert(make_target("svc", "i1", srv.port()), http_check());
    p.upsert(make_target("svc", "i2", srv.port()), http_check());
    ASSERT_TRUE(wait_for([&] { return srv.request_count() >= 4; }));
    p.remove({"svc", "i1"});
    EXPECT_FALSE(p.state({"svc", "i1"}).has_value());
    p.remove_service("svc");
    EXPECT_FALSE(p.state({"svc", "i2"}).has_value());
    EXPECT_EQ(p.stats().targets, 0u);
    std::this_thread::sleep_for(60ms);  // a probe in flight may still land
    const size_t n = srv.request_count();
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(srv.request_count(), n);
}

TEST(HealthProberLoop, HangingProbesDoNotDelayOthers) {
    std::vector<int> silent;  // listening, never accepting: HTTP probes get no answer
    for (int i = 0; i < 50; ++i) silent.push_back(test::listen_on("127.0.0.1", 0, 512));
    http_server srv;
    health_prober p(exact_options());
    ASSERT_TRUE(p.start());
    auto hang = http_check();
    hang.interval = 100ms;
    hang.timeout = 400ms;
    for (int i = 0; i < 50; ++i)
        p.upsert(make_target("hang", name("h", i), test::port_of(silent[i])), hang);
    p.upsert(make_target("live", "i1", srv.port()), tcp_check(50ms, 1, 1));
    std::this_thread::sleep_for(200ms);
    const auto w0 = std::chrono::steady_clock::now();
    const auto before = p.state({"live", "i1"})->probes;
    std::this_thread::sleep_for(1000ms);
    const auto w1 = std::chrono::steady_clock::now();
    const auto after = p.state({"live", "i1"})->probes;
    const auto w2 = std::chrono::steady_clock::now();
    // One probe per 50 ms of the window (measured, as a loaded machine oversleeps).
    const double lo = std::chrono::duration<double>(w1 - w0) / 50ms;
    const double hi = std::chrono::duration<double>(w2 - w0) / 50ms;
    EXPECT_GE(static_cast<double>(after - before), 0.85 * lo - 1) << lo;
    EXPECT_LE(static_cast<double>(after - before), hi + 2) << hi;
    EXPECT_EQ(status_of(p, {"live", "i1"}), status::healthy);
    ASSERT_TRUE(wait_for([&] { return status_of(p, {"hang", "h49"}) == status::unhealthy; }));
    EXPECT_EQ(p.state({"hang", "h0"})->last_failure, "timeout");
    p.stop();
    for (int fd : silent) ::close(fd);
}

TEST(HealthProberLoop, InFlightCapQueuesTheRest) {
    std::vector<int> silent;
    for (int i = 0; i < 6; ++i) silent.push_back(test::listen_on("127.0.0.1", 0));
    auto o = exact_options();
    o.max_in_flight = 2;
    health_prober p(o);
    ASSERT_TRUE(p.start());
    auto hang = http_check();
    hang.timeout = 150ms;
    hang.interval = 1000ms;
    for (int i = 0; i < 6; ++i)
        p.upsert(make_target("hang", name("h", i), test::port_of(silent[i])), hang);
    uint64_t max_seen = 0, max_queued = 0;
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(wait_for([&] {
        auto s = p.stats();
        max_seen = std::max(max_seen, s.in_flight);
        max_queued = std::max(max_queued, s.queued);
        return s.probes_completed >= 6;
    }));
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LE(max_seen, 2u);
    EXPECT_GE(max_queued, 1u);
    EXPECT_EQ(p.stats().queued, 0u);
    EXPECT_GE(took, 3 * 150ms - 20ms);  // three waves of two timeouts each
    for (int i = 0; i < 6; ++i) EXPECT_EQ(p.state({"hang", name("h", i)})->last_failure, "timeout");
    p.stop();
    for (int fd : silent) ::close(fd);
}

TEST(HealthProberLoop, JitterSpreadsFirstProbesAndKeepsRate) {
    http_server srv;
    prober_options o;  // defaults: 10 % jitter, first probe anywhere in the first interval
    health_prober p(o);
    ASSERT_TRUE(p.start());
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i)
        p.upsert(make_target("svc", name("i", i), srv.port()), tcp_check(400ms));
    std::this_thread::sleep_for(100ms);
    const auto early = p.stats().probes_completed;
    if (std::chrono::steady_clock::now() - t0 < 250ms) {
        EXPECT_LT(early, 20u);  // first probes spread over the first interval, not all at once
    }                           // first probes spread over the first interval, not all at once
    std::this_thread::sleep_for(1150ms);
    const auto e1 = std::chrono::steady_clock::now() - t0;
    const auto total = p.stats().probes_completed;
    const auto e2 = std::chrono::steady_clock::now() - t0;
    // Each target: a first probe within 400 ms, then one every 360..440 ms.
    const auto min_each = e1 < 400ms ? 0 : (e1 - 400ms) / 440ms + 1;
    const auto max_each = e2 / 360ms + 1;
    EXPECT_GE(total, static_cast<uint64_t>(20 * min_each));
    EXPECT_LE(total, static_cast<uint64_t>(20 * max_each));
}

}  // namespace
}  // namespace nlb::health
