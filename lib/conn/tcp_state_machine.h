/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TCP state machine of the connection table, driven by the flags of the
 * packets seen in both directions. It decides a connection's state and so its
 * idle timeout. Pure functions of one state byte: the table applies them with
 * a CAS on that byte, so concurrent packets from several lcores never tear it.
 */
#pragma once

#include <cstdint>

namespace nlb {

/**
 * Connection state. `none` marks a free entry; `udp` is used for every
 * non-TCP protocol (UDP timeout). The TCP states follow IPVS' subset.
 */
enum class tcp_state : uint8_t {
    none = 0,
    syn_recv,     // client SYN seen (SYN-ACK may have been seen too)
    established,  // client ACK after its SYN
    fin_wait,     // a FIN from one side
    time_wait,    // FINs from both sides
    close,        // RST seen
    udp,          // not TCP
};
inline constexpr unsigned tcp_state_count = 7;
/** Stable lower-case name ("syn_recv", ...). */
const char *tcp_state_name(tcp_state s);

/** Which key of a connection a packet matched. */
enum class conn_dir : uint8_t { original = 0, reply = 1 };

/** TCP header flag bits, as on the wire. */
enum : uint8_t {
    tcp_flag_fin = 0x01,
    tcp_flag_syn = 0x02,
    tcp_flag_rst = 0x04,
    tcp_flag_psh = 0x08,
    tcp_flag_ack = 0x10,
};

/**
 * The state byte: a tcp_state in the low 4 bits plus what was seen so far,
 * so simultaneous closes and port reuse are decided from one atomic byte.
 */
namespace tcp_state_byte {
inline constexpr uint8_t mask = 0x0f;       // the tcp_state
inline constexpr uint8_t fin_orig = 0x10;   // FIN seen from the client side
inline constexpr uint8_t fin_reply = 0x20;  // FIN seen from the backend side
inline constexpr uint8_t synack = 0x40;     // SYN-ACK seen from the backend side
}  // namespace tcp_state_byte

/**
 * Any thread: the state byte after a packet with these TCP flags in direction
 * dir (the same byte when nothing changes). RST → close; the backend's
 * SYN-ACK is noted; the client's ACK establishes a syn_recv connection; a FIN
 * from one side → fin_wait, from both → time_wait; a client SYN (without ACK)
 * on a time_wait or close connection starts it over in syn_recv (port reuse);
 * a retransmitted SYN changes nothing. none and udp never change.
 */
uint8_t tcp_next_state(uint8_t cur, conn_dir dir, uint8_t tcp_flags);

}  // namespace nlb
