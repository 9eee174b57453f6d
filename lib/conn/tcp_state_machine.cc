/* SPDX-License-Identifier: Apache-2.0 */
#include "conn/tcp_state_machine.h"

namespace nlb {

namespace {
constexpr uint8_t st(tcp_state s) { return static_cast<uint8_t>(s); }
}  // namespace

const char *tcp_state_name(tcp_state s) {
    switch (s) {
    case tcp_state::none: return "none";
    case tcp_state::syn_recv: return "syn_recv";
    case tcp_state::established: return "established";
    case tcp_state::fin_wait: return "fin_wait";
    case tcp_state::time_wait: return "time_wait";
    case tcp_state::close: return "close";
    case tcp_state::udp: return "udp";
    }
    return "unknown";
}

uint8_t tcp_next_state(uint8_t cur, conn_dir dir, uint8_t f) {
    using namespace tcp_state_byte;
    uint8_t s = cur & mask;
    uint8_t bits = cur & static_cast<uint8_t>(~mask);
    bool orig = dir == conn_dir::original;
    uint8_t fin_side = orig ? fin_orig : fin_reply;
    bool syn_only = (f & tcp_flag_syn) && !(f & tcp_flag_ack);
    if (s == st(tcp_state::none) || s == st(tcp_state::udp)) return cur;
    if (f & tcp_flag_rst) return s == st(tcp_state::close) ? cur : st(tcp_state::close);
    switch (static_cast<tcp_state>(s)) {
    case tcp_state::syn_recv:
        if (f & tcp_flag_fin) return st(tcp_state::fin_wait) | bits | fin_side;
        if (!orig) {
            if ((f & tcp_flag_syn) && (f & tcp_flag_ack)) return cur | synack;
            return cur;
        }
        if (syn_only) return cur;  // retransmitted SYN
        if (f & tcp_flag_ack) return st(tcp_state::established) | bits;
        return cur;
    case tcp_state::established:
        if (f & tcp_flag_fin) return st(tcp_state::fin_wait) | bits | fin_side;
        return cur;
    case tcp_state::fin_wait: {
        if (!(f & tcp_flag_fin)) return cur;
        uint8_t b = bits | fin_side;
        if ((b & (fin_orig | fin_reply)) == (fin_orig | fin_reply))
            return st(tcp_state::time_wait) | b;
        return st(tcp_state::fin_wait) | b;
    }
    case tcp_state::time_wait:
    case tcp_state::close:
        if (orig && syn_only) return st(tcp_state::syn_recv);  // the client reuses the pair
        return cur;
    default:
        return cur;
    }
}

}  // namespace nlb
