/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packet builders against frames scapy built independently (build_gen.py ->
 * build_golden.h), plus size and aliasing edge cases.
 */
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "build_golden.h"
#include "net/build.h"
#include "net/parse.h"
#include "test_util.h"

namespace nlb {
namespace {

using test::from_hex;
using test::ip;
using test::mac;

const rte_ether_addr us_mac = mac("02:00:00:00:00:aa");
const rte_ether_addr peer_mac = mac("02:00:00:00:00:01");

std::string hex_of(const std::vector<uint8_t> &buf, uint32_t len) {
    return test::to_hex(buf.data(), len);
}
std::string golden(const char *h) {
    auto v = from_hex(h);
    return test::to_hex(v.data(), v.size());
}

flow_key rst_key(const char *src, const char *dst, ip_family f) {
    flow_key k{};
    k.src = ip(src);
    k.dst = ip(dst);
    k.sport = htons(80);
    k.dport = htons(40000);
    k.proto = ipproto_tcp;
    k.family = f;
    return k;
}

TEST(build, tcp_rst_v4) {
    std::vector<uint8_t> buf(256);
    l2_header l2{peer_mac, us_mac};
    const uint32_t n =
        build_tcp_rst(buf.data(), 256, l2, rst_key("198.18.1.1", "198.18.0.2", ip_family::v4),
                      0x11223344, 0x55667788);
    EXPECT_EQ(n, 60u);
    EXPECT_EQ(hex_of(buf, n), golden(test::golden_rst_v4));
}

TEST(build, tcp_rst_v6_vlan) {
    std::vector<uint8_t> buf(256);
    l2_header l2{peer_mac, us_mac, true, (3 << 13) | 100};
    const uint32_t n =
        build_tcp_rst(buf.data(), 256, l2, rst_key("2001:2:0:1::1", "2001:2::2", ip_family::v6),
                      0x11223344, 0x55667788);
    EXPECT_EQ(hex_of(buf, n), golden(test::golden_rst_v6_vlan));
}

TEST(build, tcp_rst_refuses_small_buffer_and_bad_key) {
    std::vector<uint8_t> buf(256);
    l2_header l2{peer_mac, us_mac};
    flow_key k = rst_key("198.18.1.1", "198.18.0.2", ip_family::v4);
    EXPECT_EQ(build_tcp_rst(buf.data(), 59, l2, k, 1, 2), 0u);
    EXPECT_EQ(build_tcp_rst(buf.data(), 60, l2, k, 1, 2), 60u);
    k.proto = ipproto_udp;
    EXPECT_EQ(build_tcp_rst(buf.data(), 256, l2, k, 1, 2), 0u);
}

TEST(build, rst_parses_back) {
    std::vector<uint8_t> buf(256);
    l2_header l2{peer_mac, us_mac};
    const flow_key k = rst_key("198.18.1.1", "198.18.0.2", ip_family::v4);
    const uint32_t n = build_tcp_rst(buf.data(), 256, l2, k, 5, 6);
    packet_meta m;
    ASSERT_EQ(parse_packet(buf.data(), n, &m), drop_reason::none);
    EXPECT_EQ(m.key, k);
    EXPECT_EQ(m.tcp_flags, 0x14);
    EXPECT_EQ(m.l4_len, 20);
}

void check_echo(const char *req_hex, const char *reply_hex) {
    std::vector<uint8_t> req = from_hex(req_hex);
    packet_meta m;
    ASSERT_EQ(parse_packet(req.data(), static_cast<uint32_t>(req.size()), &m), drop_reason::none);
    // Into a separate buffer.
    std::vector<uint8_t> out(512);
    uint32_t n =
        build_echo_reply(out.data(), 512, req.data(), static_cast<uint32_t>(req.size()), m);
    EXPECT_EQ(hex_of(out, n), golden(reply_hex));
    // In place.
    std::vector<uint8_t> buf = req;
    buf.resize(512);
    n = build_echo_reply(buf.data(), 512, buf.data(), static_cast<uint32_t>(req.size()), m);
    EXPECT_EQ(hex_of(buf, n), golden(reply_hex));
    // A reply is not a request: nothing to answer.
    packet_meta rm;
    ASSERT_EQ(parse_packet(buf.data(), n, &rm), drop_reason::none);
    EXPECT_EQ(build_echo_reply(out.data(), 512, buf.data(), n, rm), 0u);
    // Too small a buffer.
    EXPECT_EQ(build_echo_reply(out.data(), n - 1 < 60 ? 59 : n - 1, req.data(),
                               static_cast<uint32_t>(req.size()), m),
              0u);
}

TEST(build, icmp_echo_reply_v4_drops_options_keeps_vlan) {
    check_echo(test::golden_echo_req_v4, test::golden_echo_reply_v4);
}

TEST(build, icmpv6_echo_reply_drops_extension_headers) {
    check_echo(test::golden_echo_req_v6, test::golden_echo_reply_v6);
}

TEST(build, arp_reply_to_parsed_request) {
    std::vector<uint8_t> req = from_hex(test::golden_arp_req);
    packet_meta m;
    ASSERT_EQ(parse_packet(req.data(), static_cast<uint32_t>(req.size()), &m), drop_reason::none);
    ASSERT_EQ(m.kind, l3_kind::arp);
    arp_info a;
    ASSERT_EQ(parse_arp(req.data(), static_cast<uint32_t>(req.size()), m.l3_offset, &a),
              drop_reason::none);
    EXPECT_EQ(a.op, 1);
    EXPECT_EQ(std::memcmp(&a.sender_mac, &peer_mac, 6), 0);
    EXPECT_EQ(a.target_ip_be, ip("198.18.1.1").v4_be());
    std::vector<uint8_t> out(128);
    const uint32_t n = build_arp_reply(out.data(), 128, us_mac, ip("198.18.1.1").v4_be(), a,
                                       m.has_vlan, m.vlan_tci);
    EXPECT_EQ(hex_of(out, n), golden(test::golden_arp_reply));
    EXPECT_EQ(build_arp_reply(out.data(), 59, us_mac, 0, a, false, 0), 0u);
}

TEST(build, gratuitous_arp) {
    std::vector<uint8_t> out(128);
    const uint32_t n = build_gratuitous_arp(out.data(), 128, us_mac, ip("198.18.1.1").v4_be(), true,
                                            (3 << 13) | 100);
    EXPECT_EQ(hex_of(out, n), golden(test::golden_garp_vlan));
}

TEST(build, neighbor_advert_solicited) {
    std::vector<uint8_t> out(128);
    const ip_addr vip = ip("2001:2:0:1::1"), client = ip("2001:2::2");
    l2_header l2{peer_mac, us_mac};
    const uint32_t n = build_neighbor_advert(out.data(), 128, l2, vip.bytes, us_mac, client.bytes);
    EXPECT_EQ(hex_of(out, n), golden(test::golden_na_solicited));
}

TEST(build, neighbor_advert_unsolicited) {
    std::vector<uint8_t> out(128);
    const ip_addr vip = ip("2001:2:0:1::1");
    l2_header l2{peer_mac /* ignored */, us_mac, true, (3 << 13) | 100};
    const uint32_t n = build_neighbor_advert(out.data(), 128, l2, vip.bytes, us_mac, nullptr);
    EXPECT_EQ(hex_of(out, n), golden(test::golden_na_unsolicited_vlan));
}

TEST(build, neighbor_solicit_to_solicited_node_address) {
    std::vector<uint8_t> out(128);
    const ip_addr vip = ip("2001:2:0:1::1"), target = ip("2001:2:0:2::11");
    const uint32_t n =
        build_neighbor_solicit(out.data(), 128, us_mac, vip.bytes, target.bytes, false, 0);
    EXPECT_EQ(hex_of(out, n), golden(test::golden_ns));
    // The NS parses (multicast destination allowed) as ICMPv6 type 135.
    packet_meta m;
    ASSERT_EQ(parse_packet(out.data(), n, &m), drop_reason::none);
    EXPECT_EQ(m.icmp_type, 135);
    EXPECT_EQ(m.ttl, 255);
    EXPECT_EQ(build_neighbor_solicit(out.data(), n - 1, us_mac, vip.bytes, target.bytes, false, 0),
              0u);
}

TEST(build, solicited_node_and_multicast_mac) {
    const ip_addr t = ip("2001:db8::1:2345:6789");
    uint8_t sn[16];
    ipv6_solicited_node(t.bytes, sn);
    EXPECT_EQ(std::memcmp(sn, ip("ff02::1:ff45:6789").bytes, 16), 0);
    const rte_ether_addr m = ipv6_multicast_mac(sn);
    const rte_ether_addr want = mac("33:33:ff:45:67:89");
    EXPECT_EQ(std::memcmp(&m, &want, 6), 0);
}

}  // namespace
}  // namespace nlb
