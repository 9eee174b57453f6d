/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-control: the operator API daemon. Opens (creating or migrating) the
 * state database, serves nlb.v1.LoadBalancing, grpc.health.v1.Health and
 * server reflection on every --listen address, probes the backends' health,
 * pushes the desired state to every --dataplane (dataplane_sync.h), ends
 * connection draining (drain_timers.h), and shuts down cleanly on
 * SIGTERM/SIGINT. Start-up errors print one line and exit with status 2.
 */
#include "dataplane_sync.h"
#include "drain_timers.h"
#include "health_prober.h"
#include "instance_status.h"
#include "service.h"
#include "store.h"
#include "synced_service.h"

#include <grpc/support/log.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace {

enum class level { error, warn, info, debug };
level log_level = level::info;

void log(level l, const std::string &msg) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (l <= log_level)
        std::fprintf(stderr, "nlb-control: %s: %s\n", names[static_cast<int>(l)], msg.c_str());
}

/** gRPC's own log lines go through ours, at debug level: start-up errors stay one line. */
void grpc_log(gpr_log_func_args *args) {
    log(level::debug, std::string("grpc: ") + args->message);
}

// grpc.health.v1 status "nlb.dataplane.v1.Dataplane": SERVING while every --dataplane answers
// (NOT_SERVING with none configured). Set from the sync thread, once the server exists.
std::atomic<grpc::HealthCheckServiceInterface *> dataplane_health{nullptr};
std::atomic<nlb::control::dataplane_sync *> dataplane_sync_for_health{nullptr};
std::mutex dataplane_health_mu;

void publish_dataplane_health() {
    std::lock_guard<std::mutex> lock(dataplane_health_mu);
    auto *h = dataplane_health.load();
    auto *sync = dataplane_sync_for_health.load();
    if (!h || !sync) return;
    auto all = sync->status();
    bool up = !all.empty();
    for (const auto &d : all) up = up && d.connected;
    h->SetServingStatus("nlb.dataplane.v1.Dataplane", up);
}

