/* SPDX-License-Identifier: Apache-2.0 */
/* Key builders shared by the conn tests. */
#pragma once

#include <arpa/inet.h>

#include "core/types.h"

namespace nlb::test {

inline ip_addr v4(uint32_t host_order) { return ip_addr::from_v4_be(htonl(host_order)); }

inline ip_addr v6(uint16_t last) {
    uint8_t b[16] = {0x20, 0x01, 0x00, 0x02};  // 2001:2::/48 benchmarking range
    b[14] = static_cast<uint8_t>(last >> 8);
    b[15] = static_cast<uint8_t>(last);
    return ip_addr::from_v6(b);
}

inline flow_key make_key(const ip_addr &src, uint16_t sport, const ip_addr &dst, uint16_t dport,
                         uint8_t proto = ipproto_tcp, ip_family fam = ip_family::v4) {
    flow_key k{};
    k.src = src;
    k.dst = dst;
    k.sport = htons(sport);
    k.dport = htons(dport);
    k.proto = proto;
    k.family = fam;
    return k;
}

/** The reply key of a nat connection: backend:bport → client:cport. */
inline flow_key reply_of(const flow_key &orig, const ip_addr &backend, uint16_t bport) {
    flow_key r{};
    r.src = backend;
    r.dst = orig.src;
    r.sport = htons(bport);
    r.dport = orig.sport;
    r.proto = orig.proto;
    r.family = orig.family;
    return r;
}

}  // namespace nlb::test
