/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_state's writes against a real in-process datapath (testbed + two
 * workers): version rules, validation that changes nothing, publication
 * visible on return (also while a worker forwards, with a latency bound),
 * snapshot limits and concurrent callers.
 */
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

#include "agent_state_fixture.h"

namespace nlb::dataplane {
namespace {

using test::frame_spec;
using namespace test_support;

TEST_F(agent_state_test, versions_applied_unchanged_stale) {
    v1::PutServiceResponse r;
    ASSERT_TRUE(state->put_service(put_request(5), &r).ok());
    EXPECT_EQ(r.result(), v1::APPLIED);
    EXPECT_EQ(r.version(), 5u);
    // Visible when the call returns.
    const snapshot *s = tb->snapshots->current();
    ASSERT_NE(s, nullptr);
    service_key k{testbed::vip(ip_family::v4), htons(80), ipproto_tcp, ip_family::v4};
    const snapshot_service *svc = s->find_service(k);
    ASSERT_NE(svc, nullptr);
    EXPECT_EQ(svc->version, 5u);
    EXPECT_EQ(svc->backend_count, 3u);

    const uint64_t pubs = tb->snapshots->publications();
    ASSERT_TRUE(state->put_service(put_request(5), &r).ok());
    EXPECT_EQ(r.result(), v1::UNCHANGED);
    EXPECT_EQ(tb->snapshots->publications(), pubs);  // nothing published again

    agent_status st = state->put_service(put_request(5, 2), &r);
    EXPECT_EQ(st.code, agent_code::failed_precondition);
    EXPECT_EQ(tb->snapshots->current()->find_service(k)->backend_count, 3u);

    ASSERT_TRUE(state->put_service(put_request(4, 1), &r).ok());
    EXPECT_EQ(r.result(), v1::STALE);
    EXPECT_EQ(r.version(), 5u);
    EXPECT_EQ(tb->snapshots->current()->find_service(k)->backend_count, 3u);

    ASSERT_TRUE(state->put_service(put_request(6, 2), &r).ok());
    EXPECT_EQ(r.result(), v1::APPLIED);
    EXPECT_EQ(tb->snapshots->current()->find_service(k)->backend_count, 2u);
    auto l = listed();
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0].version(), 6u);
    EXPECT_EQ(l[0].service().backends_size(), 2);

    v1::DeleteServiceRequest d;
    *d.mutable_key() = lab_key();
    d.set_version(5);
    v1::DeleteServiceResponse dr;
    ASSERT_TRUE(state->delete_service(d, &dr).ok());
    EXPECT_EQ(dr.result(), v1::STALE);
    EXPECT_NE(tb->snapshots->current()->find_service(k), nullptr);
    d.set_version(7);
    ASSERT_TRUE(state->delete_service(d, &dr).ok());
    EXPECT_EQ(dr.result(), v1::APPLIED);
    EXPECT_EQ(tb->snapshots->current()->find_service(k), nullptr);
    EXPECT_TRUE(listed().empty());
    ASSERT_TRUE(state->delete_service(d, &dr).ok());
    EXPECT_EQ(dr.result(), v1::UNCHANGED);

    // The delete's version is remembered: a late, older put cannot bring the service back.
    ASSERT_TRUE(state->put_service(put_request(6), &r).ok());
    EXPECT_EQ(r.result(), v1::STALE);
    EXPECT_EQ(r.version(), 7u);
    EXPECT_TRUE(listed().empty());
    ASSERT_TRUE(state->put_service(put_request(8), &r).ok());
    EXPECT_EQ(r.result(), v1::APPLIED);
    EXPECT_EQ(listed().size(), 1u);

    // Deleting a service never seen succeeds and changes nothing.
    *d.mutable_key() = lab_key(81);
    d.set_version(1);
    ASSERT_TRUE(state->delete_service(d, &dr).ok());
    EXPECT_EQ(dr.result(), v1::UNCHANGED);
    EXPECT_EQ(listed().size(), 1u);
}

