/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Large zero-filled mappings for the preallocated tables of lib/conn.
 *
 * Pages are anonymous, mapped without reserving swap and faulted in on first
 * touch, so mapping a 100 M-entry table is instant and costs only what is
 * used. Transparent huge pages are requested (best effort) to cut TLB misses.
 * Hugetlbfs pages are left to DPDK's memory.
 */
#pragma once

#include <cstdint>
#include <string>

namespace nlb {

/** Any thread: maps `bytes` of zeroed memory; nullptr and *error on failure. */
void *map_memory(uint64_t bytes, std::string *error);
/** Any thread: unmaps what map_memory returned (nullptr / 0 bytes is a no-op). */
void unmap_memory(void *p, uint64_t bytes);

}  // namespace nlb
