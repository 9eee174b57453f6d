/* SPDX-License-Identifier: Apache-2.0 */
/*
 * drain_timers: ends connection draining (SPEC.md rule 7). The API records an
 * instance that leaves a backend service in the store's draining table with
 * its deadline (store.h), so deadlines survive restarts of nlb-control. This
 * thread, with its own store connection, looks at every record each
 * `poll_interval` and ends a drain when its deadline has passed or when the
 * instance has no active connection left on any dataplane (a fresh GetStats
 * of the same pass). Ending a drain: the record is deleted and the sync is
 * notified, so the instance leaves the dataplane services; the dataplane then
 * answers the next packet of each of its remaining TCP connections with an
 * RST to the client. `purge_grace` later, PurgeBackend on every dataplane
 * forgets the connections that sent nothing meanwhile (purging at once would
 * forget them before their next packet, which then gets no RST). A purge
 * still pending when nlb-control stops is lost: those entries expire by their
 * own idle timeouts. A drain timeout of 0 records nothing: the instance
 * leaves the services at once and the dataplane resets its connections.
 *
 * Threads: start/stop from the owner; tick() from the timer thread (or a test,
 * when not started).
 */
#pragma once

#include "dataplane_sync.h"
#include "store.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace nlb::control {

/** Why a drain ends now, if it does. */
enum class drain_end { not_yet, deadline, idle };

/**
 * Pure: whether draining record `d` ends at `now_unix`, given the active
 * connections per backend id (nullopt: no dataplane answered, so only the
 * deadline counts; an id missing from the map has no connection).
 */
drain_end drain_due(const draining_instance &d, int64_t now_unix,
                    const std::optional<std::map<uint64_t, int64_t>> &connections);

class drain_timers {
  public:
    struct options {
        std::string state_path;
        dataplane_sync *sync = nullptr;  // required
        sync_log_fn log;
        std::chrono::milliseconds poll_interval{100};
        std::chrono::milliseconds purge_grace{3000};
        std::function<int64_t()> now_unix;  // default: the wall clock
    };

    /** Opens its own store connection (throws store_error). */
    explicit drain_timers(options opts);
    ~drain_timers();
    drain_timers(const drain_timers &) = delete;
    drain_timers &operator=(const drain_timers &) = delete;

    void start();
    void stop();

    /** One pass over every draining record; returns how many drains ended. Throws store_error. */
    size_t tick();
    /** Drains ended so far. */
    uint64_t ended() const { return ended_.load(); }

  private:
    void run();
    /** PurgeBackend for every pending purge whose grace has passed. */
    void purge_due();

    options opts_;
    std::vector<std::pair<std::chrono::steady_clock::time_point, uint64_t>>
        purges_;  // timer thread
    std::unique_ptr<store> store_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::atomic<uint64_t> ended_{0};
    std::thread thread_;
};

}  // namespace nlb::control
