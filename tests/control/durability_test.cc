/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store across process lifetimes: a restart finds every resource
 * unchanged; SIGKILL during a burst of 1000 writes loses no acknowledged
 * write and leaves a consistent database; bad state files and flags make
 * nlb-control exit 2 with one clear line; an older schema is migrated.
 */
#include "daemon.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace nlb::test {
namespace {

using lbs = v1::LoadBalancing::Stub;
using google::protobuf::util::MessageDifferencer;

template <class Req, class Resp>
grpc::Status call(lbs &stub, grpc::Status (lbs::*m)(grpc::ClientContext *, const Req &, Resp *),
                  const Req &req, Resp *resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return (stub.*m)(&ctx, req, resp);
}

std::string sql_text(const std::string &db_path, const std::string &sql) {
    sqlite3 *db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    std::string out;
    sqlite3_exec(
        db, sql.c_str(),
        [](void *p, int n, char **v, char **) {
            auto *s = static_cast<std::string *>(p);
            for (int i = 0; i < n; i++)
                *s += (v[i] ? v[i] : "NULL") + std::string(i + 1 < n ? "|" : "\n");
            return 0;
        },
        &out, nullptr);
    sqlite3_close(db);
    return out;
}

v1::ServerGroup group(const std::string &name) {
    v1::ServerGroup g;
    g.set_type(v1::VIRTUAL);
    g.set_region("r1");
    g.set_vpc("v1");
    g.set_zone("z1");
    auto *in = g.add_instances();
    in->set_id("i");
    in->set_address("198.19.0.11");
    in->set_port(8080);
    g.set_name(name);
    return g;
}

TEST(durability, restart_keeps_every_resource) {
    temp_dir dir;
    control_daemon d(dir.path());
    ASSERT_TRUE(d.start());
    auto stub = d.stub();
    v1::LoadBalancer lb;
    v1::CreateLoadBalancerRequest lq;
    lq.set_load_balancer_id("web");
    lq.mutable_load_balancer()->add_vips("198.18.0.10");
    lq.mutable_load_balancer()->add_vips("2001:2::10");
    lq.mutable_load_balancer()->set_region("r1");
    lq.mutable_load_balancer()->set_vpc("v1");
    lq.mutable_load_balancer()->set_zone("z1");
    ASSERT_TRUE(call(*stub, &lbs::CreateLoadBalancer, lq, &lb).ok());
    v1::CreateServerGroupRequest gq;
    gq.set_server_group_id("g1");
    *gq.mutable_server_group() = group("");
    v1::ServerGroup g1;
    ASSERT_TRUE(call(*stub, &lbs::CreateServerGroup, gq, &g1).ok());
    gq.set_server_group_id("g2");
    v1::ServerGroup g2;
    ASSERT_TRUE(call(*stub, &lbs::CreateServerGroup, gq, &g2).ok());
    v1::CreateBackendServiceRequest bq;
    bq.set_load_balancer("web");
    bq.set_backend_service_id("api");
    auto *b = bq.mutable_backend_service();
    b->set_port(8443);
    b->set_scheduler(v1::SOURCE_IP);
    b->set_session_persistence(true);
    b->mutable_health_check()->set_method(v1::HEALTH_CHECK_HTTP);
    b->mutable_health_check()->set_path("/a/b");
    b->mutable_health_check()->set_port(9000);
    b->set_server_group("g1");
    v1::BackendService bs;
    ASSERT_TRUE(call(*stub, &lbs::CreateBackendService, bq, &bs).ok());
    v1::SetServerGroupRequest sq;  // g1 -> g2: nothing leaves (same ids); records stay consistent
    sq.set_load_balancer("web");
    sq.set_backend_service("api");
    sq.set_server_group("g2");
    ASSERT_TRUE(call(*stub, &lbs::SetServerGroup, sq, &bs).ok());
    v1::RemoveInstancesRequest rq;  // leaves a draining record
    rq.set_server_group("g2");
    rq.add_instance_ids("i");
    ASSERT_TRUE(call(*stub, &lbs::RemoveInstances, rq, &g2).ok());
    v1::CreateListenerRequest cq;
    cq.set_load_balancer("web");
    cq.set_listener_id("https");
    cq.mutable_listener()->set_port(443);
    cq.mutable_listener()->set_mode(v1::DSR);
    cq.mutable_listener()->set_backend_service("api");
    v1::Listener l;
    ASSERT_TRUE(call(*stub, &lbs::CreateListener, cq, &l).ok());
    v1::GetBackendServiceHealthRequest hq;
    hq.set_load_balancer("web");
    hq.set_backend_service("api");
    v1::BackendServiceHealth h1;
    ASSERT_TRUE(call(*stub, &lbs::GetBackendServiceHealth, hq, &h1).ok());
    ASSERT_EQ(h1.instances_size(), 1);
    EXPECT_EQ(h1.instances(0).status(), v1::DRAINING);

    EXPECT_EQ(d.stop(), 0);  // SIGTERM: clean exit
    EXPECT_EQ(sql_text(d.state_path(), "SELECT version FROM schema_version"), "2\n");
    EXPECT_EQ(sql_text(d.state_path(), "PRAGMA journal_mode"), "wal\n");
    ASSERT_TRUE(d.start());
    stub = d.stub();
    v1::LoadBalancer lb2;
    v1::GetLoadBalancerRequest glq;
    glq.set_name("web");
    ASSERT_TRUE(call(*stub, &lbs::GetLoadBalancer, glq, &lb2).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(lb, lb2));
    v1::GetServerGroupRequest ggq;
    ggq.set_name("g1");
    v1::ServerGroupView v1g;
    ASSERT_TRUE(call(*stub, &lbs::GetServerGroup, ggq, &v1g).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(g1, v1g.server_group()));
    ggq.set_name("g2");
    ASSERT_TRUE(call(*stub, &lbs::GetServerGroup, ggq, &v1g).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(g2, v1g.server_group()));
    v1::GetBackendServiceRequest gbq;
    gbq.set_load_balancer("web");
    gbq.set_name("api");
    v1::BackendService bs2;
    ASSERT_TRUE(call(*stub, &lbs::GetBackendService, gbq, &bs2).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(bs, bs2)) << bs2.DebugString();
    v1::GetListenerRequest glr;
    glr.set_load_balancer("web");
    glr.set_name("https");
    v1::Listener l2;
    ASSERT_TRUE(call(*stub, &lbs::GetListener, glr, &l2).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(l, l2));
    v1::BackendServiceHealth h2;
    ASSERT_TRUE(call(*stub, &lbs::GetBackendServiceHealth, hq, &h2).ok());
    EXPECT_TRUE(MessageDifferencer::Equals(h1, h2));  // draining deadline survived
    EXPECT_EQ(d.stop(), 0);
}

TEST(durability, sigkill_during_1000_writes_loses_no_acknowledged_write) {
    temp_dir dir;
    control_daemon d(dir.path());
    ASSERT_TRUE(d.start());
    constexpr int burst = 1000;
    std::vector<char> acked(burst, 0);
    std::atomic<int> n_acked{0};
    std::thread writer([&, stub = d.stub()] {
        for (int i = 0; i < burst; i++) {
            v1::CreateServerGroupRequest q;
            q.set_server_group_id("g" + std::to_string(10000 + i));
            *q.mutable_server_group() = group("");
            v1::ServerGroup out;
            if (!call(*stub, &lbs::CreateServerGroup, q, &out).ok()) return;  // the server is gone
            acked[i] = 1;
            n_acked++;
        }
    });
    // Kill mid-burst: after some writes were acknowledged, while others are in flight.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (n_acked < 150 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    d.kill9();
    writer.join();
    const int acknowledged = n_acked;
    EXPECT_GT(acknowledged, 0);
    EXPECT_LT(acknowledged, burst) << "the burst finished before the kill; nothing was tested";

    EXPECT_EQ(sql_text(d.state_path(), "PRAGMA integrity_check"), "ok\n");
    EXPECT_EQ(sql_text(d.state_path(), "PRAGMA foreign_key_check"), "");
    ASSERT_TRUE(d.start());
    auto stub = d.stub();
    std::set<std::string> present;
    v1::ListServerGroupsRequest q;
    q.set_page_size(1000);
    do {
        v1::ListServerGroupsResponse r;
        ASSERT_TRUE(call(*stub, &lbs::ListServerGroups, q, &r).ok());
        for (const auto &g : r.server_groups()) {
            present.insert(g.name());
            EXPECT_EQ(g.instances_size(), 1) << "partial write of " << g.name();
        }
        q.set_page_token(r.next_page_token());
    } while (!q.page_token().empty());
    for (int i = 0; i < burst; i++) {
        if (acked[i]) {
            EXPECT_TRUE(present.count("g" + std::to_string(10000 + i))) << "lost write " << i;
        }
    }
    // At most the one write in flight at the kill may be present without an ack.
    EXPECT_LE(present.size(), static_cast<size_t>(acknowledged + 1));
    EXPECT_EQ(d.stop(), 0);
}

TEST(durability, unusable_state_or_flags_exit_2) {
    temp_dir dir;
    const auto bin = control_binary();
    auto garbage = dir.path() + "/garbage.db";
    std::ofstream(garbage) << "this is not a database, it is a text file of some length\n";
    auto r = run_program({bin, "--state", garbage, "--listen", "unix:" + dir.path() + "/s1"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("not a database"), std::string::npos) << r.err;

    // A newer schema than this build knows.
    control_daemon d(dir.path());
    ASSERT_TRUE(d.start());
    d.stop();
    sql_text(d.state_path(), "UPDATE schema_version SET version=99");
    r = run_program({bin, "--state", d.state_path(), "--listen", "unix:" + dir.path() + "/s2"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("schema version 99"), std::string::npos) << r.err;

    r = run_program({bin, "--no-such-flag"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
    r = run_program({bin, "--log-level", "loud"});
    EXPECT_EQ(r.exit_code, 2);
    r = run_program({bin, "--state", "/proc/nlb-no-such-dir/state.db"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("nlb-control: error:"), std::string::npos) << r.err;
    r = run_program({bin, "--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("--listen"), std::string::npos);
}

TEST(durability, version_1_database_is_migrated) {
    temp_dir dir;
    control_daemon d(dir.path());
    ASSERT_TRUE(d.start());
    d.stop();
    // Turn it back into a version-1 database (no draining table), with a resource in it.
    sql_text(d.state_path(),
             "DROP TABLE draining; UPDATE schema_version SET version=1;"
             "INSERT INTO load_balancer(name, body) VALUES('old', x'')");
    ASSERT_TRUE(d.start());
    d.stop();
    EXPECT_EQ(sql_text(d.state_path(), "SELECT version FROM schema_version"), "2\n");
    EXPECT_EQ(sql_text(d.state_path(), "SELECT count(*) FROM draining"), "0\n");
    EXPECT_EQ(sql_text(d.state_path(), "SELECT name FROM load_balancer"), "old\n");
}

TEST(durability, listens_on_tcp_and_unix_socket_at_once) {
    temp_dir dir;
    const std::string log = dir.path() + "/log", sock = dir.path() + "/s.sock";
    const std::string bin = control_binary(), state = dir.path() + "/st.db";
    pid_t pid = fork();
    if (pid == 0) {
        freopen(log.c_str(), "w", stderr);
        execl(bin.c_str(), bin.c_str(), "--listen", "127.0.0.1:0", "--listen",
              ("unix:" + sock).c_str(), "--state", state.c_str(), "--init-state",
              static_cast<char *>(nullptr));
        _exit(127);
    }
    std::string port;
    for (int i = 0; i < 250 && port.empty(); i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::ifstream f(log);
        std::stringstream ss;
        ss << f.rdbuf();
        std::smatch m;
        std::string text = ss.str();
        if (std::regex_search(text, m, std::regex(R"(127\.0\.0\.1:0 \(port (\d+)\))"))) port = m[1];
    }
    ASSERT_FALSE(port.empty());
    for (const std::string &addr : {"127.0.0.1:" + port, "unix:" + sock}) {
        auto stub = v1::LoadBalancing::NewStub(
            grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
        v1::ListLoadBalancersRequest q;
        v1::ListLoadBalancersResponse r;
        EXPECT_TRUE(call(*stub, &lbs::ListLoadBalancers, q, &r).ok()) << addr;
    }
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace nlb::test
