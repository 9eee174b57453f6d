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
#include "rate_limit.h"
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
#include <grpcpp/security/auth_metadata_processor.h>
#include <arpa/inet.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
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

/** A start-up error: main prints it as one line and exits 2. */
struct start_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/** The whole of a PEM file named by `flag`; throws start_error when unreadable or not PEM. */
std::string read_pem(const std::string &flag, const std::string &path, const char *marker) {
    std::ifstream f(path);
    if (!f) throw start_error("cannot read " + flag + " " + path + ": " + std::strerror(errno));
    std::stringstream ss;
    ss << f.rdbuf();
    std::string text = ss.str();
    if (text.find("-----BEGIN ") == std::string::npos || text.find(marker) == std::string::npos)
        throw start_error(flag + " " + path + " is not a PEM file with a " +
                          std::string(marker).substr(0, std::string(marker).size() - 5));
    return text;
}

/** True for a TCP address only this host can reach: 127.0.0.0/8, ::1 or localhost. */
bool loopback_address(const std::string &addr) {
    std::string host = addr;
    if (host.rfind("ipv4:", 0) == 0 || host.rfind("ipv6:", 0) == 0) host = host.substr(5);
    if (!host.empty() && host[0] == '[') {
        auto end = host.find(']');
        host = end == std::string::npos ? "" : host.substr(1, end - 1);
    } else {
        auto colon = host.rfind(':');
        if (colon != std::string::npos) host.resize(colon);
    }
    if (host == "localhost") return true;
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

/**
 * Mutual TLS: the TLS layer asks for a client certificate and refuses one that
 * the --tls-client-ca did not sign (the handshake fails); a client that sends
 * none gets through the handshake and every call is refused here with
 * UNAUTHENTICATED.
 */
class require_client_cert final : public grpc::AuthMetadataProcessor {
  public:
    bool IsBlocking() const override { return false; }
    grpc::Status Process(const InputMetadata &, grpc::AuthContext *context, OutputMetadata *,
                         OutputMetadata *) override {
        if (context && context->IsPeerAuthenticated()) return grpc::Status::OK;
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                            "a client certificate signed by nlb-control's --tls-client-ca is "
                            "required");
    }
};

/** "N", "N/s": changes per second per client; throws start_error. */
double parse_rate(const std::string &text) {
    std::string t = text;
    if (t.size() > 2 && t.compare(t.size() - 2, 2, "/s") == 0) t.resize(t.size() - 2);
    try {
        size_t used = 0;
        double v = std::stod(t, &used);
        if (used == t.size() && v >= 0 && v <= 1e9) return v;
    } catch (const std::logic_error &) {
    }
    throw start_error("--rate-limit " + text + ": expected N/s (changes per second per client, " +
                      "0 = off)");
}

}  // namespace

