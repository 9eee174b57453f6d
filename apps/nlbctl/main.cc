/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlbctl: the gRPC CLI of nlb-control.
 *   nlbctl [--server ADDR] [--tls-ca F [--tls-cert F --tls-key F]] [--output table|json]
 *          RESOURCE VERB ...
 * Exit status: 0 on success, 1 on an API error ("CODE: message" on stderr),
 * 2 on a usage error. The server defaults to $NLB_SERVER, else 127.0.0.1:50051.
 */
#include "cli.h"

#include <grpc/support/log.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace nlbctl {

options o;
std::unique_ptr<v1::LoadBalancing::Stub> stub;
std::function<int()> action;
static CLI::App *app_root = nullptr;

bool given(const std::string &flag) {
    // Options belong to the sub-command that declared them: walk the parsed path.
    for (CLI::App *sub = app_root; sub;) {
        if (auto *opt = sub->get_option_no_throw(flag); opt && opt->count() > 0) return true;
        auto subs = sub->get_subcommands();
        sub = subs.empty() ? nullptr : subs.front();
    }
    return false;
}

void add_paging(CLI::App *c) {
    c->add_option("--page-size", o.page_size, "Items per page (0 = 50, at most 1000)");
    c->add_option("--page-token", o.page_token, "Continue a previous listing");
}

static v1::Protocol protocol_of(const std::string &s) {
    return s == "udp" ? v1::UDP : s == "tcp" ? v1::TCP : v1::PROTOCOL_UNSPECIFIED;
}

v1::Instance parse_instance(const std::string &spec) {
    v1::Instance in;
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
        auto eq = item.find('=');
        std::string k = item.substr(0, eq), v = eq == std::string::npos ? "" : item.substr(eq + 1);
        try {
            if (k == "id")
                in.set_id(v);
            else if (k == "ip")
                in.set_address(v);
            else if (k == "port")
                in.set_port(std::stoi(v));
            else if (k == "weight")
                in.set_weight(std::stoi(v));
            else
                throw CLI::ValidationError("--instance", "unknown key \"" + k + "\" in " + spec);
        } catch (const std::logic_error &) {
            throw CLI::ValidationError("--instance", "bad number in " + spec);
        }
    }
    return in;
}

// ---------------------------------------------------------------- load balancers

void lb_commands(CLI::App &app) {
    auto *r = app.add_subcommand("lb", "Load balancers")->require_subcommand(1);
    auto *c = r->add_subcommand("create", "Create a load balancer");
    c->add_option("NAME", o.name)->required();
    c->add_option("--vip", o.vips, "VIP address (repeatable)")->required();
    c->add_option("--region", o.region)->required();
    c->add_option("--vpc", o.vpc)->required();
    c->add_option("--zone", o.zone)->required();
    c->callback([] {
        action = [] {
            v1::CreateLoadBalancerRequest q;
            q.set_load_balancer_id(o.name);
            auto *lb = q.mutable_load_balancer();
            for (const auto &v : o.vips) lb->add_vips(v);
            lb->set_region(o.region);
            lb->set_vpc(o.vpc);
            lb->set_zone(o.zone);
            return call(&v1::LoadBalancing::Stub::CreateLoadBalancer, q);
        };
    });
    auto *l = r->add_subcommand("list", "List load balancers");
    add_paging(l);
    l->callback([] {
        action = [] {
            v1::ListLoadBalancersRequest q;
            q.set_page_size(o.page_size);
            q.set_page_token(o.page_token);
            return call(&v1::LoadBalancing::Stub::ListLoadBalancers, q);
        };
    });
    auto *s = r->add_subcommand("show", "Show a load balancer");
    s->add_option("NAME", o.name)->required();
    s->callback([] {
        action = [] {
            v1::GetLoadBalancerRequest q;
            q.set_name(o.name);
            return call(&v1::LoadBalancing::Stub::GetLoadBalancer, q);
        };
    });
    auto *u = r->add_subcommand("update", "Replace the VIPs of a load balancer");
    u->add_option("NAME", o.name)->required();
    u->add_option("--vip", o.vips, "VIP address (repeatable; replaces the list)")->required();
    u->callback([] {
        action = [] {
            v1::UpdateLoadBalancerRequest q;
            q.mutable_load_balancer()->set_name(o.name);
            for (const auto &v : o.vips) q.mutable_load_balancer()->add_vips(v);
            q.mutable_update_mask()->add_paths("vips");
            return call(&v1::LoadBalancing::Stub::UpdateLoadBalancer, q);
        };
    });
    auto *d = r->add_subcommand("delete", "Delete a load balancer (it must be empty)");
    d->add_option("NAME", o.name)->required();
    d->callback([] {
        action = [] {
            v1::DeleteLoadBalancerRequest q;
            q.set_name(o.name);
            return call(&v1::LoadBalancing::Stub::DeleteLoadBalancer, q);
        };
    });
}

