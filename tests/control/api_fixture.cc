/* SPDX-License-Identifier: Apache-2.0 */
#include "api_fixture.h"

namespace nlb::test {

temp_dir *api_test::dir_ = nullptr;
control_daemon *api_test::daemon_ = nullptr;
std::unique_ptr<v1::LoadBalancing::Stub> api_test::stub_;

void api_test::SetUpTestSuite() {
    dir_ = new temp_dir;
    daemon_ = new control_daemon(dir_->path());
    ASSERT_TRUE(daemon_->start()) << "nlb-control did not start: " << control_binary();
    stub_ = daemon_->stub();
}

void api_test::TearDownTestSuite() {
    stub_.reset();
    EXPECT_EQ(daemon_->stop(), 0);
    delete daemon_;
    delete dir_;
}

std::string api_test::unique(const std::string &prefix) {
    static int n = 0;
    return prefix + "-" + std::to_string(++n);
}

std::string api_test::make_lb(const std::string &zone) {
    static int vip = 0;
    ++vip;
    v1::CreateLoadBalancerRequest q;
    q.set_load_balancer_id(unique("lb"));
    q.mutable_load_balancer()->add_vips("198.18." + std::to_string(100 + vip / 250) + "." +
                                        std::to_string(vip % 250 + 1));
    q.mutable_load_balancer()->set_region("r1");
    q.mutable_load_balancer()->set_vpc("v1");
    q.mutable_load_balancer()->set_zone(zone);
    v1::LoadBalancer lb;
    auto st = call(&v1::LoadBalancing::Stub::CreateLoadBalancer, q, &lb);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return lb.name();
}

std::string api_test::make_group(const std::string &zone, v1::ServerGroupType type) {
    v1::CreateServerGroupRequest q;
    q.set_server_group_id(unique("sg"));
    auto *g = q.mutable_server_group();
    g->set_type(type);
    g->set_region("r1");
    g->set_vpc("v1");
    g->set_zone(zone);
    auto *a = g->add_instances();
    a->set_id("a");
    a->set_address("198.19.0.11");
    if (type == v1::VIRTUAL) a->set_port(8080);
    auto *b = g->add_instances();
    b->set_id("b");
    b->set_address("2001:2::12");
    v1::ServerGroup out;
    auto st = call(&v1::LoadBalancing::Stub::CreateServerGroup, q, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out.name();
}

grpc::Status api_test::make_bs(const std::string &lb, const std::string &name,
                               const std::string &group, v1::BackendService *out) {
    v1::CreateBackendServiceRequest q;
    q.set_load_balancer(lb);
    q.set_backend_service_id(name);
    q.mutable_backend_service()->set_port(80);
    q.mutable_backend_service()->set_server_group(group);
    v1::BackendService tmp;
    return call(&v1::LoadBalancing::Stub::CreateBackendService, q, out ? out : &tmp);
}

std::vector<std::string> api_test::violation_fields(const grpc::Status &st) {
    std::vector<std::string> fields;
    v1::Status s;
    if (!s.ParseFromString(st.error_details())) return fields;
    for (const auto &any : s.details()) {
        if (any.type_url() != "type.googleapis.com/google.rpc.BadRequest") continue;
        v1::BadRequest br;
        br.ParseFromString(any.value());
        for (const auto &fv : br.field_violations()) fields.push_back(fv.field());
    }
    return fields;
}

}  // namespace nlb::test
