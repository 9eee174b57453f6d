/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The desired state of nlb-control in SQLite (WAL, synchronous=FULL,
 * foreign keys on). Each resource is one row: its keys and references as
 * columns (so SQLite enforces them) and its full nlb.v1 message as a blob.
 *
 * Thread safety: none. The service owns one store and serialises every call
 * under its single writer lock (DESIGN.md "One writer"). Every API change is
 * made inside one `transaction`, so a crash leaves either all of it or none.
 * Errors throw store_error (never an empty state in its place).
 */
#pragma once

#include "nlb.pb.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct sqlite3;

namespace nlb::control {

struct store_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/** An instance that left a backend service and drains until its deadline (rule 7). */
struct draining_instance {
    std::string load_balancer;
    std::string backend_service;
    v1::Instance instance;  // port resolved (the backend service port for availability groups)
    int64_t deadline_unix;
};

class store {
  public:
    /** Schema version this build writes; older databases are migrated on open. */
    static constexpr int schema_version = 2;

    /** How open() treats a missing file. */
    enum class if_missing {
        create,  // create it (and its directory): a first start (nlb-control --init-state)
        fail,    // throw: the file was deleted, or this is a first start without --init-state
    };

    /**
     * Opens the state database at `path` and migrates an older schema. A
     * missing file is created (with its directory) only with
     * if_missing::create, and never while a write-ahead log `path`-wal of a
     * deleted database is left. Throws store_error, naming the file, when it
     * is missing (with if_missing::fail), empty (0 bytes: truncated), not a
     * regular file, not readable and writable (mode, read-only file system,
     * immutable), in a directory it cannot write to (the WAL files live
     * there), not a SQLite database, damaged (PRAGMA quick_check fails, e.g.
     * cut short), not an nlb state database, or of a newer schema than this
     * build.
     */
    static std::unique_ptr<store> open(const std::string &path,
                                       if_missing missing = if_missing::create);
    ~store();
    store(const store &) = delete;
    store &operator=(const store &) = delete;

    /** BEGIN IMMEDIATE on construction; rolls back unless commit() was called. */
    class transaction {
      public:
        explicit transaction(store &s);
        ~transaction();
        void commit();

      private:
        store &s_;
        bool done_ = false;
    };

    /** The schema version stored in the database. */
    int version();

    // Load balancers (VIP addresses are unique across load balancers).
    std::optional<v1::LoadBalancer> get_load_balancer(const std::string &name);
    std::vector<v1::LoadBalancer> list_load_balancers(const std::string &after, int limit);
    void put_load_balancer(const v1::LoadBalancer &lb, bool insert);
    void delete_load_balancer(const std::string &name);
    /** The load balancer owning `address` (canonical text), if any. */
    std::optional<std::string> vip_owner(const std::string &address);

    // Listeners.
    std::optional<v1::Listener> get_listener(const std::string &lb, const std::string &name);
    std::vector<v1::Listener> list_listeners(const std::string &lb, const std::string &after,
                                             int limit);
    void put_listener(const v1::Listener &l, bool insert);
    void delete_listener(const std::string &lb, const std::string &name);
    /** Name of the listener of `lb` on protocol/port, if any. */
    std::optional<std::string> listener_on(const std::string &lb, int protocol, int port);
    /** Names of the listeners of `lb` that use backend service `bs`. */
    std::vector<std::string> listeners_using(const std::string &lb, const std::string &bs);
    /** Number of listeners and backend services of `lb`. */
    int count_children(const std::string &lb);

    // Backend services.
    std::optional<v1::BackendService> get_backend_service(const std::string &lb,
                                                          const std::string &name);
    std::vector<v1::BackendService> list_backend_services(const std::string &lb,
                                                          const std::string &after, int limit);
    void put_backend_service(const v1::BackendService &bs, bool insert);
    void delete_backend_service(const std::string &lb, const std::string &name);
    /** Every backend service associated with server group `group`. */
    std::vector<v1::BackendService> backend_services_using(const std::string &group);

    // Server groups.
    std::optional<v1::ServerGroup> get_server_group(const std::string &name);
    std::vector<v1::ServerGroup> list_server_groups(const std::string &after, int limit);
    void put_server_group(const v1::ServerGroup &sg, bool insert);
    void delete_server_group(const std::string &name);

    // Draining records (read by the later draining timers; deadlines survive restarts).
    /** Records (or extends) a draining instance; replaces an earlier record of the same id. */
    void add_draining(const draining_instance &d);
    /** Forgets a draining record (the instance rejoined the backend service). */
    void remove_draining(const std::string &lb, const std::string &bs,
                         const std::string &instance_id);
    /** Forgets every draining record of one backend service (it is deleted or re-created). */
    void remove_all_draining(const std::string &lb, const std::string &bs);
    /** Draining records of one backend service whose deadline is after `now_unix`. */
    std::vector<draining_instance> list_draining(const std::string &lb, const std::string &bs,
                                                 int64_t now_unix);

  private:
    explicit store(sqlite3 *db, std::string path);
    void exec(const char *sql);
    void migrate(int from);

    sqlite3 *db_;
    std::string path_;
};

}  // namespace nlb::control
