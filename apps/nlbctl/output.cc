/* SPDX-License-Identifier: Apache-2.0 */
#include <algorithm>
#include "output.h"

#include <google/protobuf/empty.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <vector>

namespace nlbctl {

namespace v1 = nlb::v1;

namespace {

using row = std::vector<std::string>;

void table(const row &head, const std::vector<row> &rows) {
    std::vector<size_t> w(head.size());
    for (size_t i = 0; i < head.size(); i++) w[i] = head[i].size();
    for (const auto &r : rows)
        for (size_t i = 0; i < r.size() && i < w.size(); i++) w[i] = std::max(w[i], r[i].size());
    auto line = [&](const row &r) {
        std::string s;
        for (size_t i = 0; i < r.size(); i++) {
            s += r[i];
            if (i + 1 < r.size()) s += std::string(w[i] - r[i].size() + 2, ' ');
        }
        std::cout << s << "\n";
    };
    line(head);
    for (const auto &r : rows) line(r);
}

void kv(const std::vector<std::pair<std::string, std::string>> &items) {
    size_t w = 0;
    for (const auto &[k, v] : items) w = std::max(w, k.size());
    for (const auto &[k, v] : items)
        std::cout << k << ":" << std::string(w - k.size() + 1, ' ') << v << "\n";
}

std::string opt(bool has, int v, const std::string &none = "-") {
    return has ? std::to_string(v) : none;
}

std::string join(const google::protobuf::RepeatedPtrField<std::string> &v) {
    std::string s;
    for (const auto &x : v) s += (s.empty() ? "" : ",") + x;
    return s.empty() ? "-" : s;
}

std::string method(v1::HealthCheckMethod m) {
    return m == v1::HEALTH_CHECK_HTTP ? "HTTP" : m == v1::HEALTH_CHECK_TCP ? "TCP" : "-";
}

std::string codes(const v1::HealthCheck &hc) {
    std::string s;
    for (int c : hc.normal_codes())
        s += std::string(s.empty() ? "" : ",") + (c == v1::STATUS_2XX   ? "2xx"
                                                  : c == v1::STATUS_3XX ? "3xx"
                                                                        : "4xx");
    return s.empty() ? "-" : s;
}

row lb_row(const v1::LoadBalancer &lb) {
    return {lb.name(), join(lb.vips()), lb.region(), lb.vpc(), lb.zone()};
}
const row lb_head = {"NAME", "VIPS", "REGION", "VPC", "ZONE"};

row listener_row(const v1::Listener &l) {
    return {l.name(), v1::Protocol_Name(l.protocol()), std::to_string(l.port()),
            v1::ForwardingMode_Name(l.mode()), l.backend_service()};
}
const row listener_head = {"NAME", "PROTOCOL", "PORT", "MODE", "BACKEND-SERVICE"};

row bs_row(const v1::BackendService &b) {
    return {b.name(),
            v1::Protocol_Name(b.protocol()),
            std::to_string(b.port()),
            v1::Scheduler_Name(b.scheduler()),
            method(b.health_check().method()),
            b.server_group().empty() ? "-" : b.server_group()};
}
const row bs_head = {"NAME", "PROTOCOL", "PORT", "SCHEDULER", "HEALTH-CHECK", "SERVER-GROUP"};

row sg_row(const v1::ServerGroup &g) {
    return {g.name(), v1::ServerGroupType_Name(g.type()), g.region(), g.vpc(),
            g.zone(), std::to_string(g.instances_size())};
}
const row sg_head = {"NAME", "TYPE", "REGION", "VPC", "ZONE", "INSTANCES"};

row instance_row(const v1::Instance &in) {
    return {in.id(), in.address(), opt(in.has_port(), in.port(), "(service port)"),
            opt(in.has_weight(), in.weight())};
}

void health_rows(const google::protobuf::RepeatedPtrField<v1::InstanceHealth> &hs) {
    std::vector<row> rows;
    for (const auto &h : hs) {
        row r = instance_row(h.instance());
        r.push_back(v1::HealthStatus_Name(h.status()));
        std::string reason = h.reason().empty() ? "-" : h.reason();
        if (h.status() == v1::DRAINING && h.draining_deadline_unix() > 0) {
            char when[32];
            time_t t = static_cast<time_t>(h.draining_deadline_unix());
            struct tm tm;
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
            const long left = std::max<long>(0, static_cast<long>(t - time(nullptr)));
            reason = std::to_string(left) + "s left (until " + when + ")";
        }
        r.push_back(reason);
        r.push_back(std::to_string(h.active_connections()));
        rows.push_back(r);
    }
    table({"ID", "ADDRESS", "PORT", "WEIGHT", "STATUS", "REASON", "CONNECTIONS"}, rows);
}

void show_bs(const v1::BackendService &b) {
    const auto &hc = b.health_check();
    kv({{"name", b.name()},
        {"load balancer", b.load_balancer()},
        {"protocol", v1::Protocol_Name(b.protocol())},
        {"port", std::to_string(b.port())},
        {"scheduler", v1::Scheduler_Name(b.scheduler())},
        {"session persistence",
         b.session_persistence() ? "on (" + std::to_string(b.persistence_timeout_seconds()) + " s)"
                                 : "off"},
        {"connection draining", std::to_string(b.drain_timeout_seconds()) + " s"},
        {"health check", method(hc.method())},
        {"  port", opt(hc.has_port(), hc.port(), "(instance port)")},
        {"  response timeout", std::to_string(hc.timeout_seconds()) + " s"},
        {"  interval", std::to_string(hc.interval_seconds()) + " s"},
        {"  unhealthy threshold", std::to_string(hc.unhealthy_threshold())},
        {"  healthy threshold", std::to_string(hc.healthy_threshold())},
        {"  normal codes", codes(hc)},
        {"  path", hc.has_path() ? hc.path() : "-"},
        {"server group", b.server_group().empty() ? "-" : b.server_group()}});
}

}  // namespace

std::string to_json(const google::protobuf::Message &m) {
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = true;
    o.always_print_primitive_fields = true;
    o.preserve_proto_field_names = true;
    std::string s;
    (void)google::protobuf::util::MessageToJsonString(m, &s, o);
    return s;
}

void print(const google::protobuf::Message &m, format fmt) {
    if (fmt == format::json) {
        std::cout << to_json(m);
        return;
    }
    if (auto *lb = dynamic_cast<const v1::LoadBalancer *>(&m)) {
        kv({{"name", lb->name()},
            {"vips", join(lb->vips())},
            {"region", lb->region()},
            {"vpc", lb->vpc()},
            {"zone", lb->zone()}});
    } else if (auto *r = dynamic_cast<const v1::ListLoadBalancersResponse *>(&m)) {
        std::vector<row> rows;
        for (const auto &x : r->load_balancers()) rows.push_back(lb_row(x));
        table(lb_head, rows);
    } else if (auto *l = dynamic_cast<const v1::Listener *>(&m)) {
        kv({{"name", l->name()},
            {"load balancer", l->load_balancer()},
            {"protocol", v1::Protocol_Name(l->protocol())},
            {"port", std::to_string(l->port())},
            {"mode", v1::ForwardingMode_Name(l->mode())},
            {"backend service", l->backend_service()}});
    } else if (auto *r = dynamic_cast<const v1::ListListenersResponse *>(&m)) {
        std::vector<row> rows;
        for (const auto &x : r->listeners()) rows.push_back(listener_row(x));
        table(listener_head, rows);
    } else if (auto *b = dynamic_cast<const v1::BackendService *>(&m)) {
        show_bs(*b);
    } else if (auto *r = dynamic_cast<const v1::ListBackendServicesResponse *>(&m)) {
        std::vector<row> rows;
        for (const auto &x : r->backend_services()) rows.push_back(bs_row(x));
        table(bs_head, rows);
    } else if (auto *h = dynamic_cast<const v1::BackendServiceHealth *>(&m)) {
        std::vector<std::pair<std::string, std::string>> head{
            {"backend service", h->load_balancer() + "/" + h->backend_service()},
            {"server group", h->server_group().empty() ? "-" : h->server_group()},
            {"failing open", h->failing_open() ? "yes (no healthy instance)" : "no"}};
        for (const auto &o : h->unreachable_dataplanes()) {
            char when[32];
            time_t t = static_cast<time_t>(o.unreachable_since_unix());
            struct tm tm;
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
            const long ago = std::max<long>(0, static_cast<long>(time(nullptr) - t));
            head.push_back({"dataplane", o.dataplane() + " unreachable since " + when + " (" +
                                             std::to_string(ago) + " s; " + o.error() + ")"});
        }
        kv(head);
        health_rows(h->instances());
    } else if (auto *g = dynamic_cast<const v1::ServerGroup *>(&m)) {
        kv({{"name", g->name()},
            {"type", v1::ServerGroupType_Name(g->type())},
            {"region", g->region()},
            {"vpc", g->vpc()},
            {"zone", g->zone()}});
        std::vector<row> rows;
        for (const auto &in : g->instances()) rows.push_back(instance_row(in));
        table({"ID", "ADDRESS", "PORT", "WEIGHT"}, rows);
    } else if (auto *v = dynamic_cast<const v1::ServerGroupView *>(&m)) {
        const auto &g = v->server_group();
        kv({{"name", g.name()},
            {"type", v1::ServerGroupType_Name(g.type())},
            {"region", g.region()},
            {"vpc", g.vpc()},
            {"zone", g.zone()},
            {"used by", join(v->backend_services())}});
        health_rows(v->instances());
    } else if (auto *r = dynamic_cast<const v1::ListServerGroupsResponse *>(&m)) {
        std::vector<row> rows;
        for (const auto &x : r->server_groups()) rows.push_back(sg_row(x));
        table(sg_head, rows);
    } else if (dynamic_cast<const google::protobuf::Empty *>(&m) == nullptr) {
        std::cout << to_json(m);
    }
    std::string token;
    if (auto *d = m.GetDescriptor()->FindFieldByName("next_page_token"))
        token = m.GetReflection()->GetString(m, d);
    if (!token.empty()) std::cout << "(more: --page-token " << token << ")\n";
}

int print_error(const grpc::Status &st) {
    static const char *names[] = {"OK",
                                  "CANCELLED",
                                  "UNKNOWN",
                                  "INVALID_ARGUMENT",
                                  "DEADLINE_EXCEEDED",
                                  "NOT_FOUND",
                                  "ALREADY_EXISTS",
                                  "PERMISSION_DENIED",
                                  "RESOURCE_EXHAUSTED",
                                  "FAILED_PRECONDITION",
                                  "ABORTED",
                                  "OUT_OF_RANGE",
                                  "UNIMPLEMENTED",
                                  "INTERNAL",
                                  "UNAVAILABLE",
                                  "DATA_LOSS",
                                  "UNAUTHENTICATED"};
    int c = static_cast<int>(st.error_code());
    std::fprintf(stderr, "%s: %s\n", c >= 0 && c <= 16 ? names[c] : "UNKNOWN",
                 st.error_message().c_str());
    return 1;
}

}  // namespace nlbctl
