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
#include <atomic>
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
 * Written by exactly one worker. The agent may read counts from another
 * thread for stats: each slot is one relaxed 64-bit atomic {generation,
 * active}, so a reader sees a consistent pair and the writer pays nothing
 * more than a plain load and store. No method allocates, locks or logs;
 * slots beyond capacity are ignored (count 0).
 */
class wlc_counts {
  public:
    /** Agent or worker start-up: counts for slots [0, slots), all 0. Allocates. */
    explicit wlc_counts(uint32_t slots);

    /** Active connections of this worker on backend ref.index if its generation is still
     * ref.generation. Any thread. */
    uint32_t active(uint32_t slot, uint32_t generation) const {
        if (slot >= slots_) return 0;
        const uint64_t e = counts_[slot].load(std::memory_order_relaxed);
        return generation_of(e) == generation ? active_of(e) : 0;
    }
    /** Worker: a connection to the backend was created by this worker. */
    void opened(backend_ref ref) {
        if (ref.index >= slots_) return;
        std::atomic<uint64_t> &slot = counts_[ref.index];
        const uint64_t e = slot.load(std::memory_order_relaxed);
        const uint32_t active = generation_of(e) == ref.generation ? active_of(e) : 0;
        slot.store(pack(ref.generation, active + 1), std::memory_order_relaxed);
    }
    /** Worker: a connection this worker created to the backend ended (closed, expired or reset). */
    void closed(backend_ref ref) {
        if (ref.index >= slots_) return;
        std::atomic<uint64_t> &slot = counts_[ref.index];
        const uint64_t e = slot.load(std::memory_order_relaxed);
        if (generation_of(e) == ref.generation && active_of(e) > 0)
            slot.store(e - 1, std::memory_order_relaxed);
    }
    uint32_t capacity() const { return slots_; }

  private:
    static uint64_t pack(uint32_t generation, uint32_t active) {
        return (uint64_t{generation} << 32) | active;
    }
    static uint32_t generation_of(uint64_t e) { return static_cast<uint32_t>(e >> 32); }
    static uint32_t active_of(uint64_t e) { return static_cast<uint32_t>(e); }

    std::unique_ptr<std::atomic<uint64_t>[]> counts_;
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
