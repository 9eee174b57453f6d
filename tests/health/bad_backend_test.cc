/* SPDX-License-Identifier: Apache-2.0 */
/*
 * health_prober against bad backends (issue 7, "Faults and restarts"), real
 * servers on 127.0.0.1 started here, no root:
 *  - one that accepts and then never answers, one that resets at accept
 *    (SO_LINGER 0), one that answers slowly inside the timeout and one beyond
 *    it, and flapping ones (200 and 503 on alternate probes);
 *  - the prober never blocks on them: a healthy target probed alongside keeps
 *    its schedule (the largest gap between its probes is measured against a
 *    baseline of the same target alone, in the same run);
 *  - each gets the right reason ("timeout", "reset");
 *  - flapping with thresholds >= 2 never changes the state after the first
 *    judgement (pass/fail alternating never makes two in a row), so nothing is
 *    pushed to the dataplane and traffic does not move; with thresholds 1 the
 *    state follows every probe, as configured.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "health_prober.h"
#include "test_server.h"

namespace nlb::health {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using test::http_mode;
using test::http_server;

target make_target(const std::string &service, const std::string &instance, uint16_t port) {
    target t;
    t.key = {service, instance};
    inet_pton(AF_INET, "127.0.0.1", t.addr.bytes);
    t.family = ip_family::v4;
    t.traffic_port = port;
    return t;
}

check_settings http_check(std::chrono::milliseconds interval, std::chrono::milliseconds timeout,
                          unsigned unhealthy, unsigned healthy) {
    check_settings s;
    s.m = method::http;
    s.interval = interval;
    s.timeout = timeout;
    s.unhealthy_threshold = unhealthy;
    s.healthy_threshold = healthy;
    return s;
}

bool wait_for(const std::function<bool()> &pred, std::chrono::milliseconds limit) {
    const auto end = steady::now() + limit;
    while (steady::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

/** Status changes per instance, counted on the loop thread. */
struct change_counter {
    std::mutex mu;
    std::map<std::string, unsigned> changes;
    void attach(health_prober &p) {
        p.on_change([this](const target_key &k, status, status, const std::string &) {
            std::lock_guard lk(mu);
            changes[k.instance]++;
        });
    }
    unsigned of(const std::string &instance) {
        std::lock_guard lk(mu);
        return changes[instance];
    }
};

/** The largest gap between consecutive accepts of `srv` inside [from, to]. */
std::chrono::milliseconds max_gap(const http_server &srv, steady::time_point from,
                                  steady::time_point to, size_t *count) {
    std::vector<steady::time_point> t;
    for (auto a : srv.accept_times())
        if (a >= from && a <= to) t.push_back(a);
    *count = t.size();
    std::chrono::milliseconds worst{0};
    for (size_t i = 1; i < t.size(); ++i)
        worst = std::max(worst, std::chrono::duration_cast<std::chrono::milliseconds>(t[i] - t[i - 1]));
    return worst;
}

// A healthy target keeps its 100 ms (+/- 10 %) schedule while the prober also
// probes a hanging, a resetting, a slow and a too-slow backend with a 1 s
// timeout: were the loop to wait on any of them, a gap of about 1 s would show.
TEST(BadBackends, ProberNeverBlocksAndNamesEachFailure) {
    http_server healthy;
    health_prober p;  // defaults: 10 % jitter
    ASSERT_TRUE(p.start());
    const auto live = http_check(100ms, 1000ms, 3, 3);
    p.upsert(make_target("live", "ok", healthy.port()), live);
    ASSERT_TRUE(wait_for([&] { return p.state({"live", "ok"})->probes >= 2; }, 3000ms));

    // Baseline: the healthy target alone.
    const auto b0 = steady::now();
    std::this_thread::sleep_for(1500ms);
    const auto b1 = steady::now();
    size_t base_n = 0;
    const auto base_gap = max_gap(healthy, b0, b1, &base_n);

    http_server hang, reset, slow_ok, slow_bad;
    hang.set(http_mode::hang);
    reset.set(http_mode::reset_at_accept);
    slow_ok.set(http_mode::slow, 200);
    slow_ok.set_delay(200ms);
    slow_bad.set(http_mode::slow, 200);
    slow_bad.set_delay(1500ms);
    const auto bad = http_check(100ms, 1000ms, 2, 2);
    for (int i = 0; i < 3; ++i) {  // several of each, so many probes hang at once
        const std::string n = std::to_string(i);
        p.upsert(make_target("bad", "hang" + n, hang.port()), bad);
        p.upsert(make_target("bad", "reset" + n, reset.port()), bad);
        p.upsert(make_target("bad", "slow-ok" + n, slow_ok.port()), bad);
        p.upsert(make_target("bad", "slow-bad" + n, slow_bad.port()), bad);
    }
    const auto w0 = steady::now();
    std::this_thread::sleep_for(3000ms);
    const auto w1 = steady::now();
    size_t with_n = 0;
    const auto with_gap = max_gap(healthy, w0, w1, &with_n);
    std::printf("healthy target, 100 ms interval: alone %zu probes, max gap %lld ms; beside 12 "
                "bad backends %zu probes, max gap %lld ms\n",
                base_n, static_cast<long long>(base_gap.count()), with_n,
                static_cast<long long>(with_gap.count()));

    // Never blocked: no gap near the bad targets' 1 s timeout (110 ms is the
    // schedule's longest; the rest is room for a loaded machine).
    EXPECT_LT(with_gap, 400ms);
    EXPECT_GE(with_n, static_cast<size_t>(std::chrono::duration<double>(w1 - w0) / 110ms * 0.7));
    EXPECT_EQ(p.state({"live", "ok"})->st, status::healthy);
    EXPECT_EQ(p.state({"live", "ok"})->failures, 0u);

    for (int i = 0; i < 3; ++i) {
        const std::string n = std::to_string(i);
        ASSERT_TRUE(wait_for(
            [&] {
                return p.state({"bad", "hang" + n})->st == status::unhealthy &&
                       p.state({"bad", "slow-bad" + n})->st == status::unhealthy &&
                       p.state({"bad", "reset" + n})->st == status::unhealthy;
            },
            5000ms));
        EXPECT_EQ(p.state({"bad", "hang" + n})->last_failure, "timeout");
        EXPECT_EQ(p.state({"bad", "slow-bad" + n})->last_failure, "timeout");
        EXPECT_EQ(p.state({"bad", "reset" + n})->last_failure, "reset");
        const auto ok = p.state({"bad", "slow-ok" + n}).value();
        EXPECT_EQ(ok.st, status::healthy);
        EXPECT_EQ(ok.failures, 0u);
        EXPECT_GE(ok.last_duration, 195ms);
        // A timeout is judged at the timeout, not later.
        EXPECT_LE(p.state({"bad", "hang" + n})->last_duration, 1400ms);
    }
    EXPECT_GE(hang.accept_times().size(), 3u);   // they did accept: it is the answer that hangs
    EXPECT_GE(reset.accept_times().size(), 3u);  // accepted, then reset
    p.stop();
}

