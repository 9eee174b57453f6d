/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Weighted least connections over per-worker connection counts.
 *
 * Each worker counts only the connections it created (it is also the one that
 * expires them, DESIGN.md), so the counts are plain integers written by one
 * lcore: no shared counter is touched per connection. With RSS spreading new
 * connections evenly over workers, per-worker least-connections approximates
 * the global one, and it reacts to long-lived connections piling up on one
 * backend, which is what WLC is for.
 */
#pragma once

#include <cstdint>
#include <memory>

#include "core/types.h"
#include "sched/wrr.h"

namespace nlb {

/**
 * One worker's active-connection count per backend slot. A count is tagged
 * with the slot's generation: when the slot is reused by another backend (new
 * generation), the old count is meaningless and reads as 0, and closes of the
 * old backend's connections are ignored.
 *
 * Owned and used by exactly one worker; nothing here is thread-safe or needs
 * to be. No method allocates, locks or logs; slots beyond capacity are
 * ignored (count 0).
 */
class wlc_counts {
  public:
    /** Agent or worker start-up: counts for slots [0, slots), all 0. Allocates. */
    explicit wlc_counts(uint32_t slots);

    /** Active connections of this worker on backend ref.index if its generation is still
     * ref.generation. */
    uint32_t active(uint32_t slot, uint32_t generation) const {
        if (slot >= slots_) return 0;
        const entry &e = counts_[slot];
        return e.generation == generation ? e.active : 0;
    }
    /** A connection to the backend was created by this worker. */
    void opened(backend_ref ref) {
        if (ref.index >= slots_) return;
        entry &e = counts_[ref.index];
        if (e.generation != ref.generation) {
            e.generation = ref.generation;
            e.active = 0;
        }
        e.active++;
    }
    /** A connection this worker created to the backend ended (closed, expired or reset). */
    void closed(backend_ref ref) {
        if (ref.index >= slots_) return;
        entry &e = counts_[ref.index];
        if (e.generation == ref.generation && e.active > 0) e.active--;
    }
    uint32_t capacity() const { return slots_; }

  private:
    struct entry {
        uint32_t generation;
        uint32_t active;
    };
    std::unique_ptr<entry[]> counts_;
    uint32_t slots_;
};

/**
 * Worker: the weighted-least-connections choice among n candidates, i.e. the
 * index i minimising active(i)/weight(i) over candidates with weight(i) > 0
 * and usable(i). Ratios are compared by cross-multiplication (no division, no
 * floating point). Scanning starts at start % n and ties keep the first found,
 * so a caller that rotates start spreads new connections evenly over equally
 * loaded backends. Returns sched_none when no candidate qualifies. O(n); never
 * allocates, locks or logs.
 */
template <class Weight, class Active, class Usable>
inline uint32_t wlc_pick(uint32_t n, uint32_t start, Weight &&weight, Active &&active,
                         Usable &&usable) {
    if (n == 0) return sched_none;
    uint32_t i = start % n;
    uint32_t best = sched_none;
    uint64_t best_active = 0, best_weight = 1;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t w = weight(i);
        if (w != 0 && usable(i)) {
            uint64_t a = active(i);
            // a/w < best_active/best_weight
            if (best == sched_none || a * best_weight < best_active * w) {
                best = i;
                best_active = a;
                best_weight = w;
            }
        }
        if (++i == n) i = 0;
    }
    return best;
}

}  // namespace nlb
