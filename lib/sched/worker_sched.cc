/* SPDX-License-Identifier: Apache-2.0 */
#include "sched/worker_sched.h"

namespace nlb {

worker_sched::worker_sched(uint32_t max_services, uint32_t max_backends, unsigned worker_index)
    : cursors_(new uint32_t[max_services]), max_services_(max_services), counts_(max_backends) {
    // Golden-ratio spacing: reduced modulo any sequence length, workers'
    // starting points are spread over the sequence.
    uint32_t start = worker_index * 0x9e3779b9u;
    for (uint32_t i = 0; i < max_services; i++) cursors_[i] = start;
}

}  // namespace nlb
