/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-control and nlb-dataplane as real processes: the dataplane on
 * net_ring/net_null vdevs under EAL --no-huge (no root, no NIC), nlb-control
 * with --dataplane on its agent socket. Changes made through nlb.v1 appear in
 * the dataplane's ListServices within 50 ms (p99 over 100 changes); either
 * process killed with SIGKILL and restarted gets the state back; draining;
 * stats and connections come from the dataplane.
 */
#include "dataplane.grpc.pb.h"
#include "nlb.grpc.pb.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace dp = nlb::dataplane::v1;
namespace api = nlb::v1;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

std::string env(const char *name) {
    const char *v = std::getenv(name);
    return v ? v : "";
}

/** A child process with its output in a file; SIGKILLed by the destructor. */
class process {
  public:
    process() = default;
    ~process() { kill9(); }
    void start(const std::vector<std::string> &argv, const std::string &log) {
        pid_ = fork();
        if (pid_ == 0) {
            FILE *f = std::fopen(log.c_str(), "a");
            if (f) {
                dup2(fileno(f), 1);
                dup2(fileno(f), 2);
            }
            std::vector<char *> args;
            for (const auto &a : argv) args.push_back(const_cast<char *>(a.c_str()));
            args.push_back(nullptr);
            execv(args[0], args.data());
            _exit(127);
        }
    }
    void kill9() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    bool running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }

  private:
    pid_t pid_ = -1;
};

bool wait_for(const std::function<bool()> &cond, std::chrono::milliseconds limit,
              std::chrono::microseconds step = 2ms) {
    auto end = steady::now() + limit;
    while (steady::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(step);
    }
    return cond();
}

/** grpc.health.v1 Check of `service`: 1 SERVING, 2 NOT_SERVING, -1 on error. */
int health_check(const std::shared_ptr<grpc::Channel> &channel, const std::string &service) {
    grpc::GenericStub generic(channel);
    std::string req = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
    grpc::Slice slice(req);
    grpc::ByteBuffer in(&slice, 1), out;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &in, &out,
                      [&](grpc::Status s) { done.set_value(s); });
    if (!done.get_future().get().ok()) return -1;
    std::vector<grpc::Slice> slices;
    if (!out.Dump(&slices).ok()) return -1;
    std::string bytes;
    for (auto &sl : slices)
        bytes += std::string(reinterpret_cast<const char *>(sl.begin()), sl.size());
    return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : -1;
}

class sync_test : public ::testing::Test {
  protected:
    std::string dir;
    process dataplane, control;
    std::unique_ptr<api::LoadBalancing::Stub> nlb;
    std::unique_ptr<dp::Dataplane::Stub> agent;

