/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_state: what the agent API (nlb.dataplane.v1, proto/dataplane/) does,
 * without gRPC, so it can be tested against a real in-process datapath.
 *
 * It keeps the desired services keyed by (VIP, port, protocol) with their
 * versions (proto file comment: APPLIED / UNCHANGED / STALE), validates every
 * request before touching anything, builds the next snapshot from ALL desired
 * services with snapshot_builder and publishes it with snapshot_manager. A
 * mutating call returns only after publish() did, i.e. once every online
 * worker has passed a quiescent state and sees the change.
 *
 * Threads: every public method may be called from any thread (gRPC handler
 * threads); mutations and snapshot reads are serialised by one mutex, so there
 * is a single snapshot writer. The datapath objects of agent_datapath must
 * outlive the agent_state. No worker lcore ever calls into it.
 */
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conn/conn_table.h"
#include "core/types.h"
#include "dataplane.pb.h"
#include "pipeline/worker.h"
#include "snapshot/snapshot_builder.h"
#include "snapshot/snapshot_manager.h"

namespace nlb::dataplane {

/** One worker as the agent sees it (for stats). */
struct agent_worker {
    const worker *pipeline = nullptr;      // its counters, per service / backend, WLC active counts
    unsigned lcore = 0;                    // EAL lcore id (reported as LcoreStats.lcore)
    const counter *rounds = nullptr;       // optional: loop rounds (busy + idle polls)
    const counter *idle_rounds = nullptr;  // optional: rounds that received nothing
};

/** One appliance port as the agent reports it (GetInfo, GetStats). */
struct agent_port {
    unsigned index = 0;  // position in the configuration (= datapath port index)
    std::string name, device, driver, mac, role;
    std::vector<std::string> addresses;  // "198.18.0.1/24"
    uint16_t mtu = 0;
    uint16_t rx_queues = 0, tx_queues = 0;
    bool rss = false;
    bool ethdev = false;   // true: port_id is a started ethdev (stats and link are read from it)
    uint16_t port_id = 0;  // ethdev port id
};

/**
 * The datapath objects the agent works on; main.cc fills it once at start-up.
 * Pointers are borrowed and must outlive the agent_state.
 */
struct agent_datapath {
    conn_table *conns = nullptr;            // required
    snapshot_manager *snapshots = nullptr;  // required; the agent is its only writer
    snapshot_limits limits{};  // must match the workers' (datapath::max_services/max_backends)
    std::vector<agent_worker> workers;  // index i = worker index i
    std::vector<agent_port> ports;
    /**
     * An RCU reader id on snapshots->rcu() reserved for the agent (registered,
     * never used by another thread), or -1. With one, PurgeBackend walks the
     * connection table online, so no entry it marks dead can be a reused one.
     */
    int rcu_id = -1;
    /** How long publish() may wait for the workers before the call reports DEADLINE_EXCEEDED. */
    std::chrono::milliseconds publish_limit{1000};
    /**
     * Drops counted on the main lcore (slow path: to_host, no_neighbour,
     * tx_full, no_mbuf, ...), drop_reason_count counters indexed by reason, or
     * null. They join the totals of GetStats.
     */
    const counter *main_lcore_drops = nullptr;
    /** The connection table's clock (worker_loop's tsc_now_ms() in the daemon); required. */
    std::function<uint32_t()> now_ms;
};

/** gRPC-compatible status codes (same numbers as grpc::StatusCode). */
enum class agent_code : int {
    ok = 0,
    invalid_argument = 3,
    deadline_exceeded = 4,
    not_found = 5,
    failed_precondition = 9,
    internal = 13,
};

struct agent_status {
    agent_code code = agent_code::ok;
    std::string
        message;  // names the field: "service.backends[1].weight: 101 is out of range 0..100"
    bool ok() const { return code == agent_code::ok; }
};

/** A VIP address (for ARP / ND answers and announcements). */
struct agent_vip {
    ip_addr addr;
    ip_family family;
    bool operator<(const agent_vip &o) const;
    bool operator==(const agent_vip &o) const { return addr == o.addr && family == o.family; }
};

class agent_state {
  public:
    /**
     * Called after every publication that changed the set of VIPs (any
     * service's VIP), with the addresses that appeared and disappeared. Runs
     * on the calling gRPC thread with the agent's mutex held: it must be quick
     * and must not call back into agent_state (queue the work, e.g. for the
     * slow path's announce()).
     */
    using vips_hook = std::function<void(const std::vector<agent_vip> &added,
                                         const std::vector<agent_vip> &removed)>;

    /** Start-up. dp.conns, dp.snapshots and dp.now_ms are required. */
    explicit agent_state(agent_datapath dp);

    void on_vips_changed(vips_hook hook);

