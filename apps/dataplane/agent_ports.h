/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_ports_of: the agent's view of the configured, started ports (for
 * GetInfo and GetStats). Header-only so the agent library does not depend on
 * the configuration loader; main.cc (which links both) calls it at start-up.
 */
#pragma once

#include <string>
#include <vector>

#include "agent_state.h"
#include "config.h"
#include "ports.h"

namespace nlb::dataplane {

/** One started port (state) with its configuration entry (config). */
inline agent_port agent_port_of(const port_config &config, const port_state &state) {
    agent_port a;
    a.index = state.index;
    a.name = state.name;
    a.device = state.device;
    a.driver = state.driver;
    a.mac = format_mac(state.mac);
    a.role = port_role_name(config.role);
    for (const auto &prefix : {config.ipv4, config.ipv6})
        if (prefix)
            a.addresses.push_back(format_ip(prefix->addr, prefix->family) + "/" +
                                  std::to_string(prefix->length));
    a.mtu = state.mtu;
    a.rx_queues = state.rx_queues;
    a.tx_queues = state.tx_queues;
    a.rss = state.rss_enabled;
    a.ethdev = state.started;
    a.port_id = state.port_id;
    return a;
}

/** Main lcore, start-up: one agent_port per started port, in configuration order. */
inline std::vector<agent_port> agent_ports_of(const dataplane_config &config,
                                              const port_set &ports) {
    std::vector<agent_port> out;
    for (const port_state &p : ports.ports())
        if (p.index < config.ports.size()) out.push_back(agent_port_of(config.ports[p.index], p));
    return out;
}

}  // namespace nlb::dataplane
