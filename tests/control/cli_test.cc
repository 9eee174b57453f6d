/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real nlbctl binary against a real nlb-control: create, show, list,
 * update, delete; --output json parses back into the API message; errors
 * exit non-zero with "CODE: message" on stderr; NLB_SERVER; --help.
 */
#include "daemon.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

namespace nlb::test {
namespace {

class cli : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new temp_dir;
        daemon_ = new control_daemon(dir_->path());
        ASSERT_TRUE(daemon_->start());
    }
    static void TearDownTestSuite() {
        EXPECT_EQ(daemon_->stop(), 0);
        delete daemon_;
        delete dir_;
    }
    static run_result ctl(std::vector<std::string> args) {
        args.insert(args.begin(), {nlbctl_binary(), "--server", daemon_->address()});
        return run_program(args);
    }
    template <class M>
    static M json(const run_result &r) {
        M m;
        EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &m).ok()) << r.out;
        return m;
    }
    static temp_dir *dir_;
    static control_daemon *daemon_;
};
temp_dir *cli::dir_ = nullptr;
control_daemon *cli::daemon_ = nullptr;

TEST_F(cli, walkthrough_create_show_update_replace_delete) {
    auto r = ctl({"lb", "create", "web", "--vip", "198.18.0.10", "--vip", "2001:2::10", "--region",
                  "r1", "--vpc", "v1", "--zone", "z1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("2001:2::10"), std::string::npos);
    r = ctl({"server-group", "create", "sg1", "--type", "virtual", "--region", "r1", "--vpc", "v1",
             "--zone", "z1", "--instance", "id=a,ip=198.19.0.11,port=8080", "--instance",
             "id=b,ip=198.19.0.12,weight=0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = ctl({"server-group", "create", "sg2", "--type", "availability", "--region", "r1", "--vpc",
             "v1", "--zone", "z1", "--instance", "id=c,ip=198.19.0.13"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = ctl({"backend-service",
             "create",
             "api",
             "--lb",
             "web",
             "--port",
             "80",
             "--scheduler",
             "wlc",
             "--persistence",
             "600",
             "--drain",
             "30",
             "--hc-method",
             "http",
             "--hc-path",
             "/healthz",
             "--hc-codes",
             "2xx",
             "--hc-interval",
             "10",
             "--server-group",
             "sg1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = ctl({"--output", "json", "backend-service", "show", "api", "--lb", "web"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto bs = json<v1::BackendService>(r);
    EXPECT_EQ(bs.scheduler(), v1::WLC);
    EXPECT_TRUE(bs.session_persistence());
    EXPECT_EQ(bs.persistence_timeout_seconds(), 600);
    EXPECT_EQ(bs.drain_timeout_seconds(), 30);
    EXPECT_EQ(bs.health_check().path(), "/healthz");
    ASSERT_EQ(bs.health_check().normal_codes_size(), 1);
    EXPECT_EQ(bs.health_check().interval_seconds(), 10);
    EXPECT_EQ(bs.server_group(), "sg1");
    r = ctl({"listener", "create", "http", "--lb", "web", "--protocol", "tcp", "--port", "80",
             "--mode", "dsr", "--backend-service", "api"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Table output of the group view shows each instance's health.
    r = ctl({"backend-service", "health", "api", "--lb", "web"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("INITIAL"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("198.19.0.12"), std::string::npos);
    // Edit: only the given option changes (global options may follow the verb).
    r = ctl({"backend-service", "update", "api", "--lb", "web", "--hc-unhealthy", "5", "--output",
             "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    bs = json<v1::BackendService>(r);
    EXPECT_EQ(bs.health_check().unhealthy_threshold(), 5);
    EXPECT_EQ(bs.scheduler(), v1::WLC);
    // Replace the group: the old instances drain.
    r = ctl({"backend-service", "set-server-group", "api", "--lb", "web", "--server-group", "sg2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = ctl({"--output", "json", "backend-service", "health", "api", "--lb", "web"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto h = json<v1::BackendServiceHealth>(r);
    ASSERT_EQ(h.instances_size(), 3);
    EXPECT_EQ(h.instances(0).instance().id(), "c");
    EXPECT_EQ(h.instances(1).status(), v1::DRAINING);
    r = ctl({"server-group", "list", "--associable-with-lb", "web", "--backend-service", "api"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("sg1"), std::string::npos);
    EXPECT_NE(r.out.find("sg2"), std::string::npos);
    // Delete: refused while the listener uses it, then allowed.
    r = ctl({"backend-service", "delete", "api", "--lb", "web"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("FAILED_PRECONDITION: ", 0), 0u) << r.err;
    ASSERT_EQ(ctl({"listener", "delete", "http", "--lb", "web"}).exit_code, 0);
    r = ctl({"backend-service", "delete", "api", "--lb", "web"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = ctl({"--output", "json", "backend-service", "list", "--lb", "web"});
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_EQ(json<v1::ListBackendServicesResponse>(r).backend_services_size(), 0);
    r = ctl({"server-group", "show", "sg2"});
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("UNUSED"), std::string::npos) << r.out;
}

TEST_F(cli, lb_crud_and_errors) {
    auto r = ctl({"lb", "create", "edge", "--vip", "198.18.1.1", "--region", "r", "--vpc", "v",
                  "--zone", "z"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = ctl({"lb", "create", "edge", "--vip", "198.18.1.2", "--region", "r", "--vpc", "v", "--zone",
             "z"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("ALREADY_EXISTS: ", 0), 0u) << r.err;
    r = ctl({"lb", "update", "edge", "--vip", "198.18.1.3", "--output", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(json<v1::LoadBalancer>(r).vips(0), "198.18.1.3");
    r = ctl({"lb", "list"});
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("edge"), std::string::npos);
    EXPECT_NE(r.out.find("198.18.1.3"), std::string::npos);
    r = ctl({"backend-service", "create", "x", "--lb", "edge", "--port", "65536"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("INVALID_ARGUMENT: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("backend_service.port"), std::string::npos);
    EXPECT_NE(r.err.find("65536"), std::string::npos);
    r = ctl({"lb", "show", "nope"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("NOT_FOUND: ", 0), 0u) << r.err;
    r = ctl({"stats"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err, "UNAVAILABLE: no dataplane connected\n");
    ASSERT_EQ(ctl({"lb", "delete", "edge"}).exit_code, 0);
    EXPECT_EQ(ctl({"lb", "show", "edge"}).exit_code, 1);
}

TEST_F(cli, server_from_environment_help_and_usage_errors) {
    auto r = run_program({nlbctl_binary(), "lb", "list"}, {"NLB_SERVER=" + daemon_->address()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("NAME"), std::string::npos);
    for (std::vector<std::string> args : {std::vector<std::string>{"--help"},
                                          {"backend-service", "--help"},
                                          {"backend-service", "create", "--help"},
                                          {"server-group", "add-instance", "--help"}}) {
        args.insert(args.begin(), nlbctl_binary());
        r = run_program(args);
        EXPECT_EQ(r.exit_code, 0) << args.back();
        EXPECT_NE(r.out.find("Usage"), std::string::npos);
    }
    r = ctl({"lb", "frobnicate"});
    EXPECT_EQ(r.exit_code, 2);
    r = ctl({"server-group", "create", "g", "--type", "virtual", "--region", "r", "--vpc", "v",
             "--zone", "z", "--instance", "id=a,ip=198.19.0.1,colour=red"});
    EXPECT_EQ(r.exit_code, 2);
    // Unreachable server: non-zero, UNAVAILABLE.
    r = run_program(
        {nlbctl_binary(), "--server", "unix:" + dir_->path() + "/nothing", "lb", "list"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("UNAVAILABLE: ", 0), 0u) << r.err;
}

}  // namespace
}  // namespace nlb::test
