/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The health prober's targets for the desired state: every member of the
 * server group of every backend service, probed with that service's health
 * check settings (SPEC.md health-check fields, defaults applied). Pure
 * functions; any thread.
 */
#pragma once

#include "dataplane_translate.h"
#include "health_prober.h"

#include <string>
#include <vector>

namespace nlb::control {

/** The prober's service name of backend service lb/bs: "lb/bs". */
std::string probe_service_name(const std::string &lb, const std::string &bs);

struct probe_target {
    health::target t;  // key {probe_service_name, instance id}; traffic port resolved
    health::check_settings settings;
};

/** One target per member of each backend service's group (unparsable addresses skipped). */
std::vector<probe_target> probe_targets(const desired_input &in);

/** Everything that defines a target, as text: equal text = nothing to update. */
std::string probe_target_text(const probe_target &t);

}  // namespace nlb::control
