/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every field's range against a real nlb-control: for each range the last
 * valid and the first invalid value on both sides, the defaults, HTTP-only
 * fields and the path rules. Invalid values must give INVALID_ARGUMENT with
 * a message naming the field and the value, and BadRequest field details.
 */
#include "api_fixture.h"

#include <google/protobuf/util/message_differencer.h>

#include <functional>

namespace nlb::test {
namespace {

using setter = std::function<void(v1::BackendService &)>;

struct field_case {
    const char *what;
    setter set;
    bool valid;
    const char *field;  // invalid: the field named in message and details
    const char *value;  // invalid: the value text in the message
};

void PrintTo(const field_case &c, std::ostream *os) {
    *os << c.what;
}

v1::HealthCheck &hc(v1::BackendService &b) {
    return *b.mutable_health_check();
}

void http(v1::BackendService &b) {
    hc(b).set_method(v1::HEALTH_CHECK_HTTP);
}

const field_case backend_service_cases[] = {
    {"port 1", [](auto &b) { b.set_port(1); }, true, "", ""},
    {"port 65535", [](auto &b) { b.set_port(65535); }, true, "", ""},
    {"port 0 (required)", [](auto &b) { b.set_port(0); }, false, "backend_service.port",
     "required"},
    {"port 65536", [](auto &b) { b.set_port(65536); }, false, "backend_service.port", "65536"},
    {"port -1", [](auto &b) { b.set_port(-1); }, false, "backend_service.port", "-1"},
    {"protocol TCP", [](auto &b) { b.set_protocol(v1::TCP); }, true, "", ""},
    {"protocol UDP", [](auto &b) { b.set_protocol(v1::UDP); }, false, "backend_service.protocol",
     "UDP"},
    {"scheduler WLC", [](auto &b) { b.set_scheduler(v1::WLC); }, true, "", ""},
    {"scheduler SOURCE_IP", [](auto &b) { b.set_scheduler(v1::SOURCE_IP); }, true, "", ""},
    {"scheduler 4", [](auto &b) { b.set_scheduler(static_cast<v1::Scheduler>(4)); }, false,
     "backend_service.scheduler", "4"},
    {"persistence 1",
     [](auto &b) {
         b.set_session_persistence(true);
         b.set_persistence_timeout_seconds(1);
     },
     true, "", ""},
    {"persistence 3600",
     [](auto &b) {
         b.set_session_persistence(true);
         b.set_persistence_timeout_seconds(3600);
     },
     true, "", ""},
    {"persistence 0",
     [](auto &b) {
         b.set_session_persistence(true);
         b.set_persistence_timeout_seconds(0);
     },
     false, "backend_service.persistence_timeout_seconds", "0"},
    {"persistence 3601",
     [](auto &b) {
         b.set_session_persistence(true);
         b.set_persistence_timeout_seconds(3601);
     },
     false, "backend_service.persistence_timeout_seconds", "3601"},
    {"drain 0", [](auto &b) { b.set_drain_timeout_seconds(0); }, true, "", ""},
    {"drain 3600", [](auto &b) { b.set_drain_timeout_seconds(3600); }, true, "", ""},
    {"drain -1", [](auto &b) { b.set_drain_timeout_seconds(-1); }, false,
     "backend_service.drain_timeout_seconds", "-1"},
    {"drain 3601", [](auto &b) { b.set_drain_timeout_seconds(3601); }, false,
     "backend_service.drain_timeout_seconds", "3601"},
    {"hc method 3", [](auto &b) { hc(b).set_method(static_cast<v1::HealthCheckMethod>(3)); }, false,
     "backend_service.health_check.method", "3"},
    {"hc port 1", [](auto &b) { hc(b).set_port(1); }, true, "", ""},
    {"hc port 65535", [](auto &b) { hc(b).set_port(65535); }, true, "", ""},
    {"hc port 0", [](auto &b) { hc(b).set_port(0); }, false, "backend_service.health_check.port",
     "0"},
    {"hc port 65536", [](auto &b) { hc(b).set_port(65536); }, false,
     "backend_service.health_check.port", "65536"},
    {"hc timeout 2", [](auto &b) { hc(b).set_timeout_seconds(2); }, true, "", ""},
    {"hc timeout 60", [](auto &b) { hc(b).set_timeout_seconds(60); }, true, "", ""},
    {"hc timeout 1", [](auto &b) { hc(b).set_timeout_seconds(1); }, false,
     "backend_service.health_check.timeout_seconds", "1"},
    {"hc timeout 61", [](auto &b) { hc(b).set_timeout_seconds(61); }, false,
     "backend_service.health_check.timeout_seconds", "61"},
    {"hc interval 5", [](auto &b) { hc(b).set_interval_seconds(5); }, true, "", ""},
    {"hc interval 300", [](auto &b) { hc(b).set_interval_seconds(300); }, true, "", ""},
    {"hc interval 4", [](auto &b) { hc(b).set_interval_seconds(4); }, false,
     "backend_service.health_check.interval_seconds", "4"},
    {"hc interval 301", [](auto &b) { hc(b).set_interval_seconds(301); }, false,
     "backend_service.health_check.interval_seconds", "301"},
    {"unhealthy 1", [](auto &b) { hc(b).set_unhealthy_threshold(1); }, true, "", ""},
    {"unhealthy 5", [](auto &b) { hc(b).set_unhealthy_threshold(5); }, true, "", ""},
    {"unhealthy 0", [](auto &b) { hc(b).set_unhealthy_threshold(0); }, false,
     "backend_service.health_check.unhealthy_threshold", "0"},
    {"unhealthy 6", [](auto &b) { hc(b).set_unhealthy_threshold(6); }, false,
     "backend_service.health_check.unhealthy_threshold", "6"},
    {"healthy 1", [](auto &b) { hc(b).set_healthy_threshold(1); }, true, "", ""},
    {"healthy 5", [](auto &b) { hc(b).set_healthy_threshold(5); }, true, "", ""},
    {"healthy 0", [](auto &b) { hc(b).set_healthy_threshold(0); }, false,
     "backend_service.health_check.healthy_threshold", "0"},
    {"healthy 6", [](auto &b) { hc(b).set_healthy_threshold(6); }, false,
     "backend_service.health_check.healthy_threshold", "6"},
    {"codes with TCP", [](auto &b) { hc(b).add_normal_codes(v1::STATUS_2XX); }, false,
     "backend_service.health_check.normal_codes", "HTTP only"},
    {"path with TCP", [](auto &b) { hc(b).set_path("/"); }, false,
     "backend_service.health_check.path", "HTTP only"},
    {"codes 4xx (HTTP)",
     [](auto &b) {
         http(b);
         hc(b).add_normal_codes(v1::STATUS_4XX);
     },
     true, "", ""},
    {"codes all three (HTTP)",
     [](auto &b) {
         http(b);
         hc(b).add_normal_codes(v1::STATUS_2XX);
         hc(b).add_normal_codes(v1::STATUS_3XX);
         hc(b).add_normal_codes(v1::STATUS_4XX);
     },
     true, "", ""},
    {"codes twice (HTTP)",
     [](auto &b) {
         http(b);
         hc(b).add_normal_codes(v1::STATUS_2XX);
         hc(b).add_normal_codes(v1::STATUS_2XX);
     },
     false, "backend_service.health_check.normal_codes[1]", "STATUS_2XX"},
    {"codes unspecified (HTTP)",
     [](auto &b) {
         http(b);
         hc(b).add_normal_codes(v1::STATUS_CODE_CLASS_UNSPECIFIED);
     },
     false, "backend_service.health_check.normal_codes[0]", "0"},
    {"path / (HTTP)",
     [](auto &b) {
         http(b);
         hc(b).set_path("/");
     },
     true, "", ""},
    {"path 5 levels",
     [](auto &b) {
         http(b);
         hc(b).set_path("/a/b/c/d/e");
     },
     true, "", ""},
    {"path 6 levels",
     [](auto &b) {
         http(b);
         hc(b).set_path("/a/b/c/d/e/f");
     },
     false, "backend_service.health_check.path", "/a/b/c/d/e/f"},
    {"path without /",
     [](auto &b) {
         http(b);
         hc(b).set_path("health");
     },
     false, "backend_service.health_check.path", "health"},
    {"path empty",
     [](auto &b) {
         http(b);
         hc(b).set_path("");
     },
     false, "backend_service.health_check.path", "\"\""},
    {"path 100 chars",
     [](auto &b) {
         http(b);
         hc(b).set_path("/" + std::string(99, 'x'));
     },
     true, "", ""},
    {"path 101 chars",
     [](auto &b) {
         http(b);
         hc(b).set_path("/" + std::string(100, 'x'));
     },
     false, "backend_service.health_check.path", "101 characters"},
    {"path with space",
     [](auto &b) {
         http(b);
         hc(b).set_path("/a b");
     },
     false, "backend_service.health_check.path", "/a b"},
    {"path with query",
     [](auto &b) {
         http(b);
         hc(b).set_path("/health?full=1");
     },
     true, "", ""},
    {"server group bad name", [](auto &b) { b.set_server_group("a b"); }, false,
     "backend_service.server_group", "a b"},
};

class backend_service_fields : public api_test, public ::testing::WithParamInterface<field_case> {};

TEST_P(backend_service_fields, boundary) {
    static const std::string lb = make_lb();
    const auto &c = GetParam();
    v1::CreateBackendServiceRequest q;
    q.set_load_balancer(lb);
    q.set_backend_service_id(unique("bs"));
    q.mutable_backend_service()->set_port(80);
    c.set(*q.mutable_backend_service());
    v1::BackendService out;
    auto st = call(&v1::LoadBalancing::Stub::CreateBackendService, q, &out);
    if (c.valid) {
        ASSERT_TRUE(st.ok()) << c.what << ": " << st.error_message();
        // The stored value is the one sent, and Get returns the same resource.
        v1::GetBackendServiceRequest g;
        g.set_load_balancer(lb);
        g.set_name(q.backend_service_id());
        v1::BackendService got;
        ASSERT_TRUE(call(&v1::LoadBalancing::Stub::GetBackendService, g, &got).ok());
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(out, got));
        v1::BackendService sent = q.backend_service();
        v1::BackendService diff = got;
        diff.MergeFrom(sent);  // every field sent must already be in the stored copy
        if (sent.health_check().normal_codes_size() > 0)
            diff.mutable_health_check()->mutable_normal_codes()->CopyFrom(
                sent.health_check().normal_codes());
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(diff, got)) << c.what;
        return;
    }
    ASSERT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_NE(st.error_message().find(c.field), std::string::npos) << st.error_message();
    EXPECT_NE(st.error_message().find(c.value), std::string::npos) << st.error_message();
    auto fields = violation_fields(st);
    EXPECT_NE(std::find(fields.begin(), fields.end(), c.field), fields.end()) << c.what;
    // Nothing was created.
    v1::GetBackendServiceRequest g;
    g.set_load_balancer(lb);
    g.set_name(q.backend_service_id());
    v1::BackendService got;
    EXPECT_EQ(call(&v1::LoadBalancing::Stub::GetBackendService, g, &got).error_code(),
              grpc::StatusCode::NOT_FOUND);
}

