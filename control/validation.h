/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Validation of nlb.v1 resources against SPEC.md: pure functions from a
 * message to the list of its field violations (empty = valid), plus the
 * functions that fill in the documented defaults. No I/O, no state, no
 * exceptions: safe from any thread and callable from a fuzz target.
 *
 * `prefix` is the request path of the message ("backend_service"), used to
 * name each field in the violations ("backend_service.health_check.path").
 */
#pragma once

#include "api_error.h"
#include "nlb.pb.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace nlb::control {

// Ranges and defaults (SPEC.md "BackendService fields"; documented in control/API.md).
inline constexpr int id_max_length = 64;
inline constexpr int max_vips = 16;
inline constexpr int max_instances = 1000;
inline constexpr int default_weight = 10;
inline constexpr int max_weight = 100;
inline constexpr int default_persistence_s = 1440;
inline constexpr int max_persistence_s = 3600;
inline constexpr int default_drain_s = 300;
inline constexpr int max_drain_s = 3600;
inline constexpr int min_hc_timeout_s = 2, max_hc_timeout_s = 60;
inline constexpr int min_hc_interval_s = 5, max_hc_interval_s = 300;
inline constexpr int min_threshold = 1, max_threshold = 5, default_threshold = 3;
inline constexpr int max_path_length = 100;
inline constexpr int max_path_levels = 5;
inline constexpr int default_page_size = 50;
inline constexpr int max_page_size = 1000;

/** Checks a caller-chosen identifier: required, 1-64 chars of [A-Za-z0-9._-]. */
void check_id(const std::string &field, const std::string &value, violations &out);

/** Checks lo <= value <= hi; the violation names the value and the range. */
void check_range(const std::string &field, int64_t value, int64_t lo, int64_t hi, violations &out);

/** The canonical text of an IPv4/IPv6 address ("2001:2::1"), or nullopt if it is not one. */
std::optional<std::string> canonical_ip(const std::string &text);

/** Checks an HTTP health check path: leading '/', <= 5 levels, <= 100 chars, printable, no spaces.
 */
void check_path(const std::string &field, const std::string &path, violations &out);

/** Checks a list page size (negative is refused) and returns the size to use (0 -> 50, max 1000).
 */
int page_size_or_default(int32_t page_size, violations &out);

/** Load balancer fields other than its name: VIPs and placement. */
violations validate_load_balancer(const v1::LoadBalancer &lb, const std::string &prefix);
/** Canonicalises the VIP texts. Call only on a valid load balancer. */
void normalize_load_balancer(v1::LoadBalancer *lb);

/** Listener fields other than its name and load balancer. */
violations validate_listener(const v1::Listener &l, const std::string &prefix);
void apply_listener_defaults(v1::Listener *l);

/**
 * Backend service fields other than its name and load balancer, as sent
 * (unset optional fields are valid: they take their default). HTTP-only
 * fields (normal_codes, path) given with a TCP health check are refused.
 */
violations validate_backend_service(const v1::BackendService &bs, const std::string &prefix);

/**
 * The update-mask paths an UpdateBackendService may name (protocol and port are
 * listed: sending the same value is accepted, a different one is refused, SPEC rule 3).
 */
const std::set<std::string> &backend_service_mutable_paths();
/** Fills every unset field with its default; HTTP-only fields only for HTTP checks. */
void apply_backend_service_defaults(v1::BackendService *bs);

/** One instance of a group of the given type (port only in virtual groups). */
violations validate_instance(const v1::Instance &in, v1::ServerGroupType type,
                             const std::string &prefix);
/** Canonicalises the address and sets the default weight. Call only on a valid instance. */
void apply_instance_defaults(v1::Instance *in);

/** Server group fields other than its name: type, placement, instances (ids unique). */
violations validate_server_group(const v1::ServerGroup &sg, const std::string &prefix);

}  // namespace nlb::control
