/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The main lcore's slow path (apps/dataplane/slow_path.h) on an in-process
 * datapath (testbed) with plain rings instead of ports: what it answers (ARP,
 * ND, echo), what it learns, how it resolves next hops (queue limit, probes,
 * giving up), aging, and VIP announcements. No root, no NIC: EAL --no-huge.
 */
#include "slow_path.h"

#include <gtest/gtest.h>
#include <rte_ring.h>

#include <cstring>
#include <string>
#include <vector>

#include "eal_test_main.h"
#include "net/parse.h"
#include "pipeline/testbed.h"
#include "worker_loop.h"

namespace nlb::dataplane {
namespace {

using bytes = std::vector<uint8_t>;

uint16_t fold(uint32_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<uint16_t>(~s);
}
uint32_t sum16(const uint8_t *p, size_t n, uint32_t s = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t{p[i]} << 8 | p[i + 1];
    if (n & 1) s += uint32_t{p[n - 1]} << 8;
    return s;
}
void put16(uint8_t *p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

bytes eth(const rte_ether_addr &dst, const rte_ether_addr &src, uint16_t type) {
    bytes f(14);
    std::memcpy(f.data(), dst.addr_bytes, 6);
    std::memcpy(f.data() + 6, src.addr_bytes, 6);
    put16(f.data() + 12, type);
    return f;
}

const rte_ether_addr client_mac{{0x02, 0xcc, 0, 0, 0, 0x02}};
const rte_ether_addr broadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

bytes arp(uint16_t op, const rte_ether_addr &sender, const char *sender_ip, const char *target_ip) {
    bytes f = eth(broadcast, sender, 0x0806);
    uint8_t b[28] = {0, 1, 8, 0, 6, 4, 0, static_cast<uint8_t>(op)};
    std::memcpy(b + 8, sender.addr_bytes, 6);
    std::memcpy(b + 14, testbed::addr(sender_ip).bytes, 4);
    std::memcpy(b + 24, testbed::addr(target_ip).bytes, 4);
    f.insert(f.end(), b, b + 28);
    f.resize(60);
    return f;
}

bytes echo4(const char *src, const char *dst) {
    bytes f = eth(testbed::port_mac(0), client_mac, 0x0800);
    uint8_t ip[20] = {0x45, 0, 0, 36, 0, 1, 0x40, 0, 64, 1};
    std::memcpy(ip + 12, testbed::addr(src).bytes, 4);
    std::memcpy(ip + 16, testbed::addr(dst).bytes, 4);
    put16(ip + 10, fold(sum16(ip, 20)));
    uint8_t icmp[16] = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'n', 'l', 'b', '-', 't', 'e', 's', 't'};
    put16(icmp + 2, fold(sum16(icmp, 16)));
    f.insert(f.end(), ip, ip + 20);
    f.insert(f.end(), icmp, icmp + 16);
    f.resize(60);
    return f;
}

bytes solicit(const char *src, const char *target) {
    const ip_addr t = testbed::addr(target);
    const rte_ether_addr mc{{0x33, 0x33, 0xff, t.bytes[13], t.bytes[14], t.bytes[15]}};
    bytes f = eth(mc, client_mac, 0x86dd);
    uint8_t ip[40] = {0x60, 0, 0, 0, 0, 32, 58, 255};
    std::memcpy(ip + 8, testbed::addr(src).bytes, 16);
    const uint8_t snm[16] = {0xff, 2, 0, 0, 0,    0,           0,           0,
                             0,    0, 0, 1, 0xff, t.bytes[13], t.bytes[14], t.bytes[15]};
    std::memcpy(ip + 24, snm, 16);
    uint8_t icmp[32] = {135, 0};
    std::memcpy(icmp + 8, t.bytes, 16);
    icmp[24] = 1;  // source link-layer address option
    icmp[25] = 1;
    std::memcpy(icmp + 26, client_mac.addr_bytes, 6);
    f.insert(f.end(), ip, ip + 40);
    f.insert(f.end(), icmp, icmp + 32);
    return f;
}

struct fixture : ::testing::Test {
    testbed tb{[] {
        testbed_config c;
        c.workers = 2;  // RCU reader 0: a worker, 1: the slow path
        return c;
    }()};
    rte_ring *slow = nullptr, *resolve = nullptr, *tx = nullptr;
    std::unique_ptr<slow_path> sp;
    uint32_t now = 100000;