INSTANTIATE_TEST_SUITE_P(all, backend_service_fields, ::testing::ValuesIn(backend_service_cases),
                         [](const auto &info) {
                             std::string n = info.param.what;
                             for (auto &ch : n)
                                 if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                             return n;
                         });

TEST_F(api_test, backend_service_defaults) {
    const auto lb = make_lb();
    v1::BackendService tcp;
    ASSERT_TRUE(make_bs(lb, "plain", "", &tcp).ok());
    EXPECT_EQ(tcp.protocol(), v1::TCP);
    EXPECT_EQ(tcp.scheduler(), v1::WRR);
    EXPECT_FALSE(tcp.session_persistence());
    EXPECT_EQ(tcp.persistence_timeout_seconds(), 1440);
    EXPECT_EQ(tcp.drain_timeout_seconds(), 300);
    EXPECT_EQ(tcp.health_check().method(), v1::HEALTH_CHECK_TCP);
    EXPECT_FALSE(tcp.health_check().has_port());
    EXPECT_EQ(tcp.health_check().timeout_seconds(), 2);
    EXPECT_EQ(tcp.health_check().interval_seconds(), 5);
    EXPECT_EQ(tcp.health_check().unhealthy_threshold(), 3);
    EXPECT_EQ(tcp.health_check().healthy_threshold(), 3);
    EXPECT_EQ(tcp.health_check().normal_codes_size(), 0);
    EXPECT_FALSE(tcp.health_check().has_path());
    EXPECT_TRUE(tcp.server_group().empty());

    v1::CreateBackendServiceRequest q;
    q.set_load_balancer(lb);
    q.set_backend_service_id("http");
    q.mutable_backend_service()->set_port(80);
    q.mutable_backend_service()->set_session_persistence(true);
    http(*q.mutable_backend_service());
    v1::BackendService h;
    ASSERT_TRUE(call(&v1::LoadBalancing::Stub::CreateBackendService, q, &h).ok());
    EXPECT_TRUE(h.session_persistence());
    EXPECT_EQ(h.persistence_timeout_seconds(), 1440);
    ASSERT_EQ(h.health_check().normal_codes_size(), 2);
    EXPECT_EQ(h.health_check().normal_codes(0), v1::STATUS_2XX);
    EXPECT_EQ(h.health_check().normal_codes(1), v1::STATUS_3XX);
    EXPECT_EQ(h.health_check().path(), "/");
}

