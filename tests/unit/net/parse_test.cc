/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parser tests: fields of valid frames, a table of malformed frames with the
 * drop_reason each must get, every prefix of valid frames, and random
 * mutations. Each frame is parsed from a heap buffer of exactly its length, so
 * a read past the end is caught by ASan (and by the invariant checks without
 * it).
 */
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "net/checksum.h"
#include "net/parse.h"
#include "net/wire.h"
#include "test_util.h"

namespace nlb {
namespace {

using bytes = std::vector<uint8_t>;
using test::ip;

/* ---- a small frame builder (tests only) ----------------------------------------------- */

struct spec {
    std::vector<uint16_t> tags{};  // VLAN tag ethertypes in order (TCI 0x6064)
    uint16_t ethertype = 0;        // 0: from the IP version
    bool v6 = false;
    uint8_t proto = ipproto_tcp;
    bytes ip_options{};       // IPv4 options (multiple of 4 bytes)
    bytes ext{};              // IPv6 extension header bytes (chain built by caller)
    uint8_t first_nh = 0xFF;  // IPv6 next header when ext is used (0xFF: proto)
    const char *src = nullptr;
    const char *dst = nullptr;
    uint16_t frag = 0x4000;  // IPv4 flags/offset
    bytes l4{};              // L4 header + payload; empty: a default header
    uint32_t padding = 0;    // Ethernet padding after the IP packet
};

bytes default_l4(uint8_t proto) {
    bytes l4;
    switch (proto) {
        case ipproto_tcp:
            l4.assign(20 + 5, 0);
            wire::store_be16(l4.data(), 40000);
            wire::store_be16(l4.data() + 2, 80);
            l4[12] = 5 << 4;
            l4[13] = wire::tcp_ack | wire::tcp_psh;
            break;
        case ipproto_udp:
            l4.assign(8 + 5, 0);
            wire::store_be16(l4.data(), 40000);
            wire::store_be16(l4.data() + 2, 53);
            wire::store_be16(l4.data() + 4, 13);
            wire::store_be16(l4.data() + 6, 0x1234);  // any non-zero checksum (not verified)
            break;
        case ipproto_icmp:
        case ipproto_icmpv6:
            l4.assign(8 + 4, 0);
            l4[0] = proto == ipproto_icmp ? 8 : 128;
            wire::store_be16(l4.data() + 4, 0x1234);
            wire::store_be16(l4.data() + 6, 1);
            break;
        default:
            l4.assign(12, 0xAA);
    }
    return l4;
}

bytes frame(const spec &s) {
    bytes f(12, 0);
    f[0] = 2;
    f[6] = 2;
    f[11] = 1;
    for (uint16_t t : s.tags) {
        f.push_back(static_cast<uint8_t>(t >> 8));
        f.push_back(static_cast<uint8_t>(t));
        f.push_back(0x60);
        f.push_back(0x64);
    }
    const uint16_t et =
        s.ethertype ? s.ethertype : (s.v6 ? wire::ethertype_ipv6 : wire::ethertype_ipv4);
    f.push_back(static_cast<uint8_t>(et >> 8));
    f.push_back(static_cast<uint8_t>(et));
    const size_t l3 = f.size();
    const bytes l4 = s.l4.empty() ? default_l4(s.proto) : s.l4;
    if (!s.v6) {
        const uint32_t ihl = 20 + static_cast<uint32_t>(s.ip_options.size());
        f.resize(l3 + ihl);
        uint8_t *h = f.data() + l3;
        h[0] = static_cast<uint8_t>(0x40 | (ihl / 4));
        wire::store_be16(h + 2, static_cast<uint16_t>(ihl + l4.size()));
        wire::store_be16(h + 6, s.frag);
        h[8] = 64;
        h[9] = s.proto;
        const ip_addr a = ip(s.src ? s.src : "198.18.0.2"), b = ip(s.dst ? s.dst : "198.18.1.1");
        std::memcpy(h + 12, a.bytes, 4);
        std::memcpy(h + 16, b.bytes, 4);
        if (!s.ip_options.empty()) std::memcpy(h + 20, s.ip_options.data(), s.ip_options.size());
        wire::store_raw16(h + 10, csum::ipv4_header(h, ihl));
    } else {
        f.resize(l3 + 40);
        uint8_t *h = f.data() + l3;
        h[0] = 0x60;
        wire::store_be16(h + 4, static_cast<uint16_t>(s.ext.size() + l4.size()));
        h[6] = s.ext.empty() ? s.proto : s.first_nh;
        h[7] = 64;
        const ip_addr a = ip(s.src ? s.src : "2001:2::2"), b = ip(s.dst ? s.dst : "2001:2:0:1::1");
        std::memcpy(h + 8, a.bytes, 16);
        std::memcpy(h + 24, b.bytes, 16);
        f.insert(f.end(), s.ext.begin(), s.ext.end());
    }
    f.insert(f.end(), l4.begin(), l4.end());
    f.insert(f.end(), s.padding, 0xEE);
    return f;
}

/** An IPv6 extension header of the generic (x+1)*8 form. */
bytes ext_hdr(uint8_t next, uint8_t len_field) {
    bytes e((len_field + 1) * 8u, 0);
    e[0] = next;
    e[1] = len_field;
    e[2] = 1;  // PadN option covering the rest
    e[3] = static_cast<uint8_t>(e.size() - 4);
    return e;
}

/** Parses f from a heap buffer of exactly f.size() bytes. */
drop_reason parse_exact(const bytes &f, packet_meta *m) {
    std::unique_ptr<uint8_t[]> buf(new uint8_t[f.size() ? f.size() : 1]);
    if (!f.empty()) std::memcpy(buf.get(), f.data(), f.size());
    return parse_packet(buf.get(), static_cast<uint32_t>(f.size()), m);
}

drop_reason parse(const bytes &f) {
    packet_meta m;
    return parse_exact(f, &m);
}

/** Re-writes the IPv4 header checksum after a test edited the header at l3. */
void fix_v4(bytes &f, size_t l3 = 14) {
    const uint32_t ihl = (f[l3] & 15u) * 4;
    if (l3 + ihl <= f.size())
        wire::store_raw16(f.data() + l3 + 10, csum::ipv4_header(f.data() + l3, ihl));
}

/* ---- valid frames ---------------------------------------------------------------------- */

TEST(parse, ipv4_tcp_with_vlan_and_options) {
    spec s;
    s.tags = {wire::ethertype_vlan};
    s.ip_options = {1, 1, 1, 0};  // NOP NOP NOP EOL
    s.padding = 7;
    const bytes f = frame(s);
    packet_meta m;
    ASSERT_EQ(parse_exact(f, &m), drop_reason::none);
    EXPECT_EQ(m.kind, l3_kind::ipv4);
    EXPECT_TRUE(m.has_vlan);
    EXPECT_EQ(m.vlan_tci, 0x6064);
    EXPECT_EQ(m.l2_len, 18);
    EXPECT_EQ(m.l3_offset, 18);
    EXPECT_EQ(m.ethertype, wire::ethertype_ipv4);
    EXPECT_EQ(m.l3_len, 24);
    EXPECT_EQ(m.l4_offset, 42);
    EXPECT_EQ(m.l4_len, 25);  // padding excluded
    EXPECT_EQ(m.ip_len(), 49u);
    EXPECT_EQ(m.l4_proto, ipproto_tcp);
    EXPECT_EQ(m.tcp_flags, wire::tcp_ack | wire::tcp_psh);
    EXPECT_EQ(m.tcp_hdr_len, 20);
    EXPECT_EQ(m.ttl, 64);
    EXPECT_EQ(m.key.src, ip("198.18.0.2"));
    EXPECT_EQ(m.key.dst, ip("198.18.1.1"));
    EXPECT_EQ(m.key.sport, htons(40000));
    EXPECT_EQ(m.key.dport, htons(80));
    EXPECT_EQ(m.key.proto, ipproto_tcp);
    EXPECT_EQ(m.key.family, ip_family::v4);
    EXPECT_EQ(m.key.pad, 0);
}

TEST(parse, ipv6_udp_after_extension_headers) {
    spec s;
    s.v6 = true;
    s.proto = ipproto_udp;
    s.first_nh = wire::ipv6_ext_hop_by_hop;
    bytes e = ext_hdr(wire::ipv6_ext_routing, 0);
    bytes r = ext_hdr(wire::ipv6_ext_ah, 1);
    bytes ah(16, 0);  // AH: (len + 2) * 4 = 16 with len 2
    ah[0] = wire::ipv6_ext_dest_opts;
    ah[1] = 2;
    bytes d = ext_hdr(ipproto_udp, 0);
    e.insert(e.end(), r.begin(), r.end());
    e.insert(e.end(), ah.begin(), ah.end());
    e.insert(e.end(), d.begin(), d.end());
    s.ext = e;
    const bytes f = frame(s);
    packet_meta m;
    ASSERT_EQ(parse_exact(f, &m), drop_reason::none);
    EXPECT_EQ(m.kind, l3_kind::ipv6);
    EXPECT_FALSE(m.has_vlan);
    EXPECT_EQ(m.l3_len, 40 + 8 + 16 + 16 + 8);
    EXPECT_EQ(m.l4_offset, 14 + m.l3_len);
    EXPECT_EQ(m.l4_len, 13);
    EXPECT_EQ(m.key.proto, ipproto_udp);
    EXPECT_EQ(m.key.dport, htons(53));
    EXPECT_EQ(m.key.src, ip("2001:2::2"));
    EXPECT_EQ(m.key.family, ip_family::v6);
}

TEST(parse, icmp_echo_uses_identifier_as_source_port) {
    spec s;
    s.proto = ipproto_icmp;
    packet_meta m;
    ASSERT_EQ(parse_exact(frame(s), &m), drop_reason::none);
    EXPECT_EQ(m.icmp_type, 8);
    EXPECT_EQ(m.key.sport, htons(0x1234));
    EXPECT_EQ(m.key.dport, 0);
    s.v6 = true;
    s.proto = ipproto_icmpv6;
    ASSERT_EQ(parse_exact(frame(s), &m), drop_reason::none);
    EXPECT_EQ(m.icmp_type, 128);
    EXPECT_EQ(m.key.sport, htons(0x1234));
    // Not an echo: no ports.
    bytes l4 = default_l4(ipproto_icmpv6);
    l4[0] = 135;
    s.l4 = l4;
    ASSERT_EQ(parse_exact(frame(s), &m), drop_reason::none);
    EXPECT_EQ(m.key.sport, 0);
}

TEST(parse, ipv4_address_checks_match_their_ranges_for_every_first_byte) {
    // The first-byte table against the ranges it stands for: the check of a packet's two
    // addresses for every pair of first bytes, each with a few lower parts (the broadcast
    // only with all four bytes 255).
    auto src_ref = [](uint32_t a) {
        const uint32_t top = a >> 24;
        return top == 0 || top == 127 || (top >= 224 && top <= 239) || a == 0xFFFFFFFFu;
    };
    auto dst_ref = [](uint32_t a) {
        const uint32_t top = a >> 24;
        return top == 0 || top == 127 || a == 0xFFFFFFFFu;
    };
    const uint32_t lows[] = {0u, 1u, 0x00FFFFFEu, 0x00FFFFFFu};
    for (uint32_t ts = 0; ts < 256; ts++)
        for (uint32_t td = 0; td < 256; td++)
            for (uint32_t ls : lows)
                for (uint32_t ld : lows) {
                    const uint32_t s = (ts << 24) | ls, d = (td << 24) | ld;
                    ASSERT_EQ(parse_detail::ipv4_addrs_bad(s, d), src_ref(s) || dst_ref(d))
                        << std::hex << s << " " << d;
                }
}

TEST(parse, tcp_flag_mask_matches_the_rule_for_every_flags_byte) {
    for (unsigned flags = 0; flags < 256; flags++) {
        const unsigned f = flags & 0x3F;  // CWR and ECE do not matter
        const bool bad = f == 0 || (f & 0x03) == 0x03 || (f & 0x06) == 0x06;
        EXPECT_EQ(parse_detail::tcp_flags_bad(static_cast<uint8_t>(flags)), bad) << flags;
    }
}

TEST(parse, multicast_destinations_are_accepted) {
    spec s;
    s.v6 = true;
    s.proto = ipproto_icmpv6;
    s.dst = "ff02::1:ff00:11";  // solicited-node, used by ND
    EXPECT_EQ(parse(frame(s)), drop_reason::none);
    spec t;
    t.proto = ipproto_udp;
    t.dst = "224.0.0.18";
    EXPECT_EQ(parse(frame(t)), drop_reason::none);
}

TEST(parse, arp) {
    bytes f = test::from_hex(
        "ffffffffffff020000000001080600010800060400010200000000"
        "01c61200020000000000"
        "00c6120101");
    packet_meta m;
    ASSERT_EQ(parse_exact(f, &m), drop_reason::none);
    EXPECT_EQ(m.kind, l3_kind::arp);
    EXPECT_EQ(m.key.src, ip("198.18.0.2"));
    EXPECT_EQ(m.key.dst, ip("198.18.1.1"));
    arp_info a;
    ASSERT_EQ(parse_arp(f.data(), static_cast<uint32_t>(f.size()), m.l3_offset, &a),
              drop_reason::none);
    EXPECT_EQ(a.op, 1);
    EXPECT_EQ(a.sender_ip_be, ip("198.18.0.2").v4_be());
    EXPECT_EQ(a.sender_mac.addr_bytes[5], 1);
    EXPECT_EQ(parse_arp(f.data(), static_cast<uint32_t>(f.size()) - 1, m.l3_offset, &a),
              drop_reason::arp_malformed);
    EXPECT_EQ(parse_arp(f.data(), static_cast<uint32_t>(f.size()), 100, &a),
              drop_reason::arp_malformed);
}

/* ---- malformed frames ----------------------------------------------------------------- */

struct bad_case {
    const char *description;
    std::function<bytes()> make;
    drop_reason expected;
};

const std::vector<bad_case> &bad_cases() {
    static const std::vector<bad_case> cases = {
        {"empty", [] { return bytes{}; }, drop_reason::eth_truncated},
        {"13 bytes", [] { return bytes(13, 0); }, drop_reason::eth_truncated},
        {"vlan tag cut",
         [] {
             bytes f = frame(spec{.tags = {0x8100}});
             f.resize(17);
             return f;
         },
         drop_reason::eth_truncated},
        {"two 802.1Q tags",
         [] {
             return frame(spec{.tags = {0x8100, 0x8100}});
         },
         drop_reason::vlan_stacked},
        {"802.1ad outer tag",
         [] {
             return frame(spec{.tags = {0x88A8, 0x8100}});
         },
         drop_reason::vlan_stacked},
        {"0x9100 tag", [] { return frame(spec{.tags = {0x9100}}); }, drop_reason::vlan_stacked},
        {"802.1Q then 802.1ad",
         [] {
             return frame(spec{.tags = {0x8100, 0x88A8}});
         },
         drop_reason::vlan_stacked},
        {"unknown ethertype", [] { return frame(spec{.ethertype = 0x88CC}); },
         drop_reason::ethertype_unknown},
        {"arp truncated",
         [] {
             bytes f = frame(spec{.ethertype = 0x0806});
             f.resize(14 + 27);
             return f;
         },
         drop_reason::arp_malformed},
        {"arp htype 6",
         [] {
             bytes f = test::from_hex(
                 "ffffffffffff020000000001080600060800060400010200000000"
                 "01c61200020000000000"
                 "00c6120101");
             return f;
         },
         drop_reason::arp_malformed},
        {"arp plen 16",
         [] {
             bytes f = test::from_hex(
                 "ffffffffffff020000000001080600010800061000010200000000"
                 "01c61200020000000000"
                 "00c6120101");
             return f;
         },
         drop_reason::arp_malformed},
        {"arp op 3",
         [] {
             bytes f = test::from_hex(
                 "ffffffffffff020000000001080600010800060400030200000000"
                 "01c61200020000000000"
                 "00c6120101");
             return f;
         },
         drop_reason::arp_malformed},
        // IPv4
        {"ipv4 19 bytes",
         [] {
             bytes f = frame(spec{});
             f.resize(14 + 19);
             return f;
         },
         drop_reason::ipv4_truncated},
        {"ipv4 version 6",
         [] {
             bytes f = frame(spec{});
             f[14] = 0x65;
             fix_v4(f);
             return f;
         },
         drop_reason::ipv4_bad_version},
        {"ipv4 ihl 4",
         [] {
             bytes f = frame(spec{});
             f[14] = 0x44;
             return f;
         },
         drop_reason::ipv4_bad_ihl},
        {"ipv4 ihl 0",
         [] {
             bytes f = frame(spec{});
             f[14] = 0x40;
             return f;
         },
         drop_reason::ipv4_bad_ihl},
        {"ipv4 ihl past frame",
         [] {
             bytes f = frame(spec{});
             f.resize(14 + 22);
             f[14] = 0x46;
             return f;
         },
         drop_reason::ipv4_bad_ihl},
        {"ipv4 total length < 20",
         [] {
             bytes f = frame(spec{});
             wire::store_be16(&f[16], 19);
             fix_v4(f);
             return f;
         },
         drop_reason::ipv4_bad_total_length},
        {"ipv4 total length < ihl",
         [] {
             bytes f = frame(spec{.ip_options = {1, 1, 1, 1}});
             wire::store_be16(&f[16], 22);
             fix_v4(f);
             return f;
         },
         drop_reason::ipv4_bad_total_length},
        {"ipv4 total length past frame",
         [] {
             bytes f = frame(spec{});
             wire::store_be16(&f[16], static_cast<uint16_t>(f.size() - 14 + 1));
             fix_v4(f);
             return f;
         },
         drop_reason::ipv4_bad_total_length},
        {"ipv4 bad checksum",
         [] {
             bytes f = frame(spec{});
             f[14 + 10] ^= 1;
             return f;
         },
         drop_reason::ipv4_bad_checksum},
        {"ipv4 options change, checksum stale",
         [] {
             bytes f = frame(spec{.ip_options = {1, 1, 1, 0}});
             f[14 + 20] = 7;
             return f;
         },
         drop_reason::ipv4_bad_checksum},
        {"ipv4 MF", [] { return frame(spec{.frag = 0x2000}); }, drop_reason::ipv4_fragment},
        {"ipv4 offset", [] { return frame(spec{.frag = 0x0010}); }, drop_reason::ipv4_fragment},
        {"ipv4 src 0.0.0.0", [] { return frame(spec{.src = "0.0.0.0"}); },
         drop_reason::ipv4_bad_address},
        {"ipv4 src 127.0.0.1", [] { return frame(spec{.src = "127.0.0.1"}); },
         drop_reason::ipv4_bad_address},
        {"ipv4 src multicast", [] { return frame(spec{.src = "224.0.0.1"}); },
         drop_reason::ipv4_bad_address},
        {"ipv4 src 239.x", [] { return frame(spec{.src = "239.255.255.250"}); },
         drop_reason::ipv4_bad_address},
        {"ipv4 src broadcast", [] { return frame(spec{.src = "255.255.255.255"}); },
         drop_reason::ipv4_bad_address},
        {"ipv4 dst 0.0.0.0", [] { return frame(spec{.dst = "0.0.0.0"}); },
         drop_reason::ipv4_bad_address},
        {"ipv4 dst loopback", [] { return frame(spec{.dst = "127.1.2.3"}); },
         drop_reason::ipv4_bad_address},
        {"ipv4 dst broadcast", [] { return frame(spec{.dst = "255.255.255.255"}); },
         drop_reason::ipv4_bad_address},
        // L4 over IPv4
        {"tcp 19 bytes", [] { return frame(spec{.l4 = bytes(19, 0x50)}); },
         drop_reason::l4_truncated},
        {"tcp empty",
         [] {
             bytes f = frame(spec{});
             f.resize(14 + 20);
             wire::store_be16(&f[16], 20);
             fix_v4(f);
             return f;
         },
         drop_reason::l4_truncated},
        {"tcp data offset 4",
         [] {
             bytes l4 = default_l4(ipproto_tcp);
             l4[12] = 4 << 4;
             return frame(spec{.l4 = l4});
         },
         drop_reason::tcp_bad_data_offset},
        {"tcp data offset past payload",
         [] {
             bytes l4 = default_l4(ipproto_tcp);
             l4[12] = 7 << 4;
             return frame(spec{.l4 = l4});
         },
         drop_reason::tcp_bad_data_offset},
        {"tcp data offset 15 into padding",
         [] {
             bytes l4 = default_l4(ipproto_tcp);
             l4[12] = 15 << 4;
             return frame(spec{.l4 = l4, .padding = 60});
         },
         drop_reason::tcp_bad_data_offset},
        {"tcp no flags",
         [] {
             bytes l4 = default_l4(ipproto_tcp);
             l4[13] = 0xC0;
             return frame(spec{.l4 = l4});
         },
         drop_reason::tcp_bad_flags},
        {"tcp syn+fin",
         [] {
             bytes l4 = default_l4(ipproto_tcp);
             l4[13] = 0x03;
             return frame(spec{.l4 = l4});
         },
         drop_reason::tcp_bad_flags},
        {"tcp syn+rst+ack",
         [] {
             bytes l4 = default_l4(ipproto_tcp);
             l4[13] = 0x16;
             return frame(spec{.l4 = l4});
         },
         drop_reason::tcp_bad_flags},
        {"udp 7 bytes",
         [] {
             bytes l4(7, 0);
             return frame(spec{.proto = ipproto_udp, .l4 = l4});
         },
         drop_reason::l4_truncated},
        {"udp length too big",
         [] {
             bytes l4 = default_l4(ipproto_udp);
             wire::store_be16(&l4[4], 14);
             return frame(spec{.proto = ipproto_udp, .l4 = l4});
         },
         drop_reason::udp_bad_length},
        {"udp length too small",
         [] {
             bytes l4 = default_l4(ipproto_udp);
             wire::store_be16(&l4[4], 7);
             return frame(spec{.proto = ipproto_udp, .l4 = l4});
         },
         drop_reason::udp_bad_length},
        {"icmp 7 bytes", [] { return frame(spec{.proto = ipproto_icmp, .l4 = bytes(7, 8)}); },
         drop_reason::l4_truncated},
        {"gre", [] { return frame(spec{.proto = 47}); }, drop_reason::l4_unsupported},
        {"icmpv6 over ipv4", [] { return frame(spec{.proto = ipproto_icmpv6}); },
         drop_reason::l4_unsupported},
        // IPv6
        {"ipv6 39 bytes",
         [] {
             bytes f = frame(spec{.v6 = true});
             f.resize(14 + 39);
             return f;
         },
         drop_reason::ipv6_truncated},
        {"ipv6 version 4",
         [] {
             bytes f = frame(spec{.v6 = true});
             f[14] = 0x40;
             return f;
         },
         drop_reason::ipv6_bad_version},
        {"ipv6 payload length past frame",
         [] {
             bytes f = frame(spec{.v6 = true});
             wire::store_be16(&f[18], static_cast<uint16_t>(f.size() - 54 + 1));
             return f;
         },
         drop_reason::ipv6_bad_payload_length},
        {"ipv6 src ::", [] { return frame(spec{.v6 = true, .src = "::"}); },
         drop_reason::ipv6_bad_address},
        {"ipv6 src ::1", [] { return frame(spec{.v6 = true, .src = "::1"}); },
         drop_reason::ipv6_bad_address},
        {"ipv6 src multicast", [] { return frame(spec{.v6 = true, .src = "ff02::1"}); },
         drop_reason::ipv6_bad_address},
        {"ipv6 dst ::1", [] { return frame(spec{.v6 = true, .dst = "::1"}); },
         drop_reason::ipv6_bad_address},
        {"ipv6 dst ::", [] { return frame(spec{.v6 = true, .dst = "::"}); },
         drop_reason::ipv6_bad_address},
        {"ipv6 fragment header",
         [] {
             bytes fr(8, 0);
             fr[0] = ipproto_tcp;
             return frame(spec{.v6 = true, .ext = fr, .first_nh = wire::ipv6_ext_fragment});
         },
         drop_reason::ipv6_fragment},
        {"ipv6 fragment after hop-by-hop",
         [] {
             bytes e = ext_hdr(wire::ipv6_ext_fragment, 0);
             bytes fr(8, 0);
             fr[0] = ipproto_tcp;
             e.insert(e.end(), fr.begin(), fr.end());
             return frame(spec{.v6 = true, .ext = e, .first_nh = 0});
         },
         drop_reason::ipv6_fragment},
        {"ipv6 hop-by-hop longer than payload",
         [] {
             bytes e = ext_hdr(ipproto_tcp, 0);
             e[1] = 200;
             return frame(spec{.v6 = true, .ext = e, .first_nh = 0});
         },
         drop_reason::ipv6_ext_overrun},
        {"ipv6 ext header with 1 byte of payload",
         [] {
             bytes f = frame(spec{.v6 = true, .l4 = bytes{0}, .padding = 10});
             f[14 + 6] = wire::ipv6_ext_dest_opts;
             return f;
         },
         drop_reason::ipv6_ext_overrun},
        {"ipv6 next header dest-opts, empty payload",
         [] {
             bytes f = frame(spec{.v6 = true, .padding = 20});
             f[14 + 6] = wire::ipv6_ext_dest_opts;
             wire::store_be16(&f[18], 0);
             return f;
         },
         drop_reason::ipv6_ext_overrun},
        {"ipv6 AH overrun",
         [] {
             bytes ah(8, 0);
             ah[0] = ipproto_tcp;
             ah[1] = 4;  // (4+2)*4 = 24 bytes claimed
             return frame(
                 spec{.v6 = true, .ext = ah, .first_nh = wire::ipv6_ext_ah, .l4 = bytes{1, 2, 3}});
         },
         drop_reason::ipv6_ext_overrun},
        {"ipv6 9 extension headers",
         [] {
             bytes e;
             for (int i = 0; i < 9; i++) {
                 bytes d = ext_hdr(i == 8 ? uint8_t{ipproto_tcp} : wire::ipv6_ext_dest_opts, 0);
                 e.insert(e.end(), d.begin(), d.end());
             }
             return frame(spec{.v6 = true, .ext = e, .first_nh = wire::ipv6_ext_dest_opts});
         },
         drop_reason::ipv6_ext_too_many},
        {"ipv6 tcp truncated", [] { return frame(spec{.v6 = true, .l4 = bytes(10, 0x50)}); },
         drop_reason::l4_truncated},
        {"ipv6 tcp bad data offset",
         [] {
             bytes l4 = default_l4(ipproto_tcp);
             l4[12] = 3 << 4;
             return frame(spec{.v6 = true, .l4 = l4});
         },
         drop_reason::tcp_bad_data_offset},
        {"ipv6 udp bad length",
         [] {
             bytes l4 = default_l4(ipproto_udp);
             wire::store_be16(&l4[4], 0);
             return frame(spec{.v6 = true, .proto = ipproto_udp, .l4 = l4});
         },
         drop_reason::udp_bad_length},
        {"ipv6 udp checksum 0",
         [] {
             bytes l4 = default_l4(ipproto_udp);
             wire::store_be16(&l4[6], 0);
             return frame(spec{.v6 = true, .proto = ipproto_udp, .l4 = l4});
         },
         drop_reason::l4_bad_checksum},
        {"ipv4 udp checksum 0 is fine",
         [] {
             bytes l4 = default_l4(ipproto_udp);
             wire::store_be16(&l4[6], 0);
             return frame(spec{.proto = ipproto_udp, .l4 = l4});
         },
         drop_reason::none},
        {"icmpv4 over ipv6", [] { return frame(spec{.v6 = true, .proto = ipproto_icmp}); },
         drop_reason::l4_unsupported},
        {"ipv6 no next header", [] { return frame(spec{.v6 = true, .proto = 59}); },
         drop_reason::l4_unsupported},
        {"ipv6 esp", [] { return frame(spec{.v6 = true, .proto = 50}); },
         drop_reason::l4_unsupported},
    };
    return cases;
}

TEST(parse, malformed_frames_get_their_drop_reason) {
    for (const bad_case &c : bad_cases()) {
        SCOPED_TRACE(c.description);
        EXPECT_STREQ(drop_reason_name(parse(c.make())), drop_reason_name(c.expected));
    }
    EXPECT_GE(bad_cases().size(), 60u);
}

TEST(parse, eight_extension_headers_are_walked) {
    bytes e;
    for (int i = 0; i < 8; i++) {
        bytes d = ext_hdr(i == 7 ? uint8_t{ipproto_tcp} : wire::ipv6_ext_dest_opts, 0);
        e.insert(e.end(), d.begin(), d.end());
    }
    packet_meta m;
    ASSERT_EQ(
        parse_exact(frame(spec{.v6 = true, .ext = e, .first_nh = wire::ipv6_ext_dest_opts}), &m),
        drop_reason::none);
    EXPECT_EQ(m.l3_len, 40 + 64);
    EXPECT_EQ(m.l4_proto, ipproto_tcp);
}

/* ---- robustness: prefixes and mutations -------------------------------------------------- */

std::vector<bytes> valid_seeds() {
    bytes e = ext_hdr(wire::ipv6_ext_routing, 1);
    bytes r = ext_hdr(wire::ipv6_ext_dest_opts, 0);
    bytes d = ext_hdr(ipproto_tcp, 2);
    e.insert(e.end(), r.begin(), r.end());
    e.insert(e.end(), d.begin(), d.end());
    bytes opts_tcp = default_l4(ipproto_tcp);
    opts_tcp[12] = 7 << 4;  // 8 bytes of TCP options
    opts_tcp.insert(opts_tcp.end(), 8, 1);
    return {
        frame(spec{}),
        frame(spec{.tags = {0x8100}, .ip_options = {1, 1, 1, 0, 1, 1, 1, 0}, .l4 = opts_tcp}),
        frame(spec{.proto = ipproto_udp}),
        frame(spec{.tags = {0x8100}, .proto = ipproto_icmp}),
        frame(spec{.v6 = true}),
        frame(spec{.v6 = true, .proto = ipproto_udp}),
        frame(spec{.tags = {0x8100}, .v6 = true, .proto = ipproto_icmpv6}),
        frame(spec{.v6 = true, .ext = e, .first_nh = wire::ipv6_ext_hop_by_hop}),
        test::from_hex("ffffffffffff02000000000108060001080006040001020000000001c61200020000000000"
                       "00c6120101"),
    };
}

/** What must hold whenever the parser accepts a frame of len bytes. */
void check_invariants(const packet_meta &m, uint32_t len) {
    ASSERT_EQ(m.l3_offset, m.l2_len);
    ASSERT_TRUE(m.l2_len == 14 || m.l2_len == 18);
    ASSERT_EQ(m.has_vlan, m.l2_len == 18);
    ASSERT_EQ(m.l4_offset, m.l3_offset + m.l3_len);
    ASSERT_LE(uint32_t{m.l4_offset} + m.l4_len, len);
    ASSERT_EQ(m.key.pad, 0);
    if (m.l4_proto == ipproto_tcp) {
        ASSERT_GE(m.tcp_hdr_len, 20);
        ASSERT_LE(m.tcp_hdr_len, m.l4_len);
    }
    if (m.l4_proto == ipproto_udp) {
        ASSERT_GE(m.l4_len, 8);
    }
}

TEST(parse, every_prefix_of_valid_frames_is_refused) {
    size_t n = 0;
    for (const bytes &seed : valid_seeds()) {
        packet_meta m;
        ASSERT_EQ(parse_exact(seed, &m), drop_reason::none);
        for (size_t len = 0; len < seed.size(); len++) {
            const bytes prefix(seed.begin(), seed.begin() + static_cast<long>(len));
            const drop_reason r = parse_exact(prefix, &m);
            // A cut frame is always refused for its length, never for its content.
            ASSERT_TRUE(r == drop_reason::eth_truncated || r == drop_reason::arp_malformed ||
                        r == drop_reason::ipv4_truncated || r == drop_reason::ipv4_bad_ihl ||
                        r == drop_reason::ipv4_bad_total_length ||
                        r == drop_reason::ipv6_truncated ||
                        r == drop_reason::ipv6_bad_payload_length)
                << "length " << len << ": " << drop_reason_name(r);
            n++;
        }
    }
    EXPECT_GT(n, 500u);
}

TEST(parse, random_mutations_never_read_out_of_bounds) {
    std::mt19937 rng(20261124);
    const std::vector<bytes> seeds = valid_seeds();
    size_t accepted = 0, refused = 0;
    for (int i = 0; i < 300000; i++) {
        bytes f = seeds[rng() % seeds.size()];
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; e++) {
            // Mostly hit the headers, where the parser looks.
            const size_t pos = rng() % std::min<size_t>(f.size(), (rng() & 1) ? 80 : f.size());
            f[pos] = (rng() & 3) ? static_cast<uint8_t>(rng())
                                 : static_cast<uint8_t>(f[pos] ^ (1u << (rng() % 8)));
        }
        if (rng() % 4 == 0) f.resize(rng() % (f.size() + 1));
        if (rng() % 8 == 0) f.resize(f.size() + rng() % 16, 0);
        if ((rng() & 1) && f.size() >= 14 + 20 && f[12] == 0x08 && f[13] == 0x00 &&
            (f[14] >> 4) == 4)
            fix_v4(f);  // let more mutations through the header checksum
        packet_meta m;
        if (parse_exact(f, &m) == drop_reason::none) {
            accepted++;
            check_invariants(m, static_cast<uint32_t>(f.size()));
        } else {
            refused++;
        }
    }
    EXPECT_GT(accepted, 1000u);
    EXPECT_GT(refused, 1000u);
}

}  // namespace
}  // namespace nlb
