/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The burst pipeline end to end on real mbufs: connection creation and
 * scheduling, NAT both ways, DSR, tunnel, resets of flows whose backend is
 * gone, draining, persistence, expiry and every local / drop verdict.
 */
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "eal_test_main.h"
#include "frames.h"
#include "pipeline/testbed.h"

namespace nlb {
namespace {

using test::frame_spec;

class worker_test : public ::testing::Test {
protected:
    void SetUp() override {
        tb = std::make_unique<testbed>();
        neighbour_info n{};
        n.ip = testbed::addr("198.18.0.2");
        n.family = ip_family::v4;
        n.state = neighbour_state::reachable;
        n.mac = client_mac;
        ASSERT_TRUE(tb->neighbours->update(n));
        n.ip = testbed::addr("2001:2:0:18::2");
        n.family = ip_family::v6;
        ASSERT_TRUE(tb->neighbours->update(n));
        w = std::make_unique<worker>(0, tb->dp);
        tb->snapshots->online(0);
    }
    void TearDown() override {
        tb->snapshots->offline(0);
        w.reset();
        tb.reset();
    }

    /** Publishes from the test thread, which is also worker 0. */
    void publish(const std::vector<service_spec> &s) {
        tb->snapshots->offline(0);
        tb->publish(s);
        tb->snapshots->online(0);
    }

    struct result {
        verdict v;
        std::vector<uint8_t> out;
        packet_meta meta{};
        drop_reason parsed = drop_reason::none;
    };

    /** Sends one frame through the pipeline and returns its verdict and the output frame. */
    result send(const std::vector<uint8_t> &frame, uint32_t now_ms = 1000) {
        rte_mbuf *m = test::to_mbuf(test::test_pool(), frame);
        EXPECT_NE(m, nullptr);
        result r{};
        w->process_burst(&m, 1, &r.v, now_ms);
        const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
        r.out.assign(d, d + rte_pktmbuf_data_len(m));
        r.parsed = parse_packet(r.out.data(), static_cast<uint32_t>(r.out.size()), &r.meta);
        rte_pktmbuf_free(m);
        tb->snapshots->quiescent(0);
        return r;
    }
    result send(const frame_spec &s, uint32_t now_ms = 1000) { return send(test::make_frame(s), now_ms); }

    uint64_t drops(drop_reason r) const { return w->counters().drops[static_cast<unsigned>(r)].get(); }

    static std::string dst_of(const result &r) { return format_ip(r.meta.key.dst, r.meta.key.family); }

