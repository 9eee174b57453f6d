/* SPDX-License-Identifier: Apache-2.0 */
/* Small constructors of service and backend specs for the snapshot tests. */
#pragma once

#include <arpa/inet.h>

#include "snapshot/snapshot_builder.h"

namespace nlb::test {

/** 198.18.0.0/15 addresses (benchmarking range): v4(19, 1, 10) = 198.19.1.10. */
inline ip_addr v4(uint8_t b, uint8_t c, uint8_t d) {
    return ip_addr::from_v4_be(htonl((198u << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | d));
}
/** 2001:2::x (benchmarking range). */
inline ip_addr v6(uint16_t x) {
    uint8_t b[16] = {0x20, 0x01, 0x00, 0x02};
    b[14] = static_cast<uint8_t>(x >> 8);
    b[15] = static_cast<uint8_t>(x);
    return ip_addr::from_v6(b);
}

inline service_key key4(uint8_t vip_last, uint16_t port, uint8_t proto = ipproto_tcp) {
    return {v4(18, 0, vip_last), htons(port), proto, ip_family::v4};
}

inline backend_spec backend4(uint64_t id, uint8_t c, uint8_t d, uint16_t port, uint8_t weight = 10,
                             backend_state st = backend_state::active) {
    return {id, v4(19, c, d), ip_family::v4, htons(port), weight, st};
}

inline service_spec service(service_key key, sched_kind sched, std::vector<backend_spec> backends,
                            fwd_mode mode = fwd_mode::nat) {
    service_spec s{};
    s.key = key;
    s.mode = mode;
    s.sched = sched;
    s.backends = std::move(backends);
    return s;
}

}  // namespace nlb::test