TEST_F(agent_state_test, canonical_addresses_make_a_retry_unchanged) {
    v1::PutServiceResponse r;
    v1::PutServiceRequest a = put_request(1, 2, 10, 80, "2001:2:0:1::1");
    ASSERT_TRUE(state->put_service(a, &r).ok());
    EXPECT_EQ(r.result(), v1::APPLIED);
    a.mutable_service()->mutable_key()->set_vip("2001:2:0:1:0:0:0:1");
    ASSERT_TRUE(state->put_service(a, &r).ok());
    EXPECT_EQ(r.result(), v1::UNCHANGED);
    EXPECT_EQ(listed()[0].service().key().vip(), "2001:2:0:1::1");
}

TEST_F(agent_state_test, every_validation_error_names_the_field_and_changes_nothing) {
    v1::PutServiceResponse r;
    ASSERT_TRUE(state->put_service(put_request(1), &r).ok());
    const snapshot *before = tb->snapshots->current();
    const uint64_t pubs = tb->snapshots->publications();
    const std::string listing = listed()[0].SerializeAsString();

    struct bad_case {
        const char *name;
        void (*edit)(v1::PutServiceRequest *);
        const char *field;
    };
    const bad_case cases[] = {
        {"bad vip",
         [](v1::PutServiceRequest *q) { q->mutable_service()->mutable_key()->set_vip("198.18.1"); },
         "service.key.vip"},
        {"bad backend address",
         [](v1::PutServiceRequest *q) {
             q->mutable_service()->mutable_backends(1)->set_address("be2");
         },
         "service.backends[1].address"},
        {"family mismatch",
         [](v1::PutServiceRequest *q) {
             q->mutable_service()->mutable_backends(0)->set_address("2001:2:0:19::11");
         },
         "service.backends[0].address"},
        {"weight 101",
         [](v1::PutServiceRequest *q) {
             q->mutable_service()->mutable_backends(2)->set_weight(101);
         },
         "service.backends[2].weight"},
        {"port 0",
         [](v1::PutServiceRequest *q) { q->mutable_service()->mutable_key()->set_port(0); },
         "service.key.port"},
        {"backend port 70000",
         [](v1::PutServiceRequest *q) {
             q->mutable_service()->mutable_backends(0)->set_port(70000);
         },
         "service.backends[0].port"},
        {"duplicate backend id",
         [](v1::PutServiceRequest *q) { q->mutable_service()->mutable_backends(2)->set_id(1); },
         "service.backends[2].id"},
        {"unknown mode",
         [](v1::PutServiceRequest *q) {
             q->mutable_service()->set_mode(v1::FORWARDING_MODE_UNSPECIFIED);
         },
         "service.mode"},
        {"unknown scheduler",
         [](v1::PutServiceRequest *q) {
             q->mutable_service()->set_scheduler(static_cast<v1::Scheduler>(9));
         },
         "service.scheduler"},
        {"no protocol",
         [](v1::PutServiceRequest *q) {
             q->mutable_service()->mutable_key()->set_protocol(v1::PROTOCOL_UNSPECIFIED);
         },
         "service.key.protocol"},
        {"persistence 3601",
         [](v1::PutServiceRequest *q) { q->mutable_service()->set_persistence_timeout_s(3601); },
         "service.persistence_timeout_s"},
        {"no state",
         [](v1::PutServiceRequest *q) {
             q->mutable_service()->mutable_backends(0)->set_state(v1::BACKEND_STATE_UNSPECIFIED);
         },
         "service.backends[0].state"},
        {"dsr port differs",
         [](v1::PutServiceRequest *q) { q->mutable_service()->set_mode(v1::DSR); },
         "service.backends[0].port"},
        {"version 0", [](v1::PutServiceRequest *q) { q->set_version(0); }, "version"},
        {"no service", [](v1::PutServiceRequest *q) { q->clear_service(); }, "service"},
    };
    for (const bad_case &c : cases) {
        SCOPED_TRACE(c.name);
        v1::PutServiceRequest q = put_request(2);
        c.edit(&q);
        v1::PutServiceResponse resp;
        agent_status st = state->put_service(q, &resp);
        EXPECT_EQ(st.code, agent_code::invalid_argument);
        EXPECT_EQ(st.message.rfind(c.field, 0), 0u) << st.message;
        EXPECT_EQ(resp.result(), v1::APPLY_RESULT_UNSPECIFIED);
        EXPECT_EQ(tb->snapshots->current(), before);
        EXPECT_EQ(tb->snapshots->publications(), pubs);
        auto l = listed();
        ASSERT_EQ(l.size(), 1u);
        EXPECT_EQ(l[0].SerializeAsString(), listing);
    }

    // Two backends with the same address and port: the builder's check, still refused.
    v1::PutServiceRequest q = put_request(2);
    q.mutable_service()->mutable_backends(1)->set_address("198.19.0.11");
    agent_status st = state->put_service(q, &r);
    EXPECT_EQ(st.code, agent_code::invalid_argument);
    EXPECT_NE(st.message.find("same address"), std::string::npos) << st.message;
    EXPECT_EQ(tb->snapshots->current(), before);

    v1::DeleteServiceRequest d;
    d.set_version(9);
    *d.mutable_key() = lab_key(0);
    v1::DeleteServiceResponse dr;
    EXPECT_EQ(state->delete_service(d, &dr).code, agent_code::invalid_argument);
    EXPECT_EQ(listed().size(), 1u);
}

