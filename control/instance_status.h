/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the views get each instance's health and connection count from.
 * Today no prober and no dataplane exist, so `no_probe_status` reports every
 * member of an associated group as INITIAL with 0 connections. The health
 * prober (a later issue) and the dataplane stats will implement this
 * interface instead; nothing in the service or the store changes.
 */
#pragma once

#include "nlb.pb.h"

#include <cstdint>
#include <string>

namespace nlb::control {

struct instance_status {
    v1::HealthStatus status = v1::INITIAL;
    std::string reason;  // reason of the last failure, "" if none
    int64_t active_connections = 0;
};

class instance_status_source {
  public:
    virtual ~instance_status_source() = default;
    /**
     * Status of instance `in` as a member of backend service lb/bs. Called
     * with the service's writer lock held: must not block.
     */
    virtual instance_status status(const std::string &lb, const std::string &bs,
                                   const v1::Instance &in) = 0;
};

/** No probe has run yet: every member is INITIAL, no connections. */
class no_probe_status final : public instance_status_source {
  public:
    instance_status status(const std::string &, const std::string &,
                           const v1::Instance &) override {
        return {};
    }
};

}  // namespace nlb::control
