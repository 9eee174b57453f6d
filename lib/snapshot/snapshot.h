/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot: the forwarding configuration the workers read, as one immutable
 * object.
 *
 * The agent (main lcore) builds a snapshot off the datapath (snapshot_builder)
 * and publishes it through snapshot_manager (RCU). From then on nothing in it
 * changes until it is freed, after every worker has passed a quiescent state,
 * so workers read it without locks or atomics.
 *
 *  - services[] is indexed by the service's stable index (the same service key
 *    keeps its index across snapshots; per-worker scheduler cursors and stats
 *    are indexed by it). Unused indices have in_use == false. Neither
 *    services[] nor backends[] ever shrinks from one snapshot to the next, so
 *    an index taken from an older snapshot is always in range.
 *  - backends[] is indexed by slot. The same backend of the same service keeps
 *    its slot and generation across snapshots; a removed backend's slot gets a
 *    new generation, so a connection holding backend_ref{slot, generation}
 *    detects removal with backend_valid() (or backends[slot].generation !=
 *    generation) and never follows a stale reference.
 *  - find_service() and is_vip() are open-addressing hash lookups.
 *
 * Every const member function may be called from any thread that holds the
 * snapshot (a worker between two quiescent states, or the agent).
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/types.h"
#include "sched/maglev.h"
#include "sched/wlc.h"
#include "sched/worker_sched.h"
#include "sched/wrr.h"

namespace nlb {

/** What identifies a service: VIP, VIP port (network order), IP protocol, family. */
struct service_key {
    ip_addr vip;
    uint16_t port_be;
    uint8_t proto;
    ip_family family;

    bool operator==(const service_key &o) const {
        return vip == o.vip && port_be == o.port_be && proto == o.proto && family == o.family;
    }
};
static_assert(sizeof(service_key) == 20);

/** One backend slot. */
struct snapshot_backend {
    uint64_t id;  // the control plane's stable id (also the Maglev key)
    ip_addr addr;
    uint32_t generation;  // changes whenever the slot changes hands (or is freed)
    uint32_t service;     // stable index of the owning service
    uint16_t port_be;     // network byte order
    ip_family family;
    backend_state state;
    uint8_t weight;  // 0–100
    bool in_use;     // false: free slot (generation still meaningful)

    /** True when the backend may take new connections (active and weight > 0). */
    bool accepts_new() const { return in_use && state == backend_state::active && weight > 0; }
};

/** Per-service scheduler data, shared between snapshots while the service's backend set is
 * unchanged. */
struct service_sched_data;

/** One service (VIP:port/protocol). */
struct snapshot_service {
    service_key key;
    uint32_t index;  // stable index (== position in snapshot::services)
    bool in_use;
    fwd_mode mode;
    sched_kind sched;
    uint32_t persistence_timeout_s;  // 0 = session persistence off
    uint64_t version;                // the control plane's version of this service
    const uint32_t *slots;           // backend slots, backend_count of them
    uint32_t backend_count;
    const uint32_t *wrr;  // WRR sequence of indices into slots (sched == wrr)
    uint32_t wrr_length;
    const maglev_table *maglev;  // indices into slots (sched == source_ip), else null
};

class snapshot {
  public:
    static constexpr uint64_t magic_live = 0x6e6c622d736e6170ull;  // "nlb-snap"
    static constexpr uint64_t magic_dead = 0xdeaddeaddeaddeadull;

    snapshot() = default;
    snapshot(const snapshot &) = delete;
    snapshot &operator=(const snapshot &) = delete;
    /** Poisons the snapshot (see poison()) before freeing it. */
    ~snapshot();

    /** magic_live while the snapshot may be used; magic_dead once retired. */
    uint64_t magic = magic_live;
    /** Sequence number: the previous snapshot's plus one (the first is 1). */
    uint64_t version = 0;

    std::vector<snapshot_service> services;  // by stable index
    std::vector<snapshot_backend> backends;  // by slot