    void SetUp() override {
        static int n = 0;
        const std::string id = std::to_string(n++);
        slow = rte_ring_create(("t_slow" + id).c_str(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        resolve = rte_ring_create_elem(("t_res" + id).c_str(), sizeof(resolve_request), 256, 0,
                                       RING_F_SP_ENQ | RING_F_SC_DEQ);
        tx = rte_ring_create(("t_tx" + id).c_str(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
        ASSERT_TRUE(slow && resolve && tx);
        slow_path_config c;
        c.dp = &tb.dp;
        c.neighbours = tb.neighbours.get();
        c.pool = test::test_pool();
        c.port_ids[0] = 0;
        c.port_ids[1] = 1;
        c.slow_rings = {slow};
        c.resolve_rings = {resolve};
        c.tx_ring = tx;
        c.rcu_id = 1;
        sp = std::make_unique<slow_path>(c);
        sp->poll(now);  // first timers run
        drain();
    }
    void TearDown() override {
        sp.reset();
        drain();
        rte_ring_free(slow);
        rte_ring_free(resolve);
        rte_ring_free(tx);
    }

    rte_mbuf *mbuf(const bytes &f, uint16_t port) {
        rte_mbuf *m = rte_pktmbuf_alloc(test::test_pool());
        std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(f.size())), f.data(), f.size());
        m->port = port;
        return m;
    }
    void to_slow(const bytes &f, uint16_t port = 0) {
        ASSERT_EQ(rte_ring_enqueue(slow, mbuf(f, port)), 0);
    }
    void to_resolve(const char *next_hop, uint16_t port = 1) {
        resolve_request r{};
        r.m = mbuf(echo4("198.18.0.2", "198.19.0.77"), port);
        r.next_hop = testbed::addr(next_hop);
        r.port = port;
        r.family = ip_family::v4;
        ASSERT_EQ(rte_ring_enqueue_elem(resolve, &r, sizeof(r)), 0);
    }
    /** Every frame the slow path sent since the last call, as (port, bytes). */
    std::vector<std::pair<uint16_t, bytes>> drain() {
        std::vector<std::pair<uint16_t, bytes>> out;
        rte_mbuf *m;
        while (rte_ring_dequeue(tx, reinterpret_cast<void **>(&m)) == 0) {
            const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
            out.emplace_back(m->port, bytes(d, d + rte_pktmbuf_data_len(m)));
            rte_pktmbuf_free(m);
        }
        return out;
    }
    uint64_t drops(drop_reason r) const {
        return sp->counters().drops[static_cast<unsigned>(r)].get();
    }
};

packet_meta parsed(const bytes &f) {
    packet_meta m;
    EXPECT_EQ(parse_packet(f.data(), static_cast<uint32_t>(f.size()), &m), drop_reason::none);
    return m;
}

TEST_F(fixture, answers_arp_for_its_address_and_learns_the_requester) {
    to_slow(arp(1, client_mac, "198.18.0.2", "198.18.0.1"));
    sp->poll(now);
    auto out = drain();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].first, 0);
    const bytes &f = out[0].second;
    arp_info a;
    ASSERT_EQ(parse_arp(f.data(), static_cast<uint32_t>(f.size()), 14, &a), drop_reason::none);
    EXPECT_EQ(a.op, 2);
    EXPECT_TRUE(rte_is_same_ether_addr(&a.sender_mac, &tb.dp.ports[0].mac));
    EXPECT_EQ(a.sender_ip_be, testbed::addr("198.18.0.1").v4_be());
    EXPECT_EQ(std::memcmp(f.data(), client_mac.addr_bytes, 6), 0);
    rte_ether_addr mac;
    ASSERT_TRUE(tb.neighbours->lookup(testbed::addr("198.18.0.2"), &mac));
    EXPECT_TRUE(rte_is_same_ether_addr(&mac, &client_mac));
    EXPECT_EQ(sp->counters().arp_replies_sent.get(), 1u);
}

TEST_F(fixture, answers_arp_for_a_vip_only_once_it_exists) {
    to_slow(arp(1, client_mac, "198.18.0.2", "198.18.1.1"));
    sp->poll(now);
    EXPECT_TRUE(drain().empty());
    tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80)});
    sp->poll(now);
    drain();  // the announcements
    to_slow(arp(1, client_mac, "198.18.0.2", "198.18.1.1"));
    to_slow(arp(1, client_mac, "198.18.0.2", "198.18.0.77"));  // someone else's
    sp->poll(now);
    auto out = drain();
    ASSERT_EQ(out.size(), 1u);
    arp_info a;
    ASSERT_EQ(parse_arp(out[0].second.data(), 60, 14, &a), drop_reason::none);
    EXPECT_EQ(a.op, 2);
    EXPECT_EQ(a.sender_ip_be, testbed::vip(ip_family::v4).v4_be());
}

