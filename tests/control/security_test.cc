/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who gets in, and how much (issue 7): the real nlb-control and nlbctl.
 *  - unix sockets are created mode 0660, group --socket-group (default: the
 *    process's primary group);
 *  - a non-loopback TCP --listen without mutual TLS is refused at start; bad
 *    TLS flag combinations and unreadable or non-PEM files are a one-line
 *    error, exit 2 (nlb-control and nlbctl);
 *  - TLS and mutual TLS with certificates made by openssl in a temporary
 *    directory: a valid client certificate gets in; no certificate is
 *    UNAUTHENTICATED; a certificate of another CA (and a plaintext client) is
 *    refused by the TLS handshake (UNAVAILABLE: no call reaches the service);
 *    the unix socket keeps working without TLS;
 *  - request limits: a 10 MB request is RESOURCE_EXHAUSTED (--max-request-bytes
 *    default 4 MiB, configurable), 100 000 instances in one call is
 *    INVALID_ARGUMENT naming the limit, the daemon keeps serving; 1000 bad
 *    fields or a 1 MB value still get a readable INVALID_ARGUMENT (bounded to
 *    fit gRPC's trailers, not "metadata size exceeds limit");
 *  - the per-client rate limit on changes of TCP clients: RESOURCE_EXHAUSTED
 *    with a retry delay (message and google.rpc.RetryInfo detail) once the
 *    burst is spent; reads and unix-socket clients are not limited; a change
 *    after the delay gets in.
 */
#include "daemon.h"

#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace nlb::test {
namespace {

using lbs = v1::LoadBalancing::Stub;
using namespace std::chrono_literals;

std::string slurp(const std::string &path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

template <class Req, class Resp>
grpc::Status call(lbs &stub, grpc::Status (lbs::*m)(grpc::ClientContext *, const Req &, Resp *),
                  const Req &req, Resp *resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    return (stub.*m)(&ctx, req, resp);
}

/** Makes a CA, a server certificate for 127.0.0.1/localhost, a client certificate, and a
 *  second CA with its own client certificate, in `dir`. */
void make_certs(const std::string &dir) {
    std::string script =
        "set -e; cd '" + dir +
        "'\n"
        "ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' "
        ">server.ext\n"
        "printf 'extendedKeyUsage=clientAuth\\n' >client.ext\n"
        "for ca in ca other-ca; do\n"
        "  openssl req -x509 $ec -keyout $ca.key -out $ca.pem -days 2 -subj /CN=nlb-test-$ca\n"
        "done\n"
        "sign() {  # name CN ca ext\n"
        "  openssl req $ec -keyout $1.key -out $1.csr -subj /CN=$2\n"
        "  openssl x509 -req -in $1.csr -CA $3.pem -CAkey $3.key -CAcreateserial -days 2 "
        "-extfile $4 -out $1.pem\n"
        "}\n"
        "sign server localhost ca server.ext\n"
        "sign client operator ca client.ext\n"
        "sign intruder operator other-ca client.ext\n";
    std::ofstream(dir + "/make.sh") << script;
    std::string cmd = "bash '" + dir + "/make.sh' >'" + dir + "/make.log' 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(dir + "/make.log");
}

/** nlb-control started with any flags, its log in a file; find its TCP port from the log. */
class daemon_proc {
  public:
    daemon_proc(const std::string &dir, std::vector<std::string> args)
        : log_(dir + "/control.log") {
        args.insert(args.begin(), control_binary());
        pid_ = fork();
        if (pid_ == 0) {
            if (!freopen(log_.c_str(), "w", stderr)) _exit(126);
            std::vector<char *> argv;
            for (auto &a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
    }
    ~daemon_proc() { stop(); }
    /** The port nlb-control reports for `addr` ("127.0.0.1:0"), or "" after 10 s. */
    std::string port_of(const std::string &addr) {
        std::regex re(std::regex_replace(addr, std::regex(R"([.\[\]])"), R"(\$&)") +
                      R"( \(port (\d+))");
        for (int i = 0; i < 500; i++) {
            std::smatch m;
            std::string text = slurp(log_);
            if (std::regex_search(text, m, re)) return m[1];
            int status;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return "";
            }
            std::this_thread::sleep_for(20ms);
        }
        return "";
    }
    std::string log() const { return slurp(log_); }
    int stop() {
        if (pid_ <= 0) return -1;
        kill(pid_, SIGTERM);
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

  private:
    std::string log_;
    pid_t pid_ = -1;
};

v1::CreateLoadBalancerRequest lb_request(const std::string &name, const std::string &vip) {
    v1::CreateLoadBalancerRequest q;
    q.set_load_balancer_id(name);
    q.mutable_load_balancer()->add_vips(vip);
    q.mutable_load_balancer()->set_region("r1");
    q.mutable_load_balancer()->set_vpc("v1");
    q.mutable_load_balancer()->set_zone("z1");
    return q;
}

v1::CreateServerGroupRequest group_request(const std::string &name, int instances) {
    v1::CreateServerGroupRequest q;
    q.set_server_group_id(name);
    auto *g = q.mutable_server_group();
    g->set_type(v1::VIRTUAL);
    g->set_region("r1");
    g->set_vpc("v1");
    g->set_zone("z1");
    for (int i = 0; i < instances; i++) {
        auto *in = g->add_instances();
        in->set_id("i" + std::to_string(i));
        in->set_address("198.18." + std::to_string(i / 250 % 250) + "." +
                        std::to_string(i % 250 + 1));
        in->set_port(8080);
    }
    return q;
}

int count_lbs(lbs &stub) {
    v1::ListLoadBalancersRequest q;
    v1::ListLoadBalancersResponse r;
    auto st = call(stub, &lbs::ListLoadBalancers, q, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return r.load_balancers_size();
}

// ---------------------------------------------------------------- unix sockets

TEST(security, unix_socket_is_0660_with_the_primary_group) {
    temp_dir dir;
    control_daemon d(dir.path());
    ASSERT_TRUE(d.start());
    struct stat sb {};
    ASSERT_EQ(stat((dir.path() + "/control.sock").c_str(), &sb), 0);
    EXPECT_TRUE(S_ISSOCK(sb.st_mode));
    EXPECT_EQ(sb.st_mode & 07777, 0660u);
    EXPECT_EQ(sb.st_gid, getegid());
    EXPECT_EQ(d.stop(), 0);
}

TEST(security, unix_socket_group_from_socket_group) {
    if (geteuid() != 0) GTEST_SKIP() << "skipped: needs root (chown of the socket to a group)";
    const char *name = getgrnam("daemon") ? "daemon" : "nogroup";
    struct group *g = getgrnam(name);
    ASSERT_NE(g, nullptr);
    gid_t gid = g->gr_gid;
    temp_dir dir;
    control_daemon d(dir.path(), {"--socket-group", name});
    ASSERT_TRUE(d.start());
    struct stat sb {};
    ASSERT_EQ(stat((dir.path() + "/control.sock").c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 07777, 0660u);
    EXPECT_EQ(sb.st_gid, gid);
    EXPECT_EQ(d.stop(), 0);

    auto r = run_program({control_binary(), "--socket-group", "nlb-no-such-group", "--state",
                          dir.path() + "/state.db"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err, "nlb-control: error: --socket-group nlb-no-such-group: no such group\n");
}

// ---------------------------------------------------------------- start-up refusals

TEST(security, remote_listen_without_mutual_tls_and_bad_tls_flags_are_refused) {
    temp_dir dir;
    make_certs(dir.path());
    const std::string p = dir.path() + "/", state = p + "state.db";
    auto expect_refused = [&](std::vector<std::string> args, const std::string &text) {
        args.insert(args.begin(), control_binary());
        args.insert(args.end(), {"--state", state, "--init-state"});
        auto r = run_program(args);
        EXPECT_EQ(r.exit_code, 2) << args[1] << ": " << r.err;
        EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "not one line: " << r.err;
    };
    for (std::string addr : {"0.0.0.0:0", "[::]:0", "198.18.0.1:50051", "example.com:50051"})
        expect_refused({"--listen", addr},
                       "--listen " + addr +
                           " is not a loopback address: serving it needs mutual TLS");
    // Server-only TLS is not enough for a remote address either.
    expect_refused({"--listen", "0.0.0.0:0", "--tls-cert", p + "server.pem", "--tls-key",
                    p + "server.key"},
                   "needs mutual TLS");
    expect_refused({"--tls-cert", p + "server.pem"}, "--tls-cert and --tls-key go together");
    expect_refused({"--tls-key", p + "server.key"}, "--tls-cert and --tls-key go together");
    expect_refused({"--tls-client-ca", p + "ca.pem"}, "--tls-client-ca needs --tls-cert");
    expect_refused({"--tls-cert", p + "missing.pem", "--tls-key", p + "server.key"},
                   "cannot read --tls-cert " + p + "missing.pem: No such file or directory");
    expect_refused({"--tls-cert", p + "server.pem", "--tls-key", p + "server.ext"},
                   "--tls-key " + p + "server.ext is not a PEM file with a PRIVATE KEY");
    expect_refused({"--tls-cert", p + "server.pem", "--tls-key", p + "server.key",
                    "--tls-client-ca", p + "server.key"},
                   "--tls-client-ca " + p + "server.key is not a PEM file with a CERTIFICATE");
    expect_refused({"--rate-limit", "fast"}, "--rate-limit fast: expected N/s");
    expect_refused({"--max-request-bytes", "10"}, "--max-request-bytes");
    // Nothing was started or created by any of them.
    EXPECT_NE(access(state.c_str(), F_OK), 0);
}

// ---------------------------------------------------------------- TLS

TEST(security, mutual_tls_lets_in_only_client_certificates_of_the_ca) {
    temp_dir dir;
    make_certs(dir.path());
    const std::string p = dir.path() + "/";
    daemon_proc d(dir.path(), {"--listen", "127.0.0.1:0", "--listen", "unix:" + p + "c.sock",
                               "--state", p + "state.db", "--init-state", "--tls-cert",
                               p + "server.pem", "--tls-key", p + "server.key",
                               "--tls-client-ca", p + "ca.pem"});
    std::string port = d.port_of("127.0.0.1:0");
    ASSERT_FALSE(port.empty()) << d.log();
    EXPECT_NE(d.log().find("(port " + port + ", mutual TLS)"), std::string::npos) << d.log();
    const std::string server = "127.0.0.1:" + port;
    auto nlbctl = [&](std::vector<std::string> tls, std::vector<std::string> cmd) {
        std::vector<std::string> argv{nlbctl_binary(), "--server", server};
        argv.insert(argv.end(), tls.begin(), tls.end());
        argv.insert(argv.end(), cmd.begin(), cmd.end());
        return run_program(argv);
    };
    const std::vector<std::string> good{"--tls-ca", p + "ca.pem", "--tls-cert", p + "client.pem",
                                        "--tls-key", p + "client.key"};
    const std::vector<std::string> create{"lb",   "create", "web",  "--vip", "198.18.0.10",
                                          "--region", "r1", "--vpc", "v1",   "--zone",
                                          "z1"};

    // A client certificate of the CA: in.
    auto r = nlbctl(good, create);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = nlbctl(good, {"lb", "list", "--output", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("\"web\""), std::string::npos) << r.out;

    // No client certificate: the handshake completes, every call is UNAUTHENTICATED.
    auto lb2 = create;
    lb2[2] = "web2";
    lb2[4] = "198.18.0.11";
    r = nlbctl({"--tls-ca", p + "ca.pem"}, lb2);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("UNAUTHENTICATED: a client certificate signed by nlb-control's "
                          "--tls-client-ca is required",
                          0),
              0u)
        << r.err;
    r = nlbctl({"--tls-ca", p + "ca.pem"}, {"lb", "list"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("UNAUTHENTICATED", 0), 0u) << r.err;
    {  // The same through a gRPC stub, with the status code itself.
        grpc::SslCredentialsOptions ssl;
        ssl.pem_root_certs = slurp(p + "ca.pem");
        auto stub = v1::LoadBalancing::NewStub(grpc::CreateChannel(server, grpc::SslCredentials(ssl)));
        v1::LoadBalancer out;
        auto st = call(*stub, &lbs::CreateLoadBalancer, lb_request("web3", "198.18.0.12"), &out);
        EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
    }

    // A certificate of another CA: the TLS handshake refuses it, no call gets through.
    r = nlbctl({"--tls-ca", p + "ca.pem", "--tls-cert", p + "intruder.pem", "--tls-key",
                p + "intruder.key"},
               lb2);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("UNAVAILABLE", 0), 0u) << r.err;
    // A plaintext client on the TLS port: refused as well.
    r = nlbctl({}, lb2);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("UNAVAILABLE", 0), 0u) << r.err;
    // A server certificate checked against the wrong CA: nlbctl refuses the server.
    r = nlbctl({"--tls-ca", p + "other-ca.pem", "--tls-cert", p + "client.pem", "--tls-key",
                p + "client.key"},
               lb2);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.rfind("UNAVAILABLE", 0), 0u) << r.err;

    // The unix socket (local operators: mode 0660) needs no TLS; only "web" was created.
    auto stub = v1::LoadBalancing::NewStub(
        grpc::CreateChannel("unix:" + p + "c.sock", grpc::InsecureChannelCredentials()));
    EXPECT_EQ(count_lbs(*stub), 1);
    EXPECT_EQ(d.stop(), 0);
}

TEST(security, server_tls_without_client_ca) {
    temp_dir dir;
    make_certs(dir.path());
    const std::string p = dir.path() + "/";
    daemon_proc d(dir.path(), {"--listen", "[::1]:0", "--state", p + "state.db",
                               "--init-state", "--tls-cert", p + "server.pem", "--tls-key",
                               p + "server.key"});
    std::string port = d.port_of("[::1]:0");
    ASSERT_FALSE(port.empty()) << d.log();
    EXPECT_NE(d.log().find("(port " + port + ", TLS)"), std::string::npos) << d.log();
    // The server certificate names 127.0.0.1 and localhost, not ::1: say which name to check.
    auto r = run_program({nlbctl_binary(), "--server", "[::1]:" + port, "--tls-ca", p + "ca.pem",
                          "--tls-server-name", "localhost", "lb", "list"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = run_program({nlbctl_binary(), "--server", "[::1]:" + port, "--tls-ca", p + "ca.pem",
                     "lb", "list"});
    EXPECT_EQ(r.exit_code, 1) << "the name ::1 is not in the certificate";
    r = run_program({nlbctl_binary(), "--server", "[::1]:" + port, "lb", "list"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(d.stop(), 0);
}

TEST(security, nlbctl_bad_tls_flags_exit_2) {
    temp_dir dir;
    make_certs(dir.path());
    const std::string p = dir.path() + "/";
    auto expect_usage = [&](std::vector<std::string> args, const std::string &text) {
        args.insert(args.begin(), nlbctl_binary());
        args.insert(args.end(), {"lb", "list"});
        auto r = run_program(args);
        EXPECT_EQ(r.exit_code, 2) << r.err;
        EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    };
    expect_usage({"--tls-cert", p + "client.pem"}, "--tls-cert and --tls-key go together");
    expect_usage({"--tls-ca", p + "ca.pem", "--tls-key", p + "client.key"},
                 "--tls-cert and --tls-key go together");
    expect_usage({"--tls-ca", p + "missing.pem"},
                 "cannot read " + p + "missing.pem: No such file or directory");
    expect_usage({"--server", "unix:" + p + "s.sock", "--tls-ca", p + "ca.pem"},
                 "TLS is for TCP servers");
}

// ---------------------------------------------------------------- request limits

TEST(limits, huge_requests_get_a_clear_error_and_the_daemon_keeps_serving) {
    temp_dir dir;
    control_daemon d(dir.path());
    ASSERT_TRUE(d.start());
    auto stub = d.stub();
    v1::ServerGroup out;

    // 10 MB in one request: refused by the transport before it is parsed.
    auto big = group_request("big", 1);
    big.mutable_server_group()->mutable_instances(0)->set_id(std::string(10 << 20, 'x'));
    auto st = call(*stub, &lbs::CreateServerGroup, big, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    EXPECT_NE(st.error_message().find("larger than max"), std::string::npos)
        << st.error_message();

    // 100 000 instances (about 3 MB) in one call: INVALID_ARGUMENT naming the limit.
    auto many = group_request("many", 100000);
    ASSERT_LT(many.ByteSizeLong(), 4u << 20);
    auto t0 = std::chrono::steady_clock::now();
    st = call(*stub, &lbs::CreateServerGroup, many, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_EQ(st.error_message(),
              "server_group.instances: 100000 instances given: a server group holds at most "
              "1000 instances");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);

    // The same through AddInstances and UpdateServerGroup on an existing group.
    ASSERT_TRUE(call(*stub, &lbs::CreateServerGroup, group_request("g", 2), &out).ok());
    v1::AddInstancesRequest add;
    add.set_server_group("g");
    *add.mutable_instances() = many.server_group().instances();
    st = call(*stub, &lbs::AddInstances, add, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message(),
              "instances: 100000 instances given: a server group holds at most 1000 instances");
    v1::UpdateServerGroupRequest upd;
    *upd.mutable_server_group() = many.server_group();
    upd.mutable_server_group()->set_name("g");
    upd.mutable_update_mask()->add_paths("instances");
    st = call(*stub, &lbs::UpdateServerGroup, upd, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(st.error_message().find("at most 1000 instances"), std::string::npos);

    // Nothing changed, and the daemon answers.
    v1::GetServerGroupRequest get;
    get.set_name("g");
    v1::ServerGroupView view;
    ASSERT_TRUE(call(*stub, &lbs::GetServerGroup, get, &view).ok());
    EXPECT_EQ(view.server_group().instances_size(), 2);
    v1::ListServerGroupsRequest lq;
    v1::ListServerGroupsResponse lr;
    ASSERT_TRUE(call(*stub, &lbs::ListServerGroups, lq, &lr).ok());
    EXPECT_EQ(lr.server_groups_size(), 1);
    EXPECT_EQ(d.stop(), 0);
}

TEST(limits, errors_stay_readable_for_many_bad_fields_or_huge_values) {
    temp_dir dir;
    control_daemon d(dir.path());
    ASSERT_TRUE(d.start());
    auto stub = d.stub();
    // 1000 bad instances (within the limit): the first violations and a count of the rest.
    auto bad = group_request("bad", 1000);
    for (auto &in : *bad.mutable_server_group()->mutable_instances())
        in.set_address("not-an-address-" + in.id());
    v1::ServerGroup out;
    auto st = call(*stub, &lbs::CreateServerGroup, bad, &out);
    ASSERT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_EQ(st.error_message().rfind("server_group.instances[0].address: value "
                                       "\"not-an-address-i0\" is not an IPv4 or IPv6 address",
                                       0),
              0u)
        << st.error_message();
    EXPECT_NE(st.error_message().find(" more violations"), std::string::npos);
    EXPECT_LT(st.error_message().size(), 2500u);
    // A 1 MB name is echoed cut short.
    v1::GetLoadBalancerRequest get;
    get.set_name(std::string(1 << 20, 'x'));
    v1::LoadBalancer lb;
    st = call(*stub, &lbs::GetLoadBalancer, get, &lb);
    ASSERT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_TRUE(std::regex_search(st.error_message(),
                                  std::regex(R"(\.\.\. \(\d{7} characters\))")))
        << st.error_message().substr(0, 300);
    EXPECT_LT(st.error_message().size(), 500u);
    EXPECT_EQ(d.stop(), 0);
}

TEST(limits, max_request_bytes_is_configurable) {
    temp_dir dir;
    control_daemon d(dir.path(), {"--max-request-bytes", "2048"});
    ASSERT_TRUE(d.start());
    auto stub = d.stub();
    v1::ServerGroup out;
    auto small = group_request("small", 10);
    ASSERT_LT(small.ByteSizeLong(), 2048u);
    EXPECT_TRUE(call(*stub, &lbs::CreateServerGroup, small, &out).ok());
    auto large = group_request("large", 200);
    ASSERT_GT(large.ByteSizeLong(), 2048u);
    auto st = call(*stub, &lbs::CreateServerGroup, large, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    EXPECT_EQ(d.stop(), 0);
}

TEST(limits, rate_limit_on_changes_per_tcp_client) {
    temp_dir dir;
    const std::string p = dir.path() + "/";
    // 0.5 changes/s, 3 at once: the 4th change within 2 s is refused.
    daemon_proc d(dir.path(), {"--listen", "127.0.0.1:0", "--listen", "unix:" + p + "c.sock",
                               "--state", p + "state.db", "--init-state", "--rate-limit",
                               "0.5/s", "--rate-burst", "3"});
    std::string port = d.port_of("127.0.0.1:0");
    ASSERT_FALSE(port.empty()) << d.log();
    auto stub = v1::LoadBalancing::NewStub(
        grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials()));
    auto t0 = std::chrono::steady_clock::now();
    int accepted = 0;
    grpc::Status refused;
    for (int i = 0; i < 20; i++) {
        v1::LoadBalancer out;
        auto st = call(*stub, &lbs::CreateLoadBalancer,
                       lb_request("lb" + std::to_string(i), "198.18.1." + std::to_string(i + 1)),
                       &out);
        if (!st.ok()) {
            refused = st;
            break;
        }
        accepted++;
    }
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(accepted, 3);
    EXPECT_LE(accepted, 3 + static_cast<int>(elapsed * 0.5) + 1);
    ASSERT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << refused.error_message();
    std::smatch m;
    std::string msg = refused.error_message();
    ASSERT_TRUE(std::regex_search(
        msg, m,
        std::regex(R"(^rate limit exceeded: at most 0\.5 changes per second \(burst 3\) per )"
                   R"(client \(ipv4:127\.0\.0\.1\); retry in (\d+) ms$)")))
        << msg;
    int retry_ms = std::stoi(m[1]);
    EXPECT_GT(retry_ms, 0);
    EXPECT_LE(retry_ms, 2000);
    EXPECT_NE(refused.error_details().find("type.googleapis.com/google.rpc.RetryInfo"),
              std::string::npos);
    // Reads are not limited.
    for (int i = 0; i < 10; i++) EXPECT_EQ(count_lbs(*stub), accepted);
    // Local operators on the unix socket are not limited (no identity to tell them apart).
    auto local = v1::LoadBalancing::NewStub(
        grpc::CreateChannel("unix:" + p + "c.sock", grpc::InsecureChannelCredentials()));
    for (int i = 0; i < 10; i++) {
        v1::LoadBalancer out;
        auto st = call(*local, &lbs::CreateLoadBalancer,
                       lb_request("local" + std::to_string(i), "198.18.3." + std::to_string(i + 1)),
                       &out);
        EXPECT_TRUE(st.ok()) << st.error_message();
    }
    // After the delay a change gets in again.
    std::this_thread::sleep_for(std::chrono::milliseconds(retry_ms + 50));
    v1::LoadBalancer out;
    auto st = call(*stub, &lbs::CreateLoadBalancer, lb_request("late", "198.18.2.1"), &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(count_lbs(*stub), accepted + 11);
    EXPECT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace nlb::test