    /** Any thread: the service for a destination, or nullptr. */
    const snapshot_service *find_service(const ip_addr &vip, uint16_t port_be, uint8_t proto,
                                         ip_family family) const;
    const snapshot_service *find_service(const service_key &key) const {
        return find_service(key.vip, key.port_be, key.proto, key.family);
    }
    /** Any thread: true when addr is the VIP of at least one service (answer ARP/ND for it). */
    bool is_vip(const ip_addr &addr, ip_family family) const;

    /** Any thread: true when ref still names the same backend (in use, same generation). */
    bool backend_valid(backend_ref ref) const {
        return ref.index < backends.size() && backends[ref.index].in_use &&
               backends[ref.index].generation == ref.generation;
    }
    /** The reference a new connection to slot should keep. */
    backend_ref ref_of(uint32_t slot) const { return {slot, backends[slot].generation}; }

    /** Number of services / backends in use. */
    uint32_t service_count() const { return live_services_; }
    uint32_t backend_count() const { return live_backends_; }
    /**
     * Any thread: bytes this snapshot holds (services, backends, lookup
     * tables, slot lists, WRR sequences and Maglev tables, the latter counted
     * here even when shared with the previous snapshot). For stats; O(services).
     */
    size_t memory_bytes() const;

    /**
     * Writer only, after the last reader is gone: overwrites the magic and
     * every backend's generation and in_use flag, so a reader that wrongly
     * still holds the snapshot fails its checks instead of silently
     * forwarding with freed data. Called by the destructor.
     */
    void poison();

  private:
    friend class snapshot_builder;

    struct service_entry {  // open-addressing table: key -> services[] index
        service_key key;
        uint32_t service;  // UINT32_MAX = empty
    };
    struct vip_entry {  // open-addressing set of VIP addresses
        ip_addr addr;
        ip_family family;
        bool used;
    };
    static uint32_t hash_key(const ip_addr &vip, uint16_t port_be, uint8_t proto, ip_family f);
    static uint32_t hash_addr(const ip_addr &a, ip_family f);

    std::vector<service_entry> service_table_;
    std::vector<vip_entry> vip_table_;
    uint32_t service_mask_ = 0;
    uint32_t vip_mask_ = 0;
    uint32_t live_services_ = 0;
    uint32_t live_backends_ = 0;
    std::vector<uint32_t> slot_lists_;  // every service's slots, back to back
    std::vector<std::shared_ptr<const service_sched_data>> sched_data_;  // by service index
};

/**
 * Worker: the backend slot for a new connection from client to service svc of
 * snapshot s, using (and advancing) the worker's own scheduler state, or
 * no_backend when no backend may take it. Only backends that accept new
 * connections (active, weight > 0) are returned. Never allocates, locks or
 * logs. The caller keeps s.ref_of(slot) in its connection and calls
 * ws.counts().opened(ref) / closed(ref), which also feeds WLC.
 */
inline uint32_t pick_backend(const snapshot &s, const snapshot_service &svc, worker_sched &ws,
                             const ip_addr &client) {
    const snapshot_backend *b = s.backends.data();
    const uint32_t *slots = svc.slots;
    auto usable = [b, slots](uint32_t i) { return b[slots[i]].accepts_new(); };
    uint32_t i = sched_none;
    switch (svc.sched) {
        case sched_kind::wrr:
            i = wrr_pick(svc.wrr, svc.wrr_length, ws.cursor(svc.index), usable);
            break;
        case sched_kind::wlc: {
            uint32_t *rot = ws.cursor(svc.index);
            const wlc_counts &counts = ws.counts();
            i = wlc_pick(
                svc.backend_count, (*rot)++, [b, slots](uint32_t k) { return b[slots[k]].weight; },
                [b, slots, &counts](uint32_t k) {
                    return counts.active(slots[k], b[slots[k]].generation);
                },
                usable);
            break;
        }
        case sched_kind::source_ip:
            if (svc.maglev) {
                i = svc.maglev->lookup(client);
                if (i != sched_none && !usable(i)) i = sched_none;
            }
            break;
    }
    return i == sched_none ? no_backend : slots[i];
}

}  // namespace nlb
