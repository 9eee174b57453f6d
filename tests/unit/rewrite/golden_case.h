/* SPDX-License-Identifier: Apache-2.0 */
/* One row of the golden-packet table (golden_packets.h, made by golden_gen.py). */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nlb::test {

enum class golden_op { nat_fwd, nat_rev, dsr, tunnel };

struct golden_case {
    const char *description;
    golden_op op;
    const char *addr;  // NAT: the new address; tunnel: the outer destination
    uint16_t port;     // NAT: the new port (host order)
    const char *input_hex;
    const char *expected_hex;
};

inline std::vector<uint8_t> from_hex(const char *hex) {
    std::vector<uint8_t> out;
    std::string s(hex);
    for (size_t i = 0; i + 1 < s.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
    return out;
}

}  // namespace nlb::test