TEST_F(agent_state_test, put_returns_within_10ms_while_a_worker_forwards) {
    v1::PutServiceResponse r;
    ASSERT_TRUE(state->put_service(put_request(1), &r).ok());
    uint64_t version = 1;
    const service_key k{testbed::vip(ip_family::v4), htons(80), ipproto_tcp, ip_family::v4};
    // 200 puts (each a new weight, so a new WRR sequence); sorted latencies in ms.
    auto measure = [&]() {
        std::vector<double> ms;
        for (unsigned i = 0; i < 200; i++) {
            version++;
            auto t0 = std::chrono::steady_clock::now();
            agent_status st = state->put_service(put_request(version, 3, 1 + i % 100), &r);
            auto t1 = std::chrono::steady_clock::now();
            EXPECT_TRUE(st.ok()) << st.message;
            EXPECT_EQ(r.result(), v1::APPLIED);
            ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            // Visible: the snapshot carries this version.
            EXPECT_EQ(tb->snapshots->current()->find_service(k)->version, version);
        }
        std::sort(ms.begin(), ms.end());
        return ms;
    };
    auto report = [](const char *what, const std::vector<double> &ms) {
        std::printf("put latency %s: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", what,
                    ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back());
    };
    const std::vector<double> idle = measure();  // baseline: no worker online
    report("with no worker online (baseline)", idle);

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> bursts{0};
    std::thread fwd([&] {
        // EAL pinned the test's main thread (the agent here) to lcore 0 and this thread
        // inherited that; a worker has a CPU of its own, so let this one run anywhere.
        cpu_set_t all;
        CPU_ZERO(&all);
        for (unsigned c = 0; c < std::thread::hardware_concurrency(); c++) CPU_SET(c, &all);
        pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
        frame_spec s;
        const std::vector<uint8_t> frame = test::make_frame(s);
        tb->snapshots->online(0);
        while (!stop.load(std::memory_order_relaxed)) {
            rte_mbuf *m = test::to_mbuf(test::test_pool(), frame);
            verdict v{};
            if (m) {
                w0->process_burst(&m, 1, &v, now.load());
                rte_pktmbuf_free(m);
            }
            tb->snapshots->quiescent(0);
            bursts.fetch_add(1, std::memory_order_relaxed);
        }
        tb->snapshots->offline(0);
    });
    while (bursts.load() == 0) std::this_thread::yield();
    const std::vector<double> busy = measure();
    stop = true;
    fwd.join();
    report("with a forwarding worker", busy);
    EXPECT_LT(busy[busy.size() * 99 / 100], 10.0);
    EXPECT_GT(bursts.load(), 200u);  // the worker kept forwarding all along
}