int fail(const std::string &msg) {
    std::fprintf(stderr, "nlb-control: error: %s\n", msg.c_str());
    return 2;
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"nlb-control: the nlb operator API (gRPC nlb.v1) and its SQLite store"};
    std::vector<std::string> listen;
    std::string state = "/var/lib/nlb/state.db";
    std::string level_name = "info";
    std::vector<std::string> dataplanes;
    bool probe_at_once = false;
    app.add_option("--listen", listen,
                   "Address to serve on, repeatable: HOST:PORT or unix:/path "
                   "(default 127.0.0.1:50051)");
    app.add_option("--state", state, "SQLite state database (created on first start)")
        ->capture_default_str();
    app.add_option("--log-level", level_name, "error, warn, info or debug")
        ->check(CLI::IsMember({"error", "warn", "info", "debug"}))
        ->capture_default_str();
    app.add_option("--dataplane", dataplanes,
                   "nlb-dataplane agent socket to push the state to, repeatable: unix:/path "
                   "(e.g. unix:/run/nlb/dataplane.sock); none = no dataplane");
    app.add_flag("--probe-first-at-once", probe_at_once,
                 "Probe a new instance at once instead of at a random point of its first "
                 "interval (labs and tests)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        return fail(std::string(e.what()) + " (see --help)");
    }
    log_level = level_name == "error"   ? level::error
                : level_name == "warn"  ? level::warn
                : level_name == "debug" ? level::debug
                                        : level::info;
    if (listen.empty()) listen.push_back("127.0.0.1:50051");
    gpr_set_log_function(grpc_log);

    std::unique_ptr<nlb::control::store> st;
    try {
        st = nlb::control::store::open(state);
    } catch (const nlb::control::store_error &e) {
        return fail(e.what());
    }
    log(level::info, "state " + state + " (schema version " + std::to_string(st->version()) + ")");

    // Handle SIGTERM/SIGINT synchronously in main; gRPC threads inherit the mask.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    nlb::health::prober_options probe_opts;
    probe_opts.spread_first_probe = !probe_at_once;
    nlb::health::health_prober prober(probe_opts);
    auto sync_log = [](int l, const std::string &msg) { log(static_cast<level>(l), msg); };
    std::unique_ptr<nlb::control::dataplane_sync> sync;
    std::unique_ptr<nlb::control::drain_timers> drains;
    try {
        nlb::control::dataplane_sync::options so;
        so.targets = dataplanes;
        so.state_path = state;
        so.log = sync_log;
        so.prober = &prober;
        so.on_connection = [](const std::string &, bool) { publish_dataplane_health(); };
        sync = std::make_unique<nlb::control::dataplane_sync>(so);
        nlb::control::drain_timers::options dopts;
        dopts.state_path = state;
        dopts.sync = sync.get();
        dopts.log = sync_log;
        drains = std::make_unique<nlb::control::drain_timers>(dopts);
    } catch (const nlb::control::store_error &e) {
        return fail(e.what());
    }
    auto *sync_ptr = sync.get();
    prober.on_change([sync_ptr](const nlb::health::target_key &key, nlb::health::status,
                                nlb::health::status now, const std::string &reason) {
        log(level::info, "instance " + key.instance + " of " + key.service + " is now " +
                             nlb::health::status_name(now) +
                             (reason.empty() ? std::string() : " (" + reason + ")"));
        sync_ptr->notify();
    });
    std::string probe_error;
    if (!prober.start(&probe_error)) return fail("cannot start the health prober: " + probe_error);
    sync->start();
    drains->start();
    for (const auto &d : dataplanes) log(level::info, "dataplane " + d);

    nlb::control::live_instance_status health(*sync);
    nlb::control::control_service inner(*st, health);
    nlb::control::synced_service service(inner, *sync);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    std::vector<int> ports(listen.size());
    for (size_t i = 0; i < listen.size(); i++) {
        const auto &addr = listen[i];
        if (addr.rfind("unix:", 0) == 0) {
            struct stat sb;
            std::string path = addr.substr(5);
            if (lstat(path.c_str(), &sb) == 0 && S_ISSOCK(sb.st_mode))
                unlink(path.c_str());  // stale socket of an earlier run
        }
        builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &ports[i]);
    }
    builder.RegisterService(&service);
    auto server = builder.BuildAndStart();
    if (!server) {
        std::string all;
        for (const auto &a : listen) all += (all.empty() ? "" : ", ") + a;
        return fail("cannot listen on " + all +
                    " (bad address, address in use, or missing socket directory)");
    }
    for (size_t i = 0; i < listen.size(); i++) {
        if (ports[i] == 0) return fail("cannot listen on " + listen[i]);
        if (listen[i].rfind("unix:", 0) == 0) chmod(listen[i].substr(5).c_str(), 0660);
        log(level::info,
            "listening on " + listen[i] +
                (listen[i].rfind("unix:", 0) == 0 ? std::string()
                                                  : " (port " + std::to_string(ports[i]) + ")"));
    }
    server->GetHealthCheckService()->SetServingStatus("nlb.v1.LoadBalancing", true);
    dataplane_health.store(server->GetHealthCheckService());
    dataplane_sync_for_health.store(sync.get());
    publish_dataplane_health();

    int sig = 0;
    sigwait(&stop, &sig);
    log(level::info, std::string("shutting down on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    {
        std::lock_guard<std::mutex> lock(dataplane_health_mu);
        dataplane_health.store(nullptr);
    }
    server->GetHealthCheckService()->Shutdown();
    // Idle client connections hold Shutdown until its deadline, so keep it short: a
    // handler that is running still finishes (its transaction commits or not at all).
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server->Wait();
    drains->stop();
    sync->stop();
    prober.stop();
    return 0;
}
