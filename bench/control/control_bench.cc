/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-bench-control: the control path with the real daemons (issue 6,
 * benchmark 4). nlb-dataplane runs on net_ring/net_null vdevs under EAL
 * --no-huge (no root, no NIC), nlb-control with --dataplane on its agent
 * socket, both as child processes in a fresh temporary directory.
 *
 *  latency  change-to-forwarding: an nlb.v1 change (an instance added to or
 *           removed from a server group) until the dataplane's ListServices
 *           shows it. The agent's PutService returns only after
 *           snapshot_manager::publish() saw every online worker pass a
 *           quiescent state (agent_state::apply), and ListServices reads the
 *           records under the same mutex after that, so what it lists is what
 *           the workers forward by. The same with `nlbctl` processes: their
 *           wall time (start-up included) and start -> forwarding.
 *  push     config push at scale: nlb-control holds S services (listeners) of
 *           B backends each, made through nlb.v1 as an operator would (load
 *           balancers with 10 listeners sharing one backend service and one
 *           server group of B instances); a fresh nlb-dataplane is started and
 *           the time until nlb-control has pushed everything is measured, then
 *           the dataplane is SIGKILLed and restarted (the resync after a
 *           restart) and measured again. RSS of both processes before/after
 *           and the dataplane's snapshot memory (GetInfo). Baselines in the
 *           same run: an empty push and a push of --baseline-services.
 *
 * Every wait is bounded; the children are SIGKILLed on any exit path.
 * usage: nlb-bench-control [--changes N] [--cli-changes N] [--services N]
 *          [--backends N] [--baseline-services N] [--only latency|push] [--poll-us N]
 *          [--keep]
 */
#include "dataplane.grpc.pb.h"
#include "nlb.grpc.pb.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace dp = nlb::dataplane::v1;
namespace api = nlb::v1;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

std::string env_or(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return v && *v ? v : fallback;
}

#ifndef NLB_CONTROL_BIN
#define NLB_CONTROL_BIN "nlb-control"
#endif
#ifndef NLBCTL_BIN
#define NLBCTL_BIN "nlbctl"
#endif
#ifndef NLB_DATAPLANE_BIN
#define NLB_DATAPLANE_BIN "nlb-dataplane"
#endif
#ifndef NLB_DRIVERS_CFG
#define NLB_DRIVERS_CFG "drivers-cfg"
#endif

double ms_since(steady::time_point t0, steady::time_point t1 = steady::now()) {
    return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

[[noreturn]] void die(const std::string &msg) {
    std::cerr << "nlb-bench-control: " << msg << "\n";
    std::exit(1);
}

/** A child process with its output in a log file; SIGKILLed by the destructor. */
class process {
  public:
    process() = default;
    ~process() { kill9(); }
    void start(const std::vector<std::string> &argv, const std::string &log) {
        pid_ = fork();
        if (pid_ < 0) die("fork failed");
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
    /** Waits for it to end; its exit status, -1 when a signal ended it. */
    int wait() {
        int status = 0;
        if (pid_ <= 0 || waitpid(pid_, &status, 0) != pid_) return -1;
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    pid_t pid() const { return pid_; }
    /** SIGTERM, then wait (up to 10 s, then SIGKILL); its exit status as wait(). */
    int stop() {
        if (pid_ <= 0) return -1;
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 1000; i++) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            }
            std::this_thread::sleep_for(10ms);
        }
        kill9();
        return -1;
    }

  private:
    pid_t pid_ = -1;
};

bool wait_for(const std::function<bool()> &cond, std::chrono::milliseconds limit,
              std::chrono::microseconds step = 1ms) {
    auto end = steady::now() + limit;
    while (steady::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(step);
    }
    return cond();
}

/** VmRSS of a process in KiB (0 when unknown). */
long rss_kib(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    return 0;
}