// Flapping: a probe passes, the next fails, and so on.
TEST(BadBackends, FlappingMovesStateOnlyAsThresholdsAllow) {
    http_server flap1, flap2, flap3;
    for (auto *s : {&flap1, &flap2, &flap3}) s->set(http_mode::flap);
    health_prober p;
    change_counter changes;
    changes.attach(p);
    std::mutex fo_mu;
    std::map<std::string, unsigned> fail_open_flips;  // per service
    p.on_fail_open([&](const std::string &service, bool) {
        std::lock_guard lk(fo_mu);
        fail_open_flips[service]++;
    });
    ASSERT_TRUE(p.start());
    p.upsert(make_target("t2", "flap", flap2.port()), http_check(50ms, 1000ms, 2, 2));
    p.upsert(make_target("t3", "flap3", flap3.port()), http_check(50ms, 1000ms, 3, 3));
    p.upsert(make_target("t1", "flap1", flap1.port()), http_check(50ms, 1000ms, 1, 1));
    ASSERT_TRUE(wait_for(
        [&] {
            return p.state({"t2", "flap"})->probes >= 20 && p.state({"t3", "flap3"})->probes >= 20 &&
                   p.state({"t1", "flap1"})->probes >= 20;
        },
        10000ms));
    p.stop();  // freeze the states and the counts

    const auto t2 = p.state({"t2", "flap"}).value();
    const auto t3 = p.state({"t3", "flap3"}).value();
    const auto t1 = p.state({"t1", "flap1"}).value();
    std::printf("flapping, %llu / %llu / %llu probes: state changes %u (thresholds 2), %u "
                "(thresholds 3), %u (thresholds 1)\n",
                static_cast<unsigned long long>(t2.probes),
                static_cast<unsigned long long>(t3.probes),
                static_cast<unsigned long long>(t1.probes), changes.of("flap"),
                changes.of("flap3"), changes.of("flap1"));
    // Half of the probes failed in each (they alternate)...
    for (const auto *t : {&t2, &t3, &t1}) {
        EXPECT_GE(t->failures, t->probes / 2 - 1);
        EXPECT_LE(t->failures, t->probes / 2 + 1);
    }
    // ... yet thresholds >= 2 see one change in all: INITIAL -> HEALTHY at the
    // first pass (rule 8), then never two failures in a row.
    EXPECT_EQ(changes.of("flap"), 1u);
    EXPECT_EQ(t2.st, status::healthy);
    EXPECT_EQ(changes.of("flap3"), 1u);
    EXPECT_EQ(t3.st, status::healthy);
    // Thresholds 1: every probe changes the state (the first from INITIAL).
    EXPECT_EQ(changes.of("flap1"), t1.probes);
    EXPECT_EQ(t1.st, t1.probes % 2 == 1 ? status::healthy : status::unhealthy);
    // Fail open (no member HEALTHY, one UNHEALTHY) never flips for t2 and t3;
    // t1's single member takes it in and out of fail open on every probe.
    std::lock_guard lk(fo_mu);
    EXPECT_EQ(fail_open_flips["t2"], 0u);
    EXPECT_EQ(fail_open_flips["t3"], 0u);
    EXPECT_GE(fail_open_flips["t1"], static_cast<unsigned>(t1.probes) - 2);
}

}  // namespace
}  // namespace nlb::health
