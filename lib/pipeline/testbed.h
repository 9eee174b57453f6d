/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testbed: a complete in-process datapath — connection and persistence tables,
 * snapshot manager, neighbour and route tables — addressed like the lab of
 * DESIGN.md, for unit tests, benchmarks and fuzz targets. Real components
 * only; nothing is mocked. Not used by the daemons.
 *
 *   port 0 (clients):  198.18.0.1/24, 2001:2:0:18::1/64, MAC 02:00:00:00:00:01,
 *                      default gateways 198.18.0.254 / 2001:2:0:18::fe (the
 *                      clients' router, MAC 02:00:00:00:01:fe)
 *   port 1 (backends): 198.19.0.1/24, 2001:2:0:19::1/64, MAC 02:00:00:00:00:02
 *   backends be1..be3: 198.19.0.11..13 and 2001:2:0:19::11..13, MACs
 *                      02:00:00:00:02:11..13 (resolved), port 8080
 *   VIPs:              198.18.1.1 and 2001:2:0:1::1
 */
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pipeline/worker.h"
#include "snapshot/snapshot_builder.h"

namespace nlb {

struct testbed_config {
    uint64_t conn_capacity = 1u << 16;
    uint64_t persist_capacity = 1u << 16;
    unsigned workers = 1;
    conn_timeouts timeouts{};
    snapshot_limits limits{};
};

class testbed {
public:
    /** Builds every table; throws std::runtime_error when one cannot be made. */
    explicit testbed(const testbed_config &cfg = {});
    ~testbed();

    /** Builds and publishes a snapshot of these services; throws on a build error. */
    void publish(const std::vector<service_spec> &services);

    /** A service on the lab VIP of the family with backends be1..be(n) at weight w. */
    static service_spec lab_service(ip_family f, fwd_mode mode, sched_kind sched, uint16_t port,
                                    unsigned n_backends = 3, uint8_t weight = 10,
                                    uint8_t proto = ipproto_tcp);
    static ip_addr addr(const char *text);
    static ip_addr vip(ip_family f);
    static ip_addr backend_addr(ip_family f, unsigned n);   // n = 1..
    static rte_ether_addr backend_mac(unsigned n);
    static rte_ether_addr port_mac(uint16_t port);
    static rte_ether_addr router_mac();

    datapath dp;
    std::unique_ptr<conn_table> conns;
    std::unique_ptr<persist_table> persist;
    std::unique_ptr<snapshot_manager> snapshots;
    std::unique_ptr<neighbour_table> neighbours;
    std::unique_ptr<route_table> routes;
    snapshot_builder builder;
};

}  // namespace nlb
