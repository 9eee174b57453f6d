/* SPDX-License-Identifier: Apache-2.0 */
/*
 * route_table: where a packet to a given address leaves the appliance.
 *
 * An appliance has a handful of ports, each with its own connected prefixes,
 * plus at most one default gateway per family. That is all the routing a load
 * balancer in front of a service needs, so this is a short list scanned
 * longest-prefix first, not a FIB. Built once at start-up; read-only after, so
 * any lcore may call lookup().
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"

namespace nlb {

struct next_hop {
    uint16_t port;
    ip_addr gateway;   // the address whose MAC to use: the destination itself when on-link
};

class route_table {
public:
    /** Adds a connected prefix on a port. Returns false (with *error) on a bad prefix. */
    bool add_connected(const ip_addr &prefix, ip_family family, uint8_t prefix_len, uint16_t port,
                       std::string *error);
    /** Sets the default gateway of a family (it must be on-link on some port). */
    bool set_default(const ip_addr &gateway, ip_family family, std::string *error);

    /** Any lcore: the next hop towards dst, false when there is no route. */
    bool lookup(const ip_addr &dst, ip_family family, next_hop *out) const;

    /** True when addr lies in one of the connected prefixes of port. */
    bool is_connected(const ip_addr &addr, ip_family family, uint16_t port) const;

private:
    struct connected {
        ip_prefix prefix;
        uint16_t port;
    };

    std::vector<connected> routes_;   // sorted by descending prefix length
    bool has_default_[2] = {false, false};
    next_hop default_[2] = {};
};

}  // namespace nlb
