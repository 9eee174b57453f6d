/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The SPEC.md rules against a real nlb-control: protocol match, placement,
 * immutable protocol/port with update masks, replace and disassociate the
 * server group (draining recorded), delete refused while a listener uses the
 * service, views, NOT_FOUND, updates of every resource.
 */
#include "api_fixture.h"

#include <ctime>
#include <map>
#include <set>

namespace nlb::test {
namespace {

using lbs = v1::LoadBalancing::Stub;

class rules : public api_test {
  protected:
    static grpc::Status set_group(const std::string &lb, const std::string &bs,
                                  const std::string &sg) {
        v1::SetServerGroupRequest q;
        q.set_load_balancer(lb);
        q.set_backend_service(bs);
        q.set_server_group(sg);
        v1::BackendService out;
        return call(&lbs::SetServerGroup, q, &out);
    }
    static grpc::Status listener(const std::string &lb, const std::string &name,
                                 const std::string &bs, v1::Protocol p = v1::TCP, int port = 80) {
        v1::CreateListenerRequest q;
        q.set_load_balancer(lb);
        q.set_listener_id(name);
        q.mutable_listener()->set_protocol(p);
        q.mutable_listener()->set_port(port);
        q.mutable_listener()->set_backend_service(bs);
        v1::Listener out;
        return call(&lbs::CreateListener, q, &out);
    }
    static v1::BackendServiceHealth health(const std::string &lb, const std::string &bs) {
        v1::GetBackendServiceHealthRequest q;
        q.set_load_balancer(lb);
        q.set_backend_service(bs);
        v1::BackendServiceHealth out;
        auto st = call(&lbs::GetBackendServiceHealth, q, &out);
        EXPECT_TRUE(st.ok()) << st.error_message();
        return out;
    }
    static grpc::Status update(const std::string &lb, const std::string &bs,
                               std::function<void(v1::BackendService &)> set,
                               std::vector<std::string> paths, v1::BackendService *out) {
        v1::UpdateBackendServiceRequest q;
        q.mutable_backend_service()->set_load_balancer(lb);
        q.mutable_backend_service()->set_name(bs);
        set(*q.mutable_backend_service());
        for (auto &p : paths) q.mutable_update_mask()->add_paths(p);
        return call(&lbs::UpdateBackendService, q, out);
    }
};

TEST_F(rules, rule1_protocol_match) {
    const auto lb = make_lb();
    ASSERT_TRUE(make_bs(lb, "svc", "").ok());
    EXPECT_TRUE(listener(lb, "tcp", "svc").ok());
    auto st = listener(lb, "udp", "svc", v1::UDP, 53);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(st.error_message().find("rule 1"), std::string::npos) << st.error_message();
    EXPECT_NE(st.error_message().find("UDP"), std::string::npos);
    EXPECT_EQ(listener(lb, "nobs", "missing", v1::TCP, 81).error_code(),
              grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(listener("no-such-lb", "x", "svc").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(rules, rule2_placement_and_associable_filter) {
    const auto lb = make_lb("z1");
    const auto near_v = make_group("z1", v1::VIRTUAL);
    const auto near_a = make_group("z1", v1::AVAILABILITY);
    const auto far = make_group("z2", v1::VIRTUAL);
    auto st = make_bs(lb, "svc", far);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(st.error_message().find("rule 2"), std::string::npos);
    EXPECT_NE(st.error_message().find(far), std::string::npos);
    ASSERT_TRUE(make_bs(lb, "svc", "").ok());
    EXPECT_EQ(set_group(lb, "svc", far).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    v1::BackendService out;
    EXPECT_EQ(update(
                  lb, "svc", [&](auto &b) { b.set_server_group(far); }, {"server_group"}, &out)
                  .error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_TRUE(set_group(lb, "svc", near_a).ok());
    EXPECT_EQ(set_group(lb, "svc", "no-such-group").error_code(), grpc::StatusCode::NOT_FOUND);

    auto list = [&](v1::ServerGroupType type) {
        v1::ListServerGroupsRequest q;
        q.set_associable_with_load_balancer(lb);
        q.set_associable_with_backend_service("svc");
        q.set_type(type);
        q.set_page_size(1000);
        v1::ListServerGroupsResponse r;
        EXPECT_TRUE(call(&lbs::ListServerGroups, q, &r).ok());
        std::set<std::string> names;
        for (const auto &g : r.server_groups()) names.insert(g.name());
        return names;
    };
    auto any = list(v1::SERVER_GROUP_TYPE_UNSPECIFIED);
    EXPECT_TRUE(any.count(near_v) && any.count(near_a));
    EXPECT_FALSE(any.count(far));
    auto virt = list(v1::VIRTUAL);
    EXPECT_TRUE(virt.count(near_v));
    EXPECT_FALSE(virt.count(near_a) || virt.count(far));
    v1::ListServerGroupsRequest half;
    half.set_associable_with_load_balancer(lb);
    v1::ListServerGroupsResponse r;
    EXPECT_EQ(call(&lbs::ListServerGroups, half, &r).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(rules, rule3_update_mask_and_immutable_fields) {
    const auto lb = make_lb();
    ASSERT_TRUE(make_bs(lb, "svc", "").ok());
    v1::BackendService out;
    // Other fields change with a mask; the same port and protocol are accepted.
    ASSERT_TRUE(update(
                    lb, "svc",
                    [](auto &b) {
                        b.set_port(80);
                        b.set_protocol(v1::TCP);
                        b.set_scheduler(v1::WLC);
                        b.set_drain_timeout_seconds(0);
                        b.mutable_health_check()->set_method(v1::HEALTH_CHECK_HTTP);
                        b.mutable_health_check()->set_path("/hc");
                    },
                    {"port", "protocol", "scheduler", "drain_timeout_seconds",
                     "health_check.method", "health_check.path"},
                    &out)
                    .ok());
    EXPECT_EQ(out.scheduler(), v1::WLC);
    EXPECT_EQ(out.drain_timeout_seconds(), 0);
    EXPECT_EQ(out.health_check().path(), "/hc");
    EXPECT_EQ(out.health_check().normal_codes_size(), 2);  // HTTP defaults filled in
    // Fields not in the mask are untouched even if sent.
    ASSERT_TRUE(update(
                    lb, "svc",
                    [](auto &b) {
                        b.set_scheduler(v1::SOURCE_IP);
                        b.set_drain_timeout_seconds(7);
                    },
                    {"scheduler"}, &out)
                    .ok());
    EXPECT_EQ(out.scheduler(), v1::SOURCE_IP);
    EXPECT_EQ(out.drain_timeout_seconds(), 0);
    // A masked field that is unset takes its default again.
    ASSERT_TRUE(update(
                    lb, "svc", [](auto &) {}, {"drain_timeout_seconds"}, &out)
                    .ok());
    EXPECT_EQ(out.drain_timeout_seconds(), 300);
    // Back to TCP: the stored HTTP-only fields are dropped...
    ASSERT_TRUE(update(
                    lb, "svc",
                    [](auto &b) { b.mutable_health_check()->set_method(v1::HEALTH_CHECK_TCP); },
                    {"health_check.method"}, &out)
                    .ok());
    EXPECT_FALSE(out.health_check().has_path());
    EXPECT_EQ(out.health_check().normal_codes_size(), 0);
    // ...and sending one with TCP is refused.
    auto st = update(
        lb, "svc", [](auto &b) { b.mutable_health_check()->set_path("/x"); }, {"health_check.path"},
        &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    // Port and protocol are immutable.
    st = update(
        lb, "svc", [](auto &b) { b.set_port(81); }, {"port"}, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("backend_service.port"), std::string::npos);
    EXPECT_NE(st.error_message().find("81"), std::string::npos);
    EXPECT_NE(st.error_message().find("immutable"), std::string::npos);
    st = update(
        lb, "svc", [](auto &b) { b.set_protocol(v1::UDP); }, {"protocol"}, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    // Out of range in an update: refused, nothing changed.
    st = update(
        lb, "svc", [](auto &b) { b.mutable_health_check()->set_interval_seconds(301); },
        {"health_check.interval_seconds"}, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    st = update(
        lb, "svc", [](auto &) {}, {"no_such_field"}, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("update_mask"), std::string::npos);
    v1::GetBackendServiceRequest g;
    g.set_load_balancer(lb);
    g.set_name("svc");
    ASSERT_TRUE(call(&lbs::GetBackendService, g, &out).ok());
    EXPECT_EQ(out.health_check().interval_seconds(), 5);
    EXPECT_EQ(out.scheduler(), v1::SOURCE_IP);
    st = update(
        lb, "missing", [](auto &) {}, {"scheduler"}, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(rules, rule4_replace_group_drains_leaving_instances) {
    const auto lb = make_lb();
    const auto g1 = make_group();
    const auto g2 = make_group();
    // g2 shares id "a"; give g1 an extra instance "c" that only g1 has.
    v1::AddInstancesRequest add;
    add.set_server_group(g1);
    auto *c = add.add_instances();
    c->set_id("c");
    c->set_address("198.19.0.13");
    v1::ServerGroup sg;
    ASSERT_TRUE(call(&lbs::AddInstances, add, &sg).ok());
    ASSERT_TRUE(make_bs(lb, "svc", g1).ok());
    auto h = health(lb, "svc");
    ASSERT_EQ(h.instances_size(), 3);
    for (const auto &i : h.instances()) EXPECT_EQ(i.status(), v1::INITIAL);
    EXPECT_FALSE(h.failing_open());

    const int64_t before = time(nullptr);
    ASSERT_TRUE(set_group(lb, "svc", g2).ok());
    h = health(lb, "svc");
    EXPECT_EQ(h.server_group(), g2);
    std::map<std::string, v1::InstanceHealth> by_id;
    for (const auto &i : h.instances())
        by_id[i.instance().id() + "/" + v1::HealthStatus_Name(i.status())] = i;
    EXPECT_TRUE(by_id.count("a/INITIAL"));  // in both groups: no draining
    EXPECT_TRUE(by_id.count("b/INITIAL"));
    ASSERT_TRUE(by_id.count("c/DRAINING"));
    const auto &d = by_id["c/DRAINING"];
    EXPECT_GE(d.draining_deadline_unix(), before + 300);
    EXPECT_LE(d.draining_deadline_unix(), time(nullptr) + 300);
    EXPECT_EQ(h.instances_size(), 3);
    // The old group is no longer used: its instances are UNUSED.
    v1::GetServerGroupRequest gq;
    gq.set_name(g1);
    v1::ServerGroupView view;
    ASSERT_TRUE(call(&lbs::GetServerGroup, gq, &view).ok());
    EXPECT_EQ(view.backend_services_size(), 0);
    for (const auto &i : view.instances()) EXPECT_EQ(i.status(), v1::UNUSED);
    // Removing an instance of the current group drains it too.
    v1::RemoveInstancesRequest rm;
    rm.set_server_group(g2);
    rm.add_instance_ids("b");
    ASSERT_TRUE(call(&lbs::RemoveInstances, rm, &sg).ok());
    EXPECT_EQ(sg.instances_size(), 1);
    h = health(lb, "svc");
    int draining = 0;
    for (const auto &i : h.instances()) draining += i.status() == v1::DRAINING;
    EXPECT_EQ(draining, 2);
    rm.set_instance_ids(0, "zz");
    EXPECT_EQ(call(&lbs::RemoveInstances, rm, &sg).error_code(), grpc::StatusCode::NOT_FOUND);
    // Adding an existing id is refused.
    add.set_server_group(g2);
    add.mutable_instances(0)->set_id("a");
    EXPECT_EQ(call(&lbs::AddInstances, add, &sg).error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(rules, rule5_delete_refused_while_listener_uses_it) {
    const auto lb = make_lb();
    const auto g = make_group();
    ASSERT_TRUE(make_bs(lb, "svc", g).ok());
    ASSERT_TRUE(listener(lb, "web", "svc").ok());
    v1::DeleteBackendServiceRequest dq;
    dq.set_load_balancer(lb);
    dq.set_name("svc");
    google::protobuf::Empty e;
    auto st = call(&lbs::DeleteBackendService, dq, &e);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_NE(st.error_message().find("\"web\""), std::string::npos);
    EXPECT_NE(st.error_message().find("rule 5"), std::string::npos);
    // The group cannot be deleted while associated, nor the load balancer while not empty.
    v1::DeleteServerGroupRequest gd;
    gd.set_name(g);
    EXPECT_EQ(call(&lbs::DeleteServerGroup, gd, &e).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
    v1::DeleteLoadBalancerRequest ld;
    ld.set_name(lb);
    EXPECT_EQ(call(&lbs::DeleteLoadBalancer, ld, &e).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);

    v1::DeleteListenerRequest lq;
    lq.set_load_balancer(lb);
    lq.set_name("web");
    ASSERT_TRUE(call(&lbs::DeleteListener, lq, &e).ok());
    ASSERT_TRUE(call(&lbs::DeleteBackendService, dq, &e).ok());
    EXPECT_EQ(call(&lbs::DeleteBackendService, dq, &e).error_code(), grpc::StatusCode::NOT_FOUND);
    // The group survives, disassociated.
    v1::GetServerGroupRequest gq;
    gq.set_name(g);
    v1::ServerGroupView view;
    ASSERT_TRUE(call(&lbs::GetServerGroup, gq, &view).ok());
    EXPECT_EQ(view.backend_services_size(), 0);
    EXPECT_EQ(view.instances(0).status(), v1::UNUSED);
    EXPECT_TRUE(call(&lbs::DeleteServerGroup, gd, &e).ok());
    EXPECT_TRUE(call(&lbs::DeleteLoadBalancer, ld, &e).ok());
    EXPECT_EQ(call(&lbs::DeleteLoadBalancer, ld, &e).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(rules, views_show_configuration_and_group) {
    const auto lb = make_lb();
    const auto g = make_group();
    ASSERT_TRUE(make_bs(lb, "svc", g).ok());
    v1::GetServerGroupRequest gq;
    gq.set_name(g);
    v1::ServerGroupView view;
    ASSERT_TRUE(call(&lbs::GetServerGroup, gq, &view).ok());
    ASSERT_EQ(view.backend_services_size(), 1);
    EXPECT_EQ(view.backend_services(0), lb + "/svc");
    ASSERT_EQ(view.instances_size(), 2);
    EXPECT_EQ(view.instances(0).status(), v1::INITIAL);
    EXPECT_EQ(view.instances(0).active_connections(), 0);
    auto h = health(lb, "svc");
    ASSERT_EQ(h.instances_size(), 2);
    EXPECT_EQ(h.server_group_type(), v1::VIRTUAL);
    EXPECT_EQ(h.instances(0).instance().port(), 8080);
    EXPECT_EQ(h.instances(1).instance().port(), 80);  // no port: the service port
    v1::GetServerGroupRequest missing;
    missing.set_name("nope");
    EXPECT_EQ(call(&lbs::GetServerGroup, missing, &view).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(rules, update_load_balancer_and_listener) {
    const auto lb = make_lb();
    v1::UpdateLoadBalancerRequest q;
    q.mutable_load_balancer()->set_name(lb);
    q.mutable_load_balancer()->add_vips("2001:2::99");
    q.mutable_update_mask()->add_paths("vips");
    v1::LoadBalancer out;
    ASSERT_TRUE(call(&lbs::UpdateLoadBalancer, q, &out).ok());
    ASSERT_EQ(out.vips_size(), 1);
    EXPECT_EQ(out.vips(0), "2001:2::99");
    EXPECT_EQ(out.zone(), "z1");
    q.mutable_load_balancer()->set_zone("z9");
    q.mutable_update_mask()->add_paths("zone");
    auto st = call(&lbs::UpdateLoadBalancer, q, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("load_balancer.zone"), std::string::npos);
    // A VIP of another load balancer cannot be taken.
    const auto other = make_lb();
    v1::GetLoadBalancerRequest g;
    g.set_name(other);
    v1::LoadBalancer o;
    ASSERT_TRUE(call(&lbs::GetLoadBalancer, g, &o).ok());
    v1::UpdateLoadBalancerRequest steal;
    steal.mutable_load_balancer()->set_name(lb);
    steal.mutable_load_balancer()->add_vips(o.vips(0));
    steal.mutable_update_mask()->add_paths("vips");
    EXPECT_EQ(call(&lbs::UpdateLoadBalancer, steal, &out).error_code(),
              grpc::StatusCode::ALREADY_EXISTS);

    ASSERT_TRUE(make_bs(lb, "one", "").ok());
    ASSERT_TRUE(make_bs(lb, "two", "").ok());
    ASSERT_TRUE(listener(lb, "l", "one").ok());
    v1::UpdateListenerRequest u;
    u.mutable_listener()->set_load_balancer(lb);
    u.mutable_listener()->set_name("l");
    u.mutable_listener()->set_backend_service("two");
    u.mutable_listener()->set_mode(v1::TUNNEL);
    u.mutable_update_mask()->add_paths("backend_service");
    u.mutable_update_mask()->add_paths("mode");
    v1::Listener l;
    ASSERT_TRUE(call(&lbs::UpdateListener, u, &l).ok());
    EXPECT_EQ(l.backend_service(), "two");
    EXPECT_EQ(l.mode(), v1::TUNNEL);
    EXPECT_EQ(l.port(), 80);
    u.mutable_listener()->set_port(81);
    u.mutable_update_mask()->add_paths("port");
    EXPECT_EQ(call(&lbs::UpdateListener, u, &l).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    // "one" is free now and can be deleted; "two" cannot.
    v1::DeleteBackendServiceRequest d;
    d.set_load_balancer(lb);
    d.set_name("one");
    google::protobuf::Empty e;
    EXPECT_TRUE(call(&lbs::DeleteBackendService, d, &e).ok());
    d.set_name("two");
    EXPECT_EQ(call(&lbs::DeleteBackendService, d, &e).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(rules, rule5_deleted_service_leaves_no_draining_records_behind) {
    // A deleted backend service has no listener, so nothing is left to drain in the
    // dataplane; its draining records go with it. A service re-created under the same name
    // must not show the old service's instances as DRAINING (nor drain them).
    const auto lb = make_lb();
    const auto g = make_group();
    ASSERT_TRUE(make_bs(lb, "svc", g).ok());
    v1::DeleteBackendServiceRequest d;
    d.set_load_balancer(lb);
    d.set_name("svc");
    google::protobuf::Empty e;
    ASSERT_TRUE(call(&lbs::DeleteBackendService, d, &e).ok());
    ASSERT_TRUE(make_bs(lb, "svc", "").ok());
    auto h = health(lb, "svc");
    EXPECT_EQ(h.instances_size(), 0);
    for (const auto &i : h.instances())
        ADD_FAILURE() << "left over: " << i.instance().id() << " " << v1::HealthStatus_Name(i.status());
    // With a group again: only that group's instances, none of them draining.
    const auto g2 = make_group();
    ASSERT_TRUE(set_group(lb, "svc", g2).ok());
    h = health(lb, "svc");
    ASSERT_EQ(h.instances_size(), 2);
    for (const auto &i : h.instances()) EXPECT_EQ(i.status(), v1::INITIAL) << i.instance().id();
}

TEST_F(rules, update_server_group_instances_drains_leavers) {
    const auto lb = make_lb();
    const auto g = make_group();
    ASSERT_TRUE(make_bs(lb, "svc", g).ok());
    v1::UpdateServerGroupRequest q;
    q.mutable_server_group()->set_name(g);
    auto *in = q.mutable_server_group()->add_instances();
    in->set_id("a");
    in->set_address("198.19.0.11");
    in->set_weight(0);
    q.mutable_update_mask()->add_paths("instances");
    v1::ServerGroup out;
    ASSERT_TRUE(call(&lbs::UpdateServerGroup, q, &out).ok());
    ASSERT_EQ(out.instances_size(), 1);
    EXPECT_EQ(out.instances(0).weight(), 0);
    auto h = health(lb, "svc");
    ASSERT_EQ(h.instances_size(), 2);
    EXPECT_EQ(h.instances(0).status(), v1::INITIAL);  // weight 0 does not drain (rule 7)
    EXPECT_EQ(h.instances(1).instance().id(), "b");
    EXPECT_EQ(h.instances(1).status(), v1::DRAINING);
    q.mutable_server_group()->set_type(v1::AVAILABILITY);
    q.mutable_update_mask()->add_paths("type");
    auto st = call(&lbs::UpdateServerGroup, q, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("server_group.type"), std::string::npos);
}

}  // namespace
}  // namespace nlb::test
