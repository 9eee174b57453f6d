/* SPDX-License-Identifier: Apache-2.0 */
/* The TCP state machine: flag sequences from both directions and their timeouts. */
#include <gtest/gtest.h>

#include <vector>

#include "conn/conn_table.h"
#include "conn_test_util.h"

namespace nlb {
namespace {

using test::make_key;
using test::reply_of;
using test::v4;

constexpr conn_dir O = conn_dir::original;
constexpr conn_dir R = conn_dir::reply;
constexpr uint8_t SYN = tcp_flag_syn, ACK = tcp_flag_ack, FIN = tcp_flag_fin, RST = tcp_flag_rst;

struct step {
    conn_dir dir;
    uint8_t flags;
    tcp_state expect;
};

struct state_case {
    const char *name;
    std::vector<step> steps;
    uint32_t final_timeout_s;
};

class tcp_states : public ::testing::TestWithParam<state_case> {};

TEST_P(tcp_states, sequence) {
    const state_case &tc = GetParam();
    std::string err;
    auto tab = conn_table::create({16, 1, {}, nullptr}, &err);
    ASSERT_NE(tab, nullptr) << err;
    flow_key k = make_key(v4(1), 1000, v4(2), 80);
    flow_key r = reply_of(k, v4(3), 8080);
    drop_reason why;
    conn *c = tab->insert(0, k, conn_table::hash(k), &r, conn_table::hash(r), conn_value{}, 0, &why);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->state(), tcp_state::syn_recv);
    tab->on_packet(c, O, SYN, 0);  // the first packet itself
    uint32_t now = 0;
    for (size_t i = 0; i < tc.steps.size(); i++) {
        now += 10;
        const step &s = tc.steps[i];
        conn_dir d;
        ASSERT_EQ(tab->lookup(s.dir == O ? k : r, conn_table::hash(s.dir == O ? k : r), &d), c);
        EXPECT_EQ(d, s.dir);
        tab->on_packet(c, d, s.flags, now);
        EXPECT_EQ(c->state(), s.expect) << tc.name << " step " << i << ": got "
                                        << tcp_state_name(c->state());
    }
    EXPECT_EQ(c->last_seen_ms(), now);
    // The final state's timeout decides when the owner frees it.
    uint32_t t = tc.final_timeout_s * 1000;
    EXPECT_EQ(tab->timeout_ms(c->state()), t);
    auto none = [](const conn &, conn_free_reason) {};
    EXPECT_EQ(tab->expire(0, now + t - 1, 16, none), 0u);
    EXPECT_EQ(tab->expire(0, now + t, 16, none), 1u);
    EXPECT_EQ(tab->stats(0).embryonic, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    conn, tcp_states,
    ::testing::Values(
        state_case{"handshake_only",
                   {{R, SYN | ACK, tcp_state::syn_recv}},
                   30},
        state_case{"open_established",
                   {{R, SYN | ACK, tcp_state::syn_recv}, {O, ACK, tcp_state::established},
                    {O, ACK, tcp_state::established}, {R, ACK, tcp_state::established}},
                   900},
        state_case{"client_closes",
                   {{R, SYN | ACK, tcp_state::syn_recv}, {O, ACK, tcp_state::established},
                    {O, FIN | ACK, tcp_state::fin_wait}, {R, ACK, tcp_state::fin_wait},
                    {R, FIN | ACK, tcp_state::time_wait}, {O, ACK, tcp_state::time_wait}},
                   120},
        state_case{"server_closes",
                   {{R, SYN | ACK, tcp_state::syn_recv}, {O, ACK, tcp_state::established},
                    {R, FIN | ACK, tcp_state::fin_wait}, {O, ACK, tcp_state::fin_wait},
                    {O, FIN | ACK, tcp_state::time_wait}, {R, ACK, tcp_state::time_wait}},
                   120},
        state_case{"half_closed_waits_in_fin_wait",
                   {{O, ACK, tcp_state::established}, {O, FIN | ACK, tcp_state::fin_wait},
                    {O, FIN | ACK, tcp_state::fin_wait}, {R, ACK, tcp_state::fin_wait}},
                   120},
        state_case{"simultaneous_close",
                   {{O, ACK, tcp_state::established}, {O, FIN | ACK, tcp_state::fin_wait},
                    {R, FIN | ACK, tcp_state::time_wait}, {O, ACK, tcp_state::time_wait},
                    {R, ACK, tcp_state::time_wait}},
                   120},
        state_case{"rst_from_client",
                   {{O, ACK, tcp_state::established}, {O, RST, tcp_state::close}},
                   10},
        state_case{"rst_from_server_during_handshake",
                   {{R, RST | ACK, tcp_state::close}, {O, ACK, tcp_state::close}},
                   10},
        state_case{"syn_retransmit_stays_embryonic",
                   {{O, SYN, tcp_state::syn_recv}, {O, SYN, tcp_state::syn_recv}},
                   30},
        state_case{"syn_in_established_is_ignored",
                   {{O, ACK, tcp_state::established}, {O, SYN, tcp_state::established}},
                   900},
        state_case{"port_reuse_after_time_wait",
                   {{O, ACK, tcp_state::established}, {O, FIN | ACK, tcp_state::fin_wait},
                    {R, FIN | ACK, tcp_state::time_wait}, {O, SYN, tcp_state::syn_recv},
                    {O, ACK, tcp_state::established}},
                   900},
        state_case{"port_reuse_after_rst",
                   {{O, RST, tcp_state::close}, {O, SYN, tcp_state::syn_recv}},
                   30},
        state_case{"fin_during_handshake",
                   {{O, FIN, tcp_state::fin_wait}, {R, FIN | ACK, tcp_state::time_wait}},
                   120}),
    [](const ::testing::TestParamInfo<state_case> &info) { return std::string(info.param.name); });

TEST(tcp_states, fin_and_synack_bits) {
    std::string err;
    auto tab = conn_table::create({4, 1, {}, nullptr}, &err);
    ASSERT_NE(tab, nullptr);
    flow_key k = make_key(v4(1), 1000, v4(2), 80);
    drop_reason why;
    conn *c = tab->insert(0, k, conn_table::hash(k), nullptr, 0, conn_value{}, 0, &why);
    ASSERT_NE(c, nullptr);
    EXPECT_FALSE(c->synack_seen());
    tab->on_packet(c, R, SYN | ACK, 1);
    EXPECT_TRUE(c->synack_seen());
    tab->on_packet(c, O, ACK, 2);
    tab->on_packet(c, R, FIN, 3);
    EXPECT_TRUE(c->fin_seen(R));
    EXPECT_FALSE(c->fin_seen(O));
}

/* The whole state byte, from what a conn shows. */
uint8_t state_byte(const conn &c) {
    uint8_t b = static_cast<uint8_t>(c.state());
    if (c.fin_seen(O)) b |= tcp_state_byte::fin_orig;
    if (c.fin_seen(R)) b |= tcp_state_byte::fin_reply;
    if (c.synack_seen()) b |= tcp_state_byte::synack;
    return b;
}

/*
 * on_packet decides the common packets inline and the rest with
 * tcp_next_state: from every state these prefixes reach, every flag
 * combination from either side must end where tcp_next_state says.
 */
TEST(tcp_states, on_packet_agrees_with_the_state_machine_everywhere) {
    const std::vector<std::vector<std::pair<conn_dir, uint8_t>>> prefixes = {
        {},                                                      // syn_recv
        {{R, SYN | ACK}},                                        // syn_recv + synack
        {{O, ACK}},                                              // established
        {{R, SYN | ACK}, {O, ACK}},                              // established + synack
        {{O, ACK}, {O, FIN | ACK}},                              // fin_wait, client FIN
        {{O, ACK}, {R, FIN | ACK}},                              // fin_wait, backend FIN
        {{O, ACK}, {O, FIN}, {R, FIN}},                          // time_wait
        {{O, ACK}, {R, RST}},                                    // close
        {{O, FIN}},                                              // fin_wait from syn_recv
    };
    std::string err;
    unsigned checked = 0;
    for (size_t p = 0; p < prefixes.size(); p++) {
        for (conn_dir d : {O, R}) {
            for (unsigned f = 0; f < 64; f++) {
                auto tab = conn_table::create({4, 1, {}, nullptr}, &err);
                ASSERT_NE(tab, nullptr) << err;
                flow_key k = make_key(v4(1), 1000, v4(2), 80);
                drop_reason why;
                conn *c = tab->insert(0, k, conn_table::hash(k), nullptr, 0, conn_value{}, 0, &why);
                ASSERT_NE(c, nullptr);
                tab->on_packet(c, O, SYN, 0);
                for (const auto &[pd, pf] : prefixes[p]) tab->on_packet(c, pd, pf, 1);
                const uint8_t before = state_byte(*c);
                tab->on_packet(c, d, static_cast<uint8_t>(f), 2);
                EXPECT_EQ(state_byte(*c), tcp_next_state(before, d, static_cast<uint8_t>(f)))
                    << "prefix " << p << " state byte " << int{before} << " dir " << int(d)
                    << " flags " << f;
                EXPECT_EQ(c->last_seen_ms(), 2u);
                checked++;
            }
        }
    }
    EXPECT_EQ(checked, prefixes.size() * 2 * 64);
}

TEST(tcp_states, udp_ignores_flags_and_timeouts_are_configurable) {
    conn_timeouts t;
    t.udp_s = 7;
    t.established_s = 11;
    std::string err;
    auto tab = conn_table::create({4, 1, t, nullptr}, &err);
    ASSERT_NE(tab, nullptr);
    EXPECT_EQ(tab->timeout_ms(tcp_state::udp), 7000u);
    EXPECT_EQ(tab->timeout_ms(tcp_state::established), 11000u);
    flow_key k = make_key(v4(1), 1000, v4(2), 53, ipproto_udp);
    drop_reason why;
    conn *c = tab->insert(0, k, conn_table::hash(k), nullptr, 0, conn_value{}, 0, &why);
    ASSERT_NE(c, nullptr);
    tab->on_packet(c, O, RST, 5);
    EXPECT_EQ(c->state(), tcp_state::udp);
    auto none = [](const conn &, conn_free_reason) {};
    EXPECT_EQ(tab->expire(0, 7004, 4, none), 0u);  // udp: 7 s after the last packet
    EXPECT_EQ(tab->expire(0, 7005, 4, none), 1u);
}

}  // namespace
}  // namespace nlb
