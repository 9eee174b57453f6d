/* SPDX-License-Identifier: Apache-2.0 */
/*
 * neighbour_table: the IPv4 ARP / IPv6 ND cache the workers read to fill in
 * destination MACs.
 *
 * One writer (the main lcore, which owns ARP/ND resolution and aging) and any
 * number of lock-free readers (workers). Each slot is guarded by a sequence
 * counter (seqlock): a reader that sees an odd or changed counter retries, so
 * it never uses a torn MAC. Slots are preallocated (open addressing, linear
 * probing); a forgotten neighbour becomes a tombstone so probe chains stay
 * intact, and the slot is reused by a later insert whose probe chain crosses
 * it. Tombstones count against the 3/4 fill limit, so size the table at
 * several times the number of next hops (backends and gateways) expected.
 */
#pragma once

#include <rte_ether.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/types.h"

namespace nlb {

enum class neighbour_state : uint8_t {
    empty = 0,      // never used
    incomplete,     // resolution under way, no MAC yet
    reachable,      // MAC known and fresh
    stale,          // MAC known, past its reachable time; still used while re-resolving
    forgotten,      // tombstone
};

struct neighbour_info {
    ip_addr ip;
    ip_family family;
    neighbour_state state;
    uint16_t port;          // port the neighbour was learnt on
    rte_ether_addr mac;
    uint64_t updated;       // caller's clock at the last update
    uint32_t probes;        // resolution attempts since the last answer
};

class neighbour_table {
public:
    /** capacity is rounded up to a power of two; at most 3/4 of it is filled. */
    explicit neighbour_table(uint32_t capacity);

    /**
     * Any lcore: the MAC of a usable (reachable or stale) neighbour.
     * Returns false when unknown or still incomplete.
     */
    bool lookup(const ip_addr &ip, rte_ether_addr *mac) const;

    /** Any lcore: a consistent copy of the neighbour's record, false if absent. */
    bool get(const ip_addr &ip, neighbour_info *out) const;

    /**
     * Main lcore only: inserts or updates a neighbour. Returns false when the
     * table is full (the caller counts it and keeps the packet queue short).
     */
    bool update(const neighbour_info &info);

    /** Main lcore only: turns a neighbour into a tombstone. */
    void forget(const ip_addr &ip);

    /** Main lcore only: calls fn(const neighbour_info&) for every live neighbour. */
    template <class F>
    void for_each(F &&fn) const {
        for (uint32_t i = 0; i <= mask_; i++) {
            neighbour_info copy;
            if (read_slot(i, &copy) && copy.state != neighbour_state::empty &&
                copy.state != neighbour_state::forgotten)
                fn(copy);
        }
    }

    uint32_t size() const { return live_.load(std::memory_order_relaxed); }
    /**
     * Any lcore: changes with every update() and forget(), so a reader can
     * cache what it looked up and know when to look again.
     */
    uint64_t version() const { return version_.load(std::memory_order_acquire); }
    uint32_t capacity() const { return mask_ + 1; }

private:
    static constexpr unsigned info_words = (sizeof(neighbour_info) + 7) / 8;
    /* The record is copied through relaxed atomic words so concurrent reads
     * during a write are well defined; the sequence counter rejects them. */
    struct alignas(cache_line) slot {
        std::atomic<uint32_t> seq{0};
        std::atomic<uint64_t> words[info_words]{};
    };

    uint32_t index_of(const ip_addr &ip) const;
    bool read_slot(uint32_t i, neighbour_info *out) const;
    void write_slot(uint32_t i, const neighbour_info &info);

    std::unique_ptr<slot[]> slots_;
    uint32_t mask_;
    std::atomic<uint32_t> live_{0};
    alignas(cache_line) std::atomic<uint64_t> version_{0};
    uint32_t used_ = 0;   // live + tombstones (writer only)
};

}  // namespace nlb
