/* SPDX-License-Identifier: Apache-2.0 */
/*
 * build: packets the appliance generates itself (TCP RST, ICMP/ICMPv6 echo
 * replies, ARP, IPv6 neighbour discovery).
 *
 * Every builder writes one complete Ethernet frame into a caller-provided
 * buffer (for an mbuf: rte_pktmbuf_mtod() with rte_pktmbuf_tailroom() as
 * cap, then rte_pktmbuf_append() the returned length) and returns its length,
 * or 0 when cap is too small or the input is not what the builder accepts.
 * All checksums are computed. Frames shorter than 60 bytes are zero-padded to
 * 60 (the Ethernet minimum without FCS), because not every PMD pads (af_packet,
 * tap and memif do not). Any thread; no allocation.
 */
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cstdint>

#include "core/types.h"
#include "net/parse.h"

namespace nlb {

/** Ethernet header of a generated frame: addresses and an optional 802.1Q tag. */
struct l2_header {
    rte_ether_addr dst;
    rte_ether_addr src;
    bool vlan = false;      // write an 802.1Q tag with vlan_tci
    uint16_t vlan_tci = 0;  // host order
};

/**
 * Writes the Ethernet (+ 802.1Q) header with the given ethertype (host order)
 * at buf, which must have room for 18 bytes. Returns 14 or 18.
 */
uint32_t write_l2(uint8_t *buf, const l2_header &l2, uint16_t ethertype);

/**
 * A TCP RST|ACK for one flow. key is the RST's own direction (src = the
 * address and port the client talked to, dst = the client), family v4 or v6,
 * proto tcp. seq and ack are host order and written as given.
 *
 * Choosing seq: RFC 5961 3.2 makes a receiver accept an RST only when its
 * sequence number is exactly the next one it expects (RCV.NXT); otherwise it
 * answers with a challenge ACK. The appliance does not track sequence numbers,
 * so the caller passes the best value it has: the acknowledgement number of
 * the client's last segment seen (that is the client's RCV.NXT), and as ack
 * that segment's seq + its length. The RST has ACK set (RFC 793 form for a
 * reply to a segment that carried an ACK), window 0, no options.
 * IPv4: TTL 64, DF set, ID 0. IPv6: hop limit 64, flow label 0.
 * Returns the frame length (at least 60), 0 on a bad key or small cap.
 */
uint32_t build_tcp_rst(uint8_t *buf, uint32_t cap, const l2_header &l2, const flow_key &key,
                       uint32_t seq, uint32_t ack);

/**
 * An ICMP echo reply (IPv4) or ICMPv6 echo reply built from the echo request
 * req (req_len bytes) that parse_packet accepted into m. Ethernet addresses
 * are swapped and the VLAN tag kept, IP addresses swapped, TTL / hop limit
 * 64, the type changed (8 -> 0, 128 -> 129) and the ICMP checksum updated
 * incrementally (so a request with a bad checksum gets a reply with a bad
 * one, which the client drops, as it should). The reply carries no IPv4
 * options and no IPv6 extension headers; identifier, sequence and data are
 * copied unchanged. The IPv4 header checksum is computed in full, DF copied.
 * out may equal req (in-place reply), but must not otherwise overlap it.
 * The caller only answers requests addressed to one of its unicast
 * addresses (not to multicast). Returns 0 when m is not an echo request.
 */
uint32_t build_echo_reply(uint8_t *out, uint32_t cap, const uint8_t *req, uint32_t req_len,
                          const packet_meta &m);

/**
 * An ARP reply to req from (our_mac, our_ip_be): sent to req.sender_mac with
 * target = the requester. vlan/vlan_tci should be those of the request.
 */
uint32_t build_arp_reply(uint8_t *out, uint32_t cap, const rte_ether_addr &our_mac,
                         uint32_t our_ip_be, const arp_info &req, bool vlan, uint16_t vlan_tci);

/**
 * A gratuitous ARP announcing (mac, ip_be): broadcast, op request, sender
 * and target IP both ip_be, target MAC zero (the RFC 5227 announcement form,
 * which every stack updates its cache from).
 */
uint32_t build_gratuitous_arp(uint8_t *out, uint32_t cap, const rte_ether_addr &mac, uint32_t ip_be,
                              bool vlan, uint16_t vlan_tci);

/** ff02::1:ffXX:XXXX, the solicited-node multicast address of target (RFC 4291 2.7.1). */
void ipv6_solicited_node(const uint8_t *target, uint8_t *out16);
/** 33:33 + the low 32 bits of an IPv6 multicast address (RFC 2464 7). */
rte_ether_addr ipv6_multicast_mac(const uint8_t *ip16);

/**
 * An IPv6 Neighbor Advertisement (RFC 4861 4.4) for target (our address,
 * also the IPv6 source) with a target link-layer address option carrying
 * target_mac, from l2.src. Hop limit 255, Override set, Router clear.
 * Solicited: pass the soliciting node's address as dst_ip and its MAC as
 * l2.dst; the Solicited flag is set. Unsolicited: dst_ip = nullptr sends to
 * ff02::1 and 33:33:00:00:00:01 (l2.dst is ignored) with Solicited clear.
 */
uint32_t build_neighbor_advert(uint8_t *out, uint32_t cap, const l2_header &l2,
                               const uint8_t *target, const rte_ether_addr &target_mac,
                               const uint8_t *dst_ip);

/**
 * An IPv6 Neighbor Solicitation (RFC 4861 4.3) for target from src_ip /
 * src_mac, sent to target's solicited-node multicast address and its
 * 33:33:ff MAC, with a source link-layer address option. Hop limit 255.
 */
uint32_t build_neighbor_solicit(uint8_t *out, uint32_t cap, const rte_ether_addr &src_mac,
                                const uint8_t *src_ip, const uint8_t *target, bool vlan,
                                uint16_t vlan_tci);

/**
 * Runs one of the builders above into an empty mbuf: builder(buf, cap) is
 * called with the mbuf's data area and tailroom, and the mbuf is extended by
 * the length it returns. Returns false (mbuf still empty) when the builder
 * returned 0 or mb is not empty. Example:
 *   build_into_mbuf(mb, [&](uint8_t *b, uint32_t cap) { return build_tcp_rst(b, cap, ...); });
 */
template <class Builder>
inline bool build_into_mbuf(rte_mbuf *mb, Builder &&builder) {
    if (rte_pktmbuf_pkt_len(mb) != 0) return false;
    const uint32_t n = builder(rte_pktmbuf_mtod(mb, uint8_t *), rte_pktmbuf_tailroom(mb));
    return n != 0 && rte_pktmbuf_append(mb, static_cast<uint16_t>(n)) != nullptr;
}

}  // namespace nlb
