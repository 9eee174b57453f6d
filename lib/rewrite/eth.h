/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eth: Ethernet header rewrite shared by every forwarding mode.
 *
 * Only the two MAC addresses change. A frame that arrived with an 802.1Q tag
 * leaves with the same tag (same TCI) and the same layout: the appliance does
 * not translate VLANs between ports, so the caller must send tagged frames
 * only to ports on the same VLAN. Any thread; inline; no allocation.
 */
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <cstring>

namespace nlb {

/** Writes dst and src MAC into the first 12 bytes of frame. */
inline void set_eth_addrs(uint8_t *frame, const rte_ether_addr &dst, const rte_ether_addr &src) {
    std::memcpy(frame, dst.addr_bytes, 6);
    std::memcpy(frame + 6, src.addr_bytes, 6);
}

}  // namespace nlb