std::string slurp(const std::string &path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct percentiles {
    double p50 = 0, p99 = 0, max = 0;
};
percentiles summarize(std::vector<double> v) {
    percentiles p;
    if (v.empty()) return p;
    std::sort(v.begin(), v.end());
    auto at = [&v](double q) {
        size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
        return v[std::min(i, v.size() - 1)];
    };
    p.p50 = at(0.50);
    p.p99 = at(0.99);
    p.max = v.back();
    return p;
}

/** Both daemons in one temporary directory. */
class bench_env {
  public:
    std::string dir;
    process dataplane, control;
    std::unique_ptr<api::LoadBalancing::Stub> nlb;
    std::unique_ptr<dp::Dataplane::Stub> agent;
    bool keep = false;

    bench_env() {
        std::string tmpl = env_or("TMPDIR", "/tmp") + "/nlb-bench-control-XXXXXX";
        if (!mkdtemp(tmpl.data())) die("mkdtemp failed");
        dir = tmpl;
        std::ofstream(dir + "/dp.conf")
            << "eal = { lcores = \"0-1\"; no_huge = true; memory_mb = 128; extra_args = "
               "[\"--no-shconf\", \"--log-level=lib.eal:error\"]; };\n"
               "mempool = { size = 8191; cache = 64; };\n"
               "conn_table = { capacity = 65536; };\n"
               "agent = { socket = \""
            << dir
            << "/dataplane.sock\"; };\n"
               "ports = (\n"
               "  { name = \"front\"; vdev = \"net_ring0\"; role = \"client\"; ipv4 = "
               "\"198.18.0.1/24\"; rx_descriptors = 256; tx_descriptors = 256; },\n"
               "  { name = \"back\"; vdev = \"net_null0\"; role = \"backend\"; ipv4 = "
               "\"198.19.0.1/24\"; rx_descriptors = 256; tx_descriptors = 256; }\n"
               ");\n";
        grpc::ChannelArguments args;
        args.SetMaxReceiveMessageSize(256 << 20);
        agent = dp::Dataplane::NewStub(grpc::CreateCustomChannel(
            "unix:" + dir + "/dataplane.sock", grpc::InsecureChannelCredentials(), args));
        nlb = api::LoadBalancing::NewStub(grpc::CreateChannel("unix:" + dir + "/control.sock",
                                                              grpc::InsecureChannelCredentials()));
    }
    ~bench_env() {
        control.kill9();
        dataplane.kill9();
        if (!keep) std::filesystem::remove_all(dir);
    }
    std::string socket() const { return dir + "/dataplane.sock"; }
    std::string control_log() const { return dir + "/control.log"; }

    /** Starts nlb-dataplane; returns when its agent socket exists (limit 30 s). */
    void start_dataplane() {
        std::filesystem::remove(socket());
        dataplane.start({env_or("NLB_DATAPLANE", NLB_DATAPLANE_BIN), "--config", dir + "/dp.conf",
                         "--drivers-cfg", env_or("NLB_DRIVERS_CFG", NLB_DRIVERS_CFG)},
                        dir + "/dataplane.log");
        if (!wait_for([&] { return std::filesystem::exists(socket()); }, 30s))
            die("nlb-dataplane did not start: " + slurp(dir + "/dataplane.log"));
    }
    /** Starts nlb-control (with --dataplane on our agent socket unless told otherwise). */
    void start_control(bool with_dataplane = true) {
        std::filesystem::remove(dir + "/control.sock");
        std::vector<std::string> argv{env_or("NLB_CONTROL", NLB_CONTROL_BIN),
                                      "--listen",
                                      "unix:" + dir + "/control.sock",
                                      "--state",
                                      dir + "/state.db",
                                      "--log-level",
                                      "info",
                                      "--init-state"};
        if (with_dataplane) argv.insert(argv.end(), {"--dataplane", "unix:" + socket()});
        control.start(argv, control_log());
        if (!wait_for([&] { return std::filesystem::exists(dir + "/control.sock"); }, 10s))
            die("nlb-control did not start: " + slurp(control_log()));
    }

    grpc::Status call(const std::function<grpc::Status(grpc::ClientContext *)> &f) {
        grpc::Status st;
        for (int attempt = 0; attempt < 3; attempt++) {
            grpc::ClientContext ctx;
            ctx.set_deadline(std::chrono::system_clock::now() + 10s);
            ctx.set_wait_for_ready(true);
            st = f(&ctx);
            if (st.error_code() != grpc::StatusCode::UNAVAILABLE) break;
            std::this_thread::sleep_for(100ms);
        }
        return st;
    }
    void must(const grpc::Status &st, const std::string &what) {
        if (!st.ok()) die(what + ": " + st.error_message());
    }

    /**
     * Load balancer `name` with `vips`, `listeners` TCP listeners (ports 80...), listener l
     * served by its own backend service "bs<l>" (port 8080, drain 0) on its own server group
     * "<name>-<l>" with the instances addr(l, 0..backends-1): vips x listeners dataplane
     * services of `backends` backends each.
     */
    void create_lb(const std::string &name, const std::vector<std::string> &vips, int listeners,
                   int backends, const std::function<std::string(int l, int b)> &addr) {
        api::CreateLoadBalancerRequest lb;
        lb.set_load_balancer_id(name);
        for (const auto &v : vips) lb.mutable_load_balancer()->add_vips(v);
        lb.mutable_load_balancer()->set_region("r");
        lb.mutable_load_balancer()->set_vpc("v");
        lb.mutable_load_balancer()->set_zone("z");
        api::LoadBalancer lb_out;
        must(call([&](auto *c) { return nlb->CreateLoadBalancer(c, lb, &lb_out); }),
             "CreateLoadBalancer " + name);
        for (int l = 0; l < listeners; l++) {
            const std::string group = name + "-" + std::to_string(l);
            api::CreateServerGroupRequest sg;
            sg.set_server_group_id(group);
            auto *g = sg.mutable_server_group();
            g->set_type(api::VIRTUAL);
            g->set_region("r");
            g->set_vpc("v");
            g->set_zone("z");
            for (int b = 0; b < backends; b++) {
                auto *in = g->add_instances();
                in->set_id("i" + std::to_string(b));
                in->set_address(addr(l, b));
            }
            api::ServerGroup sg_out;
            must(call([&](auto *c) { return nlb->CreateServerGroup(c, sg, &sg_out); }),
                 "CreateServerGroup " + group);
            api::CreateBackendServiceRequest bs;
            bs.set_load_balancer(name);
            bs.set_backend_service_id("bs" + std::to_string(l));
            bs.mutable_backend_service()->set_port(8080);
            bs.mutable_backend_service()->set_drain_timeout_seconds(0);
            bs.mutable_backend_service()->set_server_group(group);
            api::BackendService bs_out;
            must(call([&](auto *c) { return nlb->CreateBackendService(c, bs, &bs_out); }),
                 "CreateBackendService " + name);
            api::CreateListenerRequest req;
            req.set_load_balancer(name);
            req.set_listener_id("l" + std::to_string(l));
            req.mutable_listener()->set_port(80 + l);
            req.mutable_listener()->set_backend_service("bs" + std::to_string(l));
            api::Listener out;
            must(call([&](auto *c) { return nlb->CreateListener(c, req, &out); }),
                 "CreateListener " + name);
        }
    }

    dp::ListServicesResponse services() {
        dp::ListServicesResponse resp;
        grpc::Status st;
        // After a restart the first call may go out on the dead connection ("Broken pipe").
        for (int attempt = 0; attempt < 3; attempt++) {
            grpc::ClientContext ctx;
            ctx.set_deadline(std::chrono::system_clock::now() + 10s);
            ctx.set_wait_for_ready(true);
            resp.Clear();
            st = agent->ListServices(&ctx, dp::ListServicesRequest(), &resp);
            if (st.error_code() != grpc::StatusCode::UNAVAILABLE) break;
            std::this_thread::sleep_for(50ms);
        }
        if (!st.ok()) {
            std::cerr << "ListServices: " << st.error_message() << "\n";
            resp.Clear();
        }
        return resp;
    }
    /** Whether the dataplane's service for vip:80 lists addr as a backend (-1: no service). */
    int lists(const std::string &vip, const std::string &addr) {
        const auto all = services();
        for (const auto &vs : all.services()) {
            if (vs.service().key().vip() != vip || vs.service().key().port() != 80) continue;
            for (const auto &b : vs.service().backends())
                if (b.address() == addr) return 1;
            return 0;
        }
        return -1;
    }
};

/** VIP i: 198.18.(1 + i/250).(1 + i%250); backend address i: 198.19.(1 + i/250).(1 + i%250). */
std::string vip_of(int i) {
    return "198.18." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250);
}
std::string backend_addr(int i) {
    return "198.19." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250);
}

