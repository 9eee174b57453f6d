/* SPDX-License-Identifier: Apache-2.0 */
/*
 * persist_table: session persistence, (client IP, service index) → backend.
 *
 * While a service has persistence on, a client's new connections go to the
 * backend that served it last, as long as the client was active within the
 * service's persistence timeout (SPEC.md rule 9). This table remembers that
 * choice. It is soft state: a lost update only means one new connection is
 * scheduled normally.
 *
 * Layout: a fixed array of one-cache-line slots, open addressing over a probe
 * window of `probe_window` slots from the key's home. A slot is guarded by a
 * sequence counter (seqlock) so any lcore reads a consistent key and backend
 * without locks; writers claim a slot by CAS on that counter and give up on
 * a slot another writer holds, so nobody ever waits. Entries expire lazily:
 * a slot idle past its timeout reads as absent and is reused by the next
 * update whose window covers it. Nothing needs sweeping, and slots never move,
 * so there is no reclamation concern either (readers copy the backend out).
 *
 * Threads: every method may be called from any thread concurrently.
 * Time: the caller's clock in milliseconds, uint32_t, may wrap.
 */
#pragma once

#include <rte_hash_crc.h>
#include <rte_prefetch.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "conn/hash_mix.h"
#include "core/types.h"

namespace nlb {

/** A consistent copy of one entry (for_each). */
struct persist_entry {
    ip_addr client;
    uint32_t service;
    backend_ref backend;
    uint32_t last_seen_ms;
    uint32_t timeout_ms;
};

class persist_table {
public:
    static constexpr unsigned probe_window = 16;

    ~persist_table();
    persist_table(const persist_table &) = delete;
    persist_table &operator=(const persist_table &) = delete;

    /**
     * Any thread, at start-up: maps slots for `capacity` entries (4/3 as many
     * slots, so probe windows rarely fill). nullptr and *error on failure.
     */
    static std::unique_ptr<persist_table> create(uint64_t capacity, std::string *error,
                                                 bool prefault = true);

    /** Any lcore: the hash of a key (CRC32C). */
    static uint32_t hash(const ip_addr &client, uint32_t service) {
        uint64_t w[2];
        std::memcpy(w, client.bytes, sizeof(w));
        uint32_t h = rte_hash_crc_8byte(w[0], service);
        h = rte_hash_crc_8byte(w[1], h);
        return rte_hash_crc_4byte(service, h);
    }

    /** Any lcore: prefetches the key's home slot. */
    void prefetch(uint32_t h) const { rte_prefetch0(&slots_[home_of(h)]); }

    /**
     * Any lcore: the backend remembered for this client and service if the
     * entry is still live at now_ms (idle < its timeout). Does not refresh.
     */
    bool lookup(const ip_addr &client, uint32_t service, uint32_t h, uint32_t now_ms,
                backend_ref *out) const;

    /**
     * Any lcore: activity of a client of a persistent service: refreshes the
     * live entry's last-seen. False when there is no live entry.
     */
    bool touch(const ip_addr &client, uint32_t service, uint32_t h, uint32_t now_ms);

    /**
     * Any lcore: remembers `backend` for this client and service with the
     * service's timeout (1..2147483 s), replacing any previous backend, and
     * marks it active at now_ms. False (nothing stored) when every slot of
     * the probe window holds another live entry or is being written.
     */
    bool update(const ip_addr &client, uint32_t service, uint32_t h, backend_ref backend,
                uint32_t timeout_s, uint32_t now_ms);

    /** Any lcore: forgets the entry (e.g. its backend was removed). False if absent. */
    bool erase(const ip_addr &client, uint32_t service, uint32_t h);

    /** Any thread: calls fn(const persist_entry &) for each entry live at now_ms. */
    template <class F>
    void for_each(uint32_t now_ms, F &&fn) const {
        for (uint64_t i = 0; i < n_slots_; i++) {
            persist_entry e;
            if (read_slot(slots_[i], &e) && live(e, now_ms)) fn(e);
        }
    }

    /** Any thread: entries live at now_ms (scans the whole table). */
    uint64_t count_live(uint32_t now_ms) const;

    uint64_t capacity() const { return capacity_; }
    uint64_t slot_count() const { return n_slots_; }
    uint64_t memory_bytes() const { return bytes_; }

private:
    struct alignas(cache_line) slot {
        std::atomic<uint32_t> seq;         // odd while a writer holds the slot
        std::atomic<uint32_t> last_seen;   // written without seq (a touch)
        std::atomic<uint32_t> timeout_ms;  // 0: empty or erased
        std::atomic<uint32_t> service;
        std::atomic<uint32_t> backend_index;
        std::atomic<uint32_t> backend_generation;
        std::atomic<uint32_t> client[4];
    };
    static_assert(sizeof(slot) == cache_line);

    persist_table() = default;
    uint64_t home_of(uint32_t h) const { return hash_reduce(h, n_slots_); }
    uint64_t next_of(uint64_t i) const { return i + 1 == n_slots_ ? 0 : i + 1; }
    static bool read_slot(const slot &s, persist_entry *out);
    static bool live(const persist_entry &e, uint32_t now_ms) {
        return e.timeout_ms != 0 && static_cast<int32_t>(now_ms - e.last_seen_ms) <
                                        static_cast<int32_t>(e.timeout_ms);
    }
    static bool matches(const persist_entry &e, const ip_addr &client, uint32_t service) {
        return e.timeout_ms != 0 && e.service == service && e.client == client;
    }
    /** The slot holding a live entry for the key, or nullptr (copy in *out). */
    slot *find(const ip_addr &client, uint32_t service, uint32_t h, uint32_t now_ms,
               persist_entry *out) const;

    slot *slots_ = nullptr;
    uint64_t n_slots_ = 0;
    uint64_t capacity_ = 0;
    uint64_t bytes_ = 0;
};

}  // namespace nlb
