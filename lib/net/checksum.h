/* SPDX-License-Identifier: Apache-2.0 */
/*
 * checksum: Internet checksums (RFC 1071) computed in full and updated
 * incrementally (RFC 1624).
 *
 * Convention: every checksum and every field value passed here is "raw", i.e.
 * the two (or four, or sixteen) bytes exactly as they sit in the packet, loaded
 * with memcpy (wire::load_raw16/32). One's complement arithmetic is byte-order
 * independent, so no byte swapping is ever needed; store results back with
 * wire::store_raw16. All functions are pure, inline, safe on any thread, and
 * never read outside [data, data + len).
 */
#pragma once

#include <cstdint>
#include <cstring>

#include "net/wire.h"

namespace nlb::csum {

/**
 * Folds a 64-bit accumulator of 16/32-bit raw words to a 16-bit one's
 * complement sum. 64 → 33 → 32 bits by adding the halves (the second add
 * cannot carry out), then 32 → 16 by adding the word to itself rotated by 16:
 * the upper half of that is hi + lo with the end-around carry already in it.
 * The same result as folding 16 bits at a time until nothing carries (0 only
 * for a sum of 0), in three steps instead of four, the last one without masks.
 */
inline uint16_t fold(uint64_t sum) {
    sum = (sum & 0xFFFFFFFFu) + (sum >> 32);
    const uint32_t s = static_cast<uint32_t>(sum) + static_cast<uint32_t>(sum >> 32);
    return static_cast<uint16_t>((s + ((s << 16) | (s >> 16))) >> 16);
}

/**
 * Adds the bytes [data, data + len) to the accumulator as raw 16-bit words.
 * An odd last byte is padded with a zero byte, as RFC 1071 requires. Loops
 * over 4-byte words; meant for headers and generated packets.
 */
inline uint64_t add_bytes(uint64_t sum, const void *data, uint32_t len) {
    const auto *p = static_cast<const uint8_t *>(data);
    while (len >= 4) {
        sum += wire::load_raw32(p);
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        sum += wire::load_raw16(p);
        p += 2;
        len -= 2;
    }
    if (len) {
        uint8_t last[2] = {p[0], 0};
        sum += wire::load_raw16(last);
    }
    return sum;
}

/** The checksum to store for an accumulated sum: ~fold(sum). */
inline uint16_t finish(uint64_t sum) {
    return static_cast<uint16_t>(~fold(sum));
}

/**
 * UDP over IPv4 uses 0 for "no checksum": a computed 0 is sent as 0xFFFF
 * (RFC 768). Apply to every UDP checksum that is written (also IPv6, where 0
 * is not allowed at all).
 */
inline uint16_t udp_nonzero(uint16_t c) {
    return c == 0 ? uint16_t{0xFFFF} : c;
}

/* ---- IPv4 header ---------------------------------------------------------------- */

/** True when the IPv4 header [hdr, hdr + hdr_len) verifies (its sum folds to 0xFFFF). */
inline bool ipv4_header_ok(const uint8_t *hdr, uint32_t hdr_len) {
    if (hdr_len == wire::ipv4_min_len) {  // no options: five words, no loop
        const uint64_t sum = uint64_t{wire::load_raw32(hdr)} + wire::load_raw32(hdr + 4) +
                             wire::load_raw32(hdr + 8) + wire::load_raw32(hdr + 12) +
                             wire::load_raw32(hdr + 16);
        return fold(sum) == 0xFFFF;
    }
    return fold(add_bytes(0, hdr, hdr_len)) == 0xFFFF;
}

/**
 * The IPv4 header checksum for [hdr, hdr + hdr_len), ignoring whatever the
 * checksum field (bytes 10-11) holds. Returns the raw value to store there.
 */
inline uint16_t ipv4_header(const uint8_t *hdr, uint32_t hdr_len) {
    uint64_t sum = add_bytes(0, hdr, hdr_len);
    sum += static_cast<uint16_t>(~wire::load_raw16(hdr + wire::ipv4_csum_off));
    return finish(sum);
}

/* ---- pseudo-headers and full L4 checksums ---------------------------------------- */

/** Sum of the IPv4 pseudo-header (src, dst: 4 bytes each, wire order). */
inline uint64_t pseudo_v4(const uint8_t *src, const uint8_t *dst, uint8_t proto, uint32_t l4_len) {
    uint64_t sum = uint64_t{wire::load_raw32(src)} + wire::load_raw32(dst);
    sum += wire::raw16_from_host(proto);
    sum += wire::raw16_from_host(static_cast<uint16_t>(l4_len));
    return sum;
}

/** Sum of the IPv6 pseudo-header (src, dst: 16 bytes each, wire order; RFC 8200 8.1). */
inline uint64_t pseudo_v6(const uint8_t *src, const uint8_t *dst, uint8_t proto, uint32_t l4_len) {
    uint64_t sum = add_bytes(0, src, 16);
    sum = add_bytes(sum, dst, 16);
    uint8_t tail[8] = {};
    wire::store_be32(tail, l4_len);
    tail[7] = proto;
    return add_bytes(sum, tail, 8);
}

/**
 * Full TCP/UDP/ICMPv6 checksum over the IPv4 pseudo-header and
 * [l4, l4 + l4_len). The checksum field inside l4 must hold 0 when this is
 * called. Returns the raw value to store; for UDP pass it through udp_nonzero().
 */
inline uint16_t l4_v4(const uint8_t *src, const uint8_t *dst, uint8_t proto, const uint8_t *l4,
                      uint32_t l4_len) {
    return finish(add_bytes(pseudo_v4(src, dst, proto, l4_len), l4, l4_len));
}

/** As l4_v4 with the IPv6 pseudo-header (TCP, UDP and ICMPv6). */
inline uint16_t l4_v6(const uint8_t *src, const uint8_t *dst, uint8_t proto, const uint8_t *l4,
                      uint32_t l4_len) {
    return finish(add_bytes(pseudo_v6(src, dst, proto, l4_len), l4, l4_len));
}

/** ICMP (v4) checksum: no pseudo-header. The checksum field must hold 0. */
inline uint16_t icmp_v4(const uint8_t *icmp, uint32_t len) {
    return finish(add_bytes(0, icmp, len));
}

/* ---- incremental update (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')) --------------- */

/**
 * A "delta" accumulates ~m + m' for every changed field; apply() folds it into
 * a checksum. Several fields changing together (address + port) cost one fold.
 */
inline uint64_t delta16(uint16_t old_raw, uint16_t new_raw) {
    return uint64_t{static_cast<uint16_t>(~old_raw)} + new_raw;
}
inline uint64_t delta32(uint32_t old_raw, uint32_t new_raw) {
    return uint64_t{~old_raw} + new_raw;
}
/** Delta for a 16-byte IPv6 address change (old, new: 16 bytes each). */
inline uint64_t delta128(const uint8_t *old_addr, const uint8_t *new_addr) {
    uint64_t d = 0;
    for (int i = 0; i < 16; i += 4)
        d += delta32(wire::load_raw32(old_addr + i), wire::load_raw32(new_addr + i));
    return d;
}

/**
 * The updated checksum: ~(~HC + delta) folded. Eqn. 3 never produces the
 * -0 problem of eqn. 2: the result equals a full recomputation whenever the
 * old checksum was one (any checksum of data that is not all zero).
 */
inline uint16_t apply(uint16_t csum_raw, uint64_t delta) {
    return finish(uint64_t{static_cast<uint16_t>(~csum_raw)} + delta);
}

/** Checksum after one 16-bit field changed from old_raw to new_raw. */
inline uint16_t update16(uint16_t csum_raw, uint16_t old_raw, uint16_t new_raw) {
    return apply(csum_raw, delta16(old_raw, new_raw));
}
/** Checksum after one 32-bit field (an IPv4 address) changed. */
inline uint16_t update32(uint16_t csum_raw, uint32_t old_raw, uint32_t new_raw) {
    return apply(csum_raw, delta32(old_raw, new_raw));
}
/** Checksum after one IPv6 address (16 bytes) changed. */
inline uint16_t update128(uint16_t csum_raw, const uint8_t *old_addr, const uint8_t *new_addr) {
    return apply(csum_raw, delta128(old_addr, new_addr));
}

/**
 * UDP checksum update: 0 ("no checksum", IPv4 only) stays 0, and a result of
 * 0 is written as 0xFFFF.
 */
inline uint16_t apply_udp(uint16_t csum_raw, uint64_t delta) {
    if (csum_raw == 0) return 0;
    return udp_nonzero(apply(csum_raw, delta));
}

}  // namespace nlb::csum
