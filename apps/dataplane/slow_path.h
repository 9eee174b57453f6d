/* SPDX-License-Identifier: Apache-2.0 */
/*
 * slow_path: what the main lcore does with packets the workers hand over
 * (DESIGN.md "Neighbours").
 *
 *  - ARP: requests for a port's own IPv4 address or a VIP are answered; the
 *    sender of any ARP on a connected prefix is learnt when it asked for us,
 *    answered our request, or is already known.
 *  - IPv6 ND: Neighbor Solicitations for a port's own address or a VIP get a
 *    solicited Neighbor Advertisement; NS source link-layer options and NA
 *    target link-layer options teach the neighbour table.
 *  - ICMP / ICMPv6 echo requests to own addresses and VIPs are answered.
 *  - Resolution: packets whose next hop has no MAC arrive as resolve_request;
 *    up to max_queued per next hop wait (older ones are dropped and counted
 *    no_neighbour) while an ARP request / NS (to the solicited-node multicast
 *    address) is sent every probe_interval_ms, at most max_probes times;
 *    then the queue is dropped (no_neighbour) and resolution stops.
 *  - Aging: reachable neighbours become stale after reachable_ms and are
 *    probed again; a stale neighbour that does not answer max_probes probes
 *    is forgotten.
 *  - VIP announcements: when a VIP appears in a newly published snapshot, a
 *    gratuitous ARP (IPv4) or unsolicited NA (IPv6) goes out on every port of
 *    its family.
 *  - Everything else addressed to the appliance is freed and counted to_host.
 *
 * Transmission: on a port where the main lcore has a TX queue of its own
 * (index = number of workers) it sends directly; on paired-queue ports
 * (af_packet, af_xdp) it puts the mbuf on worker 0's TX ring (mbuf->port =
 * port index) and worker 0 sends it.
 *
 * Threads: main lcore only. It is RCU reader id rcu_id of the snapshot
 * manager (online only inside poll()), so the snapshot it reads there cannot
 * be freed under it. Counters are written by the main lcore, read by any.
 */
#pragma once

#include <rte_mempool.h>
#include <rte_ring.h>

#include <cstdint>
#include <vector>

#include "core/types.h"
#include "pipeline/neighbour_table.h"
#include "pipeline/worker.h"
#include "worker_loop.h"

namespace nlb::dataplane {

struct slow_path_config {
    const datapath *dp = nullptr;
    neighbour_table *neighbours = nullptr;  // the same table as dp->neighbours, writable
    rte_mempool *pool = nullptr;            // for probes and announcements
    uint16_t port_ids[max_ports] = {};      // datapath port index -> ethdev port id
    bool own_tx_queue[max_ports] = {};      // the main lcore has a TX queue on this port
    uint16_t tx_queue[max_ports] = {};      // ... with this index
    std::vector<rte_ring *> slow_rings;     // one per worker: mbufs
    std::vector<rte_ring *> resolve_rings;  // one per worker: resolve_request
    rte_ring *tx_ring = nullptr;            // a worker's TX ring, for ports without own_tx_queue
    unsigned rcu_id = 0;                    // RCU reader id on dp->snapshots
    uint32_t reachable_ms = 30000;
    uint32_t probe_interval_ms = 1000;
    uint32_t max_probes = 3;
    uint32_t max_queued = 4;     // packets waiting per unresolved next hop
    uint32_t max_pending = 256;  // unresolved next hops at once
};

struct alignas(cache_line) slow_path_counters {
    counter received;
    counter arp_replies_sent, nd_adverts_sent, echo_replies_sent;
    counter probes_sent, announcements_sent;
    counter learnt, resolved_packets, forgotten;
    counter tx_packets;
    counter drops[drop_reason_count];  // to_host, no_neighbour, tx_full, no_mbuf, ...
};

class slow_path {
  public:
    explicit slow_path(const slow_path_config &config);
    /** Frees the packets still waiting for a neighbour. */
    ~slow_path();
    slow_path(const slow_path &) = delete;
    slow_path &operator=(const slow_path &) = delete;

    /**
     * Main lcore: drains the workers' rings, answers and learns, sends what
     * became resolvable, runs probes, aging and VIP announcements when due.
     * now_ms is tsc_now_ms(). Returns how many packets it handled (0 = idle).
     */
    unsigned poll(uint32_t now_ms);

    /** Main lcore: announces addr (gratuitous ARP / unsolicited NA) on every port of its family. */
    void announce(const ip_addr &addr, ip_family family);

    const slow_path_counters &counters() const { return counters_; }
    /** Main lcore: next hops waiting for resolution now. */
    size_t pending() const { return pending_.size(); }

  private:
    struct pending_hop {
        ip_addr ip;
        ip_family family;
        uint16_t port;
        uint32_t probes;
        uint32_t last_probe_ms;
        std::vector<rte_mbuf *> queue;
    };

    void handle(rte_mbuf *m, uint32_t now_ms);
    void handle_arp(rte_mbuf *m, uint16_t port, const packet_meta &meta, uint32_t now_ms);
    void handle_icmpv6(rte_mbuf *m, uint16_t port, const packet_meta &meta, uint32_t now_ms);
    void handle_resolve(const resolve_request &r, uint32_t now_ms);
    void learn(const ip_addr &ip, ip_family f, uint16_t port, const rte_ether_addr &mac,
               uint32_t now_ms, bool force);
    void probe(const ip_addr &ip, ip_family f, uint16_t port);
    void run_timers(uint32_t now_ms);
    void check_vips();
    bool is_local(const ip_addr &a, ip_family f) const;
    void send(uint16_t port, rte_mbuf *m);
    void drop(rte_mbuf *m, drop_reason r);
    pending_hop *find_pending(const ip_addr &ip);
    uint16_t port_index(uint16_t port_id) const;

    slow_path_config cfg_;
    const snapshot *snap_ = nullptr;  // valid inside poll() only
    std::vector<pending_hop> pending_;
    std::vector<std::pair<ip_addr, ip_family>> announced_;  // VIPs of the last snapshot seen
    uint64_t snapshot_version_ = 0;
    uint32_t last_timers_ms_ = 0;
    slow_path_counters counters_;
};

}  // namespace nlb::dataplane
