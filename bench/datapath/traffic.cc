/* SPDX-License-Identifier: Apache-2.0 */
#include "datapath/traffic.h"

namespace nlb::bench {

std::vector<uint8_t> make_tcp_frame(uint8_t tcp_flags) {
    std::vector<uint8_t> f(tcp_frame_len, 0);
    auto *eth = reinterpret_cast<rte_ether_hdr *>(f.data());
    const rte_ether_addr dst = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
    const rte_ether_addr src = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x02}};
    eth->dst_addr = dst;
    eth->src_addr = src;
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
    auto *ip = reinterpret_cast<rte_ipv4_hdr *>(eth + 1);
    ip->version_ihl = 0x45;
    ip->total_length = rte_cpu_to_be_16(tcp_frame_len - sizeof(rte_ether_hdr));
    ip->packet_id = 0;
    ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_TCP;
    ip->src_addr = rte_cpu_to_be_32(client_ip(0));
    ip->dst_addr = rte_cpu_to_be_32(vip_v4);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    auto *tcp = reinterpret_cast<rte_tcp_hdr *>(ip + 1);
    tcp->src_port = rte_cpu_to_be_16(client_port(0));
    tcp->dst_port = rte_cpu_to_be_16(vip_port);
    tcp->sent_seq = rte_cpu_to_be_32(1000);
    tcp->recv_ack = rte_cpu_to_be_32((tcp_flags & RTE_TCP_ACK_FLAG) ? 2000 : 0);
    tcp->data_off = 5 << 4;
    tcp->tcp_flags = tcp_flags;
    tcp->rx_win = rte_cpu_to_be_16(65535);
    std::memcpy(reinterpret_cast<uint8_t *>(tcp + 1), "nlb-bench!", 10);
    tcp->cksum = 0;
    tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
    return f;
}

}  // namespace nlb::bench
