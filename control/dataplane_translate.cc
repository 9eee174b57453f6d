/* SPDX-License-Identifier: Apache-2.0 */
#include "dataplane_translate.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

namespace nlb::control {

namespace {

constexpr int page = 1000;
constexpr int default_weight = 10;
constexpr int default_persistence_s = 1440;

bool is_v6(const std::string &address) {
    return address.find(':') != std::string::npos;
}

dpv1::ForwardingMode mode_of(v1::ForwardingMode m) {
    switch (m) {
        case v1::DSR:
            return dpv1::DSR;
        case v1::TUNNEL:
            return dpv1::TUNNEL;
        default:
            return dpv1::NAT;
    }
}

dpv1::Scheduler scheduler_of(v1::Scheduler s) {
    switch (s) {
        case v1::WLC:
            return dpv1::WLC;
        case v1::SOURCE_IP:
            return dpv1::SOURCE_IP;
        default:
            return dpv1::WRR;
    }
}

/** The backends one backend service gives a service of one VIP family and mode. */
struct backend_builder {
    dpv1::Service *svc;
    bool v6;
    bool keep_port;  // DSR/TUNNEL: the listener port
    uint32_t listener_port;
    std::set<std::pair<std::string, uint32_t>> seen;

    void add(uint64_t id, const std::string &address, uint32_t port, int weight,
             dpv1::BackendState state) {
        if (is_v6(address) != v6) return;
        if (keep_port) port = listener_port;
        if (!seen.insert({address, port}).second) return;
        auto *b = svc->add_backends();
        b->set_id(id);
        b->set_address(address);
        b->set_port(port);
        b->set_weight(static_cast<uint32_t>(weight));
        b->set_state(state);
    }
};

}  // namespace

uint64_t backend_id(const std::string &lb, const std::string &bs, const std::string &instance_id,
                    const std::string &address) {
    uint64_t h = 14695981039346656037ull;
    auto mix = [&h](const std::string &s) {
        for (unsigned char c : s) {
            h ^= c;
            h *= 1099511628211ull;
        }
    };
    mix(lb);
    mix("/");
    mix(bs);
    mix("/");
    mix(instance_id);
    mix("/");
    mix(address);
    return h == 0 ? 1 : h;
}

std::string service_key_text(const dpv1::ServiceKey &key) {
    std::string vip = is_v6(key.vip()) ? "[" + key.vip() + "]" : key.vip();
    return vip + ":" + std::to_string(key.port()) + (key.protocol() == dpv1::UDP ? "/udp" : "/tcp");
}

desired_services translate(const desired_input &in, const health_lookup &health) {
    desired_services out;
    std::map<std::string, const v1::LoadBalancer *> lbs;
    for (const auto &lb : in.load_balancers) lbs[lb.name()] = &lb;
    std::map<std::pair<std::string, std::string>, const v1::BackendService *> services;
    for (const auto &bs : in.backend_services) services[{bs.load_balancer(), bs.name()}] = &bs;
    std::map<std::string, const v1::ServerGroup *> groups;
    for (const auto &sg : in.server_groups) groups[sg.name()] = &sg;
    std::map<std::pair<std::string, std::string>, std::vector<const draining_instance *>> draining;
    for (const auto &d : in.draining) draining[{d.load_balancer, d.backend_service}].push_back(&d);

    for (const auto &l : in.listeners) {
        auto lb_it = lbs.find(l.load_balancer());
        auto bs_it = services.find({l.load_balancer(), l.backend_service()});
        if (lb_it == lbs.end() || bs_it == services.end()) continue;
        const v1::BackendService &bs = *bs_it->second;
        const v1::ServerGroup *sg = nullptr;
        if (!bs.server_group().empty()) {
            auto g = groups.find(bs.server_group());
            if (g != groups.end()) sg = g->second;
        }
        auto dr_it = draining.find({bs.load_balancer(), bs.name()});
        const bool has_draining = dr_it != draining.end() && !dr_it->second.empty();
        if (!sg && !has_draining) continue;

        // Member states over the whole backend service (both families): fail open (rule 8).
        std::vector<v1::HealthStatus> member_status;
        std::set<std::string> members;
        bool any_healthy = false, any_unhealthy = false;
        if (sg) {
            for (const auto &inst : sg->instances()) {
                auto st = health ? health(bs.load_balancer(), bs.name(), inst) : v1::INITIAL;
                member_status.push_back(st);
                members.insert(inst.id());
                any_healthy = any_healthy || st == v1::HEALTHY;
                any_unhealthy = any_unhealthy || st == v1::UNHEALTHY;
            }
        }
        const bool fail_open = !members.empty() && !any_healthy && any_unhealthy;

        for (const auto &vip : lb_it->second->vips()) {
            dpv1::Service svc;
            svc.mutable_key()->set_vip(vip);
            svc.mutable_key()->set_port(static_cast<uint32_t>(l.port()));
            svc.mutable_key()->set_protocol(l.protocol() == v1::UDP ? dpv1::UDP : dpv1::TCP);
            svc.set_mode(mode_of(l.mode()));
            svc.set_scheduler(scheduler_of(bs.scheduler()));
            if (bs.session_persistence())
                svc.set_persistence_timeout_s(static_cast<uint32_t>(
                    bs.has_persistence_timeout_seconds() ? bs.persistence_timeout_seconds()
                                                         : default_persistence_s));
            svc.set_fail_open(fail_open);
            backend_builder b{&svc,
                              is_v6(vip),
                              l.mode() == v1::DSR || l.mode() == v1::TUNNEL,
                              static_cast<uint32_t>(l.port()),
                              {}};
            if (sg) {
                for (int i = 0; i < sg->instances_size(); i++) {
                    const auto &inst = sg->instances(i);
                    uint32_t port = static_cast<uint32_t>(
                        sg->type() == v1::VIRTUAL && inst.has_port() ? inst.port() : bs.port());
                    bool active = member_status[i] == v1::HEALTHY || fail_open;
                    uint64_t id =
                        backend_id(bs.load_balancer(), bs.name(), inst.id(), inst.address());
                    b.add(id, inst.address(), port,
                          inst.has_weight() ? inst.weight() : default_weight,
                          active ? dpv1::ACTIVE : dpv1::DRAINING);
                    out.names[id] = {bs.load_balancer(), bs.name(), inst.id(), inst.address()};
                }
            }
            if (has_draining) {
                for (const auto *d : dr_it->second) {
                    if (members.count(d->instance.id())) continue;
                    const auto &inst = d->instance;
                    uint64_t id =
                        backend_id(bs.load_balancer(), bs.name(), inst.id(), inst.address());
                    b.add(id, inst.address(),
                          static_cast<uint32_t>(inst.has_port() ? inst.port() : bs.port()),
                          inst.has_weight() ? inst.weight() : default_weight, dpv1::DRAINING);
                    out.names[id] = {bs.load_balancer(), bs.name(), inst.id(), inst.address()};
                }
            }
            out.services.push_back(std::move(svc));
        }
    }
    std::sort(out.services.begin(), out.services.end(),
              [](const dpv1::Service &a, const dpv1::Service &b) {
                  return service_key_text(a.key()) < service_key_text(b.key());
              });
    return out;
}

namespace {

template <class T, class F>
std::vector<T> all_pages(F list_page, std::string (*name_of)(const T &)) {
    std::vector<T> out;
    std::string after;
    for (;;) {
        auto got = list_page(after);
        if (got.empty()) break;
        after = name_of(got.back());
        const bool last = static_cast<int>(got.size()) < page;
        for (auto &x : got) out.push_back(std::move(x));
        if (last) break;
    }
    return out;
}

std::string lb_name(const v1::LoadBalancer &x) {
    return x.name();
}
std::string listener_name(const v1::Listener &x) {
    return x.name();
}
std::string bs_name(const v1::BackendService &x) {
    return x.name();
}
std::string sg_name(const v1::ServerGroup &x) {
    return x.name();
}

}  // namespace

desired_input load_desired(store &st, int64_t now_unix) {
    desired_input in;
    in.load_balancers = all_pages<v1::LoadBalancer>(
        [&](const std::string &after) { return st.list_load_balancers(after, page); }, lb_name);
    in.server_groups = all_pages<v1::ServerGroup>(
        [&](const std::string &after) { return st.list_server_groups(after, page); }, sg_name);
    for (const auto &lb : in.load_balancers) {
        auto ls = all_pages<v1::Listener>(
            [&](const std::string &after) { return st.list_listeners(lb.name(), after, page); },
            listener_name);
        for (auto &l : ls) in.listeners.push_back(std::move(l));
        auto bss = all_pages<v1::BackendService>(
            [&](const std::string &after) {
                return st.list_backend_services(lb.name(), after, page);
            },
            bs_name);
        for (auto &bs : bss) {
            for (auto &d : st.list_draining(lb.name(), bs.name(), now_unix))
                in.draining.push_back(std::move(d));
            in.backend_services.push_back(std::move(bs));
        }
    }
    return in;
}

std::vector<draining_instance> load_all_draining(store &st) {
    std::vector<draining_instance> out;
    auto lbs = all_pages<v1::LoadBalancer>(
        [&](const std::string &after) { return st.list_load_balancers(after, page); }, lb_name);
    for (const auto &lb : lbs) {
        auto bss = all_pages<v1::BackendService>(
            [&](const std::string &after) {
                return st.list_backend_services(lb.name(), after, page);
            },
            bs_name);
        for (const auto &bs : bss)
            for (auto &d :
                 st.list_draining(lb.name(), bs.name(), std::numeric_limits<int64_t>::min()))
                out.push_back(std::move(d));
    }
    return out;
}

}  // namespace nlb::control