TEST_F(agent_state_test, concurrent_callers_are_serialised) {
    // Four gRPC-like threads putting different services at once, while a fifth lists and reads
    // stats: every put is applied exactly once and the last snapshot holds them all.
    std::vector<std::thread> threads;
    std::atomic<unsigned> applied{0};
    std::atomic<bool> done{false};
    for (unsigned t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            for (unsigned i = 0; i < 25; i++) {
                v1::PutServiceResponse r;
                const uint32_t port = 1000 + t * 100 + i;
                if (state->put_service(put_request(1, 2, 10, port), &r).ok() &&
                    r.result() == v1::APPLIED)
                    applied++;
            }
        });
    std::thread reader([&] {
        while (!done.load()) {
            v1::ListServicesResponse l;
            state->list_services(&l);
            v1::GetStatsResponse st;
            EXPECT_TRUE(state->get_stats({}, &st).ok());
            EXPECT_LE(l.services_size(), 100);
        }
    });
    for (auto &t : threads) t.join();
    done = true;
    reader.join();
    EXPECT_EQ(applied.load(), 100u);
    EXPECT_EQ(listed().size(), 100u);
    EXPECT_EQ(tb->snapshots->current()->service_count(), 100u);
    EXPECT_EQ(tb->snapshots->current()->backend_count(), 200u);
}

TEST_F(agent_state_test, put_services_publishes_a_batch_once_with_a_result_per_entry) {
    auto batch = [](std::vector<v1::PutServiceRequest> puts) {
        v1::PutServicesRequest req;
        for (auto &p : puts) *req.add_puts() = std::move(p);
        return req;
    };
    v1::PutServicesResponse r;
    uint64_t pubs = tb->snapshots->publications();
    ASSERT_TRUE(state
                    ->put_services(batch({put_request(1, 3, 10, 80), put_request(1, 2, 10, 81),
                                          put_request(1, 1, 10, 82)}),
                                   &r)
                    .ok());
    ASSERT_EQ(r.results_size(), 3);
    for (const auto &x : r.results()) EXPECT_EQ(x.result(), v1::APPLIED);
    EXPECT_EQ(tb->snapshots->publications(), pubs + 1);  // one snapshot for the whole batch
    EXPECT_EQ(tb->snapshots->current()->service_count(), 3u);
    EXPECT_EQ(tb->snapshots->current()->backend_count(), 6u);

    // The same again: every entry UNCHANGED, nothing published.
    pubs = tb->snapshots->publications();
    ASSERT_TRUE(state
                    ->put_services(batch({put_request(1, 3, 10, 80), put_request(1, 2, 10, 81),
                                          put_request(1, 1, 10, 82)}),
                                   &r)
                    .ok());
    ASSERT_EQ(r.results_size(), 3);
    for (const auto &x : r.results()) EXPECT_EQ(x.result(), v1::UNCHANGED);
    EXPECT_EQ(tb->snapshots->publications(), pubs);

    // Mixed: a newer version applies, an older one is STALE with the version held.
    ASSERT_TRUE(
        state->put_services(batch({put_request(3, 1, 10, 80), put_request(2, 2, 10, 81)}), &r)
            .ok());
    ASSERT_EQ(r.results_size(), 2);
    EXPECT_EQ(r.results(0).result(), v1::APPLIED);
    EXPECT_EQ(r.results(1).result(), v1::APPLIED);
    ASSERT_TRUE(
        state->put_services(batch({put_request(1, 5, 10, 81), put_request(4, 2, 10, 80)}), &r)
            .ok());
    EXPECT_EQ(r.results(0).result(), v1::STALE);
    EXPECT_EQ(r.results(0).version(), 2u);
    EXPECT_EQ(r.results(1).result(), v1::APPLIED);
    service_key k80{testbed::vip(ip_family::v4), htons(80), ipproto_tcp, ip_family::v4};
    service_key k81{testbed::vip(ip_family::v4), htons(81), ipproto_tcp, ip_family::v4};
    EXPECT_EQ(tb->snapshots->current()->find_service(k80)->backend_count, 2u);
    EXPECT_EQ(tb->snapshots->current()->find_service(k81)->backend_count, 2u);

    // Refused batches change nothing, and the message names the entry.
    const snapshot *before = tb->snapshots->current();
    pubs = tb->snapshots->publications();
    auto bad_weight = put_request(9, 2, 101, 83);
    agent_status st = state->put_services(batch({put_request(9, 1, 10, 80), bad_weight}), &r);
    EXPECT_EQ(st.code, agent_code::invalid_argument);
    EXPECT_EQ(st.message.rfind("puts[1].service.backends[0].weight", 0), 0u) << st.message;
    st = state->put_services(batch({put_request(9, 1, 10, 84), put_request(10, 2, 10, 84)}), &r);
    EXPECT_EQ(st.code, agent_code::invalid_argument);
    EXPECT_NE(st.message.find("appears twice"), std::string::npos) << st.message;
    EXPECT_EQ(st.message.rfind("puts[1].service.key", 0), 0u) << st.message;
    st = state->put_services(batch({put_request(9, 1, 10, 85), put_request(4, 3, 10, 80)}), &r);
    EXPECT_EQ(st.code, agent_code::failed_precondition);  // version 4 is held with 2 backends
    EXPECT_EQ(st.message.rfind("puts[1].version", 0), 0u) << st.message;
    EXPECT_EQ(tb->snapshots->current(), before);
    EXPECT_EQ(tb->snapshots->publications(), pubs);
    EXPECT_EQ(listed().size(), 3u);

    // GetInfo tells what the snapshot holds.
    v1::GetInfoResponse info;
    state->fill_snapshot_info(&info);
    EXPECT_EQ(info.services(), 3u);
    EXPECT_EQ(info.backends(), 5u);
    EXPECT_EQ(info.snapshot_bytes(), tb->snapshots->current()->memory_bytes());
    EXPECT_EQ(info.snapshot_version(), tb->snapshots->current()->version);
    EXPECT_GT(info.snapshot_bytes(), 5 * sizeof(snapshot_backend) + 3 * sizeof(snapshot_service));
}