// ---------------------------------------------------------------- listeners

void listener_commands(CLI::App &app) {
    auto *r = app.add_subcommand("listener", "Listeners")->require_subcommand(1);
    auto mode_check = CLI::IsMember({"nat", "dsr", "tunnel"});
    auto *c = r->add_subcommand("create", "Create a listener");
    c->add_option("NAME", o.name)->required();
    c->add_option("--lb", o.lb)->required();
    c->add_option("--protocol", o.protocol, "tcp (udp later)")
        ->check(CLI::IsMember({"tcp", "udp"}));
    c->add_option("--port", o.port, "1-65535")->required();
    c->add_option("--mode", o.mode, "nat (default), dsr or tunnel")->check(mode_check);
    c->add_option("--backend-service", o.bs)->required();
    auto mode_of = [] {
        return o.mode == "dsr"      ? v1::DSR
               : o.mode == "tunnel" ? v1::TUNNEL
               : o.mode == "nat"    ? v1::NAT
                                    : v1::FORWARDING_MODE_UNSPECIFIED;
    };
    c->callback([mode_of] {
        action = [mode_of] {
            v1::CreateListenerRequest q;
            q.set_load_balancer(o.lb);
            q.set_listener_id(o.name);
            auto *l = q.mutable_listener();
            l->set_protocol(protocol_of(o.protocol));
            l->set_port(o.port);
            l->set_mode(mode_of());
            l->set_backend_service(o.bs);
            return call(&v1::LoadBalancing::Stub::CreateListener, q);
        };
    });
    auto *l = r->add_subcommand("list", "List the listeners of a load balancer");
    l->add_option("--lb", o.lb)->required();
    add_paging(l);
    l->callback([] {
        action = [] {
            v1::ListListenersRequest q;
            q.set_load_balancer(o.lb);
            q.set_page_size(o.page_size);
            q.set_page_token(o.page_token);
            return call(&v1::LoadBalancing::Stub::ListListeners, q);
        };
    });
    auto *s = r->add_subcommand("show", "Show a listener");
    s->add_option("NAME", o.name)->required();
    s->add_option("--lb", o.lb)->required();
    s->callback([] {
        action = [] {
            v1::GetListenerRequest q;
            q.set_load_balancer(o.lb);
            q.set_name(o.name);
            return call(&v1::LoadBalancing::Stub::GetListener, q);
        };
    });
    auto *u = r->add_subcommand("update", "Change a listener's mode or backend service");
    u->add_option("NAME", o.name)->required();
    u->add_option("--lb", o.lb)->required();
    u->add_option("--mode", o.mode)->check(mode_check);
    u->add_option("--backend-service", o.bs);
    u->callback([mode_of] {
        action = [mode_of] {
            v1::UpdateListenerRequest q;
            auto *l = q.mutable_listener();
            l->set_load_balancer(o.lb);
            l->set_name(o.name);
            if (given("--mode")) {
                l->set_mode(mode_of());
                q.mutable_update_mask()->add_paths("mode");
            }
            if (given("--backend-service")) {
                l->set_backend_service(o.bs);
                q.mutable_update_mask()->add_paths("backend_service");
            }
            if (q.update_mask().paths_size() == 0)
                throw CLI::ValidationError("update", "give --mode and/or --backend-service");
            return call(&v1::LoadBalancing::Stub::UpdateListener, q);
        };
    });
    auto *d = r->add_subcommand("delete", "Delete a listener");
    d->add_option("NAME", o.name)->required();
    d->add_option("--lb", o.lb)->required();
    d->callback([] {
        action = [] {
            v1::DeleteListenerRequest q;
            q.set_load_balancer(o.lb);
            q.set_name(o.name);
            return call(&v1::LoadBalancing::Stub::DeleteListener, q);
        };
    });
}

// ---------------------------------------------------------------- stats

