/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker: the burst pipeline one worker lcore runs (DESIGN.md "Run-to-
 * completion workers").
 *
 * process_burst() takes the mbufs of one rx_burst and returns a verdict per
 * packet: transmit on a port, hand to the main lcore (slow path: ARP, ND,
 * ICMP echo, packets waiting for a neighbour), or drop with a named reason.
 * In between it parses, looks up or creates the connection (scheduling a
 * backend, with session persistence), and rewrites the packet for its mode.
 *
 * The burst is processed in stages so memory latency overlaps: parse and hash
 * every packet and prefetch its connection-table bucket; look up (prefetching
 * the next packet's entries); decide; then rewrite. The rewrite stage sorts
 * packets into groups by (address family, mode, direction) and runs one loop
 * per group, each a template instance specialised at compile time
 * (VPP's lb plugin style), so there is no per-packet branching on mode or
 * family inside the rewrite.
 *
 * Threads: a worker object belongs to one worker lcore; only that lcore calls
 * its non-const methods. Counters are written by the worker only and may be
 * read by any thread (relaxed atomics: a reader sees each value whole).
 * No allocation, lock, log or exception on the per-packet path.
 */
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "conn/conn_table.h"
#include "conn/persist_table.h"
#include "core/types.h"
#include "net/parse.h"
#include "pipeline/neighbour_table.h"
#include "pipeline/route_table.h"
#include "sched/worker_sched.h"
#include "snapshot/snapshot.h"
#include "snapshot/snapshot_manager.h"

namespace nlb {

inline constexpr uint16_t max_ports = 8;
/** Largest burst process_burst accepts. */
inline constexpr uint16_t max_burst = 64;

/** One appliance port as the datapath sees it. */
struct port_config {
    rte_ether_addr mac{};
    ip_addr v4{};
    ip_addr v6{};
    bool has_v4 = false;
    bool has_v6 = false;
    uint16_t mtu = 1500;
};

/** Where tunnel-mode outer source addresses come from (a prefix per family). */
struct tunnel_config {
    ip_addr src_v4{};
    uint8_t src_v4_len = 32;
    ip_addr src_v6{};
    uint8_t src_v6_len = 128;
};

/**
 * Everything the workers share. Built at start-up; the pointed-to objects
 * outlive every worker. The snapshot manager's RCU variable must be the one
 * the connection table was created with, so one quiescent state per burst
 * covers both.
 */
struct datapath {
    conn_table *conns = nullptr;
    persist_table *persist = nullptr;
    snapshot_manager *snapshots = nullptr;
    neighbour_table *neighbours = nullptr;
    const route_table *routes = nullptr;
    uint16_t n_ports = 0;
    port_config ports[max_ports];
    tunnel_config tunnel;
    uint32_t max_services = 0;   // snapshot builder limits: sizes of per-worker arrays
    uint32_t max_backends = 0;
};

enum class action : uint8_t {
    drop = 0,    // free the mbuf; reason says why
    tx,          // transmit on port
    slow_path,   // hand to the main lcore (ARP, ND, ICMP echo, to the appliance)
    resolve,     // rewritten, waiting for the next hop's MAC; port and next_hop say where
};

struct verdict {
    action act;
    drop_reason reason;   // for drop; none otherwise
    uint16_t port;        // for tx and resolve
};

/** A monotonically increasing counter written by one thread, readable by any. */
class counter {
public:
    void add(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void inc() { add(1); }
    uint64_t get() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

struct service_counters {
    counter packets, bytes, new_conns, drops;
};
struct backend_counters {
    counter packets, bytes, new_conns, closed;
};

/** Totals of one worker. */
struct alignas(cache_line) worker_counters {
    counter rx_packets, rx_bytes;
    counter forwarded, slow_path, resolve;
    counter new_conns, closed_conns, resets_sent, persist_hits;
    counter drops[drop_reason_count];
};

class worker {
public:
    /** Start-up (allocates): worker `index` (0..n-1, also its RCU and conn-table id). */
    worker(unsigned index, const datapath &dp);
    worker(const worker &) = delete;
    worker &operator=(const worker &) = delete;

    /**
     * Worker lcore: processes pkts[0..n) (n ≤ max_burst) with the current
     * snapshot and writes one verdict per packet to out. now_ms is the
     * caller's monotonic millisecond clock (the one the connection table
     * uses). Packets stay owned by the caller, who transmits, hands over or
     * frees them as the verdicts say. The caller must report a quiescent
     * state (dp.snapshots->quiescent(index)) after acting on the verdicts and
     * before the next burst.
     */
    void process_burst(rte_mbuf **pkts, uint16_t n, verdict *out, uint32_t now_ms);

    /**
     * For a packet whose verdict was resolve: the address whose MAC is
     * missing. Valid until the next process_burst.
     */
    const ip_addr &pending_next_hop(uint16_t i) const { return next_hop_[i]; }

    /**
     * Worker lcore, between bursts: expires up to budget connections this
     * worker owns (and frees those marked dead), keeping WLC counts and
     * backend counters right. Returns how many were freed.
     */
    unsigned expire(uint32_t now_ms, unsigned budget);

    unsigned index() const { return index_; }
    const worker_counters &counters() const { return counters_; }
    /** Per-service and per-backend counters, indexed by service index / backend slot. */
    const service_counters &service(uint32_t i) const { return services_[i]; }
    const backend_counters &backend(uint32_t slot) const { return backends_[slot]; }
    uint32_t max_services() const { return dp_.max_services; }
    uint32_t max_backends() const { return dp_.max_backends; }
    /**
     * The worker's active connections to a backend (for WLC, stats and the end of a drain):
     * those it owns in syn_recv, established or fin_wait (or UDP), i.e. not yet closed by
     * FINs from both sides or an RST.
     */
    uint32_t active(backend_ref ref) const { return sched_.counts().active(ref.index, ref.generation); }

private:
    // Rewrite groups: (family, mode, direction); replies exist in nat mode only.
    enum group : uint8_t {
        g4_nat, g4_nat_reply, g4_dsr, g4_tunnel,
        g6_nat, g6_nat_reply, g6_dsr, g6_tunnel,
        n_groups
    };

    struct pkt_state {
        packet_meta meta;
        uint32_t hash;
        uint32_t bucket;  // conn_table::home_bucket(hash)
        conn *c;
        uint32_t backend_slot;
    };

    void drop(verdict *out, uint16_t i, drop_reason r);
    bool classify_local(const snapshot *snap, uint16_t i, verdict *out);
    conn *new_connection(const snapshot &snap, uint16_t i, rte_mbuf *m, verdict *out, uint32_t now_ms);
    static bool reuse_reschedules(const snapshot &snap, const conn &c);
    void reset_flow(rte_mbuf *m, uint16_t i, verdict *out);
    // The per-packet helpers are inline (defined in worker.cc, their only user); each has an
    // out-of-line part for the rare case.
    /** Owner only: counts c as active or not after its state changed (see active()). */
    inline void track_active(const conn &c);
    void track_active_change(const conn &c, bool open);
    inline void finish_l2(rte_mbuf *m, uint16_t i, const ip_addr &dst, ip_family f, verdict *out);
    inline bool resolve_l2(const ip_addr &dst, ip_family f, next_hop *nh, rte_ether_addr *mac);
    bool resolve_l2_slow(const ip_addr &dst, ip_family f, next_hop *nh, rte_ether_addr *mac);

    template <ip_family F, fwd_mode M, conn_dir D>
    void emit_group(const snapshot &snap, rte_mbuf **pkts, const uint8_t *idx, uint16_t count,
                    verdict *out);

    unsigned index_;
    const datapath &dp_;
    worker_sched sched_;
    std::unique_ptr<service_counters[]> services_;
    std::unique_ptr<backend_counters[]> backends_;
    worker_counters counters_;

    /*
     * Next hops looked up recently (route + neighbour MAC), direct-mapped by
     * destination and valid while the neighbour table's version is unchanged:
     * most packets go to a few backends or through one gateway.
     */
    struct l2_cache_entry {
        ip_addr dst;
        uint64_t version;
        next_hop nh;
        rte_ether_addr mac;
        ip_family family;
        bool valid;
    };
    static constexpr unsigned l2_cache_size = 256;
    l2_cache_entry l2_cache_[l2_cache_size] = {};
    /** The cache slot of a destination (direct-mapped on a hash of its first and last words). */
    inline l2_cache_entry &l2_slot(const ip_addr &dst);

    pkt_state st_[max_burst];
    ip_addr next_hop_[max_burst];
    uint8_t groups_[n_groups][max_burst];
    uint16_t group_len_[n_groups];
};

}  // namespace nlb
