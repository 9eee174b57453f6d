/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The desired state of nlb-control (nlb.v1 resources in the store) as the
 * dataplane's services (nlb.dataplane.v1). Pure functions; any thread.
 *
 * One dataplane service per listener x VIP of its load balancer, when the
 * listener's backend service has a server group or instances still draining
 * out of it:
 *  - key: the VIP, the listener's port and protocol; mode: the listener's;
 *    scheduler: the backend service's; persistence: its timeout when session
 *    persistence is on, else 0.
 *  - backends: the group's instances of the VIP's address family (others are
 *    skipped, in every mode), then the instances draining out of the backend
 *    service (store draining records whose deadline has not passed) that are
 *    not members again.
 *  - port: NAT: the instance port (virtual groups; unset = the backend
 *    service port) or the backend service port (availability groups). DSR and
 *    TUNNEL do not rewrite the destination port, so the backend must listen on
 *    the VIP's port: their backends are sent with the listener port.
 *  - weight: the instance weight (default 10; 0 = no new connections).
 *  - state: ACTIVE when the member is HEALTHY, or when the service fails open
 *    (members, none HEALTHY, at least one UNHEALTHY: SPEC.md rule 8 as the
 *    prober reads it); otherwise DRAINING (INITIAL and UNHEALTHY members keep
 *    their established flows only). Draining instances are always DRAINING.
 *  - id: backend_id() — the same on every appliance (Maglev tables depend on
 *    the ids), and new when the instance's address changes, so a re-addressed
 *    instance never inherits the old address's flows.
 *  - Two backends with the same address and port in one service: the first
 *    (members before draining instances) is kept.
 */
#pragma once

#include "dataplane.pb.h"
#include "nlb.pb.h"
#include "store.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace nlb::control {

namespace dpv1 = nlb::dataplane::v1;

/** Everything the translation reads, loaded from the store at one point in time. */
struct desired_input {
    std::vector<v1::LoadBalancer> load_balancers;
    std::vector<v1::Listener> listeners;
    std::vector<v1::BackendService> backend_services;
    std::vector<v1::ServerGroup> server_groups;
    std::vector<draining_instance> draining;  // deadlines not passed yet
};

/** Health of instance `in` as a member of backend service lb/bs. */
using health_lookup = std::function<v1::HealthStatus(const std::string &lb, const std::string &bs,
                                                     const v1::Instance &in)>;

/** Who a dataplane backend id stands for. */
struct backend_name {
    std::string load_balancer;
    std::string backend_service;
    std::string instance_id;
    std::string address;
};

/** The dataplane services and the names of their backend ids. */
struct desired_services {
    std::vector<dpv1::Service> services;  // sorted by key (service_key_text)
    std::map<uint64_t, backend_name> names;
};

/** FNV-1a 64 of "lb/bs/instance_id/address"; never 0. */
uint64_t backend_id(const std::string &lb, const std::string &bs, const std::string &instance_id,
                    const std::string &address);

/** "vip:port/tcp" ("[v6]:port/udp"): a printable, unique key of a dataplane service. */
std::string service_key_text(const dpv1::ServiceKey &key);

/** The dataplane services for `in`, with member health from `health`. */
desired_services translate(const desired_input &in, const health_lookup &health);

/**
 * Reads every load balancer, listener, backend service, server group and
 * unexpired draining record from `st`. The reads are separate statements, so a
 * change committed meanwhile may be half seen: callers re-run after every
 * change notification, which comes after the commit. Throws store_error. The
 * caller owns `st` (not thread-safe).
 */
desired_input load_desired(store &st, int64_t now_unix);

/** Every draining record of every existing backend service, expired or not. Throws store_error. */
std::vector<draining_instance> load_all_draining(store &st);

}  // namespace nlb::control
