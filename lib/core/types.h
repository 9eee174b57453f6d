/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Types shared by every lib/ module: addresses, flow keys, backend references,
 * forwarding modes, schedulers and the named drop reasons.
 *
 * Everything here is plain data, safe to use from any thread. Addresses and
 * ports are kept in network byte order exactly as they appear on the wire, so
 * the datapath never converts them per packet.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#ifndef NLB_MAX_WORKERS
#define NLB_MAX_WORKERS 64
#endif

namespace nlb {

/** Largest number of worker lcores any per-worker array is sized for. */
inline constexpr unsigned max_workers = NLB_MAX_WORKERS;

/** Cache line size assumed by the layout of hot structures. */
inline constexpr std::size_t cache_line = 64;

enum class ip_family : uint8_t { v4 = 4, v6 = 6 };

/**
 * An IPv4 or IPv6 address in network byte order. An IPv4 address occupies
 * bytes[0..3] and the remaining 12 bytes are zero, so two addresses compare
 * equal byte-wise only when they are the same family and value.
 */
struct ip_addr {
    alignas(4) uint8_t bytes[16];

    static ip_addr from_v4_be(uint32_t be) {
        ip_addr a{};
        std::memcpy(a.bytes, &be, 4);
        return a;
    }
    static ip_addr from_v6(const uint8_t (&b)[16]) {
        ip_addr a{};
        std::memcpy(a.bytes, b, 16);
        return a;
    }
    static ip_addr from_v6(const uint8_t *b) {
        ip_addr a{};
        std::memcpy(a.bytes, b, 16);
        return a;
    }
    /** The IPv4 address in network byte order (valid for v4 addresses only). */
    uint32_t v4_be() const {
        uint32_t v;
        std::memcpy(&v, bytes, 4);
        return v;
    }
    bool operator==(const ip_addr &o) const { return std::memcmp(bytes, o.bytes, 16) == 0; }
    bool operator!=(const ip_addr &o) const { return !(*this == o); }
};
static_assert(sizeof(ip_addr) == 16);

/** Parses dotted-quad IPv4 or RFC 4291 IPv6 text; false (and *out untouched) on bad input. */
bool parse_ip(const std::string &text, ip_addr *out, ip_family *family);
/** Formats an address of the given family as text. */
std::string format_ip(const ip_addr &a, ip_family family);

/** An address prefix, e.g. 198.19.0.0/24 (addr may have host bits set). */
struct ip_prefix {
    ip_addr addr{};
    ip_family family = ip_family::v4;
    uint8_t length = 0;
};

/** True when addr lies inside the prefix (the caller makes sure the families match). */
bool prefix_contains(const ip_prefix &prefix, const ip_addr &addr);

/** IP protocol numbers used by the datapath. */
enum : uint8_t {
    ipproto_icmp = 1,
    ipproto_ipip = 4,
    ipproto_tcp = 6,
    ipproto_udp = 17,
    ipproto_ipv6 = 41,
    ipproto_icmpv6 = 58,
};

/**
 * The 5-tuple of one direction of a flow, as seen on the wire (network byte
 * order). 40 bytes; padding is always zero so keys hash and compare as bytes.
 */
struct flow_key {
    ip_addr src;
    ip_addr dst;
    uint16_t sport;
    uint16_t dport;
    uint8_t proto;
    ip_family family;
    uint16_t pad;

    /* Bytewise, padding included. The datapath compares a key per packet: with SSE2 (every
     * x86-64, so the same definition in every translation unit) that is two 16-byte XORs,
     * one byte compare of their OR with zero and one 8-byte compare, without branches. */
    bool operator==(const flow_key &o) const {
#if defined(__SSE2__)
        const auto *a = reinterpret_cast<const char *>(this);
        const auto *b = reinterpret_cast<const char *>(&o);
        const __m128i x = _mm_or_si128(
            _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a)),
                          _mm_loadu_si128(reinterpret_cast<const __m128i *>(b))),
            _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a + 16)),
                          _mm_loadu_si128(reinterpret_cast<const __m128i *>(b + 16))));
        uint64_t ta, tb;
        std::memcpy(&ta, a + 32, 8);
        std::memcpy(&tb, b + 32, 8);
        return (_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_setzero_si128())) == 0xFFFF) & (ta == tb);
#else
        return std::memcmp(this, &o, sizeof(*this)) == 0;
