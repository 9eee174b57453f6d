/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker_loop: the run-to-completion loop of one worker lcore (DESIGN.md
 * "Run-to-completion workers").
 *
 * Per round, for every port: rx_burst(queue = worker index, 32) →
 * worker::process_burst → verdicts:
 *   tx        into the port's TX buffer (flushed when full and at the end of
 *             the round; what the queue refuses is freed and counted tx_full);
 *   slow_path onto the worker's slow ring to the main lcore (full: freed,
 *             counted slow_path_full);
 *   resolve   onto the worker's resolve ring as {mbuf, next hop, port} (full:
 *             freed, counted slow_path_full);
 *   drop      freed (process_burst already counted the reason).
 * After each round the worker drains its TX ring (packets the main lcore asks
 * it to send, for ports where the main lcore has no TX queue of its own),
 * reports an RCU quiescent state, and once per millisecond runs worker::expire
 * with a budget that visits every connection it owns within expire_cycle_ms
 * (at least expire_budget per pass). The pace follows the clock, not the
 * rounds: a busy worker (hundreds of thousands of rounds per second) spends
 * no more on the sweep than an idle one. The millisecond clock comes from the TSC.
 *
 * Idle back-off: after spin_polls empty rounds the loop calls rte_pause()
 * between polls; once it has been idle for sleep_after_us it goes offline in
 * RCU (so it never delays a snapshot publication), sleeps sleep_us (timer
 * slack set to 1 µs, so the wake-up is close to that), comes back online and
 * polls again; after deep_after_ms of idleness the sleeps become
 * deep_sleep_us. Any packet resets the back-off.
 *
 * RX interrupts: when every port of the worker was configured with RX queue
 * interrupts (port key rx_interrupts) and the driver accepts the worker's
 * queues into its per-thread epoll set (rte_eth_dev_rx_intr_ctl_q), the deep
 * stage (after deep_after_ms of silence) waits for those interrupts instead of
 * sleeping deep_sleep_us at a time, each wait bounded by intr_timeout_ms (so
 * the expiry sweep and the packets the main lcore queues on tx_ring wait at
 * most that long): an idle worker then costs one wake-up per intr_timeout_ms
 * (~1 % of a CPU instead of ~22 % here). The light stage keeps its timed
 * sleeps: in a VM a thread woken by another CPU's interrupt starts later than
 * one whose own timer fires (bench/wakeup --tap measures both), and short gaps
 * in traffic are where that matters. A driver that refuses interrupts leaves
 * the worker on timed sleeps.
 *
 * Threads: worker_main runs on its worker lcore (rte_eal_remote_launch). The
 * rings are single-producer/single-consumer: the worker produces slow and
 * resolve, the main lcore consumes them; the main lcore produces tx_ring,
 * the worker consumes it. Counters are written by the worker, read by any.
 */
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "core/types.h"
#include "pipeline/worker.h"

namespace nlb::dataplane {

/** Packets a worker hands to the main lcore because the next hop's MAC is unknown. */
struct resolve_request {
    rte_mbuf *m;
    ip_addr next_hop;
    uint16_t port;  // datapath port index (position in the configuration)
    ip_family family;
};

/**
 * Idle back-off tuning. A packet that arrives while a worker sleeps waits for
 * the rest of that sleep plus the kernel's wake-up (about 15 µs in a VM), so
 * a sleep of 20-30 µs keeps wake-ups under 50 µs (bench/wakeup measures it).
 * Each sleep also costs CPU (about 10 µs of context switch and timer in a VM),
 * which is what longer deep sleeps save: deep_sleep_us 100 halves the idle
 * CPU again but lets the first packet after deep_after_ms of silence wait
 * ~55-120 µs. Defaults favour the wake-up: an idle worker uses about a third
 * of a CPU in this VM instead of all of it.
 */
struct backoff_config {
    bool enabled = true;
    uint32_t spin_polls = 64;       // empty rounds before rte_pause() between polls
    uint32_t sleep_after_us = 200;  // idle this long before sleeping
    uint32_t sleep_us = 20;         // one light sleep
    uint32_t deep_after_ms = 50;    // idle this long before deep sleeps (0 = never)
    uint32_t deep_sleep_us = 30;    // one deep sleep
    uint32_t intr_timeout_ms = 1;   // longest wait for an RX interrupt
};

/**
 * Loop-level counters of one worker. Drops the loop itself decides (tx_full,
 * slow_path_full) go into the pipeline's worker::counters().drops[] like every
 * other drop (the worker lcore is that counter's only writer), so summing
 * worker counters accounts for every packet a worker received.
 */
struct alignas(cache_line) loop_counters {
    counter rounds, idle_rounds, sleeps;
    counter tx_packets, expired, from_main;
    counter intr_waits;                      // waits for an RX interrupt (included in sleeps)
    counter intr_wakeups;                    // ... that ended with a packet, not the timeout
    std::atomic<bool> rx_interrupts{false};  // the worker waits for RX interrupts when idle
};

/** What one worker lcore needs; built by the main lcore before launch. */
struct worker_context {
    unsigned index = 0;  // worker index: RX/TX queue, RCU id, conn-table owner
    worker *pipeline = nullptr;
    const datapath *dp = nullptr;
    uint16_t n_ports = 0;
    uint16_t port_ids[max_ports] = {};  // datapath port index -> ethdev port id
    rte_ring *slow_ring = nullptr;      // mbufs for the main lcore (ARP, ND, ICMP, to host)
    rte_ring *resolve_ring = nullptr;   // resolve_request elements
    rte_ring *tx_ring = nullptr;        // mbufs from the main lcore; mbuf->port = port index
    backoff_config backoff;
    bool rx_interrupts = false;      // every port has RX queue interrupts configured: try them
    uint32_t expire_budget = 256;    // fewest connections visited per pass (one pass per ms)
    uint32_t expire_cycle_ms = 500;  // every owned connection visited at least this often
    const std::atomic<bool> *stop = nullptr;
    loop_counters counters;
};

/**
 * Creates the three rings of ctx (names derived from ctx->index) with
 * `size` slots each. Main lcore, start-up. False and *error on failure.
 */
bool create_worker_rings(worker_context *ctx, unsigned size, std::string *error);
/** Frees what is left in the rings and the rings themselves. Main lcore, after the workers stopped.
 */
void free_worker_rings(worker_context *ctx);

/**
 * The worker lcore's entry point (rte_lcore_function_t); arg is a
 * worker_context. Runs until *ctx->stop becomes true, then flushes, goes
 * offline in RCU and returns 0.
 */
int worker_main(void *arg);

/** Milliseconds since an arbitrary start, from the TSC. Any thread. */
uint32_t tsc_now_ms();

}  // namespace nlb::dataplane