    void SetUp() override {
        if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs 2 CPUs";
        if (env("NLB_DATAPLANE").empty() || env("NLB_CONTROL").empty())
            GTEST_SKIP() << "NLB_DATAPLANE / NLB_CONTROL not set";
        char tmpl[] = "/tmp/nlb-sync-XXXXXX";
        dir = mkdtemp(tmpl);
        std::ofstream(dir + "/dp.conf")
            << "eal = { lcores = \"0-1\"; no_huge = true; memory_mb = 128; extra_args = "
               "[\"--no-shconf\", \"--log-level=lib.eal:error\"]; };\n"
               "mempool = { size = 8191; cache = 64; };\n"
               "agent = { socket = \"" +
                   dir +
                   "/dataplane.sock\"; };\n"
                   "ports = (\n"
                   "  { name = \"front\"; vdev = \"net_ring0\"; role = \"client\"; ipv4 = "
                   "\"198.18.0.1/24\"; rx_descriptors = 256; tx_descriptors = 256; },\n"
                   "  { name = \"back\"; vdev = \"net_null0\"; role = \"backend\"; ipv4 = "
                   "\"198.19.0.1/24\"; rx_descriptors = 256; tx_descriptors = 256; }\n"
                   ");\n";
        start_dataplane();
        start_control();
        nlb = api::LoadBalancing::NewStub(grpc::CreateChannel("unix:" + dir + "/control.sock",
                                                              grpc::InsecureChannelCredentials()));
        agent = dp::Dataplane::NewStub(grpc::CreateChannel("unix:" + dir + "/dataplane.sock",
                                                           grpc::InsecureChannelCredentials()));
    }
    void TearDown() override {
        control.kill9();
        dataplane.kill9();
        if (!dir.empty() && !HasFailure()) std::filesystem::remove_all(dir);
        if (HasFailure()) {
            std::ifstream c(dir + "/control.log"), d(dir + "/dataplane.log");
            std::cerr << "--- control.log\n" << c.rdbuf() << "\n--- dataplane.log\n" << d.rdbuf();
        }
    }
    void start_dataplane() {
        dataplane.start({env("NLB_DATAPLANE"), "--config", dir + "/dp.conf", "--drivers-cfg",
                         env("NLB_DRIVERS_CFG")},
                        dir + "/dataplane.log");
        ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(dir + "/dataplane.sock"); }, 20s))
            << "nlb-dataplane did not start";
    }
    void start_control(bool with_dataplane = true) {
        std::vector<std::string> argv{env("NLB_CONTROL"),
                                      "--listen",
                                      "unix:" + dir + "/control.sock",
                                      "--state",
                                      dir + "/state.db",
                                      "--init-state",
                                      "--log-level",
                                      "debug"};
        if (with_dataplane) {
            argv.push_back("--dataplane");
            argv.push_back("unix:" + dir + "/dataplane.sock");
        }
        std::filesystem::remove(dir + "/control.sock");
        control.start(argv, dir + "/control.log");
        ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(dir + "/control.sock"); }, 10s))
            << "nlb-control did not start";
    }

    dp::ListServicesResponse services() {
        dp::ListServicesResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 2s);
        ctx.set_wait_for_ready(true);
        auto st = agent->ListServices(&ctx, dp::ListServicesRequest(), &resp);
        if (!st.ok()) resp.Clear();
        return resp;
    }
    /** The backend addresses of the dataplane service on `vip`:80 ("" = no such service). */
    std::vector<std::string> backends(const std::string &vip = "198.18.0.100",
                                      std::vector<int> *states = nullptr) {
        const auto all = services();
        for (const auto &vs : all.services()) {
            if (vs.service().key().vip() != vip) continue;
            std::vector<std::string> out;
            for (const auto &b : vs.service().backends()) {
                out.push_back(b.address());
                if (states) states->push_back(b.state());
            }
            std::sort(out.begin(), out.end());
            return out;
        }
        return {""};
    }

    grpc::Status call(const std::function<grpc::Status(grpc::ClientContext *)> &f) {
        // The first call after a daemon was killed may go out on the dead connection
        // ("Broken pipe"): try again, as any client would.
        grpc::Status st;
        for (int attempt = 0; attempt < 3; attempt++) {
            grpc::ClientContext ctx;
            ctx.set_deadline(std::chrono::system_clock::now() + 5s);
            ctx.set_wait_for_ready(
                true);  // a restarted daemon's socket may be up before its server
            st = f(&ctx);
            if (st.error_code() != grpc::StatusCode::UNAVAILABLE) break;
            std::this_thread::sleep_for(100ms);
        }
        return st;
    }
    /** lb (VIP 198.18.0.100), bs (port 8080, drain `drain_s`), group g (be1..3), listener TCP:80.
     */
    void create_all(int drain_s) {
        api::CreateLoadBalancerRequest lb;
        lb.set_load_balancer_id("lb");
        lb.mutable_load_balancer()->add_vips("198.18.0.100");
        lb.mutable_load_balancer()->set_region("r");
        lb.mutable_load_balancer()->set_vpc("v");
        lb.mutable_load_balancer()->set_zone("z");
        api::LoadBalancer lb_out;
        ASSERT_TRUE(call([&](auto *c) { return nlb->CreateLoadBalancer(c, lb, &lb_out); }).ok());
        api::CreateServerGroupRequest sg;
        sg.set_server_group_id("g");
        auto *g = sg.mutable_server_group();
        g->set_type(api::VIRTUAL);
        g->set_region("r");
        g->set_vpc("v");
        g->set_zone("z");
        for (int i = 1; i <= 3; i++) {
            auto *in = g->add_instances();
            in->set_id("be" + std::to_string(i));
            in->set_address("198.19.0.1" + std::to_string(i));
        }
        api::ServerGroup sg_out;
        ASSERT_TRUE(call([&](auto *c) { return nlb->CreateServerGroup(c, sg, &sg_out); }).ok());
        api::CreateBackendServiceRequest bs;
        bs.set_load_balancer("lb");
        bs.set_backend_service_id("bs");
        bs.mutable_backend_service()->set_port(8080);
        bs.mutable_backend_service()->set_drain_timeout_seconds(drain_s);
        bs.mutable_backend_service()->set_server_group("g");
        api::BackendService bs_out;
        ASSERT_TRUE(call([&](auto *c) { return nlb->CreateBackendService(c, bs, &bs_out); }).ok());
        api::CreateListenerRequest l;
        l.set_load_balancer("lb");
        l.set_listener_id("web");
        l.mutable_listener()->set_port(80);
        l.mutable_listener()->set_backend_service("bs");
        api::Listener l_out;
        ASSERT_TRUE(call([&](auto *c) { return nlb->CreateListener(c, l, &l_out); }).ok());
    }
    grpc::Status add_instance(const std::string &id, const std::string &addr) {
        api::AddInstancesRequest req;
        req.set_server_group("g");
        auto *in = req.add_instances();
        in->set_id(id);
        in->set_address(addr);
        api::ServerGroup out;
        return call([&](auto *c) { return nlb->AddInstances(c, req, &out); });
    }
    grpc::Status remove_instance(const std::string &id) {
        api::RemoveInstancesRequest req;
        req.set_server_group("g");
        req.add_instance_ids(id);
        api::ServerGroup out;
        return call([&](auto *c) { return nlb->RemoveInstances(c, req, &out); });
    }
    const std::vector<std::string> three{"198.19.0.11", "198.19.0.12", "198.19.0.13"};
};

