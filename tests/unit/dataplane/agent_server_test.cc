/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_server end to end: the gRPC server on a unix socket in a temporary
 * directory, every RPC through the generated stub, the socket's mode and
 * removal, a stale socket, and the nlb-agent client binary (path from the
 * NLB_AGENT_BIN environment variable, set by meson).
 */
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "agent_ports.h"
#include "agent_service.h"
#include "dataplane.grpc.pb.h"
#include "eal_test_main.h"
#include "pipeline/testbed.h"

namespace nlb::dataplane {
namespace {

std::string read_file(const std::string &path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

class agent_server_test : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/nlb-agent-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
        sock = dir + "/run/dataplane.sock";  // run/ does not exist yet: start() creates it
        testbed_config cfg;
        cfg.workers = 2;
        tb = std::make_unique<testbed>(cfg);
        w0 = std::make_unique<worker>(0, tb->dp);
        w1 = std::make_unique<worker>(1, tb->dp);
        agent_datapath adp;
        adp.conns = tb->conns.get();
        adp.snapshots = tb->snapshots.get();
        adp.limits = tb->builder.limits();
        adp.workers = {{w0.get(), 1, nullptr, nullptr}, {w1.get(), 2, nullptr, nullptr}};
        agent_port p;
        p.index = 0;
        p.name = "client";
        p.device = "net_ring0";
        p.mac = "02:00:00:00:00:01";
        p.role = "client";
        p.addresses = {"198.18.0.1/24"};
        p.mtu = 1500;
        adp.ports.push_back(p);
        adp.now_ms = [] { return 1000u; };
        state = std::make_unique<agent_state>(std::move(adp));
        server = std::make_unique<agent_server>(*state);
    }
    void TearDown() override {
        server.reset();
        std::string cmd = "rm -rf '" + dir + "'";
        (void)std::system(cmd.c_str());
    }

    std::unique_ptr<v1::Dataplane::Stub> stub() {
        return v1::Dataplane::NewStub(
            grpc::CreateChannel("unix:" + sock, grpc::InsecureChannelCredentials()));
    }

    /** Runs nlb-agent with args; returns its exit status, stdout and stderr. */
    int agent(const std::string &args, std::string *out, std::string *err) {
        const char *bin = std::getenv("NLB_AGENT_BIN");
        if (!bin) {
            ADD_FAILURE() << "NLB_AGENT_BIN is not set";
            return -1;
        }
        const std::string o = dir + "/out", e = dir + "/err";
        const std::string cmd =
            std::string(bin) + " --socket '" + sock + "' " + args + " >" + o + " 2>" + e;
        int rc = std::system(cmd.c_str());
        *out = read_file(o);
        *err = read_file(e);
        return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    }