    const rte_ether_addr client_mac{{0x02, 0, 0, 0, 0x0c, 0x02}};
    std::unique_ptr<testbed> tb;
    std::unique_ptr<worker> w;
};

bool mac_is(const std::vector<uint8_t> &f, size_t off, const rte_ether_addr &m) {
    return std::memcmp(f.data() + off, m.addr_bytes, 6) == 0;
}

TEST_F(worker_test, nat_v4_forward_and_reply_rewrite_both_ways) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80)});
    frame_spec syn;
    result r = send(syn);
    ASSERT_EQ(r.v.act, action::tx);
    EXPECT_EQ(r.v.port, 1);
    ASSERT_EQ(r.parsed, drop_reason::none);
    const std::string backend = dst_of(r);
    EXPECT_EQ(backend.rfind("198.19.0.1", 0), 0u) << backend;
    EXPECT_EQ(rte_be_to_cpu_16(r.meta.key.dport), 8080);
    EXPECT_EQ(format_ip(r.meta.key.src, ip_family::v4), "198.18.0.2") << "client IP preserved";
    EXPECT_TRUE(test::checksums_ok(r.out.data(), static_cast<uint32_t>(r.out.size())));
    const unsigned be = static_cast<unsigned>(backend.back() - '0');
    EXPECT_TRUE(mac_is(r.out, 0, testbed::backend_mac(be)));
    EXPECT_TRUE(mac_is(r.out, 6, testbed::port_mac(1)));

    // The backend's SYN-ACK comes back from the VIP.
    frame_spec synack;
    synack.src = backend.c_str();
    synack.dst = "198.18.0.2";
    synack.sport = 8080;
    synack.dport = 40000;
    synack.tcp_flags = wire::tcp_syn | wire::tcp_ack;
    r = send(synack);
    ASSERT_EQ(r.v.act, action::tx);
    EXPECT_EQ(r.v.port, 0);
    EXPECT_EQ(format_ip(r.meta.key.src, ip_family::v4), "198.18.1.1");
    EXPECT_EQ(rte_be_to_cpu_16(r.meta.key.sport), 80);
    EXPECT_TRUE(test::checksums_ok(r.out.data(), static_cast<uint32_t>(r.out.size())));
    EXPECT_TRUE(mac_is(r.out, 0, client_mac));

    // The client's ACK and data go to the same backend.
    frame_spec ack = syn;
    ack.tcp_flags = wire::tcp_ack | wire::tcp_psh;
    ack.payload = 100;
    for (int i = 0; i < 5; i++) {
        r = send(ack);
        ASSERT_EQ(r.v.act, action::tx);
        EXPECT_EQ(dst_of(r), backend);
    }
    EXPECT_EQ(w->counters().new_conns.get(), 1u);
    EXPECT_EQ(tb->conns->size(), 1u);
}

TEST_F(worker_test, nat_v6_forward_and_reply) {
    publish({testbed::lab_service(ip_family::v6, fwd_mode::nat, sched_kind::wrr, 443)});
    frame_spec syn;
    syn.family = ip_family::v6;
    syn.src = "2001:2:0:18::2";
    syn.dst = "2001:2:0:1::1";
    syn.dport = 443;
    result r = send(syn);
    ASSERT_EQ(r.v.act, action::tx);
    EXPECT_EQ(r.v.port, 1);
    const std::string backend = dst_of(r);
    EXPECT_EQ(backend.rfind("2001:2:0:19::1", 0), 0u) << backend;
    EXPECT_TRUE(test::checksums_ok(r.out.data(), static_cast<uint32_t>(r.out.size())));

    frame_spec synack = syn;
    synack.src = backend.c_str();
    synack.dst = "2001:2:0:18::2";
    synack.sport = 8080;
    synack.dport = 40000;
    synack.tcp_flags = wire::tcp_syn | wire::tcp_ack;
    r = send(synack);
    ASSERT_EQ(r.v.act, action::tx);
    EXPECT_EQ(r.v.port, 0);
    EXPECT_EQ(format_ip(r.meta.key.src, ip_family::v6), "2001:2:0:1::1");
    EXPECT_EQ(rte_be_to_cpu_16(r.meta.key.sport), 443);
    EXPECT_TRUE(test::checksums_ok(r.out.data(), static_cast<uint32_t>(r.out.size())));
}

TEST_F(worker_test, udp_nat_keeps_checksums_valid) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 53, 3, 10, ipproto_udp)});
    frame_spec q;
    q.proto = ipproto_udp;
    q.dport = 53;
    q.payload = 33;
    result r = send(q);
    ASSERT_EQ(r.v.act, action::tx);
    EXPECT_TRUE(test::checksums_ok(r.out.data(), static_cast<uint32_t>(r.out.size())));
    EXPECT_EQ(tb->conns->size(), 1u);
}

TEST_F(worker_test, dsr_changes_only_the_destination_mac) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::dsr, sched_kind::wrr, 80)});
    auto in = test::make_frame(frame_spec{});
    result r = send(in);
    ASSERT_EQ(r.v.act, action::tx);
    EXPECT_EQ(r.v.port, 1);
    ASSERT_EQ(r.out.size(), in.size());
    EXPECT_TRUE(std::equal(in.begin() + 12, in.end(), r.out.begin() + 12)) << "IP packet untouched";
    bool some_backend = false;
    for (unsigned b = 1; b <= 3; b++) some_backend |= mac_is(r.out, 0, testbed::backend_mac(b));
    EXPECT_TRUE(some_backend);
    EXPECT_TRUE(mac_is(r.out, 6, testbed::port_mac(1)));
}

