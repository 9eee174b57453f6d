/* SPDX-License-Identifier: Apache-2.0 */
/* The desired state -> dataplane services translation, the sync plan and the drain rule. */
#include "dataplane_sync.h"
#include "dataplane_translate.h"
#include "drain_timers.h"
#include "health_probe_targets.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace nlb::control {
namespace {

v1::Instance inst(const std::string &id, const std::string &addr, int port = 0, int weight = -1) {
    v1::Instance in;
    in.set_id(id);
    in.set_address(addr);
    if (port) in.set_port(port);
    if (weight >= 0) in.set_weight(weight);
    return in;
}

/** lb "lb" with VIPs 198.18.0.100 and 2001:2::100, listener "web" TCP:80 -> bs "bs" (port 8080). */
struct fixture : ::testing::Test {
    desired_input in;
    std::map<std::string, v1::HealthStatus> health;  // instance id -> status (default HEALTHY)

    void SetUp() override {
        v1::LoadBalancer lb;
        lb.set_name("lb");
        lb.add_vips("198.18.0.100");
        lb.add_vips("2001:2::100");
        in.load_balancers.push_back(lb);
        v1::Listener l;
        l.set_name("web");
        l.set_load_balancer("lb");
        l.set_protocol(v1::TCP);
        l.set_port(80);
        l.set_mode(v1::NAT);
        l.set_backend_service("bs");
        in.listeners.push_back(l);
        v1::BackendService bs;
        bs.set_name("bs");
        bs.set_load_balancer("lb");
        bs.set_protocol(v1::TCP);
        bs.set_port(8080);
        bs.set_scheduler(v1::WLC);
        bs.set_server_group("g");
        in.backend_services.push_back(bs);
        v1::ServerGroup sg;
        sg.set_name("g");
        sg.set_type(v1::VIRTUAL);
        *sg.add_instances() = inst("be1", "198.19.0.11", 9000, 20);
        *sg.add_instances() = inst("be2", "198.19.0.12");
        *sg.add_instances() = inst("be6", "2001:2:1::11");
        in.server_groups.push_back(sg);
    }

