/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_state against a real in-process datapath (testbed + two workers):
 * version rules, validation that changes nothing, publication visible on
 * return (also while a worker forwards, with a latency bound), purges,
 * statistics summed over workers and paged connection listings.
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

#include "../pipeline/frames.h"
#include "agent_state.h"
#include "eal_test_main.h"
#include "pipeline/testbed.h"

namespace nlb::dataplane {
namespace {

using test::frame_spec;

/** A NAT service on the lab VIP with backends be1..be(n) (ids 1..n) on port 8080. */
v1::PutServiceRequest put_request(uint64_t version, unsigned n_backends = 3, uint32_t weight = 10,
                                  uint32_t port = 80, const char *vip = "198.18.1.1") {
    v1::PutServiceRequest req;
    v1::Service *s = req.mutable_service();
    s->mutable_key()->set_vip(vip);
    s->mutable_key()->set_port(port);
    s->mutable_key()->set_protocol(v1::TCP);
    s->set_mode(v1::NAT);
    s->set_scheduler(v1::WRR);
    const bool v6 = std::string(vip).find(':') != std::string::npos;
    for (unsigned b = 1; b <= n_backends; b++) {
        v1::Backend *be = s->add_backends();
        be->set_id(b);
        be->set_address((v6 ? "2001:2:0:19::1" : "198.19.0.1") + std::to_string(b));
        be->set_port(8080);
        be->set_weight(weight);
        be->set_state(v1::ACTIVE);
    }
    req.set_version(version);
    return req;
}

v1::ServiceKey lab_key(uint32_t port = 80) {
    v1::ServiceKey k;
    k.set_vip("198.18.1.1");
    k.set_port(port);
    k.set_protocol(v1::TCP);
    return k;
}

class agent_state_test : public ::testing::Test {
  protected:
    void SetUp() override {
        testbed_config cfg;
        cfg.workers = 3;  // workers 0 and 1, RCU id 2 for the agent
        tb = std::make_unique<testbed>(cfg);
        w0 = std::make_unique<worker>(0, tb->dp);
        w1 = std::make_unique<worker>(1, tb->dp);
        agent_datapath adp;
        adp.conns = tb->conns.get();
        adp.snapshots = tb->snapshots.get();
        adp.limits = tb->builder.limits();
        adp.workers = {{w0.get(), 11, nullptr, nullptr}, {w1.get(), 12, nullptr, nullptr}};
        adp.rcu_id = 2;
        adp.now_ms = [this] { return now.load(); };
        state = std::make_unique<agent_state>(std::move(adp));
    }

    /** Sends one frame through worker w (online for that burst only); returns the verdict. */
    verdict send(worker &w, const frame_spec &s) {
        rte_mbuf *m = test::to_mbuf(test::test_pool(), test::make_frame(s));
        EXPECT_NE(m, nullptr);
        verdict v{};
        tb->snapshots->online(w.index());
        w.process_burst(&m, 1, &v, now.load());
        rte_pktmbuf_free(m);
        tb->snapshots->quiescent(w.index());
        tb->snapshots->offline(w.index());
        return v;
    }
    /** Opens n connections (SYNs from distinct client ports) through worker w. */
    void open(worker &w, unsigned n, uint16_t first_port, uint32_t vport = 80) {
        for (unsigned i = 0; i < n; i++) {
            frame_spec s;
            s.sport = static_cast<uint16_t>(first_port + i);
            s.dport = static_cast<uint16_t>(vport);
            ASSERT_EQ(send(w, s).act, action::tx);
        }
    }
    uint64_t live_conns_of(uint64_t backend_id) {
        v1::ListConnectionsRequest req;
        req.set_backend_id(backend_id);
        req.set_page_size(10000);
        v1::ListConnectionsResponse resp;
        EXPECT_TRUE(state->list_connections(req, &resp).ok());
        return static_cast<uint64_t>(resp.connections_size());
    }
    std::vector<v1::VersionedService> listed() {
        v1::ListServicesResponse resp;
        state->list_services(&resp);
        return {resp.services().begin(), resp.services().end()};
    }

