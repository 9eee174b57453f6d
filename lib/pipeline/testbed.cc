/* SPDX-License-Identifier: Apache-2.0 */
#include "pipeline/testbed.h"

#include <stdexcept>

namespace nlb {

namespace {
rte_ether_addr mac(uint8_t a, uint8_t b) { return rte_ether_addr{{0x02, 0, 0, 0, a, b}}; }
void check(bool ok, const std::string &what, const std::string &err) {
    if (!ok) throw std::runtime_error("testbed: " + what + ": " + err);
}
}  // namespace

ip_addr testbed::addr(const char *text) {
    ip_addr a{};
    ip_family f{};
    if (!parse_ip(text, &a, &f)) throw std::runtime_error(std::string("bad address ") + text);
    return a;
}
ip_addr testbed::vip(ip_family f) { return addr(f == ip_family::v4 ? "198.18.1.1" : "2001:2:0:1::1"); }
ip_addr testbed::backend_addr(ip_family f, unsigned n) {
    std::string s = f == ip_family::v4 ? "198.19.0." + std::to_string(10 + n)
                                       : "2001:2:0:19::" + std::to_string(10 + n);
    return addr(s.c_str());
}
rte_ether_addr testbed::backend_mac(unsigned n) { return mac(2, static_cast<uint8_t>(0x10 + n)); }
rte_ether_addr testbed::port_mac(uint16_t port) { return mac(0, static_cast<uint8_t>(port + 1)); }
rte_ether_addr testbed::router_mac() { return mac(1, 0xfe); }

testbed::testbed(const testbed_config &cfg) : builder(cfg.limits) {
    std::string err;
    snapshots = snapshot_manager::create(cfg.workers, &err);
    check(snapshots != nullptr, "snapshot manager", err);
    conn_table_config cc;
    cc.capacity = cfg.conn_capacity;
    cc.n_workers = cfg.workers;
    cc.timeouts = cfg.timeouts;
    cc.rcu = snapshots->rcu();
    conns = conn_table::create(cc, &err);
    check(conns != nullptr, "connection table", err);
    persist = persist_table::create(cfg.persist_capacity, &err);
    check(persist != nullptr, "persistence table", err);
    neighbours = std::make_unique<neighbour_table>(1024);
    routes = std::make_unique<route_table>();

    check(routes->add_connected(addr("198.18.0.1"), ip_family::v4, 24, 0, &err), "route", err);
    check(routes->add_connected(addr("2001:2:0:18::1"), ip_family::v6, 64, 0, &err), "route", err);
    check(routes->add_connected(addr("198.19.0.1"), ip_family::v4, 24, 1, &err), "route", err);
    check(routes->add_connected(addr("2001:2:0:19::1"), ip_family::v6, 64, 1, &err), "route", err);
    check(routes->set_default(addr("198.18.0.254"), ip_family::v4, &err), "gateway", err);
    check(routes->set_default(addr("2001:2:0:18::fe"), ip_family::v6, &err), "gateway", err);

    auto learn = [&](const ip_addr &a, ip_family f, rte_ether_addr m, uint16_t port) {
        neighbour_info n{};
        n.ip = a;
        n.family = f;
        n.state = neighbour_state::reachable;
        n.port = port;
        n.mac = m;
        check(neighbours->update(n), "neighbour", "table full");
    };
    learn(addr("198.18.0.254"), ip_family::v4, router_mac(), 0);
    learn(addr("2001:2:0:18::fe"), ip_family::v6, router_mac(), 0);
    for (unsigned b = 1; b <= 3; b++) {
        learn(backend_addr(ip_family::v4, b), ip_family::v4, backend_mac(b), 1);
        learn(backend_addr(ip_family::v6, b), ip_family::v6, backend_mac(b), 1);
    }

    dp.conns = conns.get();
    dp.persist = persist.get();
    dp.snapshots = snapshots.get();
    dp.neighbours = neighbours.get();
    dp.routes = routes.get();
    dp.n_ports = 2;
    dp.ports[0].mac = port_mac(0);
    dp.ports[0].v4 = addr("198.18.0.1");
    dp.ports[0].v6 = addr("2001:2:0:18::1");
    dp.ports[1].mac = port_mac(1);
    dp.ports[1].v4 = addr("198.19.0.1");
    dp.ports[1].v6 = addr("2001:2:0:19::1");
    for (unsigned p = 0; p < 2; p++) dp.ports[p].has_v4 = dp.ports[p].has_v6 = true;
    dp.tunnel.src_v4 = addr("198.19.128.0");
    dp.tunnel.src_v4_len = 17;
    dp.tunnel.src_v6 = addr("2001:2:0:19:8000::");
    dp.tunnel.src_v6_len = 80;
    dp.max_services = cfg.limits.max_services;
    dp.max_backends = cfg.limits.max_backends;
}

testbed::~testbed() = default;

void testbed::publish(const std::vector<service_spec> &services) {
    snapshot_build b = builder.build(services, snapshots->current());
    if (!b.snap) throw std::runtime_error("testbed: snapshot: " + b.error);
    snapshots->publish(std::move(b.snap));
}

service_spec testbed::lab_service(ip_family f, fwd_mode mode, sched_kind sched, uint16_t port,
                                  unsigned n_backends, uint8_t weight, uint8_t proto) {
    service_spec s{};
    s.key.vip = vip(f);
    s.key.port_be = rte_cpu_to_be_16(port);
    s.key.proto = proto;
    s.key.family = f;
    s.mode = mode;
    s.sched = sched;
    s.version = 1;
    for (unsigned b = 1; b <= n_backends; b++) {
        backend_spec be{};
        be.id = (uint64_t{port} << 16) | (f == ip_family::v6 ? 0x100u : 0u) | b;
        be.addr = backend_addr(f, b);
        be.family = f;
        // nat translates the port; dsr and tunnel deliver to the VIP's port.
        be.port_be = rte_cpu_to_be_16(mode == fwd_mode::nat ? 8080 : port);
        be.weight = weight;
        be.state = backend_state::active;
        s.backends.push_back(be);
    }
    return s;
}

}  // namespace nlb