TEST_F(fixture, answers_echo_to_own_address_and_vip_drops_the_rest_as_to_host) {
    tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80)});
    sp->poll(now);
    drain();
    to_slow(echo4("198.18.0.2", "198.18.0.1"));
    to_slow(echo4("198.18.0.2", "198.18.1.1"));
    to_slow(echo4("198.18.0.2", "198.18.0.99"));
    sp->poll(now);
    auto out = drain();
    ASSERT_EQ(out.size(), 2u);
    for (auto &[port, f] : out) {
        packet_meta m = parsed(f);
        EXPECT_EQ(m.icmp_type, 0);  // echo reply
        EXPECT_EQ(m.key.dst, testbed::addr("198.18.0.2"));
    }
    EXPECT_EQ(drops(drop_reason::to_host), 1u);
}

TEST_F(fixture, answers_neighbor_solicitation_with_a_solicited_advert) {
    to_slow(solicit("2001:2:0:18::2", "2001:2:0:18::1"));
    sp->poll(now);
    auto out = drain();
    ASSERT_EQ(out.size(), 1u);
    const bytes &f = out[0].second;
    packet_meta m = parsed(f);
    EXPECT_EQ(m.icmp_type, 136);
    EXPECT_EQ(m.key.dst, testbed::addr("2001:2:0:18::2"));
    EXPECT_EQ(std::memcmp(f.data() + m.l4_offset + 8, testbed::addr("2001:2:0:18::1").bytes, 16),
              0);
    EXPECT_EQ(f[m.l4_offset + 4] & 0x40, 0x40);  // Solicited
    rte_ether_addr mac;
    EXPECT_TRUE(tb.neighbours->lookup(testbed::addr("2001:2:0:18::2"), &mac));
}

TEST_F(fixture, queues_a_few_packets_per_next_hop_and_sends_them_once_resolved) {
    for (int i = 0; i < 6; i++) to_resolve("198.19.0.77");
    sp->poll(now);
    auto out = drain();
    ASSERT_EQ(out.size(), 1u);  // one ARP request, broadcast on port 1
    EXPECT_EQ(out[0].first, 1);
    arp_info a;
    ASSERT_EQ(parse_arp(out[0].second.data(), 60, 14, &a), drop_reason::none);
    EXPECT_EQ(a.op, 1);
    EXPECT_EQ(a.target_ip_be, testbed::addr("198.19.0.77").v4_be());
    EXPECT_EQ(sp->pending(), 1u);
    EXPECT_EQ(drops(drop_reason::no_neighbour), 2u);  // 6 queued, the oldest 2 dropped

    const rte_ether_addr mac77{{0x02, 0xbe, 0, 0, 0, 0x77}};
    to_slow(arp(2, mac77, "198.19.0.77", "198.19.0.1"), 1);
    sp->poll(now);
    out = drain();
    ASSERT_EQ(out.size(), 4u);
    for (auto &[port, f] : out) {
        EXPECT_EQ(port, 1);
        EXPECT_EQ(std::memcmp(f.data(), mac77.addr_bytes, 6), 0);
    }
    EXPECT_EQ(sp->pending(), 0u);
    // Later packets to it are sent at once.
    to_resolve("198.19.0.77");
    sp->poll(now);
    EXPECT_EQ(drain().size(), 1u);
}