#endif
    }
};
static_assert(sizeof(flow_key) == 40);

/** How a service delivers packets to its backends (SPEC.md "Forwarding modes"). */
enum class fwd_mode : uint8_t { nat = 0, dsr = 1, tunnel = 2 };
/** New-connection scheduler of a service (SPEC.md rule 10). */
enum class sched_kind : uint8_t { wrr = 0, wlc = 1, source_ip = 2 };
/** A backend's admission state: draining backends keep existing flows only. */
enum class backend_state : uint8_t { active = 0, draining = 1 };

const char *fwd_mode_name(fwd_mode m);
const char *sched_kind_name(sched_kind s);

/**
 * A reference from a connection to a backend: its slot index in the backend
 * array of the current snapshot plus the generation that slot had when the
 * connection was made. A removed or replaced backend gets a new generation, so
 * a stale reference is detected, never followed.
 */
struct backend_ref {
    uint32_t index;
    uint32_t generation;
    bool operator==(const backend_ref &o) const {
        return index == o.index && generation == o.generation;
    }
};
inline constexpr uint32_t no_backend = UINT32_MAX;

/**
 * Why the datapath dropped a packet. Every drop is counted under one of these
 * names; the list is append-only (the numbering is exported in stats).
 */
enum class drop_reason : uint8_t {
    none = 0,
    eth_truncated,         // shorter than an Ethernet (or 802.1Q) header
    vlan_stacked,          // more than one 802.1Q/802.1ad tag
    ethertype_unknown,     // not IPv4, IPv6 or ARP
    arp_malformed,         // ARP that is not Ethernet/IPv4 or is truncated
    ipv4_truncated,        // frame shorter than the IPv4 header
    ipv4_bad_version,      // version field is not 4
    ipv4_bad_ihl,          // IHL < 5 or header longer than the frame
    ipv4_bad_total_length, // total length < IHL*4 or larger than the frame
    ipv4_bad_checksum,     // header checksum does not verify
    ipv4_fragment,         // MF set or fragment offset non-zero
    ipv4_bad_address,      // source 0/8, 127/8, multicast or broadcast; destination 0/8, 127/8 or
                           // broadcast (multicast destinations are accepted)
    ipv6_truncated,        // frame shorter than the IPv6 header
    ipv6_bad_version,      // version field is not 6
    ipv6_bad_payload_length,  // payload length larger than the frame
    ipv6_ext_overrun,      // an extension header runs past the payload
    ipv6_ext_too_many,     // more extension headers than the parser walks
    ipv6_fragment,         // a Fragment extension header is present
    ipv6_bad_address,      // unspecified, loopback or multicast source; unspecified or loopback
                           // destination (multicast destinations are accepted, for ND)
    l4_truncated,          // TCP/UDP/ICMP header does not fit in the payload
    tcp_bad_data_offset,   // data offset < 5 or past the end of the payload
    tcp_bad_flags,         // impossible flag combinations (SYN+FIN, SYN+RST, none)
    udp_bad_length,        // UDP length field disagrees with the payload
    l4_bad_checksum,       // TCP/UDP checksum does not verify (when verified)
    l4_unsupported,        // an IP protocol the appliance does not forward
    ttl_exceeded,          // TTL / hop limit would reach 0
    no_service,            // addressed to no VIP:port/protocol
    no_backend,            // the service has no backend that may take a new connection
    not_syn,               // a TCP segment of no known connection that is not a SYN
    conn_table_full,       // no entry could be had, even by evicting embryonic entries
    backend_gone,          // the connection's backend was removed (flow is reset)
    no_neighbour,          // next hop MAC not resolved and its queue is full
    no_headroom,           // encapsulation needs more headroom than the mbuf has
    mtu_exceeded,          // encapsulated packet larger than the egress MTU
    no_mbuf,               // mempool exhausted while generating a packet
    tx_full,               // the TX queue refused the packet
    slow_path_full,        // the ring to the main lcore was full
    to_host,               // addressed to the appliance, not handled (no exception path yet)
    conn_conflict,         // a new connection's reply tuple is another live connection's
    count_                 // number of reasons; keep last
};
inline constexpr std::size_t drop_reason_count = static_cast<std::size_t>(drop_reason::count_);

/** The stable snake_case name of a drop reason, e.g. "ipv4_bad_ihl". */
const char *drop_reason_name(drop_reason r);

}  // namespace nlb