    std::atomic<uint32_t> now{1000};
    std::unique_ptr<testbed> tb;
    std::unique_ptr<worker> w0, w1;
    std::unique_ptr<agent_state> state;
};

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

TEST_F(agent_state_test, purge_marks_the_backends_connections_dead) {
    v1::PutServiceResponse r;
    ASSERT_TRUE(state->put_service(put_request(1), &r).ok());
    open(*w0, 30, 20000);
    open(*w1, 30, 30000);
    const uint64_t b1 = live_conns_of(1), b2 = live_conns_of(2), b3 = live_conns_of(3);
    ASSERT_EQ(b1 + b2 + b3, 60u);
    ASSERT_GT(b1, 0u);
    ASSERT_GT(b2, 0u);

    // Backend 1 draining, then purged: out of the snapshot and its flows marked dead.
    v1::PutServiceRequest drain = put_request(2);
    drain.mutable_service()->mutable_backends(0)->set_state(v1::DRAINING);
    ASSERT_TRUE(state->put_service(drain, &r).ok());
    v1::PurgeBackendRequest p;
    p.set_backend_id(1);
    v1::PurgeBackendResponse pr;
    ASSERT_TRUE(state->purge_backend(p, &pr).ok());
    EXPECT_EQ(pr.connections_reset(), b1);
    EXPECT_EQ(live_conns_of(1), 0u);
    uint64_t dead = 0;
    tb->conns->for_each([&dead](const conn &c) { dead += c.dead(); });
    EXPECT_EQ(dead, b1);
    service_key k{testbed::vip(ip_family::v4), htons(80), ipproto_tcp, ip_family::v4};
    EXPECT_EQ(tb->snapshots->current()->find_service(k)->backend_count, 2u);
    // The owners free them on their sweep.
    tb->snapshots->online(0);
    tb->snapshots->online(1);
    const unsigned freed = w0->expire(now.load(), 1000) + w1->expire(now.load(), 1000);
    tb->snapshots->offline(0);
    tb->snapshots->offline(1);
    EXPECT_EQ(freed, b1);
    EXPECT_EQ(tb->conns->size(), 60u - b1);
    // Still purged when the same draining list comes again with a newer version.
    drain.set_version(3);
    ASSERT_TRUE(state->put_service(drain, &r).ok());
    EXPECT_EQ(tb->snapshots->current()->find_service(k)->backend_count, 2u);

    // Backend 2 removed by the control process first, purged afterwards: found by id.
    ASSERT_TRUE(state->put_service(put_request(4, 1), &r).ok());  // only backend 1 left
    p.set_backend_id(2);
    ASSERT_TRUE(state->purge_backend(p, &pr).ok());
    EXPECT_EQ(pr.connections_reset(), b2);
    // A second purge finds nothing more; an unknown id is not an error.
    ASSERT_TRUE(state->purge_backend(p, &pr).ok());
    EXPECT_EQ(pr.connections_reset(), 0u);
    p.set_backend_id(99);
    ASSERT_TRUE(state->purge_backend(p, &pr).ok());
    EXPECT_EQ(pr.connections_reset(), 0u);
}

TEST_F(agent_state_test, delete_counts_the_connections_it_resets) {
    v1::PutServiceResponse r;
    ASSERT_TRUE(state->put_service(put_request(1), &r).ok());
    open(*w0, 7, 20000);
    v1::DeleteServiceRequest d;
    *d.mutable_key() = lab_key();
    d.set_version(2);
    v1::DeleteServiceResponse dr;
    ASSERT_TRUE(state->delete_service(d, &dr).ok());
    EXPECT_EQ(dr.result(), v1::APPLIED);
    EXPECT_EQ(dr.connections_reset(), 7u);
    // The next packet of such a flow is reset by the pipeline (its backend is gone).
    frame_spec s;
    s.sport = 20000;
    s.tcp_flags = wire::tcp_ack;
    send(*w0, s);
    EXPECT_EQ(w0->counters().resets_sent.get(), 1u);
}

TEST_F(agent_state_test, stats_sum_over_two_workers) {
    v1::PutServiceResponse r;
    ASSERT_TRUE(state->put_service(put_request(1), &r).ok());
    open(*w0, 12, 20000);
    open(*w1, 8, 30000);
    frame_spec nowhere;
    nowhere.dport = 81;
    EXPECT_EQ(send(*w1, nowhere).reason, drop_reason::no_service);
    frame_spec not_syn;
    not_syn.sport = 40000;
    not_syn.tcp_flags = wire::tcp_ack;
    EXPECT_EQ(send(*w0, not_syn).reason, drop_reason::not_syn);

    v1::GetStatsRequest req;
    req.set_per_lcore(true);
    v1::GetStatsResponse st;
    ASSERT_TRUE(state->get_stats(req, &st).ok());
    EXPECT_EQ(st.total().packets(), 22u);
    EXPECT_EQ(st.total().new_connections(), 20u);
    EXPECT_EQ(st.total().active_connections(), 20u);
    EXPECT_EQ(st.total().drops().at("no_service"), 1u);
    EXPECT_EQ(st.total().drops().at("not_syn"), 1u);
    EXPECT_EQ(st.total().drops().count("no_backend"), 0u);
    ASSERT_EQ(st.lcores_size(), 2);
    EXPECT_EQ(st.lcores(0).lcore(), 11u);
    EXPECT_EQ(st.lcores(0).counters().new_connections(), 12u);
    EXPECT_EQ(st.lcores(0).counters().active_connections(), 12u);
    EXPECT_EQ(st.lcores(1).lcore(), 12u);
    EXPECT_EQ(st.lcores(1).counters().packets(), 9u);
    ASSERT_EQ(st.services_size(), 1);
    const v1::ServiceStats &ss = st.services(0);
    EXPECT_EQ(ss.key().vip(), "198.18.1.1");
    EXPECT_EQ(ss.counters().packets(), 20u);
    EXPECT_EQ(ss.counters().new_connections(), 20u);
    EXPECT_EQ(ss.counters().active_connections(), 20u);
    EXPECT_EQ(ss.counters().drops().at("all_reasons"), 1u);
    ASSERT_EQ(ss.backends_size(), 3);
    uint64_t active = 0, packets = 0;
    for (const v1::BackendStats &b : ss.backends()) {
        EXPECT_EQ(b.counters().active_connections(), live_conns_of(b.id()));
        EXPECT_EQ(b.port(), 8080u);
        EXPECT_EQ(b.state(), v1::ACTIVE);
        active += b.counters().active_connections();
        packets += b.counters().packets();
    }
    EXPECT_EQ(active, 20u);
    EXPECT_EQ(packets, 20u);
    EXPECT_GT(st.timestamp_unix_ns(), 0);

    // A filter on an unknown service returns no service; a malformed one is refused.
    req.add_services()->CopyFrom(lab_key(81));
    v1::GetStatsResponse only;
    ASSERT_TRUE(state->get_stats(req, &only).ok());
    EXPECT_EQ(only.services_size(), 0);
    req.mutable_services(0)->set_vip("nope");
    EXPECT_EQ(state->get_stats(req, &only).code, agent_code::invalid_argument);
}

TEST_F(agent_state_test, connections_are_listed_page_by_page_and_filtered) {
    v1::PutServiceResponse r;
    ASSERT_TRUE(state->put_service(put_request(1), &r).ok());
    ASSERT_TRUE(state->put_service(put_request(1, 3, 10, 443), &r).ok());
    open(*w0, 15, 20000);
    open(*w1, 10, 30000, 443);
    now = 6500;

    std::set<uint32_t> seen;
    v1::ListConnectionsRequest req;
    req.set_page_size(10);
    unsigned pages = 0;
    for (;;) {
        v1::ListConnectionsResponse resp;
        ASSERT_TRUE(state->list_connections(req, &resp).ok());
        pages++;
        for (const v1::Connection &c : resp.connections()) {
            EXPECT_TRUE(seen.insert(c.client_port()).second) << c.client_port();
            EXPECT_EQ(c.client_address(), "198.18.0.2");
            EXPECT_EQ(c.service().vip(), "198.18.1.1");
            EXPECT_EQ(c.service().port(), c.client_port() < 30000 ? 80u : 443u);
            EXPECT_GE(c.backend_id(), 1u);
            EXPECT_EQ(c.backend_address(), "198.19.0.1" + std::to_string(c.backend_id()));
            EXPECT_EQ(c.backend_port(), 8080u);
            EXPECT_EQ(c.state(), v1::SYN_RECV);
            EXPECT_EQ(c.idle_s(), 5u);
            EXPECT_EQ(c.age_s(), 5u);
            EXPECT_EQ(c.expires_in_s(), 24u);  // syn_recv: 30 s
            EXPECT_EQ(c.lcore(), c.client_port() < 30000 ? 11u : 12u);
        }
        if (resp.next_page_token().empty()) break;
        EXPECT_EQ(resp.connections_size(), 10);
        req.set_page_token(resp.next_page_token());
    }
    EXPECT_EQ(pages, 3u);
    EXPECT_EQ(seen.size(), 25u);

    v1::ListConnectionsRequest by_service;
    *by_service.mutable_service() = lab_key(443);
    v1::ListConnectionsResponse resp;
    ASSERT_TRUE(state->list_connections(by_service, &resp).ok());
    EXPECT_EQ(resp.connections_size(), 10);
    EXPECT_TRUE(resp.next_page_token().empty());
    by_service.set_backend_id(2);
    resp.Clear();
    ASSERT_TRUE(state->list_connections(by_service, &resp).ok());
    EXPECT_GT(resp.connections_size(), 0);
    for (const v1::Connection &c : resp.connections()) EXPECT_EQ(c.backend_id(), 2u);

    req.set_page_token("x1");
    EXPECT_EQ(state->list_connections(req, &resp).code, agent_code::invalid_argument);
    req.set_page_token("");
    req.set_page_size(10001);
    EXPECT_EQ(state->list_connections(req, &resp).code, agent_code::invalid_argument);
}

TEST_F(agent_state_test, vip_hook_reports_added_and_removed_vips) {
    std::vector<agent_vip> added, removed;
    unsigned calls = 0;
    state->on_vips_changed([&](const std::vector<agent_vip> &a, const std::vector<agent_vip> &r) {
        added = a;
        removed = r;
        calls++;
    });
    v1::PutServiceResponse r;
    ASSERT_TRUE(state->put_service(put_request(1), &r).ok());
    ASSERT_EQ(calls, 1u);
    ASSERT_EQ(added.size(), 1u);
    EXPECT_EQ(added[0].addr, testbed::vip(ip_family::v4));
    EXPECT_TRUE(removed.empty());
    // A second service on the same VIP: the set is unchanged, no call.
    ASSERT_TRUE(state->put_service(put_request(1, 3, 10, 443), &r).ok());
    EXPECT_EQ(calls, 1u);
    ASSERT_TRUE(state->put_service(put_request(1, 2, 10, 80, "2001:2:0:1::1"), &r).ok());
    ASSERT_EQ(calls, 2u);
    ASSERT_EQ(added.size(), 1u);
    EXPECT_EQ(added[0].family, ip_family::v6);
    EXPECT_EQ(state->vips().size(), 2u);

    v1::DeleteServiceRequest d;
    *d.mutable_key() = lab_key(80);
    d.set_version(2);
    v1::DeleteServiceResponse dr;
    ASSERT_TRUE(state->delete_service(d, &dr).ok());
    EXPECT_EQ(calls, 2u);  // port 443 still uses the VIP
    *d.mutable_key() = lab_key(443);
    ASSERT_TRUE(state->delete_service(d, &dr).ok());
    ASSERT_EQ(calls, 3u);
    ASSERT_EQ(removed.size(), 1u);
    EXPECT_EQ(removed[0].addr, testbed::vip(ip_family::v4));
    EXPECT_TRUE(added.empty());
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
