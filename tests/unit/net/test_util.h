/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the lib/net tests. */
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"

namespace nlb::test {

inline std::vector<uint8_t> from_hex(const char *hex) {
    std::vector<uint8_t> out;
    std::string s(hex);
    for (size_t i = 0; i + 1 < s.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
    return out;
}

inline std::string to_hex(const uint8_t *p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; i++) {
        s += digits[p[i] >> 4];
        s += digits[p[i] & 15];
    }
    return s;
}

inline ip_addr ip(const char *text) {
    ip_addr a{};
    ip_family f;
    parse_ip(text, &a, &f);
    return a;
}

inline rte_ether_addr mac(const char *text) {
    rte_ether_addr a{};
    rte_ether_unformat_addr(text, &a);
    return a;
}

}  // namespace nlb::test
