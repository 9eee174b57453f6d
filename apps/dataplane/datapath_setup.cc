/* SPDX-License-Identifier: Apache-2.0 */
#include "datapath_setup.h"

#include <rte_byteorder.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace nlb::dataplane {

bool parse_service(const std::string &text, nlb::service_spec *out, std::string *error) {
    nlb::service_spec s{};
    s.key.proto = nlb::ipproto_tcp;
    s.mode = nlb::fwd_mode::nat;
    s.sched = nlb::sched_kind::wrr;
    s.version = 1;
    bool have_vip = false, have_port = false;
    std::stringstream in(text);
    std::string item;
    auto number = [](const std::string &v, unsigned long max, unsigned long *n) {
        char *end = nullptr;
        *n = std::strtoul(v.c_str(), &end, 10);
        return !v.empty() && *end == 0 && *n <= max;
    };
    while (std::getline(in, item, ',')) {
        const auto eq = item.find('=');
        const std::string key = item.substr(0, eq),
                          v = eq == std::string::npos ? "" : item.substr(eq + 1);
        unsigned long n = 0;
        if (key == "vip" && nlb::parse_ip(v, &s.key.vip, &s.key.family)) {
            have_vip = true;
        } else if (key == "port" && number(v, 65535, &n) && n > 0) {
            s.key.port_be = rte_cpu_to_be_16(static_cast<uint16_t>(n));
            have_port = true;
        } else if (key == "proto" && (v == "tcp" || v == "udp")) {
            s.key.proto = v == "tcp" ? nlb::ipproto_tcp : nlb::ipproto_udp;
        } else if (key == "mode" && (v == "nat" || v == "dsr" || v == "tunnel")) {
            s.mode = v == "nat"   ? nlb::fwd_mode::nat
                     : v == "dsr" ? nlb::fwd_mode::dsr
                                  : nlb::fwd_mode::tunnel;
        } else if (key == "sched" && (v == "wrr" || v == "wlc" || v == "source_ip")) {
            s.sched = v == "wrr"   ? nlb::sched_kind::wrr
                      : v == "wlc" ? nlb::sched_kind::wlc
                                   : nlb::sched_kind::source_ip;
        } else if (key == "backend") {
            const auto a = v.find('/'), b = v.find('/', a == std::string::npos ? a : a + 1);
            nlb::backend_spec be{};
            unsigned long port = 0, weight = 0;
            if (a == std::string::npos || b == std::string::npos ||
                !nlb::parse_ip(v.substr(0, a), &be.addr, &be.family) ||
                !number(v.substr(a + 1, b - a - 1), 65535, &port) || port == 0 ||
                !number(v.substr(b + 1), 100, &weight)) {
                *error = "bad backend '" + v + "' (ADDR/PORT/WEIGHT)";
                return false;
            }
            be.id = s.backends.size() + 1;
            be.port_be = rte_cpu_to_be_16(static_cast<uint16_t>(port));
            be.weight = static_cast<uint8_t>(weight);
            be.state = nlb::backend_state::active;
            s.backends.push_back(be);
        } else {
            *error = "bad item '" + item + "'";
            return false;
        }
    }
    if (!have_vip || !have_port) {
        *error = "vip= and port= are required";
        return false;
    }
    *out = std::move(s);
    return true;
}

bool build_datapath(const dataplane_config &config, const port_set &ports, datapath_objects *o,
                    std::string *error) {
    const unsigned n_workers = static_cast<unsigned>(config.workers.size());
    if (ports.ports().size() > nlb::max_ports) {
        *error =
            "Failed to build the datapath: more than " + std::to_string(nlb::max_ports) + " ports";
        return false;
    }
    // One RCU reader per worker, one for the main lcore's slow path (id n_workers) and one
    // for the agent (id n_workers + 1).
    o->snapshots = nlb::snapshot_manager::create(n_workers + 2, error);
    if (!o->snapshots) return false;
    nlb::conn_table_config cc;
    cc.capacity = config.conn_capacity;
    cc.n_workers = n_workers;
    cc.timeouts.syn_recv_s = config.timeouts.syn_recv;
    cc.timeouts.established_s = config.timeouts.established;
    cc.timeouts.fin_wait_s = config.timeouts.fin_wait;
    cc.timeouts.time_wait_s = config.timeouts.time_wait;
    cc.timeouts.close_s = config.timeouts.close;
    cc.timeouts.udp_s = config.timeouts.udp;
    cc.rcu = o->snapshots->rcu();
    o->conns = nlb::conn_table::create(cc, error);
    if (!o->conns) return false;
    o->persist =
        nlb::persist_table::create(std::max<uint64_t>(1024, config.conn_capacity / 4), error);
    if (!o->persist) return false;
    o->neighbours = std::make_unique<nlb::neighbour_table>(4096);
    o->routes = std::make_unique<nlb::route_table>();
    nlb::datapath &dp = o->dp;
    dp.n_ports = static_cast<uint16_t>(ports.ports().size());
    for (const port_state &p : ports.ports()) {
        const port_config &pc = config.ports[p.index];
        nlb::port_config &d = dp.ports[p.index];
        d.mac = p.mac;
        d.mtu = p.mtu;
        for (const auto *prefix : {&pc.ipv4, &pc.ipv6}) {
            if (!*prefix) continue;
            const nlb::ip_prefix &x = **prefix;
            if (x.family == nlb::ip_family::v4) {
                d.v4 = x.addr;
                d.has_v4 = true;
            } else {
                d.v6 = x.addr;
                d.has_v6 = true;
            }
            if (!o->routes->add_connected(x.addr, x.family, x.length,
                                          static_cast<uint16_t>(p.index), error))
                return false;
        }
    }
    for (const port_config &pc : config.ports) {
        if (pc.gateway_v4 && !o->routes->set_default(*pc.gateway_v4, nlb::ip_family::v4, error))
            return false;
        if (pc.gateway_v6 && !o->routes->set_default(*pc.gateway_v6, nlb::ip_family::v6, error))
            return false;
    }
    if (config.tunnel_source_v4) {
        dp.tunnel.src_v4 = config.tunnel_source_v4->addr;
        dp.tunnel.src_v4_len = config.tunnel_source_v4->length;
    } else if (dp.n_ports && dp.ports[dp.n_ports - 1].has_v4) {
        dp.tunnel.src_v4 = dp.ports[dp.n_ports - 1].v4;  // the backend port's own address
    }
    if (config.tunnel_source_v6) {
        dp.tunnel.src_v6 = config.tunnel_source_v6->addr;
        dp.tunnel.src_v6_len = config.tunnel_source_v6->length;
    } else if (dp.n_ports && dp.ports[dp.n_ports - 1].has_v6) {
        dp.tunnel.src_v6 = dp.ports[dp.n_ports - 1].v6;
    }
    dp.conns = o->conns.get();
    dp.persist = o->persist.get();
    dp.snapshots = o->snapshots.get();
    dp.neighbours = o->neighbours.get();
    dp.routes = o->routes.get();
    dp.max_services = o->limits.max_services;
    dp.max_backends = o->limits.max_backends;
    return true;
}

}  // namespace nlb::dataplane
