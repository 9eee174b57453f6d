/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The datapath agent_state tests run against: a testbed with two workers (0
 * and 1, lcores 11 and 12) and a spare RCU reader (2) for the agent, plus
 * request builders for the lab service.
 */
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "../pipeline/frames.h"
#include "agent_state.h"
#include "eal_test_main.h"
#include "pipeline/testbed.h"

namespace nlb::dataplane::test_support {

using test::frame_spec;

/** A NAT service on the lab VIP with backends be1..be(n) (ids 1..n) on port 8080. */
inline v1::PutServiceRequest put_request(uint64_t version, unsigned n_backends = 3,
                                         uint32_t weight = 10, uint32_t port = 80,
                                         const char *vip = "198.18.1.1") {
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

inline v1::ServiceKey lab_key(uint32_t port = 80) {
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

}  // namespace nlb::dataplane::test_support
