/* SPDX-License-Identifier: Apache-2.0 */
#include "health_probe_targets.h"

#include <arpa/inet.h>

#include <cstring>

#include <map>

namespace nlb::control {

std::string probe_service_name(const std::string &lb, const std::string &bs) {
    return lb + "/" + bs;
}

namespace {

bool parse_address(const std::string &text, ip_addr *addr, ip_family *family) {
    uint8_t buf[16] = {};
    if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
        *addr = ip_addr{};
        std::memcpy(addr->bytes, buf, 4);
        *family = ip_family::v4;
        return true;
    }
    if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
        *addr = ip_addr::from_v6(buf);
        *family = ip_family::v6;
        return true;
    }
    return false;
}

health::check_settings settings_of(const v1::HealthCheck &hc) {
    health::check_settings s;
    s.m = hc.method() == v1::HEALTH_CHECK_HTTP ? health::method::http : health::method::tcp;
    s.port = static_cast<uint16_t>(hc.has_port() ? hc.port() : 0);
    s.timeout = std::chrono::seconds(hc.has_timeout_seconds() ? hc.timeout_seconds() : 2);
    s.interval = std::chrono::seconds(hc.has_interval_seconds() ? hc.interval_seconds() : 5);
    s.unhealthy_threshold =
        static_cast<unsigned>(hc.has_unhealthy_threshold() ? hc.unhealthy_threshold() : 3);
    s.healthy_threshold =
        static_cast<unsigned>(hc.has_healthy_threshold() ? hc.healthy_threshold() : 3);
    if (hc.has_path()) s.path = hc.path();
    if (hc.normal_codes_size() > 0) {
        s.normal_classes = 0;
        for (int c : hc.normal_codes()) {
            if (c == v1::STATUS_2XX) s.normal_classes |= health::class_2xx;
            if (c == v1::STATUS_3XX) s.normal_classes |= health::class_3xx;
            if (c == v1::STATUS_4XX) s.normal_classes |= health::class_4xx;
        }
    }
    return s;
}

}  // namespace

std::vector<probe_target> probe_targets(const desired_input &in) {
    std::map<std::string, const v1::ServerGroup *> groups;
    for (const auto &sg : in.server_groups) groups[sg.name()] = &sg;
    std::vector<probe_target> out;
    for (const auto &bs : in.backend_services) {
        auto g = groups.find(bs.server_group());
        if (bs.server_group().empty() || g == groups.end()) continue;
        const auto settings = settings_of(bs.health_check());
        for (const auto &inst : g->second->instances()) {
            probe_target t;
            if (!parse_address(inst.address(), &t.t.addr, &t.t.family)) continue;
            t.t.key = {probe_service_name(bs.load_balancer(), bs.name()), inst.id()};
            t.t.traffic_port = static_cast<uint16_t>(
                g->second->type() == v1::VIRTUAL && inst.has_port() ? inst.port() : bs.port());
            t.settings = settings;
            out.push_back(std::move(t));
        }
    }
    return out;
}

std::string probe_target_text(const probe_target &t) {
    const auto &s = t.settings;
    return health::address_text(t.t.addr, t.t.family) + " " + std::to_string(t.t.traffic_port) +
           " " + std::to_string(static_cast<int>(s.m)) + " " + std::to_string(s.port) + " " +
           std::to_string(s.timeout.count()) + " " + std::to_string(s.interval.count()) + " " +
           std::to_string(s.unhealthy_threshold) + " " + std::to_string(s.healthy_threshold) + " " +
           std::to_string(s.normal_classes) + " " + s.path;
}

}  // namespace nlb::control