struct options {
    int changes = 1000;
    int cli_changes = 200;
    int services = 10000;
    int backends = 10;
    int baseline_services = 1000;
    std::string only;
    bool keep = false;
};

/** How often the latency run asks the dataplane whether a change arrived (--poll-us). */
std::chrono::microseconds poll_step{250};

int run_latency(const options &o) {
    bench_env env;
    env.keep = o.keep;
    env.start_dataplane();
    env.start_control();
    const std::string vip = "198.18.0.100";
    env.create_lb("lat", {vip}, 1, 3,
                  [](int, int b) { return "198.19.0." + std::to_string(11 + b); });
    if (!wait_for([&] { return env.lists(vip, "198.19.0.13") == 1; }, 10s))
        die("the service never reached the dataplane: " + slurp(env.control_log()));

    // nlb.v1 calls: AddInstances / RemoveInstances of instance "x", alternately.
    std::vector<double> api_ms, call_ms;
    for (int i = 0; i < o.changes; i++) {
        const bool add = i % 2 == 0;
        const std::string addr = "198.19.1." + std::to_string(1 + (i / 2) % 250);
        auto t0 = steady::now();
        grpc::Status st;
        if (add) {
            api::AddInstancesRequest req;
            req.set_server_group("lat-0");
            auto *in = req.add_instances();
            in->set_id("x");
            in->set_address(addr);
            api::ServerGroup out;
            st = env.call([&](auto *c) { return env.nlb->AddInstances(c, req, &out); });
        } else {
            api::RemoveInstancesRequest req;
            req.set_server_group("lat-0");
            req.add_instance_ids("x");
            api::ServerGroup out;
            st = env.call([&](auto *c) { return env.nlb->RemoveInstances(c, req, &out); });
        }
        env.must(st, add ? "AddInstances" : "RemoveInstances");
        call_ms.push_back(ms_since(t0));
        if (!wait_for([&] { return env.lists(vip, addr) == (add ? 1 : 0); }, 5s, poll_step))
            die("change " + std::to_string(i) + " not seen in the dataplane within 5 s");
        api_ms.push_back(ms_since(t0));
    }

    // nlbctl processes: server-group add-instance / remove-instance.
    std::vector<double> cli_wall, cli_total;
    const std::string server = "unix:" + env.dir + "/control.sock";
    const std::string nlbctl = env_or("NLBCTL", NLBCTL_BIN);
    for (int i = 0; i < o.cli_changes; i++) {
        const bool add = i % 2 == 0;
        const std::string addr = "198.19.2." + std::to_string(1 + (i / 2) % 250);
        std::vector<std::string> argv{nlbctl, "--server", server, "server-group"};
        if (add) {
            argv.insert(argv.end(), {"add-instance", "lat-0", "--instance", "id=y,ip=" + addr});
        } else {
            argv.insert(argv.end(), {"remove-instance", "lat-0", "--id", "y"});
        }
        auto t0 = steady::now();
        process p;
        p.start(argv, env.dir + "/nlbctl.log");
        const int rc = p.wait();
        cli_wall.push_back(ms_since(t0));
        if (rc != 0) die("nlbctl failed: " + slurp(env.dir + "/nlbctl.log"));
        if (!wait_for([&] { return env.lists(vip, addr) == (add ? 1 : 0); }, 5s, poll_step))
            die("nlbctl change " + std::to_string(i) + " not seen in the dataplane within 5 s");
        cli_total.push_back(ms_since(t0));
    }

    auto a = summarize(api_ms), c = summarize(call_ms), w = summarize(cli_wall),
         t = summarize(cli_total);
    std::printf(
        "latency: nlb.v1 change -> dataplane forwarding by it, %d changes: "
        "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        o.changes, a.p50, a.p99, a.max);
    std::printf(
        "latency: baseline, the nlb.v1 call alone (commit + reply): "
        "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        c.p50, c.p99, c.max);
    if (o.cli_changes > 0) {
        std::printf(
            "latency: nlbctl process wall time (start-up included), %d runs: "
            "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
            o.cli_changes, w.p50, w.p99, w.max);
        std::printf(
            "latency: nlbctl start -> dataplane forwarding: "
            "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
            t.p50, t.p99, t.max);
    }
    std::printf("latency: target p99 <= 50 ms: %s\n", a.p99 <= 50.0 ? "met" : "NOT met");
    return 0;
}

/** Counts services and backends the dataplane holds. */
std::pair<long, long> held(bench_env &env) {
    auto all = env.services();
    long b = 0;
    for (const auto &vs : all.services()) b += vs.service().backends_size();
    return {all.services_size(), b};
}

/** Position of the first "in sync: N services" line after `from` in the control log, or npos. */
size_t in_sync_at(const std::string &log, size_t from, long services) {
    return log.find("in sync: " + std::to_string(services) + " services", from);
}

struct push_result {
    int services = 0;
    double populate_s = 0;
    double first_ms = 0, first_push_ms = 0;  // start -> in sync; detection -> in sync
    double restart_ms = 0, restart_push_ms = 0;
    double dp_start_ms = 0;  // start -> agent socket
    long control_rss_before = 0, control_rss_after = 0;
    long dp_rss_before = 0, dp_rss_after = 0;
    uint64_t snapshot_bytes = 0;
};

/** Starts the dataplane and waits for nlb-control to report it in sync with `services`. */
void timed_push(bench_env &env, long services, long backends, double *total_ms, double *push_ms,
                double *start_ms, long *dp_rss_before) {
    size_t from = slurp(env.control_log()).size();
    auto t0 = steady::now();
    env.start_dataplane();
    auto t_socket = steady::now();
    if (start_ms) *start_ms = ms_since(t0, t_socket);
    if (dp_rss_before) *dp_rss_before = rss_kib(env.dataplane.pid());
    steady::time_point t_seen{}, t_done{};
    bool seen = false;
    auto deadline = t0 + 300s;
    for (;;) {
        std::string log = slurp(env.control_log());
        auto now = steady::now();
        if (!seen && log.find("pushing the full state", from) != std::string::npos) {
            seen = true;
            t_seen = now;
        }
        if (in_sync_at(log, from, services) != std::string::npos) {
            t_done = now;
            if (!seen) t_seen = now;
            break;
        }
        if (now > deadline) die("nlb-control never reported the dataplane in sync:\n" + log);
        if (!env.dataplane.running())
            die("nlb-dataplane died: " + slurp(env.dir + "/dataplane.log"));
        std::this_thread::sleep_for(2ms);
    }
    *total_ms = ms_since(t0, t_done);
    *push_ms = ms_since(t_seen, t_done);
    auto [s, b] = held(env);
    if (s != services || b != backends)
        die("the dataplane holds " + std::to_string(s) + " services / " + std::to_string(b) +
            " backends, expected " + std::to_string(services) + " / " + std::to_string(backends));
}

push_result run_push_once(const options &o, int services) {
    push_result r;
    r.services = services;
    bench_env env;
    env.keep = o.keep;
    // The configuration is made with nlb-control alone (an operator's existing state), then
    // nlb-control restarts with --dataplane and a fresh nlb-dataplane gets all of it.
    env.start_control(false);
    // Each load balancer: up to 16 VIPs x 10 listeners, each listener on its own backend
    // service and server group.
    const int listeners = 10, vips_per_lb = 16;
    auto t0 = steady::now();
    int vip = 0, group = 0;
    for (int lb = 0, left = services; left > 0; lb++) {
        const int n = std::min(left, vips_per_lb * listeners);
        std::vector<std::string> vips;
        for (int v = 0; v < n / listeners; v++) vips.push_back(vip_of(vip++));
        const int first = group;
        env.create_lb("lb" + std::to_string(lb), vips, listeners, o.backends,
                      [&](int l, int b) { return backend_addr((first + l) * o.backends + b); });
        group += listeners;
        left -= n;
    }
    r.populate_s = ms_since(t0) / 1000.0;
    // (Every acknowledged change is committed: how it ends does not matter here.)
    env.control.stop();
    env.start_control(true);
    std::this_thread::sleep_for(300ms);
    r.control_rss_before = rss_kib(env.control.pid());
    const long backends = static_cast<long>(services) * o.backends;
    timed_push(env, services, backends, &r.first_ms, &r.first_push_ms, &r.dp_start_ms,
               &r.dp_rss_before);
    // The resync after a dataplane restart.
    env.dataplane.kill9();
    timed_push(env, services, backends, &r.restart_ms, &r.restart_push_ms, nullptr, nullptr);
    r.control_rss_after = rss_kib(env.control.pid());
    (void)backends;
    r.dp_rss_after = rss_kib(env.dataplane.pid());
    dp::GetInfoResponse info;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    ctx.set_wait_for_ready(true);
    if (env.agent->GetInfo(&ctx, dp::GetInfoRequest(), &info).ok()) {
        r.snapshot_bytes = info.snapshot_bytes();
        // (An older dataplane leaves these fields at 0.)
        if (info.snapshot_bytes() > 0 && (info.services() != static_cast<uint32_t>(services) ||
                                          info.backends() != static_cast<uint64_t>(backends)))
            die("the dataplane's snapshot holds " + std::to_string(info.services()) +
                " services / " + std::to_string(info.backends()) + " backends");
    }
    return r;
}

int run_push(const options &o) {
    std::vector<int> scales{0};
    if (o.baseline_services > 0 && o.baseline_services < o.services)
        scales.push_back(o.baseline_services);
    scales.push_back(o.services);
    std::vector<push_result> results;
    for (int s : scales) results.push_back(run_push_once(o, s));
    const push_result &base = results.size() > 2 ? results[1] : results.front();
    for (const auto &r : results) {
        std::printf(
            "push: %d services x %d backends (%ld backends): populate via nlb.v1 %.1f s; "
            "dataplane start -> agent socket %.0f ms\n",
            r.services, o.backends, static_cast<long>(r.services) * o.backends, r.populate_s,
            r.dp_start_ms);
        std::printf(
            "push: %d services: first push: dataplane start -> in sync %.0f ms "
            "(push after detection %.0f ms); resync after a restart: %.0f ms "
            "(push after detection %.0f ms)\n",
            r.services, r.first_ms, r.first_push_ms, r.restart_ms, r.restart_push_ms);
        std::printf(
            "push: %d services: RSS nlb-control %ld -> %ld KiB, nlb-dataplane %ld -> %ld "
            "KiB (fresh -> holding everything); snapshot %.1f KiB\n",
            r.services, r.control_rss_before, r.control_rss_after, r.dp_rss_before, r.dp_rss_after,
            static_cast<double>(r.snapshot_bytes) / 1024.0);
        if (&r != &base && r.services > base.services && base.services > 0)
            std::printf(
                "push: %d services: resync push %.1f x the %d-service push for %.1f x "
                "the services (%.3f vs %.3f ms per service)\n",
                r.services, r.restart_push_ms / std::max(base.restart_push_ms, 1.0), base.services,
                static_cast<double>(r.services) / base.services, r.restart_push_ms / r.services,
                base.restart_push_ms / base.services);
    }
    const push_result &top = results.back();
    std::printf("push: target <= 1 s for %d services: %s (resync push %.0f ms)\n", top.services,
                top.restart_push_ms <= 1000.0 ? "met" : "NOT met", top.restart_push_ms);
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die(a + ": needs a value");
            return argv[++i];
        };
        auto number = [&](int lo, int hi) {
            std::string v = value();
            char *end = nullptr;
            long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || n < lo || n > hi)
                die(a + ": '" + v + "' is not a number in " + std::to_string(lo) + ".." +
                    std::to_string(hi));
            return static_cast<int>(n);
        };
        if (a == "--changes")
            o.changes = number(1, 100000);
        else if (a == "--poll-us")
            poll_step = std::chrono::microseconds(number(10, 100000));
        else if (a == "--cli-changes")
            o.cli_changes = number(0, 100000);
        else if (a == "--services")
            o.services = number(1, 60000);
        else if (a == "--backends")
            o.backends = number(1, 250);
        else if (a == "--baseline-services")
            o.baseline_services = number(0, 60000);
        else if (a == "--only") {
            o.only = value();
            if (o.only != "latency" && o.only != "push") die("--only: latency or push");
        } else if (a == "--keep")
            o.keep = true;
        else if (a == "--help" || a == "-h") {
            std::puts(
                "usage: nlb-bench-control [--changes N] [--cli-changes N] [--services N] "
                "[--backends N] [--baseline-services N] [--only latency|push] [--poll-us N] "
                "[--keep]");
            return 0;
        } else
            die("unknown option '" + a + "' (see --help)");
    }
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        std::puts("skipped: needs 2 CPUs (main lcore + one worker)");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    if (o.services % 10 || o.baseline_services % 10)
        die("--services and --baseline-services: multiples of 10 (10 listeners per VIP)");
    if ((o.services / 160 + 1) * 10 * o.backends > 250 * 250)
        die("--services x --backends: too many backend addresses");
    std::printf("nlb-bench-control: %d CPUs\n", static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
    std::fflush(stdout);
    if (o.only.empty() || o.only == "latency") run_latency(o);
    std::fflush(stdout);
    if (o.only.empty() || o.only == "push") run_push(o);
    return 0;
}
