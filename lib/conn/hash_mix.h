/* SPDX-License-Identifier: Apache-2.0 */
/* Range reduction of CRC32C hashes for the lib/conn tables. */
#pragma once

#include <cstdint>

namespace nlb {

/**
 * Any thread: a bijective 32-bit mix (murmur3's finaliser). CRC32C of
 * structured keys (addresses differing in a few bytes) spreads badly in its
 * high bits, which multiply-shift range reduction uses; mixed first, bucket
 * loads become Poisson-like. Bijective, so the unmixed hash still serves as
 * the full 32-bit signature.
 */
inline uint32_t hash_mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    return x ^ (x >> 16);
}

/** Any thread: maps a hash to [0, n) by multiply-shift after mixing. */
inline uint64_t hash_reduce(uint32_t h, uint64_t n) { return (uint64_t{hash_mix32(h)} * n) >> 32; }

}  // namespace nlb
