/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixed hash functions of the schedulers.
 *
 * Their output is part of a contract between lcores and between appliances:
 * every lcore of every appliance must compute the same Maglev table for the
 * same backends and send a client IP to the same position. So they depend on
 * nothing but their input: no CPU-specific instructions (no CRC32), no
 * endianness (bytes are assembled explicitly), no per-process random seed.
 * Changing a function or a seed here remaps every SOURCE_IP client: don't.
 *
 * All functions are pure and may be called from any thread.
 */
#pragma once

#include <cstdint>

#include "core/types.h"

namespace nlb {

/** Seeds of the two Maglev permutation hashes (offset and skip). Fixed forever. */
inline constexpr uint64_t maglev_offset_seed = 0x6e6c622d6f666673ull;  // "nlb-offs"
inline constexpr uint64_t maglev_skip_seed = 0x6e6c622d736b6970ull;    // "nlb-skip"
/** Seed of the client-address hash used for Maglev lookups. Fixed forever. */
inline constexpr uint64_t client_hash_seed = 0x6e6c622d636c6e74ull;  // "nlb-clnt"

/** MurmurHash3's 64-bit finaliser: a bijection with full avalanche. */
constexpr uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/** Hash of a 64-bit key under a seed; different seeds give unrelated functions. */
constexpr uint64_t hash_u64(uint64_t key, uint64_t seed) {
    return mix64(mix64(key ^ seed) + 0x9e3779b97f4a7c15ull * (seed | 1));
}

/** Reads 8 bytes as a little-endian number, whatever the host's byte order. */
inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/**
 * 32-bit hash of a client address (all 16 bytes; an IPv4 address has 12 zero
 * bytes, so v4 and v6 never need telling apart here).
 */
inline uint32_t hash_client_ip(const ip_addr &a) {
    uint64_t lo = load_le64(a.bytes), hi = load_le64(a.bytes + 8);
    uint64_t h = mix64(lo ^ mix64(hi ^ client_hash_seed));
    return static_cast<uint32_t>(h >> 32) ^ static_cast<uint32_t>(h);
}

/** Maps a 32-bit hash uniformly onto [0, n) with a multiply instead of a division. */
constexpr uint32_t reduce_u32(uint32_t hash, uint32_t n) {
    return static_cast<uint32_t>((static_cast<uint64_t>(hash) * n) >> 32);
}

}  // namespace nlb
