/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_state and the connections: purges and deletes of services with live
 * flows, statistics summed over two workers, paged and filtered connection
 * listings, and the VIP hook.
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
    not_syn.tcp_flags = wire::tcp_rst;  // a RST of no connection is dropped (other segments get a RST)
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

}  // namespace
}  // namespace nlb::dataplane