    /**
     * PutService: validates (addresses, families, ranges, enums, unique
     * backend ids, limits), then applies the version rules and publishes.
     * A refused request changes nothing. resp gets the result and the version held.
     */
    agent_status put_service(const v1::PutServiceRequest &req, v1::PutServiceResponse *resp);
    /**
     * PutServices: every entry checked as put_service does (errors name the
     * entry: "puts[2].service.key.vip: ..."; a key given twice is refused), then
     * all changes published in ONE snapshot. A refused request changes nothing;
     * resp gets one result per entry (APPLIED / UNCHANGED / STALE).
     */
    agent_status put_services(const v1::PutServicesRequest &req, v1::PutServicesResponse *resp);
    /** DeleteService: removes the service (its flows are reset on their next packet). */
    agent_status delete_service(const v1::DeleteServiceRequest &req,
                                v1::DeleteServiceResponse *resp);
    /** ListServices: every service held, with versions (sorted by key), and instance_id. */
    void list_services(v1::ListServicesResponse *resp) const;
    /**
     * PurgeBackend: takes the backend out of the services that still list it
     * (a new snapshot; it stays out while later puts list it as DRAINING) and
     * marks its connections dead, including those of a backend the control
     * process already removed, so the owners free them. connections_reset
     * tells how many were marked; an unknown id purges nothing (OK, 0).
     */
    agent_status purge_backend(const v1::PurgeBackendRequest &req, v1::PurgeBackendResponse *resp);

    /** GetStats: counters summed over the workers, per port, lcore, service and backend. */
    agent_status get_stats(const v1::GetStatsRequest &req, v1::GetStatsResponse *resp) const;
    /** ListConnections: one page of the connection table, filtered. */
    agent_status list_connections(const v1::ListConnectionsRequest &req,
                                  v1::ListConnectionsResponse *resp) const;
    /** What the current snapshot holds: services, backends and its memory (GetInfo). */
    void fill_snapshot_info(v1::GetInfoResponse *resp) const;
    /** GetInfo fields that come from the datapath (ports, lcores, capacity). */
    void fill_info(v1::GetInfoResponse *resp) const;

    /** Reported by ListServices (and GetInfo, filled by the server). */
    void set_instance_id(const std::string &id);
    std::string instance_id() const;

    /** The VIPs of the services held now. */
    std::vector<agent_vip> vips() const;
    const agent_datapath &datapath() const { return dp_; }

  private:
    struct key_less {
        bool operator()(const service_key &a, const service_key &b) const;
    };
    struct record {
        v1::Service service;  // as held (addresses in canonical text)
        uint64_t version = 0;
        bool deleted = false;       // a tombstone: remembers the delete's version
        std::set<uint64_t> purged;  // DRAINING backend ids purged: left out of snapshots
        service_spec spec;
    };
    using record_map = std::map<service_key, record, key_less>;
    /** A backend that left the snapshot: its connections can still be purged by id. */
    struct removed_backend {
        uint64_t id;
        service_key service;
        backend_ref ref;
    };
    static constexpr size_t max_removed = 65536;

    /** Records replacing (or adding to) records_, at most one per key. */
    using change_list = std::vector<std::pair<service_key, record>>;
    /**
     * Builds and publishes a snapshot of records_ with `changes` in place and
     * moves them into records_; on a build error (INVALID_ARGUMENT) nothing
     * changes. DEADLINE_EXCEEDED when publish() timed out (published all the
     * same). mu_ held.
     */
    agent_status apply(change_list changes);
    /**
     * One put checked against records_ (and the keys of `earlier` in the same
     * batch); `field` prefixes error fields. Sets resp; *change gets the new
     * record when the put is to be applied (left empty for STALE/UNCHANGED). mu_ held.
     */
    agent_status check_put(const v1::PutServiceRequest &req, const std::string &field,
                           const change_list &earlier, v1::PutServiceResponse *resp,
                           std::optional<std::pair<service_key, record>> *change) const;
    std::set<agent_vip> vip_set(const record_map &records) const;
    /** Marks dead every connection for which pred(const conn &) holds; returns how many. */
    template <class F>
    uint64_t mark_dead_where(F &&pred);

    agent_datapath dp_;
    snapshot_builder builder_;
    mutable std::mutex mu_;
    record_map records_;
    std::deque<removed_backend> removed_;  // oldest first, at most max_removed
    vips_hook vips_hook_;
    std::string instance_id_;
};

/* Conversions between the API's messages and the datapath's types (agent_convert.cc). */

/**
 * Checks a Service message field by field and converts it; false and *error
 * naming the field ("service.backends[0].address: 'x' is not an IPv4 or IPv6
 * address") on the first problem.
 */
bool service_from_proto(const v1::Service &in, const snapshot_limits &limits, service_spec *out,
                        std::string *error);
/** Checks and converts a ServiceKey; `field` prefixes the error ("key"). */
bool key_from_proto(const v1::ServiceKey &in, const std::string &field, service_key *out,
                    std::string *error);
void key_to_proto(const service_key &k, v1::ServiceKey *out);
/** "198.18.1.1:80/tcp", "[2001:2:0:1::1]:443/udp". */
std::string describe_key(const service_key &k);
v1::ConnectionState state_to_proto(tcp_state s);

}  // namespace nlb::dataplane
