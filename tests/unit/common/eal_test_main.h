/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>

namespace nlb::test {

/** A process-wide mbuf pool (8191 mbufs of the default size), made on first use. */
rte_mempool *test_pool();

}  // namespace nlb::test