TEST_F(agent_state_test, an_empty_put_services_publishes_nothing) {
    v1::PutServicesResponse r;
    const uint64_t pubs = tb->snapshots->publications();
    ASSERT_TRUE(state->put_services(v1::PutServicesRequest(), &r).ok());
    EXPECT_EQ(r.results_size(), 0);
    EXPECT_EQ(tb->snapshots->publications(), pubs);
    v1::GetInfoResponse info;
    state->fill_snapshot_info(&info);
    EXPECT_EQ(info.services(), 0u);
}

TEST(agent_state_limits, a_put_past_the_snapshot_limits_is_refused_and_changes_nothing) {
    testbed_config cfg;
    cfg.limits.max_services = 2;
    cfg.limits.max_backends = 4;
    testbed tb(cfg);
    agent_datapath adp;
    adp.conns = tb.conns.get();
    adp.snapshots = tb.snapshots.get();
    adp.limits = tb.builder.limits();
    adp.now_ms = [] { return 0u; };
    agent_state state(std::move(adp));
    v1::PutServiceResponse r;
    ASSERT_TRUE(state.put_service(put_request(1, 2, 10, 80), &r).ok());
    ASSERT_TRUE(state.put_service(put_request(1, 2, 10, 81), &r).ok());
    const snapshot *before = tb.snapshots->current();
    agent_status st = state.put_service(put_request(1, 1, 10, 82), &r);
    EXPECT_EQ(st.code, agent_code::invalid_argument);
    EXPECT_NE(st.message.find("too many services"), std::string::npos) << st.message;
    st = state.put_service(put_request(2, 3, 10, 81), &r);  // 5 backends in all
    EXPECT_EQ(st.code, agent_code::invalid_argument);
    EXPECT_NE(st.message.find("backends"), std::string::npos) << st.message;
    st = state.put_service(put_request(2, 5, 10, 81), &r);  // more than the limit in one service
    EXPECT_EQ(st.code, agent_code::invalid_argument);
    EXPECT_EQ(st.message.rfind("service.backends", 0), 0u) << st.message;
    EXPECT_EQ(tb.snapshots->current(), before);
    v1::ListServicesResponse l;
    state.list_services(&l);
    ASSERT_EQ(l.services_size(), 2);
    EXPECT_EQ(l.services(1).version(), 1u);
    EXPECT_EQ(l.services(1).service().backends_size(), 2);
}

}  // namespace
}  // namespace nlb::dataplane
