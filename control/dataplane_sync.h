/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataplane_sync: pushes nlb-control's desired state to every nlb-dataplane
 * it manages, over nlb.dataplane.v1 on a unix socket (DESIGN.md "Dataplane
 * API"), and forwards stats and connection queries to them.
 *
 * One sync thread with its own store connection (SQLite WAL: it reads what
 * the API committed without taking the API's writer lock). After notify()
 * (called once a change is committed, or when a health state changes) it
 * reads the store, translates it (dataplane_translate.h), reconciles the
 * health prober's targets, and sends PutServices (batches of PutService, one
 * snapshot publication per batch; one PutService per service to a dataplane
 * without it) for every service whose content differs from what that
 * dataplane holds and DeleteService for every
 * service it holds that is no longer wanted. API calls never wait for it: a
 * dataplane that is down or slow only delays its own copy.
 *
 * Each dataplane is asked GetInfo every `info_interval` (every `retry_interval`
 * while one does not answer). On the first answer,
 * and whenever its instance id changes (it restarted), the sync reads
 * ListServices and pushes everything that differs (the full state on a fresh
 * dataplane), deleting services it does not want. When the same instance
 * answers again after being unreachable, only what could not be pushed
 * meanwhile is sent (a service someone else put is left alone). Versions come from one counter that
 * starts at the wall clock in microseconds (and above every version a dataplane reports), so they
 * grow per service across restarts of either process.
 *
 * Threads: every public method may be called from any thread.
 */
#pragma once

#include "dataplane.grpc.pb.h"
#include "dataplane_translate.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace nlb::health {
class health_prober;
}

namespace nlb::control {

/** Log sink: level 0 error, 1 warn, 2 info, 3 debug. */
using sync_log_fn = std::function<void(int level, const std::string &msg)>;

/** What one managed dataplane looks like from here. */
struct dataplane_status {
    std::string target;       // "unix:/run/nlb/dataplane.sock"
    bool connected = false;   // answered the last GetInfo
    std::string instance_id;  // of the last answer
    std::string last_error;   // "" when the last call succeeded
    // When it became unreachable (first failure after an answer, or the first failure of all
    // when it never answered); epoch when connected.
    std::chrono::system_clock::time_point unreachable_since{};
    uint64_t services = 0;    // services it holds, as far as we know
    uint64_t puts = 0, deletes = 0, full_syncs = 0;
};

/** Latency from notify() to the end of the push that covered it. */
struct sync_latency {
    uint64_t pushes = 0;  // syncs that followed a notify()
    std::chrono::microseconds last{0}, max{0};
};

/** What to do on one dataplane to go from what it holds to what is desired. */
struct sync_plan {
    std::vector<std::pair<dpv1::Service, uint64_t>> puts;        // service, version
    std::vector<std::pair<dpv1::ServiceKey, uint64_t>> deletes;  // key, version
};

/** What a dataplane holds (as far as we know): key text -> serialized service. */
using held_services = std::map<std::string, std::string>;

/**
 * Pure: the puts and deletes that turn `held` into `desired`. Each change
 * takes the next version from *next_version (pre-incremented). Services
 * whose content is the same are left alone.
 */
sync_plan plan_sync(const std::vector<dpv1::Service> &desired, const held_services &held,
                    uint64_t *next_version);

class dataplane_sync {
  public:
    /** A push sends at most this many services per PutServices call... */
    static constexpr size_t max_batch_services = 2000;
    /** ...and stops adding to a call once it holds this many bytes (gRPC's limit is 4 MB). */
    static constexpr size_t max_batch_bytes = 1 << 20;
    /** Largest answer taken from a dataplane (ListServices of a big one). */
    static constexpr int max_receive_bytes = 256 << 20;

    struct options {
        std::vector<std::string> targets;  // "unix:/path" (a bare path is taken as unix:)
        std::string state_path;            // the store nlb-control serves from
        sync_log_fn log;
        health::health_prober *prober = nullptr;  // optional: targets reconciled, states read
        std::chrono::milliseconds info_interval{250};
        /** GetInfo interval while a dataplane does not answer (down, or restarting). */
        std::chrono::milliseconds retry_interval{50};
        std::chrono::milliseconds rpc_timeout{2000};
        /** Called on the sync thread when a dataplane becomes reachable or unreachable. */
        std::function<void(const std::string &target, bool connected)> on_connection;
    };

    /** Opens its own store connection (throws store_error). Call start() to run. */
    explicit dataplane_sync(options opts);
    /** Stops the thread. */
    ~dataplane_sync();
    dataplane_sync(const dataplane_sync &) = delete;
    dataplane_sync &operator=(const dataplane_sync &) = delete;

    void start();
    void stop();

    /** The desired state may have changed: sync soon. Never blocks. */
    void notify();

    /** Health of a member as the translation and the views see it (the prober's, else INITIAL). */
    v1::HealthStatus health(const std::string &lb, const std::string &bs, const v1::Instance &in,
                            std::string *reason = nullptr) const;

    std::vector<dataplane_status> status() const;
    sync_latency latency() const;
    /** True when at least one dataplane is configured and connected. */
    bool any_connected() const;
    /** Names of the backend ids of the last translation. */
    std::optional<backend_name> name_of(uint64_t backend_id) const;

    /**
     * Active connections per backend id summed over every connected dataplane,
     * from a fresh GetStats; nullopt when no dataplane answered. Also refreshes
     * the cache read by cached_connections(). Blocks up to rpc_timeout.
     */
    std::optional<std::map<uint64_t, int64_t>> poll_connections();
    /** The last poll_connections() count of a backend (0 when unknown). Never blocks long. */
    int64_t cached_connections(uint64_t backend_id) const;
    /** PurgeBackend on every connected dataplane; connections reset in total. */
    uint64_t purge(uint64_t backend_id);

    /** GetStats on every connected dataplane (UNAVAILABLE when none answers). */
    grpc::Status get_stats(const dpv1::GetStatsRequest &req,
                           std::vector<dpv1::GetStatsResponse> *out);
    /** ListConnections on every connected dataplane, up to `limit` connections in all. */
    grpc::Status list_connections(const dpv1::ListConnectionsRequest &req, size_t limit,
                                  std::vector<dpv1::Connection> *out);

  private:
    struct dataplane;
    void run();
    void check_info(dataplane &dp);
    void push(dataplane &dp, const desired_services &want);
    bool full_resync(dataplane &dp);
    void reconcile_prober(const desired_input &in);
    void mark_down(dataplane &dp, const std::string &what, const grpc::Status &st);
    grpc::ClientContext *with_deadline(grpc::ClientContext *ctx) const;

    options opts_;
    std::unique_ptr<store> store_;  // sync thread only
    std::vector<std::unique_ptr<dataplane>> dps_;

    mutable std::mutex mu_;  // guards what other threads read: status, names, counts, latency
    std::condition_variable cv_;
    bool dirty_ = true;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point dirty_since_{};
    bool dirty_pending_ = false;  // a notify() not yet covered by a finished push
    sync_latency latency_;
    std::map<uint64_t, backend_name> names_;
    std::map<uint64_t, int64_t> connections_;
    uint64_t next_version_ = 0;                         // sync thread only
    std::map<std::string, std::string> probe_targets_;  // sync thread only: key -> settings text
    // Sync thread only: backend ids a dataplane held ACTIVE at its full resync. Until the prober
    // judges such an instance (it is INITIAL after a restart of nlb-control), it stays ACTIVE
    // rather than being withdrawn, so a restart never moves traffic.
    std::set<uint64_t> adopted_;
    std::thread thread_;
};

}  // namespace nlb::control
