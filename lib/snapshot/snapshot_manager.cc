/* SPDX-License-Identifier: Apache-2.0 */
#include "snapshot/snapshot_manager.h"

#include <cstdlib>
#include <thread>

namespace nlb {

std::unique_ptr<snapshot_manager> snapshot_manager::create(unsigned workers, std::string *error,
                                                           reclaimer reclaim) {
    if (workers == 0 || workers > max_workers) {
        if (error) *error = "worker count must be 1-" + std::to_string(max_workers);
        return nullptr;
    }
    size_t size = rte_rcu_qsbr_get_memsize(workers);
    size = (size + RTE_CACHE_LINE_SIZE - 1) / RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE;
    // Plain aligned memory rather than rte_zmalloc: the manager works without
    // EAL, so tests can run workers as std::threads.
    auto *qsbr = static_cast<rte_rcu_qsbr *>(std::aligned_alloc(RTE_CACHE_LINE_SIZE, size));
    if (!qsbr || rte_rcu_qsbr_init(qsbr, workers) != 0) {
        std::free(qsbr);
        if (error) *error = "cannot initialise the RCU quiescent-state variable";
        return nullptr;
    }
    for (unsigned w = 0; w < workers; w++) {
        if (rte_rcu_qsbr_thread_register(qsbr, w) != 0) {
            std::free(qsbr);
            if (error) *error = "cannot register RCU worker " + std::to_string(w);
            return nullptr;
        }
    }
    return std::unique_ptr<snapshot_manager>(
        new snapshot_manager(workers, qsbr, std::move(reclaim)));
}

snapshot_manager::snapshot_manager(unsigned workers, rte_rcu_qsbr *qsbr, reclaimer reclaim)
    : qsbr_(qsbr), reclaim_(std::move(reclaim)), workers_(workers) {}

snapshot_manager::~snapshot_manager() {
    for (auto &r : retired_) free_snapshot(r.snap);
    free_snapshot(const_cast<snapshot *>(current_.load(std::memory_order_relaxed)));
    std::free(qsbr_);
}

void snapshot_manager::free_snapshot(snapshot *s) {
    if (!s) return;
    if (reclaim_)
        reclaim_(s);
    else
        delete s;
}

bool snapshot_manager::publish(std::unique_ptr<snapshot> next,
                               std::chrono::nanoseconds wait_limit) {
    const snapshot *old = current_.exchange(next.release(), std::memory_order_release);
    // rte_rcu_qsbr_thread_online() orders a worker's going online before its
    // first current() with a full fence; this one orders the pointer store
    // before reading the workers' states, so either the worker sees the new
    // pointer or we see it online and wait for it.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // rte_rcu_qsbr_start()/check() are inline (header) functions, unlike
    // rte_rcu_qsbr_synchronize(); using them keeps the whole protocol in code
    // ThreadSanitizer instruments (DPDK's shared libraries are not).
    uint64_t token = rte_rcu_qsbr_start(qsbr_);
    publications_++;
    if (old) retired_.push_back({const_cast<snapshot *>(old), token});

    auto start = std::chrono::steady_clock::now();
    for (unsigned spins = 0;; spins++) {
        if (rte_rcu_qsbr_check(qsbr_, token, false)) break;
        if (spins >= 64) {
            if (std::chrono::steady_clock::now() - start >= wait_limit) {
                reclaim();
                return false;
            }
            std::this_thread::yield();
        } else {
            rte_pause();
        }
    }
    reclaim();
    return true;
}

size_t snapshot_manager::reclaim() {
    size_t n = 0;
    // Tokens grow with each publication, so once one is not yet acknowledged
    // neither is any later one.
    while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false)) {
        free_snapshot(retired_.front().snap);
        retired_.pop_front();
        n++;
    }
    return n;
}

}  // namespace nlb
