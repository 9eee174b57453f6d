/* SPDX-License-Identifier: Apache-2.0 */
/*
 * health_prober: TCP and HTTP/1.1 health checks of backend instances from the
 * host's kernel stack, in one event-loop thread (epoll; non-blocking sockets;
 * no thread per probe), with per-target settings and jittered schedules.
 *
 * A target is one instance as a member of one backend service: the same
 * instance in two services is two targets, each probed with its service's
 * settings. Each target follows SPEC.md rule 8 (see apply_result in
 * health_state.h for the exact reading). A service is "fail open" when it has
 * targets, none is HEALTHY and at least one has been judged UNHEALTHY; a
 * service whose targets are all still INITIAL is not fail open (rule 8: no
 * new connections until a first check passes).
 *
 * Probes:
 *  - TCP: passes when the non-blocking connect completes within the timeout.
 *    The socket is then closed normally (FIN, not RST), so backends see an
 *    ordinary short connection rather than a reset; the cost is a TIME_WAIT
 *    on the prober's side, which the kernel shares across destinations.
 *  - HTTP: after the connect, sends "GET <path> HTTP/1.1" with Host,
 *    "Connection: close" and "User-Agent: nlb-health/1", reads until the
 *    status line is complete (over any number of reads), passes when the code
 *    is in the normal classes; everything in one timeout counted from the
 *    start of the connect.
 *  - Failure reasons: "refused", "timeout", "reset", "no route",
 *    "closed" (EOF before any response byte), "bad response" (not an HTTP/1.x
 *    status line, or EOF inside it), "status NNN", "error: <strerror>".
 *  - An optional source address (per family) is bound before connect, with
 *    IP_BIND_ADDRESS_NO_PORT so the ephemeral port is still chosen per
 *    destination by connect.
 *  - Schedule: the first probe of a new target runs at a random point of its
 *    first interval (or at once when spread_first_probe is off); each next
 *    probe starts interval x (1 +/- jitter) after the previous start, never
 *    before the previous probe ended. At most max_in_flight probes run at
 *    once; the rest wait in FIFO order, and their timeout starts when they do.
 *
 * Threads: upsert/remove/state/service_fail_open/stats may be called from any
 * thread (one mutex guards the registry; the loop holds it only for
 * non-blocking work and is woken through an eventfd). Callbacks run on the
 * loop thread, without the mutex held, so they may call state().
 */
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/types.h"
#include "health_state.h"

namespace nlb::health {

/** Identifies a target: an instance as a member of a backend service. */
struct target_key {
    std::string service;
    std::string instance;
    bool operator==(const target_key &o) const {
        return service == o.service && instance == o.instance;
    }
};

/** Where a target is probed. */
struct target {
    target_key key;
    ip_addr addr{};
    ip_family family = ip_family::v4;
    uint16_t traffic_port = 0;  // host order; probed when settings.port is 0
};

struct prober_options {
    std::optional<ip_addr> source_v4;  // bound before connect when set
    std::optional<ip_addr> source_v6;
    double jitter = 0.1;             // fraction of the interval, 0..0.5
    bool spread_first_probe = true;  // false: a new target is probed at once
    unsigned max_in_flight = 4096;   // concurrent probes; the rest queue
};

/** Counters of the prober as a whole. */
struct prober_stats {
    uint64_t targets = 0;
    uint64_t in_flight = 0;
    uint64_t queued = 0;
    uint64_t probes_started = 0;
    uint64_t probes_completed = 0;
};

using change_fn = std::function<void(const target_key &, status old_st, status new_st,
                                     const std::string &reason)>;
using fail_open_fn = std::function<void(const std::string &service, bool fail_open)>;

class health_prober {
  public:
    explicit health_prober(prober_options options = {});
    /** Stops the loop if running and closes every probe socket. */
    ~health_prober();
    health_prober(const health_prober &) = delete;
    health_prober &operator=(const health_prober &) = delete;

    /**
     * Starts the event-loop thread. Returns false (with the errno text in
     * *error when given) if epoll/eventfd cannot be created. Call once.
     */
    bool start(std::string *error = nullptr);
    /** Stops and joins the loop thread; in-flight probes are abandoned (no result). */
    void stop();

    /**
     * Adds a target (INITIAL, first probe scheduled) or updates an existing
     * one: its address and settings change, its state and counters stay; a
     * probe in flight finishes with the settings it started with, and the next
     * probe uses the new ones. A shorter interval brings the next probe
     * forward. Any thread.
     */
    void upsert(const target &t, const check_settings &settings);
    /**
     * Gives every target of `service` new settings, as upsert does for one
     * (state kept, next probe uses them). Returns how many targets changed.
     * Any thread.
     */
    size_t update_service(const std::string &service, const check_settings &settings);
    /** Forgets a target (its probe in flight, if any, is abandoned). Any thread. */
    void remove(const target_key &key);
    /** Forgets every target of a service. Any thread. */
    void remove_service(const std::string &service);

    /** The target's state, or nullopt if unknown. Any thread. */
    std::optional<target_state> state(const target_key &key) const;
    /** True when the service has targets, none HEALTHY, at least one UNHEALTHY. */
    bool service_fail_open(const std::string &service) const;
    prober_stats stats() const;
    /** CPU time used so far by the loop thread (0 before start). Any thread. */
    std::chrono::nanoseconds loop_cpu_time() const;

    /**
     * Called on the loop thread on every status change of a target; `reason`
     * is the failure reason for a change to UNHEALTHY, "" otherwise. Set
     * before start().
     */
    void on_change(change_fn fn);
    /** Called on the loop thread when a service's fail-open flag flips. Set before start(). */
    void on_fail_open(fail_open_fn fn);

    struct impl;

  private:
    std::unique_ptr<impl> impl_;
};

}  // namespace nlb::health
