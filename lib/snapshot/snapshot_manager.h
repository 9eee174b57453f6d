/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot_manager: publishes forwarding snapshots to the workers through RCU
 * (DESIGN.md "Configuration is an immutable snapshot").
 *
 * The writer (the agent on the main lcore; one thread only) publishes a new
 * snapshot with one release-store of the current pointer, then waits until
 * every online worker has reported a quiescent state (rte_rcu_qsbr) before
 * freeing the previous one. So a worker may use the snapshot it got from
 * current() until its next quiescent(): that is, for a whole burst.
 *
 * Worker loop:
 *
 *     mgr.online(w);
 *     while (running) {
 *         const snapshot *s = mgr.current();   // once per burst
 *         ... forward the burst with s ...
 *         mgr.quiescent(w);                    // s must not be used after this
 *         if (idle for a while) { mgr.offline(w); sleep; mgr.online(w); }
 *     }
 *     mgr.offline(w);
 *
 * An offline worker holds no snapshot and does not delay publication; a
 * worker that stops calling quiescent() while online does (publish() then
 * returns false after its time limit, and the old snapshot is freed by a later
 * publish() or reclaim()).
 *
 * Worker ids are 0..workers-1: worker indices, not EAL lcore ids, so any
 * thread (std::thread in tests) can be a worker. Nothing here needs EAL.
 */
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "core/types.h"
#include "snapshot/snapshot.h"

namespace nlb {

class snapshot_manager {
  public:
    /** Frees a retired snapshot; the default deletes it. Runs on the writer thread. */
    using reclaimer = std::function<void(snapshot *)>;

    /**
     * Start-up: a manager for workers 0..workers-1 (1 ≤ workers ≤
     * max_workers), all registered and offline, with no current snapshot.
     * Returns null and sets *error when RCU cannot be set up.
     */
    static std::unique_ptr<snapshot_manager> create(unsigned workers, std::string *error,
                                                    reclaimer reclaim = {});
    /**
     * Frees the current and every retired snapshot without waiting: the
     * workers must have stopped using them (stopped, or offline for good).
     */
    ~snapshot_manager();
    snapshot_manager(const snapshot_manager &) = delete;
    snapshot_manager &operator=(const snapshot_manager &) = delete;

    /**
     * Worker (or the writer): the current snapshot (acquire load), null before
     * the first publish. A worker may use it until its next quiescent() or
     * offline().
     */
    const snapshot *current() const { return current_.load(std::memory_order_acquire); }

    /** Worker: reports that it holds no snapshot pointer now. Call between bursts. */
    void quiescent(unsigned worker) { rte_rcu_qsbr_quiescent(qsbr_, worker); }
    /** Worker: stops taking part (idle sleep, shutdown); it must hold no snapshot. */
    void offline(unsigned worker) { rte_rcu_qsbr_thread_offline(qsbr_, worker); }
    /** Worker: takes part again; call before the next current(). */
    void online(unsigned worker) { rte_rcu_qsbr_thread_online(qsbr_, worker); }

    /**
     * Writer: makes next the current snapshot, then waits (spinning, then
     * yielding) until every online worker has passed a quiescent state, and
     * frees the snapshots that no worker can hold any more. Returns true once
     * the new snapshot is the one every worker sees from its next current()
     * on; false when wait_limit passed first (next is published all the same;
     * the old snapshot is kept and freed by a later publish() or reclaim()).
     */
    bool publish(std::unique_ptr<snapshot> next,
                 std::chrono::nanoseconds wait_limit = std::chrono::nanoseconds::max());

    /** Writer: frees the retired snapshots every worker has passed; returns how many. */
    size_t reclaim();
    /** Writer: snapshots replaced but not yet freed. */
    size_t retired() const { return retired_.size(); }
    /** Writer: number of publish() calls so far. */
    uint64_t publications() const { return publications_; }
    unsigned workers() const { return workers_; }

    /**
     * Start-up: the RCU variable itself, for other structures read by the
     * same workers (the connection table's entry reuse), so that one
     * quiescent() per burst covers them all. Workers 0..workers-1 are
     * registered on it. Other users may call rte_rcu_qsbr_start/check on it
     * from any thread; they must not register, unregister or reinitialise.
     */
    rte_rcu_qsbr *rcu() const { return qsbr_; }

  private:
    snapshot_manager(unsigned workers, rte_rcu_qsbr *qsbr, reclaimer reclaim);
    void free_snapshot(snapshot *s);

    struct retired_snapshot {
        snapshot *snap;
        uint64_t token;  // rte_rcu_qsbr_start() token taken after it was replaced
    };

    // Read by every worker per burst; written once per publication.
    alignas(cache_line) std::atomic<const snapshot *> current_{nullptr};
    rte_rcu_qsbr *qsbr_;
    // Writer only.
    alignas(cache_line) std::deque<retired_snapshot> retired_;
    reclaimer reclaim_;
    unsigned workers_;
    uint64_t publications_ = 0;
};

}  // namespace nlb