TEST_F(fixture, gives_up_after_three_probes) {
    to_resolve("198.19.0.78");
    to_resolve("198.19.0.78");
    // Count the ARP requests for .78 only (the testbed's neighbours are being aged too).
    auto for_78 = [](const std::vector<std::pair<uint16_t, bytes>> &out) {
        size_t n = 0;
        for (auto &[port, f] : out) {
            arp_info a;
            if (parse_arp(f.data(), static_cast<uint32_t>(f.size()), 14, &a) == drop_reason::none &&
                a.op == 1 && a.target_ip_be == testbed::addr("198.19.0.78").v4_be())
                n++;
        }
        return n;
    };
    sp->poll(now);
    size_t probes = for_78(drain());
    for (uint32_t t = 1; t <= 4; t++) {
        sp->poll(now + t * 1000 + 1);
        probes += for_78(drain());
    }
    EXPECT_EQ(probes, 3u);
    EXPECT_EQ(sp->pending(), 0u);
    EXPECT_EQ(drops(drop_reason::no_neighbour), 2u);
}

TEST_F(fixture, reachable_neighbours_age_to_stale_and_are_forgotten_without_answers) {
    const ip_addr be1 = testbed::backend_addr(ip_family::v4, 1);
    neighbour_info n;
    ASSERT_TRUE(tb.neighbours->get(be1, &n));
    n.state = neighbour_state::reachable;  // fresh, as if it had just answered
    n.probes = 0;
    n.updated = now;
    ASSERT_TRUE(tb.neighbours->update(n));
    sp->poll(now + 29000);
    ASSERT_TRUE(tb.neighbours->get(be1, &n));
    EXPECT_EQ(n.state, neighbour_state::reachable);
    sp->poll(now + 30100);
    ASSERT_TRUE(tb.neighbours->get(be1, &n));
    EXPECT_EQ(n.state, neighbour_state::stale);
    rte_ether_addr mac;
    EXPECT_TRUE(tb.neighbours->lookup(be1, &mac));  // still used while re-resolving
    for (uint32_t t = 1; t <= 4; t++) sp->poll(now + 30100 + t * 1000 + 100);
    EXPECT_FALSE(tb.neighbours->get(be1, &n));
    EXPECT_GE(sp->counters().forgotten.get(), 1u);
}

TEST_F(fixture, an_answer_keeps_a_stale_neighbour) {
    const ip_addr be2 = testbed::backend_addr(ip_family::v4, 2);
    neighbour_info n;
    ASSERT_TRUE(tb.neighbours->get(be2, &n));
    n.state = neighbour_state::reachable;  // fresh, as if it had just answered
    n.probes = 0;
    n.updated = now;
    ASSERT_TRUE(tb.neighbours->update(n));
    sp->poll(now + 30100);
    ASSERT_TRUE(tb.neighbours->get(be2, &n));
    ASSERT_EQ(n.state, neighbour_state::stale);
    to_slow(arp(2, testbed::backend_mac(2), "198.19.0.12", "198.19.0.1"), 1);
    sp->poll(now + 30200);
    ASSERT_TRUE(tb.neighbours->get(be2, &n));
    EXPECT_EQ(n.state, neighbour_state::reachable);
}

TEST_F(fixture, announces_vips_when_they_appear) {
    tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80),
                testbed::lab_service(ip_family::v6, fwd_mode::nat, sched_kind::wrr, 80)});
    sp->poll(now);
    auto out = drain();
    ASSERT_EQ(out.size(), 4u);  // GARP and unsolicited NA on both ports
    unsigned garp = 0, na = 0;
    for (auto &[port, f] : out) {
        packet_meta m = parsed(f);
        if (m.kind == l3_kind::arp) {
            garp++;
            EXPECT_EQ(m.key.src, testbed::vip(ip_family::v4));
            EXPECT_EQ(m.key.dst, testbed::vip(ip_family::v4));
        } else {
            na++;
            EXPECT_EQ(m.icmp_type, 136);
        }
    }
    EXPECT_EQ(garp, 2u);
    EXPECT_EQ(na, 2u);
    // The same VIPs in the next snapshot: nothing new to announce.
    tb.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 81),
                testbed::lab_service(ip_family::v6, fwd_mode::nat, sched_kind::wrr, 80)});
    sp->poll(now);
    EXPECT_TRUE(drain().empty());
}

}  // namespace
}  // namespace nlb::dataplane
