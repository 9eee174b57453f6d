/* SPDX-License-Identifier: Apache-2.0 */
/* nlbctl backend-service ...: create, list, show, update, delete, set-server-group, health. */
#include "cli.h"

#include <sstream>

namespace nlbctl {

namespace {

/** Options shared by create and update; update sends only the ones given. */
void add_fields(CLI::App *c) {
    c->add_option("--port", o.port, "Backend port 1-65535 (immutable after create)");
    c->add_option("--protocol", o.protocol, "tcp (immutable after create)")
        ->check(CLI::IsMember({"tcp", "udp"}));
    c->add_option("--scheduler", o.scheduler, "wrr (default), wlc or source-ip")
        ->check(CLI::IsMember({"wrr", "wlc", "source-ip"}));
    c->add_option("--persistence", o.persistence,
                  "Session persistence: off (default), on (1440 s) or SECONDS (1-3600)");
    c->add_option("--drain", o.drain, "Connection draining timeout 0-3600 s (default 300)");
    c->add_option("--hc-method", o.hc_method, "Health check: tcp (default) or http")
        ->check(CLI::IsMember({"tcp", "http"}));
    c->add_option("--hc-port", o.hc_port, "Health check port 1-65535 (default: traffic port)");
    c->add_option("--hc-timeout", o.hc_timeout, "Response timeout 2-60 s (default 2)");
    c->add_option("--hc-interval", o.hc_interval, "Check interval 5-300 s (default 5)");
    c->add_option("--hc-unhealthy", o.hc_unhealthy, "Unhealthy threshold 1-5 (default 3)");
    c->add_option("--hc-healthy", o.hc_healthy, "Healthy threshold 1-5 (default 3)");
    c->add_option("--hc-codes", o.hc_codes, "HTTP only: normal codes, e.g. 2xx,3xx (default)");
    c->add_option("--hc-path", o.hc_path, "HTTP only: check path (default /)");
    c->add_option("--server-group", o.sg, "Server group to associate (\"\" = none)");
}

/** Copies the given flags into `bs` and names them in `mask`. */
void fill(v1::BackendService *bs, google::protobuf::FieldMask *mask) {
    auto set = [&](const char *flag, const char *path, auto &&apply) {
        if (given(flag)) {
            apply();
            mask->add_paths(path);
        }
    };
    auto *hc = bs->mutable_health_check();
    set("--port", "port", [&] { bs->set_port(o.port); });
    set("--protocol", "protocol",
        [&] { bs->set_protocol(o.protocol == "udp" ? v1::UDP : v1::TCP); });
    set("--scheduler", "scheduler", [&] {
        bs->set_scheduler(o.scheduler == "wlc"         ? v1::WLC
                          : o.scheduler == "source-ip" ? v1::SOURCE_IP
                                                       : v1::WRR);
    });
    if (given("--persistence")) {
        mask->add_paths("session_persistence");
        if (o.persistence == "off") {
            bs->set_session_persistence(false);
        } else if (o.persistence == "on") {
            bs->set_session_persistence(true);
        } else {
            try {
                bs->set_persistence_timeout_seconds(std::stoi(o.persistence));
            } catch (const std::logic_error &) {
                throw CLI::ValidationError("--persistence",
                                           "must be off, on or a number of seconds");
            }
            bs->set_session_persistence(true);
            mask->add_paths("persistence_timeout_seconds");
        }
    }
    set("--drain", "drain_timeout_seconds", [&] { bs->set_drain_timeout_seconds(o.drain); });
    set("--hc-method", "health_check.method", [&] {
        hc->set_method(o.hc_method == "http" ? v1::HEALTH_CHECK_HTTP : v1::HEALTH_CHECK_TCP);
    });
    set("--hc-port", "health_check.port", [&] { hc->set_port(o.hc_port); });
    set("--hc-timeout", "health_check.timeout_seconds",
        [&] { hc->set_timeout_seconds(o.hc_timeout); });
    set("--hc-interval", "health_check.interval_seconds",
        [&] { hc->set_interval_seconds(o.hc_interval); });
    set("--hc-unhealthy", "health_check.unhealthy_threshold",
        [&] { hc->set_unhealthy_threshold(o.hc_unhealthy); });
    set("--hc-healthy", "health_check.healthy_threshold",
        [&] { hc->set_healthy_threshold(o.hc_healthy); });
    set("--hc-codes", "health_check.normal_codes", [&] {
        std::stringstream ss(o.hc_codes);
        std::string c;
        while (std::getline(ss, c, ',')) {
            if (c == "2xx")
                hc->add_normal_codes(v1::STATUS_2XX);
            else if (c == "3xx")
                hc->add_normal_codes(v1::STATUS_3XX);
            else if (c == "4xx")
                hc->add_normal_codes(v1::STATUS_4XX);
            else
                throw CLI::ValidationError("--hc-codes", "\"" + c + "\" is not 2xx, 3xx or 4xx");
        }
    });
    set("--hc-path", "health_check.path", [&] { hc->set_path(o.hc_path); });
    set("--server-group", "server_group", [&] { bs->set_server_group(o.sg); });
}

}  // namespace

void backend_service_commands(CLI::App &app) {
    auto *r = app.add_subcommand("backend-service", "Backend services of a load balancer")
                  ->require_subcommand(1);
    auto *c = r->add_subcommand("create", "Create a backend service");
    c->add_option("NAME", o.name)->required();
    c->add_option("--lb", o.lb)->required();
    add_fields(c);
    c->callback([] {
        action = [] {
            if (!given("--port")) throw CLI::ValidationError("--port", "is required");
            v1::CreateBackendServiceRequest q;
            q.set_load_balancer(o.lb);
            q.set_backend_service_id(o.name);
            google::protobuf::FieldMask unused;
            fill(q.mutable_backend_service(), &unused);
            return call(&v1::LoadBalancing::Stub::CreateBackendService, q);
        };
    });
    auto *l = r->add_subcommand("list", "List the backend services of a load balancer");
    l->add_option("--lb", o.lb)->required();
    add_paging(l);
    l->callback([] {
        action = [] {
            v1::ListBackendServicesRequest q;
            q.set_load_balancer(o.lb);
            q.set_page_size(o.page_size);
            q.set_page_token(o.page_token);
            return call(&v1::LoadBalancing::Stub::ListBackendServices, q);
        };
    });
    auto *s = r->add_subcommand("show", "Show a backend service's configuration");
    s->add_option("NAME", o.name)->required();
    s->add_option("--lb", o.lb)->required();
    s->callback([] {
        action = [] {
            v1::GetBackendServiceRequest q;
            q.set_load_balancer(o.lb);
            q.set_name(o.name);
            return call(&v1::LoadBalancing::Stub::GetBackendService, q);
        };
    });
    auto *u = r->add_subcommand("update", "Edit a backend service (only the options given)");
    u->add_option("NAME", o.name)->required();
    u->add_option("--lb", o.lb)->required();
    add_fields(u);
    u->callback([] {
        action = [] {
            v1::UpdateBackendServiceRequest q;
            auto *bs = q.mutable_backend_service();
            bs->set_load_balancer(o.lb);
            bs->set_name(o.name);
            fill(bs, q.mutable_update_mask());
            if (q.update_mask().paths_size() == 0)
                throw CLI::ValidationError("update", "give at least one option to change");
            return call(&v1::LoadBalancing::Stub::UpdateBackendService, q);
        };
    });
    auto *d =
        r->add_subcommand("delete", "Delete a backend service (not while a listener uses it)");
    d->add_option("NAME", o.name)->required();
    d->add_option("--lb", o.lb)->required();
    d->callback([] {
        action = [] {
            v1::DeleteBackendServiceRequest q;
            q.set_load_balancer(o.lb);
            q.set_name(o.name);
            return call(&v1::LoadBalancing::Stub::DeleteBackendService, q);
        };
    });
    auto *g = r->add_subcommand("set-server-group",
                                "Associate, replace or (with --none) remove the server group");
    g->add_option("NAME", o.name)->required();
    g->add_option("--lb", o.lb)->required();
    auto *sg = g->add_option("--server-group", o.sg, "The new server group");
    static bool none_flag = false;
    auto *none = g->add_flag("--none", none_flag, "Disassociate the server group");
    sg->excludes(none);
    g->callback([] {
        action = [] {
            if (!given("--server-group") && !given("--none"))
                throw CLI::ValidationError("set-server-group", "give --server-group SG or --none");
            v1::SetServerGroupRequest q;
            q.set_load_balancer(o.lb);
            q.set_backend_service(o.name);
            q.set_server_group(given("--none") ? "" : o.sg);
            return call(&v1::LoadBalancing::Stub::SetServerGroup, q);
        };
    });
    auto *h = r->add_subcommand(
        "health", "Show the server group with each instance's health and connections");
    h->add_option("NAME", o.name)->required();
    h->add_option("--lb", o.lb)->required();
    h->callback([] {
        action = [] {
            v1::GetBackendServiceHealthRequest q;
            q.set_load_balancer(o.lb);
            q.set_backend_service(o.name);
            return call(&v1::LoadBalancing::Stub::GetBackendServiceHealth, q);
        };
    });
}

}  // namespace nlbctl
