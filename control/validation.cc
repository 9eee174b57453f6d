/* SPDX-License-Identifier: Apache-2.0 */
#include "validation.h"

#include <arpa/inet.h>

#include <set>

namespace nlb::control {

namespace {

std::string quote(const std::string &s) {
    return "\"" + s + "\"";
}

bool id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

void check_placement(const std::string &prefix, const std::string &region, const std::string &vpc,
                     const std::string &zone, violations &out) {
    check_id(prefix + ".region", region, out);
    check_id(prefix + ".vpc", vpc, out);
    check_id(prefix + ".zone", zone, out);
}

}  // namespace

void check_id(const std::string &field, const std::string &value, violations &out) {
    if (value.empty()) {
        out.push_back({field, "is required (1-64 characters of [A-Za-z0-9._-])"});
        return;
    }
    bool ok = value.size() <= static_cast<size_t>(id_max_length);
    for (char c : value) ok = ok && id_char(c);
    if (!ok)
        out.push_back({field, "value " + quote(value) +
                                  " is invalid: must be 1-64 characters of [A-Za-z0-9._-]"});
}

void check_range(const std::string &field, int64_t value, int64_t lo, int64_t hi, violations &out) {
    if (value < lo || value > hi)
        out.push_back({field, "value " + std::to_string(value) + " is out of range: must be " +
                                  std::to_string(lo) + "-" + std::to_string(hi)});
}

std::optional<std::string> canonical_ip(const std::string &text) {
    unsigned char buf[16];
    char out[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, text.c_str(), buf) == 1)
        return std::string(inet_ntop(AF_INET, buf, out, sizeof(out)));
    if (inet_pton(AF_INET6, text.c_str(), buf) == 1)
        return std::string(inet_ntop(AF_INET6, buf, out, sizeof(out)));
    return std::nullopt;
}

void check_path(const std::string &field, const std::string &path, violations &out) {
    if (path.empty() || path[0] != '/') {
        out.push_back({field, "value " + quote(path) + " is invalid: must start with \"/\""});
        return;
    }
    if (path.size() > static_cast<size_t>(max_path_length)) {
        out.push_back({field, "value " + quote(path) + " is " + std::to_string(path.size()) +
                                  " characters long: at most 100 are allowed"});
        return;
    }
    for (char c : path) {
        if (c < 0x21 || c > 0x7e) {
            out.push_back({field, "value " + quote(path) +
                                      " is invalid: only printable ASCII without spaces"});
            return;
        }
    }
    int levels = 0;
    for (size_t i = 0; i < path.size(); i++)
        if (path[i] != '/' && (i == 0 || path[i - 1] == '/')) levels++;
    if (levels > max_path_levels)
        out.push_back({field, "value " + quote(path) + " has " + std::to_string(levels) +
                                  " levels: at most 5 are allowed"});
}

int page_size_or_default(int32_t page_size, violations &out) {
    if (page_size < 0) {
        out.push_back({"page_size", "value " + std::to_string(page_size) +
                                        " is invalid: must be 0 (default 50) or positive"});
        return 0;
    }
    if (page_size == 0) return default_page_size;
    return page_size > max_page_size ? max_page_size : page_size;
}

violations validate_load_balancer(const v1::LoadBalancer &lb, const std::string &prefix) {
    violations out;
    if (lb.vips_size() == 0)
        out.push_back({prefix + ".vips", "at least one VIP address is required"});
    if (lb.vips_size() > max_vips)
        out.push_back({prefix + ".vips", std::to_string(lb.vips_size()) +
                                             " addresses given: at most 16 are allowed"});
    std::set<std::string> seen;
    for (int i = 0; i < lb.vips_size(); i++) {
        std::string field = prefix + ".vips[" + std::to_string(i) + "]";
        auto ip = canonical_ip(lb.vips(i));
        if (!ip)
            out.push_back(
                {field, "value " + quote(lb.vips(i)) + " is not an IPv4 or IPv6 address"});
        else if (!seen.insert(*ip).second)
            out.push_back({field, "value " + quote(lb.vips(i)) + " is given twice"});
    }
    check_placement(prefix, lb.region(), lb.vpc(), lb.zone(), out);
    return out;
}

void normalize_load_balancer(v1::LoadBalancer *lb) {
    for (auto &v : *lb->mutable_vips()) v = canonical_ip(v).value_or(v);
}

