/* SPDX-License-Identifier: Apache-2.0 */
#include "sched/maglev.h"

#include <algorithm>

namespace nlb {

bool maglev_table::valid_size(uint32_t size) {
    return std::find(std::begin(maglev_allowed_sizes), std::end(maglev_allowed_sizes), size) !=
           std::end(maglev_allowed_sizes);
}

maglev_table maglev_table::build(std::span<const maglev_backend> backends, uint32_t size,
                                 const maglev_table *prev, std::vector<maglev_change> *delta) {
    maglev_table t;
    if (!valid_size(size)) return t;
    t.size_ = size;
    t.entries_.assign(size, sched_none);
    t.keys_.reserve(backends.size());
    for (const auto &b : backends) t.keys_.push_back(b.key);

    // Turns are taken in key order so the input order does not matter.
    struct turn {
        uint64_t key;
        uint32_t index;
        uint32_t weight;
        uint32_t credit;
        uint32_t position;  // offset + next * skip (mod size), kept incrementally
        uint32_t skip;
    };
    std::vector<turn> turns;
    uint32_t max_weight = 0;
    for (uint32_t i = 0; i < backends.size(); i++) {
        if (backends[i].weight == 0) continue;
        uint64_t key = backends[i].key;
        uint32_t offset = static_cast<uint32_t>(hash_u64(key, maglev_offset_seed) % size);
        uint32_t skip = static_cast<uint32_t>(hash_u64(key, maglev_skip_seed) % (size - 1)) + 1;
        turns.push_back({key, i, backends[i].weight, 0, offset, skip});
        max_weight = std::max(max_weight, backends[i].weight);
    }
    std::sort(turns.begin(), turns.end(), [](const turn &a, const turn &b) {
        return a.key != b.key ? a.key < b.key : a.index < b.index;
    });

    if (turns.size() == 1) {
        t.entries_.assign(size, turns[0].index);
    } else if (!turns.empty()) {
        uint32_t filled = 0;
        while (filled < size) {
            for (turn &u : turns) {
                // Katran's weighting: a backend takes weight/max_weight turns per round.
                u.credit += u.weight;
                if (u.credit < max_weight) continue;
                u.credit -= max_weight;
                while (t.entries_[u.position] != sched_none) {
                    u.position += u.skip;
                    if (u.position >= size) u.position -= size;
                }
                t.entries_[u.position] = u.index;
                u.position += u.skip;
                if (u.position >= size) u.position -= size;
                if (++filled == size) break;
            }
        }
    }

    if (prev && delta) {
        delta->clear();
        for (uint32_t p = 0; p < size; p++) {
            uint64_t old_key = p < prev->size_ ? prev->owner_key(p) : no_key;
            if (old_key == t.owner_key(p) && p < prev->size_) continue;
            delta->push_back({p, p < prev->size_ ? prev->entries_[p] : sched_none, t.entries_[p]});
        }
    }
    return t;
}

}  // namespace nlb
