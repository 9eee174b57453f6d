/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker_sched: everything one worker keeps for its schedulers, so that no
 * scheduler state is shared between lcores (DESIGN.md "Per-core schedulers").
 *
 *  - a cursor per service (stable service index): the WRR position, and the
 *    rotating start of WLC's scan;
 *  - the worker's active-connection counts per backend slot (wlc_counts).
 *
 * Made at start-up (allocates), then owned and used by one worker only.
 */
#pragma once

#include <cstdint>
#include <memory>

#include "core/types.h"
#include "sched/wlc.h"

namespace nlb {

class worker_sched {
  public:
    /**
     * Start-up: state for services with index < max_services and backend slots
     * < max_backends (the snapshot builder's limits). worker_index staggers
     * the initial cursors, so workers do not all start a sequence on the same
     * backend.
     */
    worker_sched(uint32_t max_services, uint32_t max_backends, unsigned worker_index);

    /** Worker: the cursor of a service; a dummy (still valid) cursor beyond max_services. */
    uint32_t *cursor(uint32_t service_index) {
        return service_index < max_services_ ? &cursors_[service_index] : &spare_cursor_;
    }
    wlc_counts &counts() { return counts_; }
    const wlc_counts &counts() const { return counts_; }

  private:
    std::unique_ptr<uint32_t[]> cursors_;
    uint32_t max_services_;
    uint32_t spare_cursor_ = 0;
    wlc_counts counts_;
};

}  // namespace nlb
