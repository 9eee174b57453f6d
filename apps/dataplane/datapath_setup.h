/* SPDX-License-Identifier: Apache-2.0 */
/*
 * datapath_setup: what nlb-dataplane builds from its configuration before
 * the workers start: the connection, persistence, neighbour and route tables,
 * the snapshot manager (one RCU reader per worker, plus the slow path's and
 * the agent's) and the datapath the workers share; and the --service option's
 * parser (services published at start, without the agent).
 *
 * Main lcore, start-up only (allocates). Errors come back as one line.
 */
#pragma once

#include <memory>
#include <string>

#include "config.h"
#include "conn/conn_table.h"
#include "conn/persist_table.h"
#include "pipeline/neighbour_table.h"
#include "pipeline/route_table.h"
#include "pipeline/worker.h"
#include "ports.h"
#include "snapshot/snapshot_builder.h"
#include "snapshot/snapshot_manager.h"

namespace nlb::dataplane {

/** The datapath objects main builds from the configuration and owns. */
struct datapath_objects {
    std::unique_ptr<nlb::snapshot_manager> snapshots;
    std::unique_ptr<nlb::conn_table> conns;
    std::unique_ptr<nlb::persist_table> persist;
    std::unique_ptr<nlb::neighbour_table> neighbours;
    std::unique_ptr<nlb::route_table> routes;
    nlb::snapshot_limits limits;
    nlb::datapath dp;
};

/**
 * Builds every table of the datapath for config and the started ports:
 * snapshot manager with n_workers + 2 RCU readers (workers 0..n-1, the slow
 * path n, the agent n + 1), connection table (capacity, timeouts, that RCU),
 * persistence table, neighbour table, routes from the ports' prefixes and
 * gateways, port MACs/addresses/MTUs and tunnel source prefixes (default: the
 * last port's own addresses). False and *error on failure.
 */
bool build_datapath(const dataplane_config &config, const port_set &ports, datapath_objects *o,
                    std::string *error);

/**
 * Parses one --service value:
 *   vip=A,port=N[,proto=tcp|udp][,mode=nat|dsr|tunnel][,sched=wrr|wlc|source_ip]
 *   [,backend=ADDR/PORT/WEIGHT]...
 * Backend ids are 1, 2, ... in order, all active. False and *error on bad input.
 */
bool parse_service(const std::string &text, nlb::service_spec *out, std::string *error);

}  // namespace nlb::dataplane