TEST_F(worker_test, tunnel_encapsulates_v4_and_v6_leaving_the_inner_packet_intact) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::tunnel, sched_kind::wrr, 80),
             testbed::lab_service(ip_family::v6, fwd_mode::tunnel, sched_kind::wrr, 80)});
    for (ip_family f : {ip_family::v4, ip_family::v6}) {
        frame_spec s;
        s.family = f;
        if (f == ip_family::v6) {
            s.src = "2001:2:0:18::2";
            s.dst = "2001:2:0:1::1";
        }
        auto in = test::make_frame(s);
        result r = send(in);
        ASSERT_EQ(r.v.act, action::tx);
        ASSERT_EQ(r.parsed, drop_reason::l4_unsupported) << "outer header carries IP-in-IP";
        const uint32_t outer = f == ip_family::v4 ? 20 : 40;
        ASSERT_EQ(r.out.size(), in.size() + outer);
        EXPECT_EQ(r.meta.l4_proto, f == ip_family::v4 ? ipproto_ipip : ipproto_ipv6);
        EXPECT_TRUE(std::equal(in.begin() + 14, in.end(), r.out.begin() + 14 + outer));
        const std::string dst = dst_of(r), src = format_ip(r.meta.key.src, f);
        if (f == ip_family::v4) {
            EXPECT_EQ(dst.rfind("198.19.0.1", 0), 0u) << dst;
            EXPECT_TRUE(testbed::addr(src.c_str()).bytes[2] >= 128) << src << " from 198.19.128.0/17";
        } else {
            EXPECT_EQ(dst.rfind("2001:2:0:19::1", 0), 0u) << dst;
        }
    }
}

TEST_F(worker_test, wrr_spreads_new_connections_by_weight) {
    auto svc = testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80);
    svc.backends[0].weight = 10;
    svc.backends[1].weight = 20;
    svc.backends[2].weight = 30;
    publish({svc});
    std::map<std::string, int> hits;
    for (uint16_t p = 0; p < 600; p++) {
        frame_spec s;
        s.sport = static_cast<uint16_t>(10000 + p);
        result r = send(s);
        ASSERT_EQ(r.v.act, action::tx);
        hits[dst_of(r)]++;
    }
    EXPECT_EQ(hits["198.19.0.11"], 100);
    EXPECT_EQ(hits["198.19.0.12"], 200);
    EXPECT_EQ(hits["198.19.0.13"], 300);
}