TEST_F(api_test, names) {
    const auto lb = make_lb();
    EXPECT_TRUE(make_bs(lb, std::string(64, 'n'), "").ok());
    EXPECT_TRUE(make_bs(lb, "A-z_0.9", "").ok());
    for (const std::string &bad :
         {std::string(65, 'n'), std::string(""), std::string("a/b"), std::string("sp ace")}) {
        auto st = make_bs(lb, bad, "");
        EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
        EXPECT_NE(st.error_message().find("backend_service_id"), std::string::npos);
    }
    auto dup = make_bs(lb, "A-z_0.9", "");
    EXPECT_EQ(dup.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_NE(dup.error_message().find("A-z_0.9"), std::string::npos);
}

TEST_F(api_test, load_balancer_fields) {
    auto create = [](const std::string &name, std::vector<std::string> vips,
                     const std::string &zone = "z1") {
        v1::CreateLoadBalancerRequest q;
        q.set_load_balancer_id(name);
        for (auto &v : vips) q.mutable_load_balancer()->add_vips(v);
        q.mutable_load_balancer()->set_region("r1");
        q.mutable_load_balancer()->set_vpc("v1");
        q.mutable_load_balancer()->set_zone(zone);
        v1::LoadBalancer out;
        return std::pair(call(&v1::LoadBalancing::Stub::CreateLoadBalancer, q, &out), out);
    };
    std::vector<std::string> sixteen;
    for (int i = 0; i < 16; i++) sixteen.push_back("198.18.200." + std::to_string(i + 1));
    auto [ok16, lb16] = create(unique("lb"), sixteen);
    EXPECT_TRUE(ok16.ok()) << ok16.error_message();
    auto seventeen = sixteen;
    for (auto &v : seventeen) v[8] = '1';  // 198.18.100.x
    seventeen.push_back("198.18.201.1");
    EXPECT_EQ(create(unique("lb"), seventeen).first.error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(create(unique("lb"), {}).first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    auto bad = create(unique("lb"), {"198.18.0.300"}).first;
    EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(bad.error_message().find("load_balancer.vips[0]"), std::string::npos);
    EXPECT_NE(bad.error_message().find("198.18.0.300"), std::string::npos);
    auto twice = create(unique("lb"), {"198.18.202.1", "198.18.202.1"}).first;
    EXPECT_EQ(twice.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    auto zone = create(unique("lb"), {"198.18.203.1"}, "").first;
    EXPECT_EQ(zone.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(zone.error_message().find("load_balancer.zone"), std::string::npos);
    // IPv6 VIPs are stored canonically and are unique across load balancers.
    auto [v6, lb6] = create(unique("lb"), {"2001:2:0:0::80"});
    ASSERT_TRUE(v6.ok());
    EXPECT_EQ(lb6.vips(0), "2001:2::80");
    auto taken = create(unique("lb"), {"2001:2::80"}).first;
    EXPECT_EQ(taken.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_NE(taken.error_message().find(lb6.name()), std::string::npos);
    EXPECT_EQ(create(lb6.name(), {"198.18.204.1"}).first.error_code(),
              grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(api_test, listener_fields) {
    const auto lb = make_lb();
    ASSERT_TRUE(make_bs(lb, "svc", "").ok());
    auto create = [&](int port, v1::ForwardingMode mode = v1::FORWARDING_MODE_UNSPECIFIED) {
        v1::CreateListenerRequest q;
        q.set_load_balancer(lb);
        q.set_listener_id(unique("l"));
        q.mutable_listener()->set_port(port);
        q.mutable_listener()->set_mode(mode);
        q.mutable_listener()->set_backend_service("svc");
        v1::Listener out;
        return std::pair(call(&v1::LoadBalancing::Stub::CreateListener, q, &out), out);
    };
    auto [ok1, l1] = create(1);
    ASSERT_TRUE(ok1.ok()) << ok1.error_message();
    EXPECT_EQ(l1.protocol(), v1::TCP);
    EXPECT_EQ(l1.mode(), v1::NAT);
    EXPECT_TRUE(create(65535, v1::DSR).first.ok());
    EXPECT_TRUE(create(443, v1::TUNNEL).first.ok());
    EXPECT_EQ(create(0).first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    auto big = create(65536).first;
    EXPECT_EQ(big.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(big.error_message().find("listener.port"), std::string::npos);
    EXPECT_EQ(create(80, static_cast<v1::ForwardingMode>(9)).first.error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    auto same_port = create(1).first;
    EXPECT_EQ(same_port.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_NE(same_port.error_message().find(l1.name()), std::string::npos);
}

TEST_F(api_test, instance_fields) {
    auto create = [](v1::ServerGroupType type, std::function<void(v1::Instance &)> set) {
        v1::CreateServerGroupRequest q;
        q.set_server_group_id(unique("sg"));
        auto *g = q.mutable_server_group();
        g->set_type(type);
        g->set_region("r1");
        g->set_vpc("v1");
        g->set_zone("z1");
        auto *in = g->add_instances();
        in->set_id("i1");
        in->set_address("198.19.0.11");
        set(*in);
        v1::ServerGroup out;
        return std::pair(call(&v1::LoadBalancing::Stub::CreateServerGroup, q, &out), out);
    };
    auto [def, g] = create(v1::VIRTUAL, [](auto &) {});
    ASSERT_TRUE(def.ok());
    EXPECT_EQ(g.instances(0).weight(), 10);
    EXPECT_FALSE(g.instances(0).has_port());
    struct {
        v1::ServerGroupType type;
        std::function<void(v1::Instance &)> set;
        bool valid;
        const char *field;
    } cases[] = {
        {v1::VIRTUAL, [](auto &i) { i.set_weight(0); }, true, ""},
        {v1::VIRTUAL, [](auto &i) { i.set_weight(100); }, true, ""},
        {v1::VIRTUAL, [](auto &i) { i.set_weight(-1); }, false, "server_group.instances[0].weight"},
        {v1::VIRTUAL, [](auto &i) { i.set_weight(101); }, false,
         "server_group.instances[0].weight"},
        {v1::VIRTUAL, [](auto &i) { i.set_port(1); }, true, ""},
        {v1::VIRTUAL, [](auto &i) { i.set_port(65535); }, true, ""},
        {v1::VIRTUAL, [](auto &i) { i.set_port(0); }, false, "server_group.instances[0].port"},
        {v1::VIRTUAL, [](auto &i) { i.set_port(65536); }, false, "server_group.instances[0].port"},
        {v1::AVAILABILITY, [](auto &) {}, true, ""},
        {v1::AVAILABILITY, [](auto &i) { i.set_port(80); }, false,
         "server_group.instances[0].port"},
        {v1::VIRTUAL, [](auto &i) { i.set_address("2001:2::1"); }, true, ""},
        {v1::VIRTUAL, [](auto &i) { i.set_address("host.example"); }, false,
         "server_group.instances[0].address"},
        {v1::VIRTUAL, [](auto &i) { i.set_id(""); }, false, "server_group.instances[0].id"},
        {v1::SERVER_GROUP_TYPE_UNSPECIFIED, [](auto &) {}, false, "server_group.type"},
    };
    for (const auto &c : cases) {
        auto st = create(c.type, c.set).first;
        if (c.valid) {
            EXPECT_TRUE(st.ok()) << st.error_message();
            continue;
        }
        EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
        auto fields = violation_fields(st);
        EXPECT_NE(std::find(fields.begin(), fields.end(), c.field), fields.end())
            << c.field << " in " << st.error_message();
    }
}

TEST_F(api_test, paging) {
    std::vector<std::string> names;
    const auto lb = make_lb();
    for (int i = 0; i < 5; i++) {
        names.push_back("p" + std::to_string(i));
        ASSERT_TRUE(make_bs(lb, names.back(), "").ok());
    }
    v1::ListBackendServicesRequest q;
    q.set_load_balancer(lb);
    q.set_page_size(2);
    std::vector<std::string> seen;
    int pages = 0;
    do {
        v1::ListBackendServicesResponse r;
        ASSERT_TRUE(call(&v1::LoadBalancing::Stub::ListBackendServices, q, &r).ok());
        for (const auto &b : r.backend_services()) seen.push_back(b.name());
        q.set_page_token(r.next_page_token());
        pages++;
    } while (!q.page_token().empty() && pages < 10);
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(seen, names);
    v1::ListBackendServicesResponse r;
    q.set_page_size(0);
    ASSERT_TRUE(call(&v1::LoadBalancing::Stub::ListBackendServices, q, &r).ok());
    EXPECT_EQ(r.backend_services_size(), 5);  // default 50
    EXPECT_TRUE(r.next_page_token().empty());
    q.set_page_size(-1);
    EXPECT_EQ(call(&v1::LoadBalancing::Stub::ListBackendServices, q, &r).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    q.set_page_size(2);
    q.set_page_token("garbage");
    auto st = call(&v1::LoadBalancing::Stub::ListBackendServices, q, &r);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("page_token"), std::string::npos);
}

}  // namespace
}  // namespace nlb::test
