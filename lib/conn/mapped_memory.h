/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Large zero-filled mappings for the preallocated tables of lib/conn.
 *
 * Pages are anonymous and mapped without reserving swap. Transparent huge
 * pages are requested (best effort) to cut TLB misses; hugetlbfs pages are
 * left to DPDK's memory. With prefault the whole mapping is populated before
 * it is returned, so the datapath never takes a page fault (and a capacity the
 * machine cannot hold fails at start-up, not under load); without it pages are
 * faulted in on first touch, which makes even a 100 M-entry table instant to
 * create (tests, tools).
 */
#pragma once

#include <cstdint>
#include <string>

namespace nlb {

/**
 * Any thread: maps `bytes` of zeroed memory, populated now when prefault is
 * set; nullptr and *error on failure (nothing stays mapped).
 */
void *map_memory(uint64_t bytes, bool prefault, std::string *error);
/** Any thread: unmaps what map_memory returned (nullptr / 0 bytes is a no-op). */
void unmap_memory(void *p, uint64_t bytes);

}  // namespace nlb