TEST_F(worker_test, removed_backend_resets_its_flows_and_others_keep_going) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80)});
    std::map<std::string, uint16_t> port_of;
    for (uint16_t p = 0; p < 3; p++) {
        frame_spec s;
        s.sport = static_cast<uint16_t>(20000 + p);
        port_of[dst_of(send(s))] = s.sport;
    }
    ASSERT_EQ(port_of.size(), 3u);
    auto svc = testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80);
    svc.backends.erase(svc.backends.begin() + 1);  // be2 leaves
    publish({svc});

    frame_spec data;
    data.tcp_flags = wire::tcp_ack;
    data.seq = 5000;
    data.ack = 7000;
    data.payload = 10;
    data.sport = port_of["198.19.0.12"];
    result r = send(data);
    ASSERT_EQ(r.v.act, action::tx) << "a RST goes back to the client";
    EXPECT_EQ(r.v.port, 0);
    ASSERT_EQ(r.parsed, drop_reason::none);
    EXPECT_EQ(r.meta.tcp_flags & wire::tcp_rst, wire::tcp_rst);
    EXPECT_EQ(format_ip(r.meta.key.src, ip_family::v4), "198.18.1.1");
    EXPECT_EQ(format_ip(r.meta.key.dst, ip_family::v4), "198.18.0.2");
    EXPECT_EQ(wire::load_be32(r.out.data() + r.meta.l4_offset + 4), 7000u) << "seq = client's ack";
    EXPECT_EQ(wire::load_be32(r.out.data() + r.meta.l4_offset + 8), 5010u) << "acks the data";
    EXPECT_TRUE(test::checksums_ok(r.out.data(), static_cast<uint32_t>(r.out.size())));
    EXPECT_EQ(w->counters().resets_sent.get(), 1u);

    // The flow is gone: its next segment belongs to no connection and is
    // answered with a RST again; a RST from the client is not answered.
    r = send(data);
    ASSERT_EQ(r.v.act, action::tx);
    EXPECT_EQ(r.meta.tcp_flags & wire::tcp_rst, wire::tcp_rst);
    EXPECT_EQ(drops(drop_reason::not_syn), 1u);
    frame_spec rst = data;
    rst.tcp_flags = wire::tcp_rst;
    EXPECT_EQ(send(rst).v.reason, drop_reason::not_syn);
    EXPECT_EQ(w->counters().resets_sent.get(), 2u);
    // The others keep their backends.
    for (const char *be : {"198.19.0.11", "198.19.0.13"}) {
        data.sport = port_of[be];
        result k = send(data);
        ASSERT_EQ(k.v.act, action::tx);
        EXPECT_EQ(dst_of(k), be);
    }
    // The dead connection is freed by the owner's sweep.
    EXPECT_GE(w->expire(2000, 1024), 1u);
    EXPECT_EQ(tb->conns->size(), 2u);
}

TEST_F(worker_test, draining_backend_keeps_its_flows_but_gets_no_new_ones) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80)});
    frame_spec s;
    std::string first = dst_of(send(s));
    auto svc = testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80);
    for (auto &b : svc.backends)
        if (format_ip(b.addr, ip_family::v4) == first) b.state = backend_state::draining;
    publish({svc});
    frame_spec ack = s;
    ack.tcp_flags = wire::tcp_ack;
    EXPECT_EQ(dst_of(send(ack)), first);
    for (uint16_t p = 1; p < 100; p++) {
        frame_spec n;
        n.sport = static_cast<uint16_t>(30000 + p);
        EXPECT_NE(dst_of(send(n)), first);
    }
}

