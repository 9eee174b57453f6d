/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the views get each instance's health and connection count from:
 * nlb-control's live_instance_status (synced_service.h) answers from the
 * health prober's states and the dataplanes' connection counts, so the
 * service and the store know nothing of either.
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

}  // namespace nlb::control
