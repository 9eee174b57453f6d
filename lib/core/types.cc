/* SPDX-License-Identifier: Apache-2.0 */
#include "core/types.h"

#include <arpa/inet.h>

namespace nlb {

bool parse_ip(const std::string &text, ip_addr *out, ip_family *family) {
    uint8_t buf[16] = {};
    if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
        ip_addr a{};
        std::memcpy(a.bytes, buf, 4);
        *out = a;
        *family = ip_family::v4;
        return true;
    }
    if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
        *out = ip_addr::from_v6(buf);
        *family = ip_family::v6;
        return true;
    }
    return false;
}

std::string format_ip(const ip_addr &a, ip_family family) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == ip_family::v4)
        inet_ntop(AF_INET, a.bytes, buf, sizeof(buf));
    else
        inet_ntop(AF_INET6, a.bytes, buf, sizeof(buf));
    return buf;
}

bool prefix_contains(const ip_prefix &prefix, const ip_addr &addr) {
    const unsigned full = prefix.length / 8, rest = prefix.length % 8;
    if (std::memcmp(prefix.addr.bytes, addr.bytes, full) != 0) return false;
    if (rest == 0) return true;
    const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (prefix.addr.bytes[full] & mask) == (addr.bytes[full] & mask);
}

const char *fwd_mode_name(fwd_mode m) {
    switch (m) {
    case fwd_mode::nat: return "nat";
    case fwd_mode::dsr: return "dsr";
    case fwd_mode::tunnel: return "tunnel";
    }
    return "unknown";
}

const char *sched_kind_name(sched_kind s) {
    switch (s) {
    case sched_kind::wrr: return "wrr";
    case sched_kind::wlc: return "wlc";
    case sched_kind::source_ip: return "source_ip";
    }
    return "unknown";
}

const char *drop_reason_name(drop_reason r) {
    switch (r) {
#define NLB_DR(x) \
    case drop_reason::x: return #x;
    NLB_DR(none)
    NLB_DR(eth_truncated)
    NLB_DR(vlan_stacked)
    NLB_DR(ethertype_unknown)
    NLB_DR(arp_malformed)
    NLB_DR(ipv4_truncated)
    NLB_DR(ipv4_bad_version)
    NLB_DR(ipv4_bad_ihl)
    NLB_DR(ipv4_bad_total_length)
    NLB_DR(ipv4_bad_checksum)
    NLB_DR(ipv4_fragment)
    NLB_DR(ipv4_bad_address)
    NLB_DR(ipv6_truncated)
    NLB_DR(ipv6_bad_version)
    NLB_DR(ipv6_bad_payload_length)
    NLB_DR(ipv6_ext_overrun)
    NLB_DR(ipv6_ext_too_many)
    NLB_DR(ipv6_fragment)
    NLB_DR(ipv6_bad_address)
    NLB_DR(l4_truncated)
    NLB_DR(tcp_bad_data_offset)
    NLB_DR(tcp_bad_flags)
    NLB_DR(udp_bad_length)
    NLB_DR(l4_bad_checksum)
    NLB_DR(l4_unsupported)
    NLB_DR(ttl_exceeded)
    NLB_DR(no_service)
    NLB_DR(no_backend)
    NLB_DR(not_syn)
    NLB_DR(conn_table_full)
    NLB_DR(backend_gone)
    NLB_DR(no_neighbour)
    NLB_DR(no_headroom)
    NLB_DR(mtu_exceeded)
    NLB_DR(no_mbuf)
    NLB_DR(tx_full)
    NLB_DR(slow_path_full)
    NLB_DR(to_host)
    NLB_DR(conn_conflict)
#undef NLB_DR
    case drop_reason::count_: break;
    }
    return "unknown";
}

}  // namespace nlb