// A client reusing a closed connection's ports starts a new connection: on the same backend
// while that one takes new connections, on another once it no longer does (draining or
// unhealthy, or removed), never on one that takes none (SPEC rules 7 and 8).
TEST_F(worker_test, reused_ports_of_a_closed_connection_go_where_new_connections_may) {
    auto svc = testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80);
    publish({svc});
    frame_spec syn;
    syn.sport = 41000;
    frame_spec rst = syn;
    rst.tcp_flags = wire::tcp_rst;
    frame_spec ack = syn;
    ack.tcp_flags = wire::tcp_ack;
    const std::string first = dst_of(send(syn));
    ASSERT_EQ(first.rfind("198.19.0.1", 0), 0u) << first;
    ASSERT_EQ(send(rst).v.act, action::tx);  // closed
    EXPECT_EQ(dst_of(send(syn)), first) << "a backend that takes new connections keeps the tuple";
    EXPECT_EQ(w->counters().new_conns.get(), 1u);

    // Closed again, and its backend drains: the reused tuple goes elsewhere, and stays there.
    ASSERT_EQ(send(rst).v.act, action::tx);
    for (auto &b : svc.backends)
        if (format_ip(b.addr, ip_family::v4) == first) b.state = backend_state::draining;
    publish({svc});
    result again = send(syn);
    ASSERT_EQ(again.v.act, action::tx);
    const std::string second = dst_of(again);
    EXPECT_NE(second, first);
    EXPECT_EQ(second.rfind("198.19.0.1", 0), 0u) << second;
    EXPECT_EQ(w->counters().new_conns.get(), 2u);
    EXPECT_EQ(dst_of(send(ack)), second);
    EXPECT_EQ(dst_of(send(ack)), second);

    // An open connection of a draining backend is not taken over by a stray SYN.
    for (auto &b : svc.backends) b.state = backend_state::active;
    for (auto &b : svc.backends)
        if (format_ip(b.addr, ip_family::v4) == second) b.state = backend_state::draining;
    publish({svc});
    EXPECT_EQ(dst_of(send(syn)), second);
    EXPECT_EQ(dst_of(send(ack)), second);

    // Closed, and its backend removed: the SYN is scheduled, not answered with a RST.
    ASSERT_EQ(send(rst).v.act, action::tx);
    std::erase_if(svc.backends,
                  [&](const backend_spec &b) { return format_ip(b.addr, ip_family::v4) == second; });
    publish({svc});
    result third = send(syn);
    ASSERT_EQ(third.v.act, action::tx);
    EXPECT_NE(dst_of(third), second);
    EXPECT_EQ(w->counters().resets_sent.get(), 0u);
    EXPECT_EQ(w->counters().new_conns.get(), 3u);

    // The forgotten ones are freed by the sweep; the live one stays.
    EXPECT_GE(w->expire(2000, 1024), 2u);
    EXPECT_EQ(tb->conns->size(), 1u);
    EXPECT_EQ(dst_of(send(ack, 2000)), dst_of(third));
}

TEST_F(worker_test, persistence_sends_a_client_back_to_its_backend) {
    auto svc = testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80);
    svc.persistence_timeout_s = 20;
    publish({svc});
    frame_spec s;
    const std::string first = dst_of(send(s, 1000));
    for (uint16_t p = 1; p < 50; p++) {
        s.sport = static_cast<uint16_t>(40000 + p);
        EXPECT_EQ(dst_of(send(s, 1000 + p)), first);
    }
    EXPECT_EQ(w->counters().persist_hits.get(), 49u);
    // After the timeout of silence the client is scheduled afresh (WRR moves on).
    std::map<std::string, int> later;
    for (uint16_t p = 0; p < 6; p++) {
        s.sport = static_cast<uint16_t>(50000 + p);
        later[dst_of(send(s, 1000 + 50 + 21000 + p * 21000))]++;
    }
    EXPECT_GT(later.size(), 1u);
}

TEST_F(worker_test, idle_connections_expire_and_release_wlc_counts) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wlc, 80)});
    for (uint16_t p = 0; p < 30; p++) {
        frame_spec s;
        s.sport = static_cast<uint16_t>(1000 + p);
        ASSERT_EQ(send(s, 1000).v.act, action::tx);
    }
    const snapshot *snap = tb->snapshots->current();
    uint32_t total = 0;
    for (uint32_t slot : {snap->services[0].slots[0], snap->services[0].slots[1], snap->services[0].slots[2]}) {
        EXPECT_EQ(w->active(snap->ref_of(slot)), 10u) << "WLC spreads evenly";
        total += w->active(snap->ref_of(slot));
    }
    EXPECT_EQ(total, 30u);
    EXPECT_EQ(w->expire(1000 + 29 * 1000, 4096), 0u) << "SYN_RECV lives 30 s";
    EXPECT_EQ(w->expire(1000 + 31 * 1000, 4096), 30u);
    EXPECT_EQ(tb->conns->size(), 0u);
    for (uint32_t k = 0; k < 3; k++) EXPECT_EQ(w->active(snap->ref_of(snap->services[0].slots[k])), 0u);
}