    desired_services run() {
        return translate(in,
                         [this](const std::string &, const std::string &, const v1::Instance &i) {
                             auto it = health.find(i.id());
                             return it == health.end() ? v1::HEALTHY : it->second;
                         });
    }
    static const dpv1::Backend *find(const dpv1::Service &s, const std::string &addr) {
        for (const auto &b : s.backends())
            if (b.address() == addr) return &b;
        return nullptr;
    }
};

TEST_F(fixture, one_service_per_vip_with_the_vip_family_backends) {
    auto out = run();
    ASSERT_EQ(out.services.size(), 2u);
    // Sorted by key text: "198.18.0.100:80/tcp" < "[2001:2::100]:80/tcp".
    const auto &v4 = out.services[0];
    const auto &v6 = out.services[1];
    EXPECT_EQ(v4.key().vip(), "198.18.0.100");
    EXPECT_EQ(v4.key().port(), 80u);
    EXPECT_EQ(v4.key().protocol(), dpv1::TCP);
    EXPECT_EQ(v4.mode(), dpv1::NAT);
    EXPECT_EQ(v4.scheduler(), dpv1::WLC);
    EXPECT_EQ(v4.persistence_timeout_s(), 0u);
    ASSERT_EQ(v4.backends_size(), 2);
    EXPECT_EQ(v6.key().vip(), "2001:2::100");
    ASSERT_EQ(v6.backends_size(), 1);
    EXPECT_EQ(v6.backends(0).address(), "2001:2:1::11");
}

TEST_F(fixture, ports_weights_and_states) {
    auto v4 = run().services[0];
    auto *be1 = find(v4, "198.19.0.11");
    auto *be2 = find(v4, "198.19.0.12");
    ASSERT_TRUE(be1 && be2);
    EXPECT_EQ(be1->port(), 9000u);  // virtual group: the instance port
    EXPECT_EQ(be2->port(), 8080u);  // unset: the backend service port
    EXPECT_EQ(be1->weight(), 20u);
    EXPECT_EQ(be2->weight(), 10u);  // default
    EXPECT_EQ(be1->state(), dpv1::ACTIVE);
    EXPECT_EQ(be2->state(), dpv1::ACTIVE);
}

TEST_F(fixture, availability_groups_use_the_backend_service_port) {
    in.server_groups[0].set_type(v1::AVAILABILITY);
    auto v4 = run().services[0];
    EXPECT_EQ(find(v4, "198.19.0.11")->port(), 8080u);
}

TEST_F(fixture, dsr_and_tunnel_backends_take_the_listener_port) {
    for (auto mode : {v1::DSR, v1::TUNNEL}) {
        in.listeners[0].set_mode(mode);
        auto v4 = run().services[0];
        EXPECT_EQ(v4.mode(), mode == v1::DSR ? dpv1::DSR : dpv1::TUNNEL);
        for (const auto &b : v4.backends()) EXPECT_EQ(b.port(), 80u);
    }
}

TEST_F(fixture, persistence_timeout_when_on) {
    in.backend_services[0].set_session_persistence(true);
    EXPECT_EQ(run().services[0].persistence_timeout_s(), 1440u);
    in.backend_services[0].set_persistence_timeout_seconds(60);
    EXPECT_EQ(run().services[0].persistence_timeout_s(), 60u);
}

TEST_F(fixture, initial_and_unhealthy_members_are_draining) {
    health["be1"] = v1::INITIAL;
    auto v4 = run().services[0];
    EXPECT_EQ(find(v4, "198.19.0.11")->state(), dpv1::DRAINING);
    EXPECT_EQ(find(v4, "198.19.0.12")->state(), dpv1::ACTIVE);
    EXPECT_FALSE(v4.fail_open());
    health["be1"] = v1::UNHEALTHY;
    v4 = run().services[0];
    EXPECT_EQ(find(v4, "198.19.0.11")->state(), dpv1::DRAINING);
}

TEST_F(fixture, every_member_active_when_none_is_healthy_fail_open) {
    health["be1"] = v1::UNHEALTHY;
    health["be2"] = v1::INITIAL;
    health["be6"] = v1::UNHEALTHY;
    auto out = run();
    for (const auto &s : out.services) {
        EXPECT_TRUE(s.fail_open());
        for (const auto &b : s.backends()) EXPECT_EQ(b.state(), dpv1::ACTIVE) << b.address();
    }
}

TEST_F(fixture, all_initial_is_not_fail_open) {
    health["be1"] = health["be2"] = health["be6"] = v1::INITIAL;
    for (const auto &s : run().services) {
        EXPECT_FALSE(s.fail_open());
        for (const auto &b : s.backends()) EXPECT_EQ(b.state(), dpv1::DRAINING);
    }
}

TEST_F(fixture, draining_instances_stay_as_draining_until_their_record_goes) {
    draining_instance d{"lb", "bs", inst("old", "198.19.0.13", 8080, 10), 2000000000};
    in.draining.push_back(d);
    auto v4 = run().services[0];
    ASSERT_EQ(v4.backends_size(), 3);
    auto *old = find(v4, "198.19.0.13");
    ASSERT_TRUE(old);
    EXPECT_EQ(old->state(), dpv1::DRAINING);
    EXPECT_EQ(old->id(), backend_id("lb", "bs", "old", "198.19.0.13"));
    // A draining record of an instance that is a member again is ignored.
    in.draining[0].instance.set_id("be2");
    in.draining[0].instance.set_address("198.19.0.12");
    v4 = run().services[0];
    EXPECT_EQ(v4.backends_size(), 2);
    EXPECT_EQ(find(v4, "198.19.0.12")->state(), dpv1::ACTIVE);
}

TEST_F(fixture, a_disassociated_group_keeps_its_draining_instances) {
    in.backend_services[0].clear_server_group();
    EXPECT_TRUE(run().services.empty());
    in.draining.push_back({"lb", "bs", inst("be1", "198.19.0.11", 9000, 20), 2000000000});
    auto out = run();
    ASSERT_EQ(out.services.size(), 2u);
    ASSERT_EQ(out.services[0].backends_size(), 1);
    EXPECT_EQ(out.services[0].backends(0).state(), dpv1::DRAINING);
    EXPECT_EQ(out.services[1].backends_size(), 0);  // no IPv6 instance drains
}

TEST_F(fixture, same_address_and_port_twice_keeps_the_member) {
    in.draining.push_back({"lb", "bs", inst("gone", "198.19.0.12", 8080), 2000000000});
    auto v4 = run().services[0];
    EXPECT_EQ(v4.backends_size(), 2);
    EXPECT_EQ(find(v4, "198.19.0.12")->id(), backend_id("lb", "bs", "be2", "198.19.0.12"));
}

TEST_F(fixture, ids_are_stable_and_change_with_the_address) {
    auto a = run();
    auto b = run();
    ASSERT_EQ(a.services[0].SerializeAsString(), b.services[0].SerializeAsString());
    std::set<uint64_t> ids;
    for (const auto &s : a.services)
        for (const auto &bk : s.backends()) ids.insert(bk.id());
    EXPECT_EQ(ids.size(), 3u);
    EXPECT_EQ(a.names.at(backend_id("lb", "bs", "be1", "198.19.0.11")).instance_id, "be1");
    EXPECT_NE(backend_id("lb", "bs", "be1", "198.19.0.11"),
              backend_id("lb", "bs", "be1", "198.19.0.99"));
    EXPECT_NE(backend_id("lb", "bs", "be1", "198.19.0.11"),
              backend_id("lb", "bs2", "be1", "198.19.0.11"));
    // FNV-1a 64 of the text, the same on every appliance.
    EXPECT_EQ(backend_id("a", "b", "c", "d"), 0xdc995931686835b8ull);  // FNV-1a 64 of "a/b/c/d"
}

TEST_F(fixture, no_group_no_listener_no_service) {
    in.backend_services[0].clear_server_group();
    EXPECT_TRUE(run().services.empty());
    in = desired_input{};
    SetUp();
    in.listeners.clear();
    EXPECT_TRUE(run().services.empty());
}

TEST(plan, puts_changed_services_and_deletes_gone_ones_with_growing_versions) {
    dpv1::Service a, b, c;
    a.mutable_key()->set_vip("198.18.0.1");
    a.mutable_key()->set_port(80);
    b = a;
    b.mutable_key()->set_port(81);
    c = a;
    c.mutable_key()->set_port(82);
    held_services held;
    uint64_t version = 100;
    auto p = plan_sync({a, b}, held, &version);
    ASSERT_EQ(p.puts.size(), 2u);
    EXPECT_TRUE(p.deletes.empty());
    EXPECT_EQ(p.puts[0].second, 101u);
    EXPECT_EQ(p.puts[1].second, 102u);
    held[service_key_text(a.key())] = a.SerializeAsString();
    held[service_key_text(b.key())] = b.SerializeAsString();
    held[service_key_text(c.key())] = c.SerializeAsString();
    b.set_scheduler(dpv1::WLC);
    p = plan_sync({a, b}, held, &version);
    ASSERT_EQ(p.puts.size(), 1u);  // a unchanged
    EXPECT_EQ(p.puts[0].first.key().port(), 81u);
    EXPECT_EQ(p.puts[0].second, 103u);
    ASSERT_EQ(p.deletes.size(), 1u);
    EXPECT_EQ(p.deletes[0].first.port(), 82u);
    EXPECT_EQ(p.deletes[0].second, 104u);
    EXPECT_EQ(version, 104u);
}

TEST(drain, ends_at_the_deadline_or_when_idle) {
    draining_instance d{"lb", "bs", inst("be2", "198.19.0.12", 8080), 1000};
    const uint64_t id = backend_id("lb", "bs", "be2", "198.19.0.12");
    std::map<uint64_t, int64_t> busy{{id, 3}}, idle{{id, 0}};
    EXPECT_EQ(drain_due(d, 999, std::nullopt), drain_end::not_yet);
    EXPECT_EQ(drain_due(d, 1000, std::nullopt), drain_end::deadline);
    EXPECT_EQ(drain_due(d, 999, busy), drain_end::not_yet);
    EXPECT_EQ(drain_due(d, 1001, busy), drain_end::deadline);
    EXPECT_EQ(drain_due(d, 999, idle), drain_end::idle);
    EXPECT_EQ(drain_due(d, 999, std::map<uint64_t, int64_t>{}), drain_end::idle);
}

TEST_F(fixture, probe_targets_with_service_settings) {
    auto &hc = *in.backend_services[0].mutable_health_check();
    hc.set_method(v1::HEALTH_CHECK_HTTP);
    hc.set_interval_seconds(7);
    hc.set_path("/ok");
    hc.add_normal_codes(v1::STATUS_4XX);
    auto t = probe_targets(in);
    ASSERT_EQ(t.size(), 3u);
    EXPECT_EQ(t[0].t.key.service, "lb/bs");
    EXPECT_EQ(t[0].t.key.instance, "be1");
    EXPECT_EQ(t[0].t.traffic_port, 9000);
    EXPECT_EQ(t[1].t.traffic_port, 8080);
    EXPECT_EQ(t[2].t.family, ip_family::v6);
    EXPECT_EQ(t[0].settings.m, health::method::http);
    EXPECT_EQ(t[0].settings.interval, std::chrono::seconds(7));
    EXPECT_EQ(t[0].settings.timeout, std::chrono::seconds(2));
    EXPECT_EQ(t[0].settings.path, "/ok");
    EXPECT_EQ(t[0].settings.normal_classes, health::class_4xx);
    EXPECT_NE(probe_target_text(t[0]), probe_target_text(t[1]));
}

}  // namespace
}  // namespace nlb::control
