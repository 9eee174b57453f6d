/* SPDX-License-Identifier: Apache-2.0 */
/* Shared set-up of the datapath benchmarks: EAL (no hugepages) and one mbuf pool. */
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

namespace nlb::bench {

/** A process-wide mbuf pool large enough for a few bursts per benchmark. */
rte_mempool *bench_pool();

}  // namespace nlb::bench
