/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Smooth weighted round robin (nginx's algorithm), precomputed.
 *
 * nginx picks, at each step, the backend with the highest "current weight"
 * after adding every backend's weight to it, then subtracts the total from the
 * winner. That yields an interleaved sequence (weights 5:1:1 give
 * a a b a c a a, never a a a a a b c) with exact proportions over one cycle of
 * sum(weights)/gcd(weights) picks. The sequence depends only on the weights, so
 * it is computed once per snapshot (off the datapath) and each worker walks it
 * with its own cursor: no shared state is written per connection.
 */
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/types.h"

namespace nlb {

/** "No backend" as returned by every pick function of lib/sched. */
inline constexpr uint32_t sched_none = UINT32_MAX;

/** Largest weight a backend may have (SPEC.md: 0–100, 0 = no new connections). */
inline constexpr uint32_t max_backend_weight = 100;

/**
 * Agent (any thread, off the datapath): the smooth WRR pick sequence of
 * backends with the given weights. Entries are indices into weights; a weight
 * of 0 never appears. The length is sum(weights)/gcd(weights), or 0 when every
 * weight is 0. Cost O(length × backends); allocates.
 */
std::vector<uint32_t> wrr_sequence(std::span<const uint8_t> weights);

/**
 * Worker: the next backend of a WRR sequence that usable(index) accepts,
 * starting at *cursor, which it advances past the returned entry. Entries that
 * usable() rejects (draining, weight set to 0 since the sequence was built, …)
 * are skipped, so their share goes to the next ones in the sequence. Returns
 * sched_none when len is 0 or usable() rejects every entry (after at most len
 * probes). Never allocates, locks or logs. *cursor may hold any value (it is
 * reduced modulo len), so a cursor survives a change of sequence.
 */
template <class Usable>
inline uint32_t wrr_pick(const uint32_t *seq, uint32_t len, uint32_t *cursor, Usable &&usable) {
    if (len == 0) return sched_none;
    uint32_t c = *cursor;
    if (c >= len) c %= len;
    for (uint32_t n = 0; n < len; n++) {
        uint32_t b = seq[c];
        if (++c == len) c = 0;
        if (usable(b)) {
            *cursor = c;
            return b;
        }
    }
    *cursor = c;
    return sched_none;
}

}  // namespace nlb