TEST_F(worker_test, closed_connections_stop_counting_as_active) {
    // One backend, so every connection counts on the same slot.
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wlc, 80, 1)});
    const snapshot *snap = tb->snapshots->current();
    const backend_ref ref = snap->ref_of(snap->services[0].slots[0]);
    frame_spec a;  // closes with FINs from both sides
    a.sport = 41000;
    const result r = send(a, 1000);
    ASSERT_EQ(r.v.act, action::tx);
    const std::string backend = dst_of(r);
    frame_spec b = a;  // stays open
    b.sport = 41001;
    ASSERT_EQ(send(b, 1000).v.act, action::tx);
    EXPECT_EQ(w->active(ref), 2u);
    frame_spec ack = a;
    ack.tcp_flags = wire::tcp_ack;
    send(ack, 1001);
    frame_spec fin = a;
    fin.tcp_flags = wire::tcp_fin | wire::tcp_ack;
    send(fin, 1002);
    EXPECT_EQ(w->active(ref), 2u) << "half closed (fin_wait) still counts";
    frame_spec reply_fin;
    reply_fin.src = backend.c_str();
    reply_fin.dst = "198.18.0.2";
    reply_fin.sport = 8080;
    reply_fin.dport = 41000;
    reply_fin.tcp_flags = wire::tcp_fin | wire::tcp_ack;
    ASSERT_EQ(send(reply_fin, 1003).v.act, action::tx);
    EXPECT_EQ(w->active(ref), 1u) << "FINs from both sides: closed";
    send(ack, 1004);
    EXPECT_EQ(w->active(ref), 1u) << "the last ACK does not count it again";
    // A new SYN on the closed pair starts it over: active again; an RST closes it.
    ASSERT_EQ(send(a, 2000).v.act, action::tx);
    EXPECT_EQ(w->active(ref), 2u);
    frame_spec rst = a;
    rst.tcp_flags = wire::tcp_rst;
    send(rst, 2001);
    EXPECT_EQ(w->active(ref), 1u) << "RST: closed";
    // Expiring the closed entry does not count it off a second time.
    EXPECT_EQ(w->expire(2001 + 11 * 1000, 4096), 1u) << "CLOSE lives 10 s";
    EXPECT_EQ(tb->conns->size(), 1u);
    EXPECT_EQ(w->active(ref), 1u);
    EXPECT_EQ(w->expire(1000 + 31 * 1000, 4096), 1u) << "b: SYN_RECV lives 30 s";
    EXPECT_EQ(w->active(ref), 0u);
}

TEST_F(worker_test, local_and_unwanted_packets_get_their_verdicts) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80)});
    frame_spec s;
    s.dport = 81;
    EXPECT_EQ(send(s).v.reason, drop_reason::no_service);
    s.dport = 80;
    s.tcp_flags = wire::tcp_ack;
    result unknown = send(s);
    EXPECT_EQ(unknown.v.act, action::tx) << "a segment of no connection is answered with a RST";
    EXPECT_EQ(unknown.meta.tcp_flags & wire::tcp_rst, wire::tcp_rst);
    EXPECT_EQ(drops(drop_reason::not_syn), 1u);
    s.tcp_flags = wire::tcp_syn;
    s.dst = "198.18.0.1";
    EXPECT_EQ(send(s).v.reason, drop_reason::to_host);
    // ARP who-has for the VIP goes to the slow path.
    std::vector<uint8_t> arp(42, 0);
    std::memset(arp.data(), 0xff, 6);
    wire::store_be16(arp.data() + 12, wire::ethertype_arp);
    const uint8_t body[8] = {0, 1, 8, 0, 6, 4, 0, 1};
    std::memcpy(arp.data() + 14, body, 8);
    const uint8_t spa[4] = {198, 18, 0, 2}, tpa[4] = {198, 18, 1, 1};
    std::memcpy(arp.data() + 28, spa, 4);
    std::memcpy(arp.data() + 38, tpa, 4);
    EXPECT_EQ(send(arp).v.act, action::slow_path);
    // A truncated frame is dropped and named.
    auto trunc = test::make_frame(frame_spec{});
    trunc.resize(30);
    EXPECT_EQ(send(trunc).v.reason, drop_reason::ipv4_truncated);
    EXPECT_EQ(drops(drop_reason::no_service), 1u);
    EXPECT_EQ(drops(drop_reason::ipv4_truncated), 1u);
}

