/* SPDX-License-Identifier: Apache-2.0 */
#include "sched/wlc.h"

namespace nlb {

wlc_counts::wlc_counts(uint32_t slots) : counts_(new std::atomic<uint64_t>[slots]()), slots_(slots) {}

}  // namespace nlb