violations validate_listener(const v1::Listener &l, const std::string &prefix) {
    violations out;
    if (!v1::Protocol_IsValid(l.protocol()))
        out.push_back({prefix + ".protocol", "value " + std::to_string(l.protocol()) +
                                                 " is invalid: must be TCP or UDP"});
    check_range(prefix + ".port", l.port(), 1, 65535, out);
    if (!v1::ForwardingMode_IsValid(l.mode()))
        out.push_back({prefix + ".mode", "value " + std::to_string(l.mode()) +
                                             " is invalid: must be NAT, DSR or TUNNEL"});
    check_id(prefix + ".backend_service", l.backend_service(), out);
    return out;
}

void apply_listener_defaults(v1::Listener *l) {
    if (l->protocol() == v1::PROTOCOL_UNSPECIFIED) l->set_protocol(v1::TCP);
    if (l->mode() == v1::FORWARDING_MODE_UNSPECIFIED) l->set_mode(v1::NAT);
}

violations validate_backend_service(const v1::BackendService &bs, const std::string &prefix) {
    violations out;
    if (bs.protocol() != v1::PROTOCOL_UNSPECIFIED && bs.protocol() != v1::TCP)
        out.push_back({prefix + ".protocol",
                       "value " +
                           (v1::Protocol_IsValid(bs.protocol()) ? v1::Protocol_Name(bs.protocol())
                                                                : std::to_string(bs.protocol())) +
                           " is invalid: a backend service supports TCP only"});
    if (bs.port() == 0)
        out.push_back({prefix + ".port", "is required (1-65535)"});
    else
        check_range(prefix + ".port", bs.port(), 1, 65535, out);
    if (!v1::Scheduler_IsValid(bs.scheduler()))
        out.push_back({prefix + ".scheduler", "value " + std::to_string(bs.scheduler()) +
                                                  " is invalid: must be WRR, WLC or SOURCE_IP"});
    if (bs.has_persistence_timeout_seconds())
        check_range(prefix + ".persistence_timeout_seconds", bs.persistence_timeout_seconds(), 1,
                    max_persistence_s, out);
    if (bs.has_drain_timeout_seconds())
        check_range(prefix + ".drain_timeout_seconds", bs.drain_timeout_seconds(), 0, max_drain_s,
                    out);
    if (!bs.server_group().empty()) check_id(prefix + ".server_group", bs.server_group(), out);

    const auto &hc = bs.health_check();
    const std::string hp = prefix + ".health_check";
    if (!v1::HealthCheckMethod_IsValid(hc.method()))
        out.push_back({hp + ".method", "value " + std::to_string(hc.method()) +
                                           " is invalid: must be TCP or HTTP"});
    if (hc.has_port()) check_range(hp + ".port", hc.port(), 1, 65535, out);
    if (hc.has_timeout_seconds())
        check_range(hp + ".timeout_seconds", hc.timeout_seconds(), min_hc_timeout_s,
                    max_hc_timeout_s, out);
    if (hc.has_interval_seconds())
        check_range(hp + ".interval_seconds", hc.interval_seconds(), min_hc_interval_s,
                    max_hc_interval_s, out);
    if (hc.has_unhealthy_threshold())
        check_range(hp + ".unhealthy_threshold", hc.unhealthy_threshold(), min_threshold,
                    max_threshold, out);
    if (hc.has_healthy_threshold())
        check_range(hp + ".healthy_threshold", hc.healthy_threshold(), min_threshold, max_threshold,
                    out);
    const bool http = hc.method() == v1::HEALTH_CHECK_HTTP;
    if (!http && hc.normal_codes_size() > 0)
        out.push_back(
            {hp + ".normal_codes", "is HTTP only: not allowed with health check method TCP"});
    if (!http && hc.has_path())
        out.push_back({hp + ".path", "value " + quote(hc.path()) +
                                         " is HTTP only: not allowed with health check "
                                         "method TCP"});
    if (http) {
        std::set<int> seen;
        for (int i = 0; i < hc.normal_codes_size(); i++) {
            int c = hc.normal_codes(i);
            std::string f = hp + ".normal_codes[" + std::to_string(i) + "]";
            if (c == v1::STATUS_CODE_CLASS_UNSPECIFIED || !v1::StatusCodeClass_IsValid(c))
                out.push_back(
                    {f, "value " + std::to_string(c) + " is invalid: must be 2xx, 3xx or 4xx"});
            else if (!seen.insert(c).second)
                out.push_back({f, "value " + v1::StatusCodeClass_Name(c) + " is given twice"});
        }
        if (hc.has_path()) check_path(hp + ".path", hc.path(), out);
    }
    return out;
}