TEST_F(worker_test, unresolved_next_hop_is_handed_over_for_resolution) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80)});
    tb->neighbours->forget(testbed::addr("198.18.0.2"));
    frame_spec syn;
    result r = send(syn);
    ASSERT_EQ(r.v.act, action::tx);
    frame_spec synack;
    const std::string be = dst_of(r);
    synack.src = be.c_str();
    synack.dst = "198.18.0.2";
    synack.sport = 8080;
    synack.dport = 40000;
    synack.tcp_flags = wire::tcp_syn | wire::tcp_ack;
    rte_mbuf *m = test::to_mbuf(test::test_pool(), test::make_frame(synack));
    verdict v;
    w->process_burst(&m, 1, &v, 1000);
    EXPECT_EQ(v.act, action::resolve);
    EXPECT_EQ(v.port, 0);
    EXPECT_EQ(w->pending_next_hop(0), testbed::addr("198.18.0.2"));
    rte_pktmbuf_free(m);
}

TEST_F(worker_test, next_hop_cache_follows_neighbour_changes) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80, 1)});
    frame_spec syn;
    ASSERT_EQ(send(syn).v.act, action::tx);
    frame_spec ack = syn;
    ack.tcp_flags = wire::tcp_ack;
    result r = send(ack);
    ASSERT_TRUE(mac_is(r.out, 0, testbed::backend_mac(1)));
    // be1 moves to another MAC (e.g. a failover): the very next packet uses it.
    neighbour_info n{};
    ASSERT_TRUE(tb->neighbours->get(testbed::backend_addr(ip_family::v4, 1), &n));
    n.mac.addr_bytes[5] = 0x77;
    ASSERT_TRUE(tb->neighbours->update(n));
    r = send(ack);
    ASSERT_EQ(r.v.act, action::tx);
    EXPECT_EQ(r.out[5], 0x77);
    // Forgotten: the packet waits for resolution instead of using a stale MAC.
    tb->neighbours->forget(n.ip);
    EXPECT_EQ(send(ack).v.act, action::resolve);
}

TEST_F(worker_test, a_full_burst_of_mixed_traffic_gets_one_verdict_each) {
    publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80),
             testbed::lab_service(ip_family::v6, fwd_mode::dsr, sched_kind::source_ip, 80)});
    rte_mbuf *pkts[max_burst];
    verdict v[max_burst];
    for (uint16_t i = 0; i < max_burst; i++) {
        frame_spec s;
        s.sport = static_cast<uint16_t>(100 + i);
        if (i % 2) {
            s.family = ip_family::v6;
            s.src = "2001:2:0:18::2";
            s.dst = "2001:2:0:1::1";
        }
        if (i % 7 == 0) s.tcp_flags = wire::tcp_rst;  // a RST of no connection: dropped
        pkts[i] = test::to_mbuf(test::test_pool(), test::make_frame(s));
    }
    w->process_burst(pkts, max_burst, v, 1000);
    unsigned tx = 0, dropped = 0;
    for (uint16_t i = 0; i < max_burst; i++) {
        if (i % 7 == 0) {
            EXPECT_EQ(v[i].reason, drop_reason::not_syn) << i;
            dropped++;
        } else {
            EXPECT_EQ(v[i].act, action::tx) << i;
            tx++;
        }
        rte_pktmbuf_free(pkts[i]);
    }
    EXPECT_EQ(tx + dropped, max_burst);
    EXPECT_EQ(w->counters().rx_packets.get(), max_burst);
}

}  // namespace
}  // namespace nlb