    std::string dir, sock;
    std::unique_ptr<testbed> tb;
    std::unique_ptr<worker> w0, w1;
    std::unique_ptr<agent_state> state;
    std::unique_ptr<agent_server> server;
};

TEST_F(agent_server_test, every_rpc_through_the_stub) {
    std::string error;
    ASSERT_TRUE(server->start(sock, "", &error)) << error;
    struct stat st {};
    ASSERT_EQ(stat(sock.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    auto s = stub();

    grpc::ClientContext c1;
    v1::GetInfoResponse info;
    ASSERT_TRUE(s->GetInfo(&c1, {}, &info).ok());
    EXPECT_EQ(info.api_version(), 1u);
    EXPECT_EQ(info.instance_id(), server->instance_id());
    EXPECT_EQ(info.instance_id().size(), 32u);
    EXPECT_FALSE(info.software_version().empty());
    EXPECT_GT(info.started_unix_s(), 0);
    ASSERT_EQ(info.ports_size(), 1);
    EXPECT_EQ(info.ports(0).name(), "client");
    EXPECT_EQ(info.ports(0).addresses(0), "198.18.0.1/24");
    ASSERT_EQ(info.worker_lcores_size(), 2);
    EXPECT_EQ(info.worker_lcores(1), 2u);
    EXPECT_EQ(info.conn_table_capacity(), tb->conns->capacity());

    v1::PutServiceRequest put;
    v1::Service *svc = put.mutable_service();
    svc->mutable_key()->set_vip("198.18.1.1");
    svc->mutable_key()->set_port(80);
    svc->mutable_key()->set_protocol(v1::TCP);
    svc->set_mode(v1::NAT);
    svc->set_scheduler(v1::WLC);
    v1::Backend *b = svc->add_backends();
    b->set_id(7);
    b->set_address("198.19.0.11");
    b->set_port(8080);
    b->set_weight(5);
    b->set_state(v1::ACTIVE);
    put.set_version(3);
    grpc::ClientContext c2;
    v1::PutServiceResponse pr;
    ASSERT_TRUE(s->PutService(&c2, put, &pr).ok());
    EXPECT_EQ(pr.result(), v1::APPLIED);
    EXPECT_NE(tb->snapshots->current(), nullptr);

    put.mutable_service()->mutable_backends(0)->set_weight(101);
    put.set_version(4);
    grpc::ClientContext c3;
    grpc::Status bad = s->PutService(&c3, put, &pr);
    EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(bad.error_message().find("service.backends[0].weight"), std::string::npos);

    grpc::ClientContext c4;
    v1::ListServicesResponse ls;
    ASSERT_TRUE(s->ListServices(&c4, {}, &ls).ok());
    ASSERT_EQ(ls.services_size(), 1);
    EXPECT_EQ(ls.services(0).version(), 3u);
    EXPECT_EQ(ls.services(0).service().backends(0).id(), 7u);
    EXPECT_EQ(ls.instance_id(), info.instance_id());

    grpc::ClientContext c5;
    v1::GetStatsRequest sr;
    sr.set_per_lcore(true);
    v1::GetStatsResponse stats;
    ASSERT_TRUE(s->GetStats(&c5, sr, &stats).ok());
    EXPECT_EQ(stats.lcores_size(), 2);
    ASSERT_EQ(stats.services_size(), 1);
    EXPECT_EQ(stats.services(0).backends(0).id(), 7u);
    ASSERT_EQ(stats.ports_size(), 1);
    EXPECT_EQ(stats.ports(0).name(), "client");

    grpc::ClientContext c6;
    v1::ListConnectionsResponse conns;
    ASSERT_TRUE(s->ListConnections(&c6, {}, &conns).ok());
    EXPECT_EQ(conns.connections_size(), 0);
    EXPECT_TRUE(conns.next_page_token().empty());

    grpc::ClientContext c7;
    v1::PurgeBackendRequest purge;
    purge.set_backend_id(7);
    v1::PurgeBackendResponse purged;
    ASSERT_TRUE(s->PurgeBackend(&c7, purge, &purged).ok());
    EXPECT_EQ(purged.connections_reset(), 0u);

    grpc::ClientContext c8;
    v1::DeleteServiceRequest del;
    *del.mutable_key() = put.service().key();
    del.set_version(5);
    v1::DeleteServiceResponse dr;
    ASSERT_TRUE(s->DeleteService(&c8, del, &dr).ok());
    EXPECT_EQ(dr.result(), v1::APPLIED);

    grpc::ClientContext c9;
    ls.Clear();
    ASSERT_TRUE(s->ListServices(&c9, {}, &ls).ok());
    EXPECT_EQ(ls.services_size(), 0);

    server->stop();
    EXPECT_NE(access(sock.c_str(), F_OK), 0);  // the socket file is gone
    server->stop();                            // twice is harmless
}

TEST_F(agent_server_test, stale_socket_is_replaced_and_instance_id_changes) {
    ASSERT_EQ(system(("mkdir -p '" + dir + "/run'").c_str()), 0);
    // A socket file nobody listens on, as a crashed dataplane leaves it.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
    close(fd);

    std::string error;
    ASSERT_TRUE(server->start(sock, "", &error)) << error;
    const std::string first = server->instance_id();
    grpc::ClientContext c1;
    v1::GetInfoResponse info;
    ASSERT_TRUE(stub()->GetInfo(&c1, {}, &info).ok());
    server->stop();
    ASSERT_TRUE(server->start(sock, "", &error)) << error;
    EXPECT_NE(server->instance_id(), first);
    grpc::ClientContext c2;
    ASSERT_TRUE(stub()->GetInfo(&c2, {}, &info).ok());
    EXPECT_EQ(info.instance_id(), server->instance_id());
    server->stop();

    // A regular file in the way is not removed.
    { std::ofstream(sock) << "keep"; }
    EXPECT_FALSE(server->start(sock, "", &error));
    EXPECT_NE(error.find("not a socket"), std::string::npos) << error;
    EXPECT_EQ(read_file(sock), "keep");
    // An unknown group is refused before listening.
    std::remove(sock.c_str());
    EXPECT_FALSE(server->start(sock, "nlb-no-such-group", &error));
    EXPECT_NE(error.find("nlb-no-such-group"), std::string::npos) << error;
    EXPECT_NE(access(sock.c_str(), F_OK), 0);
}

TEST_F(agent_server_test, nlb_agent_client_puts_and_lists) {
    std::string error;
    ASSERT_TRUE(server->start(sock, "", &error)) << error;
    std::string out, err;
    ASSERT_EQ(agent("put-service --vip 198.18.1.1 --port 80 --proto tcp --mode nat --scheduler wrr "
                    "--version 1 --backend id=1,addr=198.19.0.11,port=8080,weight=10 "
                    "--backend id=2,addr=198.19.0.12,port=8080,weight=5,state=draining",
                    &out, &err),
              0)
        << err;
    EXPECT_NE(out.find("\"APPLIED\""), std::string::npos) << out;
    ASSERT_EQ(agent("list-services", &out, &err), 0) << err;
    EXPECT_NE(out.find("198.18.1.1"), std::string::npos) << out;
    EXPECT_NE(out.find("DRAINING"), std::string::npos) << out;
    EXPECT_NE(out.find(server->instance_id()), std::string::npos) << out;
    ASSERT_EQ(agent("stats --per-lcore", &out, &err), 0) << err;
    EXPECT_NE(out.find("\"services\""), std::string::npos) << out;
    ASSERT_EQ(agent("info", &out, &err), 0) << err;
    EXPECT_NE(out.find("\"api_version\": 1"), std::string::npos) << out;
    ASSERT_EQ(agent("conns --vip 198.18.1.1 --port 80", &out, &err), 0) << err;
    ASSERT_EQ(agent("purge-backend --id 2", &out, &err), 0) << err;

    // A refused request: non-zero exit, the gRPC code and message on stderr.
    EXPECT_NE(agent("put-service --vip 198.18.1.1 --port 80 --version 2 "
                    "--backend id=1,addr=198.19.0.11,port=8080,weight=101",
                    &out, &err),
              0);
    EXPECT_NE(err.find("INVALID_ARGUMENT"), std::string::npos) << err;
    EXPECT_NE(err.find("weight"), std::string::npos) << err;
    ASSERT_EQ(agent("delete-service --vip 198.18.1.1 --port 80 --version 3", &out, &err), 0) << err;
    EXPECT_NE(out.find("\"APPLIED\""), std::string::npos) << out;

    server->stop();
    EXPECT_NE(agent("--timeout 2 list-services", &out, &err), 0);  // nobody listens any more
    EXPECT_NE(err.find("UNAVAILABLE"), std::string::npos) << err;
}

TEST(agent_ports, port_of_config_and_state) {
    port_config c;
    c.role = port_role::backend;
    c.ipv4 = ip_prefix{};
    ASSERT_TRUE(parse_ip("198.19.0.1", &c.ipv4->addr, &c.ipv4->family));
    c.ipv4->length = 24;
    c.ipv6 = ip_prefix{};
    ASSERT_TRUE(parse_ip("2001:2:0:19::1", &c.ipv6->addr, &c.ipv6->family));
    c.ipv6->length = 64;
    port_state s;
    s.index = 1;
    s.port_id = 3;
    s.name = "backend";
    s.device = "net_af_packet1";
    s.driver = "net_af_packet";
    s.mac = {{0x02, 0, 0, 0, 0, 0x02}};
    s.mtu = 1500;
    s.rx_queues = 2;
    s.tx_queues = 3;
    s.rss_enabled = true;
    s.started = true;
    agent_port a = agent_port_of(c, s);
    EXPECT_EQ(a.index, 1u);
    EXPECT_EQ(a.port_id, 3u);
    EXPECT_EQ(a.name, "backend");
    EXPECT_EQ(a.device, "net_af_packet1");
    EXPECT_EQ(a.driver, "net_af_packet");
    EXPECT_EQ(a.mac, "02:00:00:00:00:02");
    EXPECT_EQ(a.role, "backend");
    ASSERT_EQ(a.addresses.size(), 2u);
    EXPECT_EQ(a.addresses[0], "198.19.0.1/24");
    EXPECT_EQ(a.addresses[1], "2001:2:0:19::1/64");
    EXPECT_EQ(a.tx_queues, 3u);
    EXPECT_TRUE(a.rss);
    EXPECT_TRUE(a.ethdev);
}

}  // namespace
}  // namespace nlb::dataplane
