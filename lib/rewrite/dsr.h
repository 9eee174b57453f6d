/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dsr: L2 direct server return. The frame goes to the backend's MAC with the
 * egress port's MAC as source; the IP packet (addresses, TTL, checksums) is
 * left byte for byte as it arrived, so the backend, which owns the VIP on a
 * loopback, answers the client directly. Any thread; inline.
 */
#pragma once

#include <rte_ether.h>

#include <cstdint>

#include "rewrite/eth.h"

namespace nlb {

/**
 * Rewrites frame (starting at its Ethernet header) for DSR: destination MAC =
 * backend_mac, source MAC = port_mac. The VLAN tag, if any, is kept (eth.h).
 */
inline void dsr_rewrite(uint8_t *frame, const rte_ether_addr &backend_mac,
                        const rte_ether_addr &port_mac) {
    set_eth_addrs(frame, backend_mac, port_mac);
}

}  // namespace nlb