int main(int argc, char **argv) {
    CLI::App app{"nlb-control: the nlb operator API (gRPC nlb.v1) and its SQLite store"};
    std::vector<std::string> listen;
    std::string state = "/var/lib/nlb/state.db";
    std::string level_name = "info";
    std::vector<std::string> dataplanes;
    bool probe_at_once = false, init_state = false, insecure_remote = false;
    std::string socket_group, tls_cert, tls_key, tls_client_ca, rate_text = "1000/s";
    int64_t max_request_bytes = 4 << 20;
    double rate_burst = 0;
    app.add_option("--listen", listen,
                   "Address to serve on, repeatable: HOST:PORT or unix:/path "
                   "(default 127.0.0.1:50051); a TCP address other than loopback needs "
                   "--tls-cert, --tls-key and --tls-client-ca (or --insecure-remote)");
    app.add_option("--state", state,
                   "SQLite state database (must exist unless --init-state)")
        ->capture_default_str();
    app.add_flag("--init-state", init_state,
                 "Create an empty state database when --state does not exist (first start); "
                 "without it a missing database is an error");
    app.add_option("--socket-group", socket_group,
                   "Group of the unix sockets nlb-control creates (mode 0660; default the "
                   "process's primary group)");
    app.add_option("--tls-cert", tls_cert, "PEM server certificate: serve TCP addresses over TLS");
    app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert");
    app.add_option("--tls-client-ca", tls_client_ca,
                   "PEM CA certificate(s): require a client certificate signed by them "
                   "(mutual TLS; calls without one are UNAUTHENTICATED)");
    app.add_flag("--insecure-remote", insecure_remote,
                 "Allow a non-loopback TCP --listen without mutual TLS (anyone who can reach "
                 "it may change the state)");
    app.add_option("--max-request-bytes", max_request_bytes,
                   "Largest request message accepted (RESOURCE_EXHAUSTED above it)")
        ->check(CLI::Range(int64_t{1024}, int64_t{1} << 30))
        ->capture_default_str();
    app.add_option("--rate-limit", rate_text,
                   "Changes (create/update/delete calls) per second per TCP client (certificate "
                   "identity or IP address; unix-socket clients are not limited), N/s; 0 = off")
        ->capture_default_str();
    app.add_option("--rate-burst", rate_burst,
                   "Changes a client may make at once before --rate-limit applies "
                   "(default 2 x the rate)")
        ->check(CLI::Range(0.0, 1e9));
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

    // Who gets in: every check before anything is opened or bound.
    std::shared_ptr<grpc::ServerCredentials> tcp_creds = grpc::InsecureServerCredentials();
    gid_t socket_gid = static_cast<gid_t>(-1);
    double rate = 0;
    try {
        if (tls_cert.empty() != tls_key.empty())
            throw start_error("--tls-cert and --tls-key go together");
        if (!tls_client_ca.empty() && tls_cert.empty())
            throw start_error("--tls-client-ca needs --tls-cert and --tls-key");
        if (!tls_cert.empty()) {
            grpc::SslServerCredentialsOptions opts(
                tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                      : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
            opts.pem_key_cert_pairs.push_back(
                {read_pem("--tls-key", tls_key, "PRIVATE KEY-----"),
                 read_pem("--tls-cert", tls_cert, "CERTIFICATE-----")});
            if (!tls_client_ca.empty())
                opts.pem_root_certs = read_pem("--tls-client-ca", tls_client_ca, "CERTIFICATE-----");
            tcp_creds = grpc::SslServerCredentials(opts);
            if (!tls_client_ca.empty())
                tcp_creds->SetAuthMetadataProcessor(std::make_shared<require_client_cert>());
        }
        for (const auto &addr : listen) {
            if (addr.rfind("unix:", 0) == 0 || loopback_address(addr)) continue;
            if (tls_client_ca.empty() && !insecure_remote)
                throw start_error("--listen " + addr +
                                  " is not a loopback address: serving it needs mutual TLS "
                                  "(--tls-cert, --tls-key, --tls-client-ca) or --insecure-remote");
        }
        if (!socket_group.empty()) {
            struct group *g = getgrnam(socket_group.c_str());
            if (!g) throw start_error("--socket-group " + socket_group + ": no such group");
            socket_gid = g->gr_gid;
        }
        rate = parse_rate(rate_text);
    } catch (const start_error &e) {
        return fail(e.what());
    }
    nlb::control::rate_limiter limiter(rate, rate_burst > 0 ? rate_burst : 2 * rate);

    std::unique_ptr<nlb::control::store> st;
    try {
        st = nlb::control::store::open(state, init_state
                                                  ? nlb::control::store::if_missing::create
                                                  : nlb::control::store::if_missing::fail);
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
    inner.set_rate_limiter(&limiter);
    nlb::control::synced_service service(inner, *sync);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(static_cast<int>(max_request_bytes));
    std::vector<int> ports(listen.size());
    for (size_t i = 0; i < listen.size(); i++) {
        const auto &addr = listen[i];
        if (addr.rfind("unix:", 0) == 0) {
            struct stat sb;
            std::string path = addr.substr(5);
            if (lstat(path.c_str(), &sb) == 0 && S_ISSOCK(sb.st_mode))
                unlink(path.c_str());  // stale socket of an earlier run
        }
        builder.AddListeningPort(
            addr, addr.rfind("unix:", 0) == 0 ? grpc::InsecureServerCredentials() : tcp_creds,
            &ports[i]);
    }
    builder.RegisterService(&service);
    // Unix sockets are born 0660 (no moment in which others may connect); SQLite's files too.
    mode_t old_umask = umask(0117);
    auto server = builder.BuildAndStart();
    umask(old_umask);
    if (!server) {
        std::string all;
        for (const auto &a : listen) all += (all.empty() ? "" : ", ") + a;
        return fail("cannot listen on " + all +
                    " (bad address, address in use, or missing socket directory)");
    }
    for (size_t i = 0; i < listen.size(); i++) {
        if (ports[i] == 0) return fail("cannot listen on " + listen[i]);
        if (listen[i].rfind("unix:", 0) == 0) {
            std::string path = listen[i].substr(5);
            if (chmod(path.c_str(), 0660) != 0 ||
                (socket_gid != static_cast<gid_t>(-1) &&
                 chown(path.c_str(), static_cast<uid_t>(-1), socket_gid) != 0))
                return fail("cannot set the mode or group of " + path + ": " +
                            std::strerror(errno));
        }
        log(level::info,
            "listening on " + listen[i] +
                (listen[i].rfind("unix:", 0) == 0 ? std::string()
                                                  : " (port " + std::to_string(ports[i]) +
                                                        (tls_cert.empty() ? ""
                                                         : tls_client_ca.empty() ? ", TLS"
                                                                                 : ", mutual TLS") +
                                                        ")"));
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
