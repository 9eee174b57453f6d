/* SPDX-License-Identifier: Apache-2.0 */
/*
 * maglev_table: consistent hashing of client addresses onto backends for the
 * SOURCE_IP scheduler (Eisenbud et al., "Maglev", NSDI 2016, section 3.4),
 * weighted the way Katran does it: each backend takes turns at filling the
 * table in proportion to its weight, so its share of positions is
 * proportional to its weight.
 *
 * A backend's permutation comes from two fixed hashes of its stable key (the
 * caller's u64 id, sched_hash.h), and backends take turns in key order, so the
 * table depends only on the set of {key, weight}: every lcore and every
 * appliance computes the same table, whatever order the backends come in.
 *
 * Building allocates and takes O(size × log size) time: agent only, off the
 * datapath. Lookups are one hash, one multiply and one load: any thread, on an
 * immutable table.
 */
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/types.h"
#include "sched/sched_hash.h"
#include "sched/wrr.h"

namespace nlb {

/** One backend as Maglev sees it. Weight 0 (or a draining backend) gets no position. */
struct maglev_backend {
    uint64_t key;     // stable id; equal keys hash to equal permutations
    uint32_t weight;  // 0–100
};

/** A position whose owner changed between two builds (Katran's batchRealsUpdate). */
struct maglev_change {
    uint32_t position;
    uint32_t previous;  // index into the previous build's backends, or sched_none
    uint32_t current;   // index into this build's backends, or sched_none
};

/** Default table size: prime, about 650 positions per backend at 100 backends. */
inline constexpr uint32_t maglev_default_size = 65537;
/** The table sizes a service may use (primes; pick one at least ~100 × backends). */
inline constexpr uint32_t maglev_allowed_sizes[] = {251, 1021, 4093, 16381, 65537, 131071};

class maglev_table {
  public:
    /** An empty table: every lookup returns sched_none. */
    maglev_table() = default;

    /** True when size is one of maglev_allowed_sizes. */
    static bool valid_size(uint32_t size);

    /**
     * Agent: builds the table of size positions (size must pass valid_size;
     * otherwise the table is empty) for backends. When prev is given and
     * delta is not null, *delta receives every position whose owner (by key)
     * differs from prev's, in increasing position order. Backends with weight
     * 0 get no position; with no weighted backend every position is
     * sched_none.
     */
    static maglev_table build(std::span<const maglev_backend> backends, uint32_t size,
                              const maglev_table *prev = nullptr,
                              std::vector<maglev_change> *delta = nullptr);

    /** Any thread: the backend index (into the build's backends) owning a 32-bit hash, or
     * sched_none. */
    uint32_t lookup_hash(uint32_t hash) const {
        return size_ ? entries_[reduce_u32(hash, size_)] : sched_none;
    }
    /** Any thread: the backend index a client address maps to, or sched_none. */
    uint32_t lookup(const ip_addr &client) const { return lookup_hash(hash_client_ip(client)); }

    /** Number of positions (0 for a default-constructed table). */
    uint32_t size() const { return size_; }
    /** The positions: backend index or sched_none each. */
    const uint32_t *entries() const { return entries_.data(); }
    /** The key of each backend given to build(), by index. */
    std::span<const uint64_t> keys() const { return keys_; }
    /** The key owning a position, or no_key when the position is empty. */
    uint64_t owner_key(uint32_t position) const {
        uint32_t b = entries_[position];
        return b == sched_none ? no_key : keys_[b];
    }
    static constexpr uint64_t no_key = UINT64_MAX;

  private:
    std::vector<uint32_t> entries_;
    std::vector<uint64_t> keys_;
    uint32_t size_ = 0;
};

}  // namespace nlb
