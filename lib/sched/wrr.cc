/* SPDX-License-Identifier: Apache-2.0 */
#include "sched/wrr.h"

#include <numeric>

namespace nlb {

std::vector<uint32_t> wrr_sequence(std::span<const uint8_t> weights) {
    uint32_t g = 0;
    uint64_t total = 0;
    for (uint8_t w : weights) {
        g = std::gcd(g, static_cast<uint32_t>(w));
        total += w;
    }
    std::vector<uint32_t> seq;
    if (total == 0) return seq;
    total /= g;
    seq.reserve(total);
    std::vector<int64_t> current(weights.size(), 0);
    for (uint64_t step = 0; step < total; step++) {
        uint32_t best = 0;
        int64_t best_value = INT64_MIN;
        for (uint32_t i = 0; i < weights.size(); i++) {
            if (weights[i] == 0) continue;
            current[i] += weights[i] / g;
            // Strictly greater: ties go to the lower index, as in nginx.
            if (current[i] > best_value) {
                best_value = current[i];
                best = i;
            }
        }
        current[best] -= static_cast<int64_t>(total);
        seq.push_back(best);
    }
    return seq;
}

}  // namespace nlb
