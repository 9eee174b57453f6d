/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checksums: known values, RFC 1624 corner cases, odd lengths against a naive
 * RFC 1071 implementation, and incremental updates against full recomputation
 * on random packets of both families.
 */
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "net/checksum.h"
#include "net/wire.h"
#include "test_util.h"

namespace nlb {
namespace {

using bytes = std::vector<uint8_t>;

/** RFC 1071 as written: big-endian 16-bit words, host-order result. */
uint16_t naive(const bytes &b) {
    uint32_t sum = 0;
    for (size_t i = 0; i < b.size(); i += 2) {
        uint32_t w = uint32_t{b[i]} << 8;
        if (i + 1 < b.size()) w |= b[i + 1];
        sum += w;
        while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum);
}

void append(bytes &to, const uint8_t *p, size_t n) {
    const size_t at = to.size();
    to.resize(at + n);
    if (n) std::memcpy(to.data() + at, p, n);
}

uint16_t host(uint16_t raw) {
    uint8_t b[2];
    wire::store_raw16(b, raw);
    return wire::load_be16(b);
}

/* One's complement fold the long way: add the carries back 16 bits at a time until none is left. */
uint16_t fold_slow(uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

TEST(checksum, fold_equals_folding_16_bits_at_a_time) {
    const uint64_t edges[] = {0, 1, 0xFFFF, 0x10000, 0x1FFFE, 0xFFFEFFFF, 0xFFFF0000, 0xFFFFFFFF,
                              0x100000000, 0x1FFFFFFFE, 0xFFFFFFFF00000000ull, 0x8000000080000000ull,
                              0xFFFF0000FFFF0000ull, 0x0000FFFF0000FFFFull, ~uint64_t{0},
                              ~uint64_t{0} - 1};
    for (uint64_t v : edges) EXPECT_EQ(csum::fold(v), fold_slow(v)) << std::hex << v;
    std::mt19937_64 rng(1624);
    for (int i = 0; i < 1'000'000; i++) {
        uint64_t v = rng();
        v >>= (i % 64);  // accumulators of every width, not only full 64-bit ones
        ASSERT_EQ(csum::fold(v), fold_slow(v)) << std::hex << v;
    }
    // Exhaustive over the 32-bit sums with the upper half 0..3 (what the rotate step sees).
    for (uint64_t hi = 0; hi < 4; hi++)
        for (uint64_t lo = 0; lo <= 0xFFFFFFFFull; lo += 0x10001)
            ASSERT_EQ(csum::fold((hi << 32) | lo), fold_slow((hi << 32) | lo)) << std::hex << lo;
}

TEST(checksum, known_ipv4_header) {
    // A classic example header: 192.168.0.1 -> 192.168.0.199, UDP, checksum 0xb861.
    bytes h = test::from_hex("450000730000400040110000c0a80001c0a800c7");
    EXPECT_EQ(host(csum::ipv4_header(h.data(), 20)), 0xB861);
    wire::store_be16(h.data() + 10, 0xB861);
    EXPECT_TRUE(csum::ipv4_header_ok(h.data(), 20));
    // ipv4_header ignores a stale value in the checksum field.
    EXPECT_EQ(host(csum::ipv4_header(h.data(), 20)), 0xB861);
    h[8] = 0x3F;
    EXPECT_FALSE(csum::ipv4_header_ok(h.data(), 20));
}

TEST(checksum, ipv4_header_ok_short_path_agrees_with_the_loop) {
    // 20-byte headers take an unrolled sum; headers with options the generic loop.
    uint32_t x = 12345;
    auto next = [&] { return x = x * 1103515245u + 12345u; };
    for (int n = 0; n < 2000; n++) {
        const uint32_t len = n % 2 ? 20 : 24 + 4 * (n % 10);
        bytes h(len);
        for (auto &b : h) b = static_cast<uint8_t>(next() >> 24);
        h[0] = static_cast<uint8_t>(0x40 | (len / 4));
        wire::store_raw16(h.data() + 10, csum::ipv4_header(h.data(), len));
        ASSERT_TRUE(csum::ipv4_header_ok(h.data(), len)) << n;
        const uint32_t bit = next() % (len * 8);
        h[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        EXPECT_FALSE(csum::ipv4_header_ok(h.data(), len)) << n << " bit " << bit;
    }
}

TEST(checksum, rfc1624_corner_cases) {
    // RFC 1624 section 4: HC = 0xDD2F, m 0x5555 -> 0x3285. Eqn. 3 gives 0x0000
    // (eqn. 2 would give the -0 value 0xFFFF). The arithmetic is the same on
    // host-order values as on raw ones.
    EXPECT_EQ(csum::update16(0xDD2F, 0x5555, 0x3285), 0x0000);
    // And the reverse change brings back the original.
    EXPECT_EQ(csum::update16(0x0000, 0x3285, 0x5555), 0xDD2F);
    // A field rewritten with its own value leaves the checksum as it was,
    // including 0x0000.
    EXPECT_EQ(csum::update16(0x0000, 0x1234, 0x1234), 0x0000);
    EXPECT_EQ(csum::update16(0xABCD, 0xFFFF, 0xFFFF), 0xABCD);
    // 0x0000 and 0xFFFF fields are the same one's complement value: swapping
    // one for the other does not change the checksum.
    EXPECT_EQ(csum::update16(0x1234, 0x0000, 0xFFFF), 0x1234);
    // UDP: 0 stays 0, a computed 0 becomes 0xFFFF.
    EXPECT_EQ(csum::apply_udp(0, csum::delta16(1, 2)), 0);
    EXPECT_EQ(csum::apply_udp(0xDD2F, csum::delta16(0x5555, 0x3285)), 0xFFFF);
    EXPECT_EQ(csum::udp_nonzero(0), 0xFFFF);
    EXPECT_EQ(csum::udp_nonzero(5), 5);
}

TEST(checksum, odd_lengths_match_naive_rfc1071) {
    std::mt19937 rng(99);
    for (uint32_t len = 0; len < 300; len++) {
        bytes b(len);
        for (auto &x : b) x = static_cast<uint8_t>(rng());
        ASSERT_EQ(host(csum::icmp_v4(b.data(), len)), naive(b)) << len;
    }
}

TEST(checksum, pseudo_headers_match_naive) {
    std::mt19937 rng(5);
    for (int i = 0; i < 200; i++) {
        const uint32_t len = rng() % 100;
        bytes l4(len), src(16), dst(16);
        for (auto &x : l4) x = static_cast<uint8_t>(rng());
        for (auto &x : src) x = static_cast<uint8_t>(rng());
        for (auto &x : dst) x = static_cast<uint8_t>(rng());
        // IPv4 pseudo-header: src, dst, 0, proto, length.
        bytes all4;
        append(all4, src.data(), 4);
        append(all4, dst.data(), 4);
        const uint8_t t4[4] = {0, ipproto_udp, static_cast<uint8_t>(len >> 8),
                               static_cast<uint8_t>(len)};
        append(all4, t4, 4);
        append(all4, l4.data(), len);
        ASSERT_EQ(host(csum::l4_v4(src.data(), dst.data(), ipproto_udp, l4.data(), len)),
                  naive(all4));
        // IPv6: src, dst, 32-bit length, 3 zero bytes, next header.
        bytes all6;
        append(all6, src.data(), 16);
        append(all6, dst.data(), 16);
        const uint8_t t6[8] = {
            0, 0, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len), 0, 0, 0, ipproto_tcp};
        append(all6, t6, 8);
        append(all6, l4.data(), len);
        ASSERT_EQ(host(csum::l4_v6(src.data(), dst.data(), ipproto_tcp, l4.data(), len)),
                  naive(all6));
    }
}

/** Full TCP/UDP checksum of a random segment with the given addresses. */
uint16_t full(bool v6, const uint8_t *src, const uint8_t *dst, uint8_t proto, bytes l4,
              uint32_t co) {
    wire::store_raw16(l4.data() + co, 0);
    const uint32_t n = static_cast<uint32_t>(l4.size());
    uint16_t c = v6 ? csum::l4_v6(src, dst, proto, l4.data(), n)
                    : csum::l4_v4(src, dst, proto, l4.data(), n);
    return proto == ipproto_udp ? csum::udp_nonzero(c) : c;
}

TEST(checksum, incremental_equals_full_on_random_packets) {
    std::mt19937 rng(4242);
    for (int i = 0; i < 100000; i++) {
        const bool v6 = i & 1;
        const uint8_t proto = (i & 2) ? ipproto_udp : ipproto_tcp;
        const uint32_t co = proto == ipproto_tcp ? 16 : 6;
        bytes l4(20 + rng() % 64);
        for (auto &x : l4) x = static_cast<uint8_t>(rng());
        uint8_t src[16], dst[16], nsrc[16];
        for (int k = 0; k < 16; k++) {
            src[k] = static_cast<uint8_t>(rng());
            dst[k] = static_cast<uint8_t>(rng());
            nsrc[k] = static_cast<uint8_t>(rng());
        }
        if (i % 97 == 0) std::memcpy(nsrc, src, 16);  // unchanged address
        const uint16_t c0 = full(v6, src, dst, proto, l4, co);
        wire::store_raw16(l4.data() + co, c0);
        // Change the source address and the source port.
        const uint16_t old_port = wire::load_raw16(l4.data());
        const uint16_t new_port = static_cast<uint16_t>(rng());
        uint64_t d = csum::delta16(old_port, new_port);
        d += v6 ? csum::delta128(src, nsrc)
                : csum::delta32(wire::load_raw32(src), wire::load_raw32(nsrc));
        wire::store_raw16(l4.data(), new_port);
        const uint16_t inc = proto == ipproto_udp ? csum::apply_udp(c0, d) : csum::apply(c0, d);
        ASSERT_EQ(inc, full(v6, nsrc, dst, proto, l4, co)) << i;
        // The single-field helpers agree with the delta form.
        const uint16_t a = v6 ? csum::update128(c0, src, nsrc)
                              : csum::update32(c0, wire::load_raw32(src), wire::load_raw32(nsrc));
        ASSERT_EQ(csum::update16(a, old_port, new_port), csum::apply(c0, d));
    }
}

TEST(checksum, ipv4_header_incremental_equals_full) {
    std::mt19937 rng(17);
    for (int i = 0; i < 100000; i++) {
        bytes h(20 + 4 * (rng() % 11));
        for (auto &x : h) x = static_cast<uint8_t>(rng());
        h[0] = static_cast<uint8_t>(0x40 | (h.size() / 4));
        wire::store_raw16(h.data() + 10,
                          csum::ipv4_header(h.data(), static_cast<uint32_t>(h.size())));
        ASSERT_TRUE(csum::ipv4_header_ok(h.data(), static_cast<uint32_t>(h.size())));
        const uint32_t old_dst = wire::load_raw32(h.data() + 16);
        const uint32_t new_dst = static_cast<uint32_t>(rng());
        wire::store_raw32(h.data() + 16, new_dst);
        const uint16_t inc = csum::update32(wire::load_raw16(h.data() + 10), old_dst, new_dst);
        ASSERT_EQ(inc, csum::ipv4_header(h.data(), static_cast<uint32_t>(h.size()))) << i;
    }
}

}  // namespace
}  // namespace nlb
