/* SPDX-License-Identifier: Apache-2.0 */
#include "conn/conn_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <vector>

#include "conn_test_util.h"

namespace nlb {
namespace {

using test::make_key;
using test::reply_of;
using test::v4;
using test::v6;

std::unique_ptr<conn_table> make_table(uint64_t capacity, unsigned workers = 1,
                                       conn_timeouts t = {}) {
    std::string err;
    auto tab = conn_table::create({capacity, workers, t, nullptr}, &err);
    EXPECT_NE(tab, nullptr) << err;
    return tab;
}

struct inserted {
    conn *c;
    drop_reason why;
};

inserted insert(conn_table &tab, unsigned worker, const flow_key &orig, const flow_key *reply,
                uint32_t service, uint32_t now) {
    conn_value v;
    v.service = service;
    v.backend = {service % 7, 3};
    v.mode = reply ? fwd_mode::nat : fwd_mode::dsr;
    drop_reason why = drop_reason::none;
    conn *c = tab.insert(worker, orig, conn_table::hash(orig), reply,
                         reply ? conn_table::hash(*reply) : 0, v, now, &why);
    return {c, why};
}

conn *find(const conn_table &tab, const flow_key &k, conn_dir *dir = nullptr) {
    uint32_t h = conn_table::hash(k);
    tab.prefetch(h);
    tab.prefetch_conn(h);
    return tab.lookup(k, h, dir);
}

TEST(conn_table, create_rejects_bad_config) {
    std::string err;
    EXPECT_EQ(conn_table::create({0, 1, {}, nullptr}, &err), nullptr);
    EXPECT_FALSE(err.empty());
    err.clear();
    EXPECT_EQ(conn_table::create({100, 0, {}, nullptr}, &err), nullptr);
    EXPECT_FALSE(err.empty());
    conn_timeouts t;
    t.close_s = 0;
    err.clear();
    EXPECT_EQ(conn_table::create({100, 1, t, nullptr}, &err), nullptr);
    EXPECT_FALSE(err.empty());
}

TEST(conn_table, insert_and_lookup_both_directions_v4) {
    auto tab = make_table(1000);
    flow_key orig = make_key(v4(0xc6120002), 40000, v4(0xc6120101), 80);
    flow_key rep = reply_of(orig, v4(0xc613000b), 8080);
    auto r = insert(*tab, 0, orig, &rep, 5, 1000);
    ASSERT_NE(r.c, nullptr);
    EXPECT_EQ(r.why, drop_reason::none);
    EXPECT_EQ(tab->size(), 1u);

    conn_dir d = conn_dir::reply;
    EXPECT_EQ(find(*tab, orig, &d), r.c);
    EXPECT_EQ(d, conn_dir::original);
    EXPECT_EQ(find(*tab, rep, &d), r.c);
    EXPECT_EQ(d, conn_dir::reply);

    const conn &c = *r.c;
    EXPECT_EQ(c.service(), 5u);
    EXPECT_EQ(c.backend(), (backend_ref{5, 3}));
    EXPECT_EQ(c.mode(), fwd_mode::nat);
    EXPECT_TRUE(c.has_reply());
    EXPECT_EQ(c.owner(), 0u);
    EXPECT_EQ(c.state(), tcp_state::syn_recv);
    EXPECT_EQ(c.created_ms(), 1000u);
    // What a reply is SNATed back to: the VIP and port of the original key.
    EXPECT_EQ(c.orig_key().dst, v4(0xc6120101));
    EXPECT_EQ(c.orig_key().dport, htons(80));
    EXPECT_EQ(c.reply_key(), rep);

    flow_key other = make_key(v4(0xc6120002), 40001, v4(0xc6120101), 80);
    EXPECT_EQ(find(*tab, other), nullptr);
}

TEST(conn_table, insert_and_lookup_v6_and_udp) {
    auto tab = make_table(1000);
    flow_key orig = make_key(v6(2), 40000, v6(0x101), 443, ipproto_tcp, ip_family::v6);
    flow_key rep = reply_of(orig, v6(0x20b), 443);
    auto r = insert(*tab, 0, orig, &rep, 1, 0);
    ASSERT_NE(r.c, nullptr);
    flow_key udp = make_key(v6(2), 5353, v6(0x101), 53, ipproto_udp, ip_family::v6);
    auto u = insert(*tab, 0, udp, nullptr, 2, 0);
    ASSERT_NE(u.c, nullptr);
    EXPECT_EQ(u.c->state(), tcp_state::udp);
    EXPECT_FALSE(u.c->has_reply());
    EXPECT_EQ(find(*tab, orig), r.c);
    EXPECT_EQ(find(*tab, rep), r.c);
    EXPECT_EQ(find(*tab, udp), u.c);
    // A v4 key with the same leading bytes is another key.
    flow_key v4_like = orig;
    v4_like.family = ip_family::v4;
    EXPECT_EQ(find(*tab, v4_like), nullptr);
}

TEST(conn_table, dsr_inserts_the_original_direction_only) {
    auto tab = make_table(100);
    flow_key orig = make_key(v4(0xc6120002), 1234, v4(0xc6120101), 80);
    auto r = insert(*tab, 0, orig, nullptr, 1, 0);
    ASSERT_NE(r.c, nullptr);
    flow_key rep = reply_of(orig, v4(0xc613000b), 80);
    EXPECT_EQ(find(*tab, rep), nullptr);
    EXPECT_EQ(find(*tab, orig), r.c);
}

TEST(conn_table, duplicate_original_returns_existing_and_reply_conflict_is_refused) {
    auto tab = make_table(100);
    flow_key a = make_key(v4(0xc6120002), 1234, v4(0xc6120101), 80);
    flow_key ra = reply_of(a, v4(0xc613000b), 80);
    auto r1 = insert(*tab, 0, a, &ra, 1, 0);
    ASSERT_NE(r1.c, nullptr);
    auto r2 = insert(*tab, 0, a, &ra, 1, 0);
    EXPECT_EQ(r2.c, r1.c);
    EXPECT_EQ(tab->size(), 1u);
    // Same client port to another VIP mapped to the same backend: same reply tuple.
    flow_key b = make_key(v4(0xc6120002), 1234, v4(0xc6120102), 80);
    auto r3 = insert(*tab, 0, b, &ra, 2, 0);
    EXPECT_EQ(r3.c, nullptr);
    EXPECT_EQ(r3.why, drop_reason::conn_conflict);
    EXPECT_EQ(tab->stats(0).conflicts, 1u);
    EXPECT_EQ(tab->size(), 1u);
}

TEST(conn_table, many_keys_all_found_and_spills_work) {
    // Small table driven to its capacity: buckets spill into neighbours.
    const uint64_t n = 5000;
    auto tab = make_table(n);
    std::vector<flow_key> keys, replies;
    std::vector<conn *> conns;
    for (uint64_t i = 0; i < n; i++) {
        keys.push_back(make_key(v4(0xc6120000 + static_cast<uint32_t>(i)), 1000, v4(0xc6130001),
                                80));
        replies.push_back(reply_of(keys.back(), v4(0xc613000b), 80));
        auto r = insert(*tab, 0, keys.back(), &replies.back(), static_cast<uint32_t>(i), 0);
        ASSERT_NE(r.c, nullptr) << i;
        conns.push_back(r.c);
    }
    EXPECT_EQ(tab->size(), n);
    std::set<const conn *> distinct(conns.begin(), conns.end());
    EXPECT_EQ(distinct.size(), n);
    for (uint64_t i = 0; i < n; i++) {
        conn_dir d;
        ASSERT_EQ(find(*tab, keys[i], &d), conns[i]) << i;
        EXPECT_EQ(d, conn_dir::original);
        ASSERT_EQ(find(*tab, replies[i], &d), conns[i]) << i;
        EXPECT_EQ(d, conn_dir::reply);
        EXPECT_EQ(conns[i]->service(), i);
    }
}

TEST(conn_table, expiry_frees_exactly_the_timed_out_entries) {
    conn_timeouts t;  // defaults: syn_recv 30 s, established 900 s, udp 300 s
    auto tab = make_table(100, 1, t);
    flow_key syn = make_key(v4(1), 1, v4(2), 80);
    flow_key est = make_key(v4(1), 2, v4(2), 80);
    flow_key udp = make_key(v4(1), 3, v4(2), 53, ipproto_udp);
    conn *cs = insert(*tab, 0, syn, nullptr, 1, 0).c;
    conn *ce = insert(*tab, 0, est, nullptr, 2, 0).c;
    conn *cu = insert(*tab, 0, udp, nullptr, 3, 0).c;
    ASSERT_TRUE(cs && ce && cu);
    tab->on_packet(ce, conn_dir::original, tcp_flag_ack, 0);
    EXPECT_EQ(tab->stats(0).embryonic, 1u);

    std::vector<std::pair<uint32_t, conn_free_reason>> freed;
    auto on_free = [&](const conn &c, conn_free_reason why) {
        freed.emplace_back(c.service(), why);
    };
    EXPECT_EQ(tab->expire(0, 29999, 100, on_free), 0u);
    EXPECT_TRUE(freed.empty());
    EXPECT_EQ(tab->expire(0, 30000, 100, on_free), 1u);
    ASSERT_EQ(freed.size(), 1u);
    EXPECT_EQ(freed[0].first, 1u);
    EXPECT_EQ(freed[0].second, conn_free_reason::expired);
    EXPECT_EQ(find(*tab, syn), nullptr);
    EXPECT_NE(find(*tab, est), nullptr);
    EXPECT_EQ(tab->size(), 2u);
    EXPECT_EQ(tab->stats(0).embryonic, 0u);

    // Activity refreshes: the UDP flow seen at 200 s lives until 500 s.
    tab->on_packet(cu, conn_dir::original, 0, 200000);
    EXPECT_EQ(tab->expire(0, 300000, 100, on_free), 0u);
    EXPECT_EQ(tab->expire(0, 500000, 100, on_free), 1u);
    EXPECT_EQ(freed.back().first, 3u);
    EXPECT_EQ(tab->expire(0, 899999, 100, on_free), 0u);
    EXPECT_EQ(tab->expire(0, 900000, 100, on_free), 1u);
    EXPECT_EQ(freed.back().first, 2u);
    EXPECT_EQ(tab->size(), 0u);
    EXPECT_EQ(tab->stats(0).expired, 3u);
}

TEST(conn_table, expiry_is_wrap_safe) {
    auto tab = make_table(10);
    uint32_t start = UINT32_MAX - 5000;  // the millisecond clock wraps during the flow
    conn *c = insert(*tab, 0, make_key(v4(1), 1, v4(2), 53, ipproto_udp), nullptr, 1, start).c;
    ASSERT_NE(c, nullptr);
    auto none = [](const conn &, conn_free_reason) {};
    EXPECT_EQ(tab->expire(0, start + 299999, 10, none), 0u);  // wrapped, 1 ms short
    EXPECT_EQ(tab->expire(0, start + 300000, 10, none), 1u);
}

TEST(conn_table, budget_bounds_the_sweep) {
    auto tab = make_table(1000);
    for (uint32_t i = 0; i < 100; i++)
        ASSERT_NE(insert(*tab, 0, make_key(v4(i + 1), 1, v4(2), 53, ipproto_udp), nullptr, i, 0).c,
                  nullptr);
    auto none = [](const conn &, conn_free_reason) {};
    unsigned total = 0, calls = 0;
    while (tab->size() > 0 && calls < 100) {
        unsigned n = tab->expire(0, 300000, 10, none);
        EXPECT_LE(n, 10u);
        total += n;
        calls++;
    }
    EXPECT_EQ(total, 100u);
    EXPECT_EQ(calls, 10u);
}

TEST(conn_table, mark_dead_hides_and_owner_frees_on_next_sweep) {
    auto tab = make_table(100, 2);
    flow_key k = make_key(v4(1), 1, v4(2), 80);
    flow_key r = reply_of(k, v4(3), 80);
    conn *c = insert(*tab, 1, k, &r, 9, 0).c;
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->owner(), 1u);
    tab->mark_dead(c);
    EXPECT_TRUE(c->dead());
    EXPECT_EQ(find(*tab, k), nullptr);
    EXPECT_EQ(find(*tab, r), nullptr);
    std::vector<conn_free_reason> why;
    auto on_free = [&](const conn &, conn_free_reason w) { why.push_back(w); };
    EXPECT_EQ(tab->expire(0, 1, 100, on_free), 0u);  // not worker 0's entry
    EXPECT_EQ(tab->expire(1, 1, 100, on_free), 1u);
    ASSERT_EQ(why.size(), 1u);
    EXPECT_EQ(why[0], conn_free_reason::dead);
    EXPECT_EQ(tab->size(), 0u);
    EXPECT_EQ(tab->stats(1).killed, 1u);
    // The key can be inserted again, also while the dead one is still present.
    conn *c2 = insert(*tab, 1, k, &r, 10, 2).c;
    ASSERT_NE(c2, nullptr);
    tab->mark_dead(c2);
    conn *c3 = insert(*tab, 1, k, &r, 11, 2).c;
    ASSERT_NE(c3, nullptr);
    EXPECT_NE(c3, c2);
    EXPECT_EQ(find(*tab, r), c3);
}

TEST(conn_table, purge_a_backend_through_for_each) {
    auto tab = make_table(1000, 2);
    for (uint32_t i = 0; i < 700; i++) {
        flow_key k = make_key(v4(i + 1), 1, v4(2), 80);
        flow_key r = reply_of(k, v4(3), 80);
        ASSERT_NE(insert(*tab, i % 2, k, &r, i, 0).c, nullptr);  // backend index = i % 7
    }
    // The agent marks every connection of backend 3 dead; the owners free them.
    uint64_t marked = 0;
    tab->for_each([&](const conn &c) {
        if (c.backend().index == 3) {
            tab->mark_dead(&c);
            marked++;
        }
    });
    EXPECT_EQ(marked, 100u);
    std::vector<uint32_t> freed;
    auto on_free = [&](const conn &c, conn_free_reason why) {
        EXPECT_EQ(why, conn_free_reason::dead);
        freed.push_back(c.backend().index);
    };
    tab->expire(0, 1, 1000, on_free);
    tab->expire(1, 1, 1000, on_free);
    EXPECT_EQ(freed.size(), 100u);
    for (uint32_t b : freed) EXPECT_EQ(b, 3u);
    EXPECT_EQ(tab->size(), 600u);
    EXPECT_EQ(tab->stats(0).killed + tab->stats(1).killed, 100u);
}

TEST(conn_table, flags_are_kept_and_dead_bit_is_reserved) {
    auto tab = make_table(10);
    conn *c = insert(*tab, 0, make_key(v4(1), 1, v4(2), 80), nullptr, 1, 0).c;
    ASSERT_NE(c, nullptr);
    tab->set_flags(c, conn_flag_counted | conn_flag_dead);
    EXPECT_EQ(c->flags(), conn_flag_counted);
    tab->set_flags(c, conn_flag_reset);
    tab->clear_flags(c, conn_flag_counted);
    EXPECT_EQ(c->flags(), conn_flag_reset);
}

TEST(conn_table, full_table_evicts_embryonic_first) {
    const uint64_t cap = 64;
    auto tab = make_table(cap);
    std::vector<conn *> est;
    // Half established, half embryonic.
    for (uint32_t i = 0; i < cap; i++) {
        conn *c = insert(*tab, 0, make_key(v4(i + 1), 1, v4(2), 80), nullptr, i, 0).c;
        ASSERT_NE(c, nullptr);
        if (i % 2 == 0) {
            tab->on_packet(c, conn_dir::original, tcp_flag_ack, 0);
            est.push_back(c);
        }
    }
    EXPECT_EQ(tab->size(), cap);
    std::vector<uint32_t> evicted;
    auto on_evict = [&](const conn &c, conn_free_reason why) {
        EXPECT_EQ(why, conn_free_reason::evicted);
        evicted.push_back(c.service());
    };
    conn_value v;
    drop_reason why;
    flow_key nk = make_key(v4(1000), 1, v4(2), 80);
    conn *c = tab->insert(0, nk, conn_table::hash(nk), nullptr, 0, v, 1, &why, on_evict);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(why, drop_reason::none);
    ASSERT_FALSE(evicted.empty());
    for (uint32_t s : evicted) EXPECT_EQ(s % 2, 1u) << "an established entry was evicted";
    EXPECT_LE(tab->size(), cap);
    for (conn *e : est) EXPECT_EQ(find(*tab, e->orig_key()), e);
    EXPECT_EQ(tab->stats(0).evicted, evicted.size());
}

TEST(conn_table, full_of_established_refuses_with_conn_table_full) {
    const uint64_t cap = 32;
    auto tab = make_table(cap);
    for (uint32_t i = 0; i < cap; i++) {
        conn *c = insert(*tab, 0, make_key(v4(i + 1), 1, v4(2), 80), nullptr, i, 0).c;
        ASSERT_NE(c, nullptr);
        tab->on_packet(c, conn_dir::original, tcp_flag_ack, 0);
    }
    for (uint32_t i = 0; i < 10; i++) {
        auto r = insert(*tab, 0, make_key(v4(5000 + i), 1, v4(2), 80), nullptr, 0, 1);
        EXPECT_EQ(r.c, nullptr);
        EXPECT_EQ(r.why, drop_reason::conn_table_full);
    }
    EXPECT_EQ(tab->size(), cap);
    EXPECT_EQ(tab->stats(0).full, 10u);
    for (uint32_t i = 0; i < cap; i++)
        EXPECT_NE(find(*tab, make_key(v4(i + 1), 1, v4(2), 80)), nullptr);
    // After expiry there is room again.
    tab->expire(0, 900000, 1000, [](const conn &, conn_free_reason) {});
    EXPECT_EQ(tab->size(), 0u);
    EXPECT_NE(insert(*tab, 0, make_key(v4(9999), 1, v4(2), 80), nullptr, 0, 900001).c, nullptr);
}

TEST(conn_table, never_exceeds_capacity_with_several_workers) {
    const uint64_t cap = 1000;
    auto tab = make_table(cap, 3);
    uint64_t ok = 0, full = 0;
    std::set<const conn *> seen;
    for (uint32_t i = 0; i < 2 * cap; i++) {
        auto r = insert(*tab, i % 3, make_key(v4(i + 1), 7, v4(2), 53, ipproto_udp), nullptr, i, 0);
        if (r.c) {
            ok++;
            seen.insert(r.c);
        } else {
            EXPECT_EQ(r.why, drop_reason::conn_table_full);
            full++;
        }
        ASSERT_LE(tab->size(), cap);
    }
    EXPECT_EQ(ok, cap);
    EXPECT_EQ(full, cap);
    EXPECT_EQ(seen.size(), cap);
    uint64_t listed = 0;
    tab->for_each([&](const conn &) { listed++; });
    EXPECT_EQ(listed, cap);
}

TEST(conn_table, freed_entries_are_reused_without_growth) {
    auto tab = make_table(8);
    auto none = [](const conn &, conn_free_reason) {};
    uint32_t now = 0;
    for (int round = 0; round < 50; round++) {
        for (uint32_t i = 0; i < 8; i++)
            ASSERT_NE(insert(*tab, 0, make_key(v4(round * 100 + i + 1), 1, v4(2), 53, ipproto_udp),
                             nullptr, i, now)
                          .c,
                      nullptr);
        now += 300000;
        EXPECT_EQ(tab->expire(0, now, 100, none), 8u);
    }
    EXPECT_EQ(tab->size(), 0u);
}

TEST(conn_table, rcu_grace_period_delays_reuse) {
    // One reader thread id registered and online: freed entries wait for it.
    size_t sz = rte_rcu_qsbr_get_memsize(1);
    auto *qs = static_cast<rte_rcu_qsbr *>(aligned_alloc(RTE_CACHE_LINE_SIZE, sz));
    ASSERT_EQ(rte_rcu_qsbr_init(qs, 1), 0);
    ASSERT_EQ(rte_rcu_qsbr_thread_register(qs, 0), 0);
    rte_rcu_qsbr_thread_online(qs, 0);
    std::string err;
    auto tab = conn_table::create({4, 1, {}, qs}, &err);
    ASSERT_NE(tab, nullptr) << err;
    std::vector<conn *> first;
    for (uint32_t i = 0; i < 4; i++) {
        first.push_back(insert(*tab, 0, make_key(v4(i + 1), 1, v4(2), 80), nullptr, i, 0).c);
        ASSERT_NE(first.back(), nullptr);
    }
    // Table full of embryonic entries: the insert that evicts is refused (grace period).
    auto r = insert(*tab, 0, make_key(v4(100), 1, v4(2), 80), nullptr, 0, 1);
    EXPECT_EQ(r.c, nullptr);
    EXPECT_EQ(r.why, drop_reason::conn_table_full);
    EXPECT_EQ(tab->stats(0).evicted, 4u);
    EXPECT_EQ(tab->size(), 0u);
    r = insert(*tab, 0, make_key(v4(101), 1, v4(2), 80), nullptr, 0, 1);
    EXPECT_EQ(r.c, nullptr);  // still no quiescent state reported
    rte_rcu_qsbr_quiescent(qs, 0);
    r = insert(*tab, 0, make_key(v4(102), 1, v4(2), 80), nullptr, 0, 2);
    ASSERT_NE(r.c, nullptr);
    EXPECT_NE(std::find(first.begin(), first.end(), r.c), first.end());
    rte_rcu_qsbr_thread_offline(qs, 0);
    rte_rcu_qsbr_thread_unregister(qs, 0);
    tab.reset();
    free(qs);
}

TEST(conn_table, hundred_million_entries_create_quickly) {
    // Lazily mapped (prefault off): what it costs is what is used.
    auto t0 = std::chrono::steady_clock::now();
    std::string err;
    auto tab = conn_table::create({100'000'000, 2, {}, nullptr, false}, &err);
    ASSERT_NE(tab, nullptr) << err;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - t0)
                  .count();
    EXPECT_LT(ms, 2000);
    EXPECT_EQ(tab->capacity(), 100'000'000u);
    // Entries 128 B (64 per direction) + buckets at 85 % slot load for two keys.
    double per_conn = static_cast<double>(tab->memory_bytes()) / 100'000'000.0;
    EXPECT_LT(per_conn, 160.0);
    EXPECT_GE(per_conn, 128.0);
    RecordProperty("bytes_per_connection", std::to_string(per_conn));
    std::printf("100 M connections: %.1f bytes per connection (%.1f per direction), "
                "created in %lld ms\n",
                per_conn, per_conn / 2, static_cast<long long>(ms));
    flow_key k = make_key(v4(1), 1, v4(2), 80);
    flow_key r = reply_of(k, v4(3), 80);
    conn *c = insert(*tab, 1, k, &r, 1, 0).c;
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(find(*tab, r), c);
}

}  // namespace
}  // namespace nlb