static void stats_commands(CLI::App &app) {
    auto *s = app.add_subcommand("stats", "Traffic counters (needs a connected dataplane)");
    s->add_option("--lb", o.lb, "Only this load balancer");
    s->callback([] {
        action = [] {
            v1::GetStatsRequest q;
            q.set_load_balancer(o.lb);
            return call(&v1::LoadBalancing::Stub::GetStats, q);
        };
    });
    auto *c = app.add_subcommand("conns", "Active connections (needs a connected dataplane)");
    c->add_option("--lb", o.lb, "Only this load balancer");
    c->add_option("--limit", o.limit, "At most this many (0 = 100, at most 10000)");
    c->callback([] {
        action = [] {
            v1::ListConnectionsRequest q;
            q.set_load_balancer(o.lb);
            q.set_limit(o.limit);
            return call(&v1::LoadBalancing::Stub::ListConnections, q);
        };
    });
}

/** gRPC's own log lines (e.g. a failed TLS handshake) stay out: errors are one line. */
static void quiet_grpc_log(gpr_log_func_args *) {}

/** The whole of a file named by `flag`; throws CLI::ValidationError when unreadable. */
static std::string read_file(const std::string &flag, const std::string &path) {
    std::ifstream f(path);
    if (!f) throw CLI::ValidationError(flag, "cannot read " + path + ": " + std::strerror(errno));
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/** Insecure, or TLS when any --tls-* flag is given (a unix: server is never TLS). */
static std::shared_ptr<grpc::Channel> make_channel() {
    bool tls = !o.tls_ca.empty() || !o.tls_cert.empty() || !o.tls_key.empty() ||
               !o.tls_server_name.empty();
    if (!tls) return grpc::CreateChannel(o.server, grpc::InsecureChannelCredentials());
    if (o.tls_cert.empty() != o.tls_key.empty())
        throw CLI::ValidationError("--tls-cert", "--tls-cert and --tls-key go together");
    if (o.server.rfind("unix:", 0) == 0)
        throw CLI::ValidationError("--tls-ca", "TLS is for TCP servers, not " + o.server);
    grpc::SslCredentialsOptions ssl;
    if (!o.tls_ca.empty()) ssl.pem_root_certs = read_file("--tls-ca", o.tls_ca);
    if (!o.tls_cert.empty()) {
        ssl.pem_cert_chain = read_file("--tls-cert", o.tls_cert);
        ssl.pem_private_key = read_file("--tls-key", o.tls_key);
    }
    grpc::ChannelArguments args;
    if (!o.tls_server_name.empty()) args.SetSslTargetNameOverride(o.tls_server_name);
    return grpc::CreateCustomChannel(o.server, grpc::SslCredentials(ssl), args);
}

}  // namespace nlbctl

int main(int argc, char **argv) {
    using namespace nlbctl;
    CLI::App app{"nlbctl: manage nlb load balancers through nlb-control"};
    app_root = &app;
    const char *env = std::getenv("NLB_SERVER");
    o.server = env && *env ? env : "127.0.0.1:50051";
    app.add_option("--server", o.server,
                   "nlb-control address: HOST:PORT or unix:/path "
                   "(default $NLB_SERVER, else 127.0.0.1:50051)");
    app.add_option("--tls-ca", o.tls_ca,
                   "PEM CA certificate(s) that signed the server's certificate: talk TLS "
                   "(default roots: the system's)");
    app.add_option("--tls-cert", o.tls_cert,
                   "PEM client certificate for mutual TLS (with --tls-key)");
    app.add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert");
    app.add_option("--tls-server-name", o.tls_server_name,
                   "Name to check the server's certificate against (default: the host of "
                   "--server)");
    app.add_option("--output", o.output, "table or json")->check(CLI::IsMember({"table", "json"}));
    app.require_subcommand(1);
    app.fallthrough();  // global options are accepted after RESOURCE VERB too
    lb_commands(app);
    listener_commands(app);
    backend_service_commands(app);
    server_group_commands(app);
    stats_commands(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (!std::getenv("GRPC_VERBOSITY")) gpr_set_log_function(quiet_grpc_log);
    try {
        stub = v1::LoadBalancing::NewStub(make_channel());
        return action ? action() : 2;
    } catch (const CLI::Error &e) {
        std::cerr << "nlbctl: " << e.what() << "\n";
        return 2;
    }
}
