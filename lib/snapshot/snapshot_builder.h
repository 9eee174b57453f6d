/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshot_builder: turns the desired forwarding state (plain structs, no
 * strings) into an immutable snapshot, keeping indices stable against the
 * previous snapshot:
 *
 *  - a service (same key) keeps its stable index;
 *  - a backend with the same id, address, family and port in the same service
 *    keeps its slot and generation; a backend that is gone frees its slot,
 *    whose generation changes, and a later reuse changes it again, so no
 *    connection's backend_ref can match a different backend;
 *  - WRR sequences and Maglev tables are shared with the previous snapshot
 *    when a service's backend ids and effective weights are unchanged, and
 *    rebuilt (with the Maglev delta counted) otherwise.
 *
 * Agent only (it allocates). The previous snapshot is only read, so it may be
 * the one workers are using.
 */
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/types.h"
#include "snapshot/snapshot.h"

namespace nlb {

struct backend_spec {
    uint64_t id;  // stable id from the control plane
    ip_addr addr;
    ip_family family;
    uint16_t port_be;     // 1–65535, network byte order
    uint8_t weight;       // 0–100; 0 = no new connections
    backend_state state;  // draining = no new connections
};

struct service_spec {
    service_key key;  // VIP, port (network order, 1–65535), tcp/udp, family
    fwd_mode mode;
    sched_kind sched;
    uint32_t persistence_timeout_s;  // 0 = off, else 1–3600
    uint32_t maglev_size;            // 0 = the builder's default; else one of maglev_allowed_sizes
    uint64_t version;                // the control plane's version, copied into the snapshot
    std::vector<backend_spec> backends;
};

/**
 * Sizes of the per-worker arrays (scheduler cursors and counters per service,
 * WLC counts and counters per backend slot: about 40 bytes per backend slot
 * and 36 per service, per worker, allocated at start). The defaults hold
 * 10 000 services with 100 000 backends (5 MB + 0.6 MB per worker).
 */
struct snapshot_limits {
    uint32_t max_services = 16384;   // stable service indices are < this
    uint32_t max_backends = 131072;  // backend slots are < this
    uint32_t maglev_size = maglev_default_size;
};

/** Result of a build: a snapshot, or an error and no snapshot. */
struct snapshot_build {
    std::unique_ptr<snapshot> snap;
    std::string error;                      // empty on success; "service 198.18.0.1:80/tcp: …"
    uint32_t maglev_tables_built = 0;       // tables (re)computed; the others were shared
    uint64_t maglev_positions_changed = 0;  // sum of the rebuilt tables' deltas
};

class snapshot_builder {
  public:
    /** Limits must match the worker_sched instances the workers were given. */
    explicit snapshot_builder(const snapshot_limits &limits = {}) : limits_(limits) {}

    /**
     * Agent: validates desired (no duplicate service keys or backends, ranges,
     * families matching addresses and modes) and builds the snapshot that
     * follows prev (null for the first one). On invalid input returns an
     * error and no snapshot; prev is never modified.
     */
    snapshot_build build(std::span<const service_spec> desired, const snapshot *prev) const;

    const snapshot_limits &limits() const { return limits_; }

  private:
    snapshot_limits limits_;
};

/** Checks one service on its own; returns an empty string when it is valid. */
std::string validate_service(const service_spec &svc, const snapshot_limits &limits);

}  // namespace nlb