TEST_F(sync_test, api_changes_reach_the_dataplane_within_50_ms) {
    create_all(0);
    ASSERT_TRUE(wait_for([&] { return backends() == three; }, 2s));
    std::vector<double> ms;
    for (int i = 0; i < 100; i++) {
        const std::string addr = "198.19.1." + std::to_string(i / 2 + 1);
        auto t0 = steady::now();
        bool add = i % 2 == 0;
        ASSERT_TRUE((add ? add_instance("x", addr) : remove_instance("x")).ok());
        ASSERT_TRUE(wait_for(
            [&] {
                auto b = backends();
                return add ? b.size() == 4 && std::count(b.begin(), b.end(), addr) == 1
                           : b == three;
            },
            2s, 200us))
            << "change " << i << " not seen";
        ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    double p50 = ms[49], p99 = ms[98];
    std::cout << "API call -> dataplane ListServices: p50 " << p50 << " ms, p99 " << p99
              << " ms, max " << ms.back() << " ms over 100 changes\n";
    EXPECT_LE(p99, 50.0);
}

TEST_F(sync_test, a_restarted_dataplane_gets_the_full_state_again) {
    create_all(0);
    ASSERT_TRUE(wait_for([&] { return backends() == three; }, 2s));
    const std::string first = services().instance_id();
    dataplane.kill9();
    std::filesystem::remove(dir + "/dataplane.sock");
    start_dataplane();
    ASSERT_TRUE(wait_for([&] { return backends() == three; }, 5s)) << "state not pushed again";
    EXPECT_NE(services().instance_id(), first);
    // And later changes still apply (versions keep growing).
    ASSERT_TRUE(add_instance("be4", "198.19.0.14").ok());
    EXPECT_TRUE(wait_for([&] { return backends().size() == 4; }, 1s));
}

TEST_F(sync_test, a_restarted_dataplane_gets_many_services_in_few_publications) {
    // 16 VIPs x 10 listeners = 160 services of 3 backends: the resync sends them in one
    // PutServices call, so the fresh dataplane publishes one snapshot, not 160.
    api::CreateLoadBalancerRequest lb;
    lb.set_load_balancer_id("big");
    for (int v = 0; v < 16; v++)
        lb.mutable_load_balancer()->add_vips("198.18.2." + std::to_string(v + 1));
    lb.mutable_load_balancer()->set_region("r");
    lb.mutable_load_balancer()->set_vpc("v");
    lb.mutable_load_balancer()->set_zone("z");
    api::LoadBalancer lb_out;
    ASSERT_TRUE(call([&](auto *c) { return nlb->CreateLoadBalancer(c, lb, &lb_out); }).ok());
    api::CreateServerGroupRequest sg;
    sg.set_server_group_id("bg");
    auto *g = sg.mutable_server_group();
    g->set_type(api::VIRTUAL);
    g->set_region("r");
    g->set_vpc("v");
    g->set_zone("z");
    for (int i = 1; i <= 3; i++) {
        auto *in = g->add_instances();
        in->set_id("be" + std::to_string(i));
        in->set_address("198.19.2.1" + std::to_string(i));
    }
    api::ServerGroup sg_out;
    ASSERT_TRUE(call([&](auto *c) { return nlb->CreateServerGroup(c, sg, &sg_out); }).ok());
    api::CreateBackendServiceRequest bs;
    bs.set_load_balancer("big");
    bs.set_backend_service_id("bs");
    bs.mutable_backend_service()->set_port(8080);
    bs.mutable_backend_service()->set_server_group("bg");
    api::BackendService bs_out;
    ASSERT_TRUE(call([&](auto *c) { return nlb->CreateBackendService(c, bs, &bs_out); }).ok());
    for (int l = 0; l < 10; l++) {
        api::CreateListenerRequest req;
        req.set_load_balancer("big");
        req.set_listener_id("l" + std::to_string(l));
        req.mutable_listener()->set_port(80 + l);
        req.mutable_listener()->set_backend_service("bs");
        api::Listener out;
        ASSERT_TRUE(call([&](auto *c) { return nlb->CreateListener(c, req, &out); }).ok());
    }
    ASSERT_TRUE(wait_for([&] { return services().services_size() == 160; }, 10s));
    dataplane.kill9();
    std::filesystem::remove(dir + "/dataplane.sock");
    start_dataplane();
    ASSERT_TRUE(wait_for([&] { return services().services_size() == 160; }, 10s, 5ms))
        << "state not pushed again";
    dp::GetInfoResponse info;
    ASSERT_TRUE(call([&](auto *c) { return agent->GetInfo(c, dp::GetInfoRequest(), &info); }).ok());
    EXPECT_EQ(info.services(), 160u);
    EXPECT_EQ(info.backends(), 480u);
    EXPECT_GT(info.snapshot_bytes(), 480u * 32);
    EXPECT_LE(info.snapshot_version(), 2u) << "one publication per service instead of a batch";
    auto all = services();
    for (const auto &vs : all.services()) EXPECT_EQ(vs.service().backends_size(), 3);
}

TEST_F(sync_test, a_restarted_control_keeps_the_dataplane_and_pushes_again) {
    create_all(0);
    ASSERT_TRUE(wait_for([&] { return backends() == three; }, 2s));
    auto before = services();
    control.kill9();
    // The dataplane keeps what it has while nlb-control is away.
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(services().services_size(), before.services_size());
    EXPECT_EQ(backends(), three);
    // Both restart: the new dataplane is empty until the new nlb-control pushes.
    dataplane.kill9();
    std::filesystem::remove(dir + "/dataplane.sock");
    start_dataplane();
    EXPECT_EQ(backends(), std::vector<std::string>{""});
    start_control();
    ASSERT_TRUE(wait_for([&] { return backends() == three; }, 5s));
    // Versions from the new nlb-control are above those it pushed before.
    uint64_t v = services().services(0).version();
    EXPECT_GT(v, before.services(0).version());
    ASSERT_TRUE(remove_instance("be3").ok());
    EXPECT_TRUE(wait_for([&] { return backends().size() == 2; }, 1s));
}

TEST_F(sync_test, deleting_the_listener_deletes_the_dataplane_service) {
    create_all(0);
    ASSERT_TRUE(wait_for([&] { return backends() == three; }, 2s));
    api::DeleteListenerRequest req;
    req.set_load_balancer("lb");
    req.set_name("web");
    google::protobuf::Empty e;
    ASSERT_TRUE(call([&](auto *c) { return nlb->DeleteListener(c, req, &e); }).ok());
    EXPECT_TRUE(wait_for([&] { return services().services_size() == 0; }, 1s));
}

TEST_F(sync_test, an_idle_draining_instance_leaves_at_once) {
    create_all(30);
    ASSERT_TRUE(wait_for([&] { return backends() == three; }, 2s));
    ASSERT_TRUE(remove_instance("be2").ok());
    // No connection to drain: the timers end it on their next pass (every 250 ms).
    EXPECT_TRUE(wait_for(
        [&] {
            return backends() == std::vector<std::string>{"198.19.0.11", "198.19.0.13"};
        },
        2s));
    api::GetBackendServiceHealthRequest hreq;
    hreq.set_load_balancer("lb");
    hreq.set_backend_service("bs");
    api::BackendServiceHealth h;
    ASSERT_TRUE(call([&](auto *c) { return nlb->GetBackendServiceHealth(c, hreq, &h); }).ok());
    EXPECT_EQ(h.instances_size(), 2);
}

TEST_F(sync_test, draining_deadlines_survive_a_control_restart) {
    // No dataplane: connection counts are unknown, so only the deadline ends a drain.
    control.kill9();
    start_control(false);
    create_all(3);
    ASSERT_TRUE(remove_instance("be2").ok());
    auto draining = [&] {
        api::GetBackendServiceHealthRequest req;
        req.set_load_balancer("lb");
        req.set_backend_service("bs");
        api::BackendServiceHealth h;
        auto st = call([&](auto *c) { return nlb->GetBackendServiceHealth(c, req, &h); });
        if (!st.ok()) {
            ADD_FAILURE() << "GetBackendServiceHealth: " << st.error_message();
            return -1;
        }
        int n = 0;
        for (const auto &i : h.instances()) n += i.status() == api::DRAINING;
        return n;
    };
    EXPECT_EQ(draining(), 1);
    control.kill9();
    start_control(false);
    EXPECT_EQ(draining(), 1);
    auto rows = [&] {
        sqlite3 *db = nullptr;
        int n = -1;
        if (sqlite3_open_v2((dir + "/state.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
            SQLITE_OK) {
            sqlite3_stmt *st = nullptr;
            if (sqlite3_prepare_v2(db, "SELECT count(*) FROM draining", -1, &st, nullptr) ==
                    SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW)
                n = sqlite3_column_int(st, 0);
            sqlite3_finalize(st);
        }
        sqlite3_close(db);
        return n;
    };
    EXPECT_EQ(rows(), 1);
    // After the deadline the restarted nlb-control's timers forget the record.
    EXPECT_TRUE(wait_for([&] { return rows() == 0; }, 6s, 50ms));
    EXPECT_EQ(draining(), 0);
}

TEST_F(sync_test, stats_and_connections_come_from_the_dataplane) {
    create_all(0);
    ASSERT_TRUE(wait_for([&] { return backends() == three; }, 2s));
    api::GetStatsRequest req;
    req.set_load_balancer("lb");
    api::Stats stats;
    auto st = call([&](auto *c) { return nlb->GetStats(c, req, &stats); });
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(stats.load_balancer(), "lb");
    api::ListConnectionsRequest lreq;
    api::ListConnectionsResponse conns;
    st = call([&](auto *c) { return nlb->ListConnections(c, lreq, &conns); });
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(conns.connections_size(), 0);
    auto channel =
        grpc::CreateChannel("unix:" + dir + "/control.sock", grpc::InsecureChannelCredentials());
    EXPECT_EQ(health_check(channel, "nlb.dataplane.v1.Dataplane"), 1);  // SERVING
    // An unknown load balancer is still NOT_FOUND; a dataplane that is down is UNAVAILABLE.
    req.set_load_balancer("nope");
    EXPECT_EQ(call([&](auto *c) { return nlb->GetStats(c, req, &stats); }).error_code(),
              grpc::StatusCode::NOT_FOUND);
    dataplane.kill9();
    req.set_load_balancer("lb");
    auto t0 = steady::now();
    EXPECT_EQ(call([&](auto *c) { return nlb->GetStats(c, req, &stats); }).error_code(),
              grpc::StatusCode::UNAVAILABLE);
    EXPECT_LT(steady::now() - t0, 3s);
    // ... and API changes still succeed, without waiting for it.
    t0 = steady::now();
    EXPECT_TRUE(add_instance("be4", "198.19.0.14").ok());
    EXPECT_LT(steady::now() - t0, 500ms);
    EXPECT_TRUE(wait_for([&] { return health_check(channel, "nlb.dataplane.v1.Dataplane") == 2; },
                         2s, 50ms));  // NOT_SERVING
}

}  // namespace