void apply_backend_service_defaults(v1::BackendService *bs) {
    if (bs->protocol() == v1::PROTOCOL_UNSPECIFIED) bs->set_protocol(v1::TCP);
    if (bs->scheduler() == v1::SCHEDULER_UNSPECIFIED) bs->set_scheduler(v1::WRR);
    if (!bs->has_persistence_timeout_seconds())
        bs->set_persistence_timeout_seconds(default_persistence_s);
    if (!bs->has_drain_timeout_seconds()) bs->set_drain_timeout_seconds(default_drain_s);
    auto *hc = bs->mutable_health_check();
    if (hc->method() == v1::HEALTH_CHECK_METHOD_UNSPECIFIED) hc->set_method(v1::HEALTH_CHECK_TCP);
    if (!hc->has_timeout_seconds()) hc->set_timeout_seconds(min_hc_timeout_s);
    if (!hc->has_interval_seconds()) hc->set_interval_seconds(min_hc_interval_s);
    if (!hc->has_unhealthy_threshold()) hc->set_unhealthy_threshold(default_threshold);
    if (!hc->has_healthy_threshold()) hc->set_healthy_threshold(default_threshold);
    if (hc->method() == v1::HEALTH_CHECK_HTTP) {
        if (hc->normal_codes_size() == 0) {
            hc->add_normal_codes(v1::STATUS_2XX);
            hc->add_normal_codes(v1::STATUS_3XX);
        }
        if (!hc->has_path()) hc->set_path("/");
    }
}

violations validate_instance(const v1::Instance &in, v1::ServerGroupType type,
                             const std::string &prefix) {
    violations out;
    check_id(prefix + ".id", in.id(), out);
    if (!canonical_ip(in.address()))
        out.push_back({prefix + ".address",
                       "value " + quote(in.address()) + " is not an IPv4 or IPv6 address"});
    if (in.has_port()) {
        if (type == v1::AVAILABILITY)
            out.push_back({prefix + ".port",
                           "value " + std::to_string(in.port()) +
                               " is not allowed: instances of an availability group use the "
                               "backend service port"});
        else
            check_range(prefix + ".port", in.port(), 1, 65535, out);
    }
    if (in.has_weight()) check_range(prefix + ".weight", in.weight(), 0, max_weight, out);
    return out;
}

void apply_instance_defaults(v1::Instance *in) {
    in->set_address(canonical_ip(in->address()).value_or(in->address()));
    if (!in->has_weight()) in->set_weight(default_weight);
}

violations validate_server_group(const v1::ServerGroup &sg, const std::string &prefix) {
    violations out;
    if (sg.type() != v1::VIRTUAL && sg.type() != v1::AVAILABILITY)
        out.push_back({prefix + ".type", "value " + std::to_string(sg.type()) +
                                             " is invalid: must be VIRTUAL or AVAILABILITY"});
    check_placement(prefix, sg.region(), sg.vpc(), sg.zone(), out);
    if (sg.instances_size() > max_instances)
        out.push_back({prefix + ".instances", std::to_string(sg.instances_size()) +
                                                  " instances given: at most 1000 are allowed"});
    std::set<std::string> ids;
    for (int i = 0; i < sg.instances_size(); i++) {
        std::string f = prefix + ".instances[" + std::to_string(i) + "]";
        auto v = validate_instance(sg.instances(i), sg.type(), f);
        out.insert(out.end(), v.begin(), v.end());
        if (!sg.instances(i).id().empty() && !ids.insert(sg.instances(i).id()).second)
            out.push_back({f + ".id", "value " + quote(sg.instances(i).id()) +
                                          " is given twice: instance ids are unique in a "
                                          "group"});
    }
    return out;
}

const std::set<std::string> &backend_service_mutable_paths() {
    static const std::set<std::string> paths = {"protocol",
                                                "port",
                                                "scheduler",
                                                "session_persistence",
                                                "persistence_timeout_seconds",
                                                "drain_timeout_seconds",
                                                "health_check",
                                                "health_check.method",
                                                "health_check.port",
                                                "health_check.timeout_seconds",
                                                "health_check.interval_seconds",
                                                "health_check.unhealthy_threshold",
                                                "health_check.healthy_threshold",
                                                "health_check.normal_codes",
                                                "health_check.path",
                                                "server_group"};
    return paths;
}

}  // namespace nlb::control
