/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pieces of the health prober that involve no sockets: the per-target
 * state machine of SPEC.md rule 8, the HTTP status-line parser and the
 * request builder. Pure functions, safe from any thread; the prober's event
 * loop calls them and the unit tests drive them directly.
 */
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/types.h"

namespace nlb::health {

/** How a target is checked. */
enum class method : uint8_t { tcp, http };

/** A target's health (SPEC.md rule 8). */
enum class status : uint8_t { initial, healthy, unhealthy };

/** "INITIAL", "HEALTHY" or "UNHEALTHY". */
const char *status_name(status s);

/** Bits of check_settings::normal_classes. */
inline constexpr uint8_t class_2xx = 1;
inline constexpr uint8_t class_3xx = 2;
inline constexpr uint8_t class_4xx = 4;

/**
 * The health-check settings of one backend service (SPEC.md health-check
 * fields). Ranges are enforced by the API layer, not here: the prober accepts
 * any interval/timeout >= 1 ms (tests use tens of milliseconds) and treats a
 * threshold of 0 as 1.
 */
struct check_settings {
    method m = method::tcp;
    uint16_t port = 0;  // 0 = the instance's traffic port
    std::chrono::milliseconds timeout{2000};
    std::chrono::milliseconds interval{5000};
    unsigned unhealthy_threshold = 3;
    unsigned healthy_threshold = 3;
    std::string path = "/";  // HTTP only
    std::string host;        // HTTP Host header; "" = "<ip>:<port>" of the probed address
    uint8_t normal_classes = class_2xx | class_3xx;  // HTTP only
};

/** What the prober knows about one target. */
struct target_state {
    status st = status::initial;
    std::string last_failure;  // reason of the last failed probe, "" if none failed yet
    uint64_t probes = 0;       // completed probes
    uint64_t failures = 0;     // completed probes that failed
    unsigned consecutive_ok = 0;
    unsigned consecutive_fail = 0;
    std::chrono::system_clock::time_point last_change{};  // last status change (or creation)
    std::chrono::system_clock::time_point last_probe{};   // completion of the last probe
    std::chrono::microseconds last_duration{0};           // start to end of the last probe
};

/**
 * Applies one probe result to `st` following SPEC.md rule 8, as read here:
 *  - INITIAL: the first success makes it HEALTHY at once (the instance "gets no
 *    new connections until its first check passes", so one pass is enough);
 *    `unhealthy_threshold` consecutive failures make it UNHEALTHY.
 *  - HEALTHY: `unhealthy_threshold` consecutive failures make it UNHEALTHY.
 *  - UNHEALTHY: `healthy_threshold` consecutive successes make it HEALTHY.
 * Counters of consecutive results carry over a status change of the other
 * direction only as zero (a success clears the failure run and vice versa).
 * Thresholds are read at the time of the result, so an edited threshold
 * applies from the next probe on. Updates probes/failures/consecutive_*, and
 * last_failure on a failure (`reason`). Does not touch the timestamps.
 * Returns true when st.st changed.
 */
bool apply_result(target_state &st, bool ok, const std::string &reason, unsigned healthy_threshold,
                  unsigned unhealthy_threshold);

/** Result of looking at the first bytes of an HTTP response. */
enum class status_line_result : uint8_t { need_more, ok, bad };

/**
 * Parses the start of an HTTP/1.x status line ("HTTP/1.1 200 OK\r\n") from
 * the bytes received so far. Returns need_more while the bytes are a valid
 * prefix shorter than "HTTP/1.x NNN" plus one following byte, bad when they
 * cannot be a status line, ok with *code set otherwise. The reason phrase is
 * not needed and not read.
 */
status_line_result parse_status_line(std::string_view got, unsigned *code);

/** True when an HTTP status code falls in a class of `normal_classes`. */
bool status_is_normal(unsigned code, uint8_t normal_classes);

/**
 * The probe request: "GET <path> HTTP/1.1", Host (settings.host or
 * "<ip>:<port>", IPv6 in brackets), "Connection: close",
 * "User-Agent: nlb-health/1". Control bytes, spaces and non-ASCII in the
 * path are percent-encoded and dropped from the host, so settings can never
 * split the request line or add a header.
 */
std::string build_http_request(const check_settings &settings, const ip_addr &addr,
                               ip_family family, uint16_t port);

/** Text of an address ("198.18.0.1", "2001:2::1"). */
std::string address_text(const ip_addr &addr, ip_family family);

}  // namespace nlb::health
