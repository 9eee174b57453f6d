/* SPDX-License-Identifier: Apache-2.0 */
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "snapshot/snapshot_builder.h"
#include "spec_helpers.h"

namespace nlb {
namespace {

using test::backend4;
using test::key4;
using test::service;

std::unique_ptr<snapshot> build(const snapshot_builder &b, const std::vector<service_spec> &s,
                                const snapshot *prev = nullptr) {
    auto r = b.build(s, prev);
    EXPECT_TRUE(r.error.empty()) << r.error;
    return std::move(r.snap);
}

const snapshot_backend *find_backend(const snapshot &s, const snapshot_service &svc, uint64_t id,
                                     uint32_t *slot = nullptr) {
    for (uint32_t i = 0; i < svc.backend_count; i++) {
        if (s.backends[svc.slots[i]].id == id) {
            if (slot) *slot = svc.slots[i];
            return &s.backends[svc.slots[i]];
        }
    }
    return nullptr;
}

TEST(snapshot, finds_services_by_vip_port_protocol_and_family) {
    snapshot_builder b;
    service_spec v6svc =
        service({test::v6(1), htons(443), ipproto_tcp, ip_family::v6}, sched_kind::wrr, {});
    v6svc.backends.push_back(
        {7, test::v6(0x100), ip_family::v6, htons(8443), 10, backend_state::active});
    std::vector<service_spec> specs = {
        service(key4(1, 80), sched_kind::wrr, {backend4(1, 1, 1, 8080)}),
        service(key4(1, 53, ipproto_udp), sched_kind::wlc, {backend4(2, 1, 2, 53)}),
        service(key4(2, 80), sched_kind::source_ip, {backend4(3, 1, 3, 8080)}),
        v6svc,
    };
    auto s = build(b, specs);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->version, 1u);
    EXPECT_EQ(s->service_count(), 4u);
    EXPECT_EQ(s->backend_count(), 4u);
    for (const auto &spec : specs) {
        const snapshot_service *svc = s->find_service(spec.key);
        ASSERT_NE(svc, nullptr);
        EXPECT_TRUE(svc->key == spec.key);
        EXPECT_EQ(&s->services[svc->index], svc);
        ASSERT_EQ(svc->backend_count, 1u);
        EXPECT_EQ(s->backends[svc->slots[0]].id, spec.backends[0].id);
        EXPECT_EQ(s->backends[svc->slots[0]].service, svc->index);
    }
    EXPECT_EQ(s->find_service(key4(1, 81)), nullptr);               // other port
    EXPECT_EQ(s->find_service(key4(1, 80, ipproto_udp)), nullptr);  // other protocol
    EXPECT_EQ(s->find_service(key4(3, 80)), nullptr);               // other VIP
    EXPECT_EQ(s->find_service(test::v6(1), htons(80), ipproto_tcp, ip_family::v6), nullptr);
    EXPECT_TRUE(s->is_vip(test::v4(18, 0, 1), ip_family::v4));
    EXPECT_TRUE(s->is_vip(test::v4(18, 0, 2), ip_family::v4));
    EXPECT_TRUE(s->is_vip(test::v6(1), ip_family::v6));
    EXPECT_FALSE(s->is_vip(test::v4(18, 0, 3), ip_family::v4));
    EXPECT_FALSE(s->is_vip(test::v4(19, 1, 1), ip_family::v4));  // a backend, not a VIP
    EXPECT_FALSE(s->is_vip(test::v6(2), ip_family::v6));

    auto empty = build(b, {});
    ASSERT_TRUE(empty);
    EXPECT_EQ(empty->find_service(key4(1, 80)), nullptr);
    EXPECT_FALSE(empty->is_vip(test::v4(18, 0, 1), ip_family::v4));
}

TEST(snapshot, many_services_are_all_found) {
    snapshot_builder b;
    std::vector<service_spec> specs;
    for (uint32_t i = 0; i < 1000; i++)
        specs.push_back(service(key4(uint8_t(1 + i % 200), uint16_t(80 + i / 200)), sched_kind::wrr,
                                {backend4(i, uint8_t(i >> 8), uint8_t(i), 80)}));
    auto s = build(b, specs);
    ASSERT_TRUE(s);
    for (const auto &spec : specs) {
        auto *svc = s->find_service(spec.key);
        ASSERT_NE(svc, nullptr);
        EXPECT_EQ(s->backends[svc->slots[0]].id, spec.backends[0].id);
    }
}

TEST(snapshot, backends_keep_slots_and_generations_and_removal_is_detected) {
    snapshot_builder b;
    std::vector<service_spec> specs = {
        service(key4(1, 80), sched_kind::wrr,
                {backend4(1, 1, 1, 8080), backend4(2, 1, 2, 8080), backend4(3, 1, 3, 8080)}),
        service(key4(2, 80), sched_kind::wrr, {backend4(4, 1, 4, 8080)}),
    };
    auto s1 = build(b, specs);
    const snapshot_service *a1 = s1->find_service(key4(1, 80));
    uint32_t slot1 = 0, slot2 = 0, slot3 = 0;
    ASSERT_NE(find_backend(*s1, *a1, 1, &slot1), nullptr);
    ASSERT_NE(find_backend(*s1, *a1, 2, &slot2), nullptr);
    ASSERT_NE(find_backend(*s1, *a1, 3, &slot3), nullptr);
    backend_ref r1 = s1->ref_of(slot1), r2 = s1->ref_of(slot2), r3 = s1->ref_of(slot3);
    EXPECT_TRUE(s1->backend_valid(r2));

    // Remove backend 2, add backend 5, change backend 3's weight and state.
    specs[0].backends = {backend4(1, 1, 1, 8080),
                         backend4(3, 1, 3, 8080, 50, backend_state::draining),
                         backend4(5, 1, 5, 8080)};
    auto s2 = build(b, specs, s1.get());
    EXPECT_EQ(s2->version, 2u);
    const snapshot_service *a2 = s2->find_service(key4(1, 80));
    EXPECT_EQ(a2->index, a1->index);
    uint32_t s2slot1 = 0, s2slot3 = 0, s2slot5 = 0;
    ASSERT_NE(find_backend(*s2, *a2, 1, &s2slot1), nullptr);
    ASSERT_NE(find_backend(*s2, *a2, 3, &s2slot3), nullptr);
    ASSERT_NE(find_backend(*s2, *a2, 5, &s2slot5), nullptr);
    EXPECT_EQ(s2slot1, slot1);
    EXPECT_EQ(s2slot3, slot3);
    EXPECT_TRUE(s2->backend_valid(r1));
    EXPECT_TRUE(s2->backend_valid(r3));  // weight/state changes keep the backend
    EXPECT_EQ(s2->backends[slot3].weight, 50);
    EXPECT_EQ(s2->backends[slot3].state, backend_state::draining);
    EXPECT_FALSE(s2->backend_valid(r2));  // removed: the stale reference is detected
    EXPECT_EQ(s2slot5, slot2);            // the freed slot is reused...
    EXPECT_NE(s2->ref_of(s2slot5).generation, r2.generation);  // ...under a new generation
    EXPECT_EQ(s2->backends[s2slot5].id, 5u);

    // Same id, new port: a different backend, so a new slot/generation.
    specs[0].backends[0] = backend4(1, 1, 1, 9090);
    auto s3 = build(b, specs, s2.get());
    EXPECT_FALSE(s3->backend_valid(r1));
    // Removing a backend and later reusing its slot: generations never repeat.
    specs[0].backends.pop_back();  // backend 5 goes
    auto s4 = build(b, specs, s3.get());
    backend_ref r5 = s3->ref_of(s2slot5);
    EXPECT_FALSE(s4->backend_valid(r5));
    EXPECT_FALSE(s4->backends[s2slot5].in_use);
    specs[0].backends.push_back(backend4(6, 1, 6, 8080));
    auto s5 = build(b, specs, s4.get());
    const snapshot_service *a5 = s5->find_service(key4(1, 80));
    uint32_t slot6 = 0;
    ASSERT_NE(find_backend(*s5, *a5, 6, &slot6), nullptr);
    EXPECT_FALSE(s5->backend_valid(r5));
    EXPECT_FALSE(s5->backend_valid(r2));
    EXPECT_TRUE(s5->backend_valid(s5->ref_of(slot6)));

    // The same backend in two services holds two slots.
    specs[1].backends.push_back(backend4(3, 1, 3, 8080));
    auto s6 = build(b, specs, s5.get());
    EXPECT_EQ(s6->backend_count(), 5u);
}

TEST(snapshot, service_indices_are_stable_and_reused_lowest_first) {
    snapshot_builder b;
    std::vector<service_spec> specs = {
        service(key4(1, 80), sched_kind::wrr, {}),
        service(key4(2, 80), sched_kind::wrr, {}),
        service(key4(3, 80), sched_kind::wrr, {}),
    };
    auto s1 = build(b, specs);
    uint32_t i2 = s1->find_service(key4(2, 80))->index, i3 = s1->find_service(key4(3, 80))->index;
    uint32_t i1 = s1->find_service(key4(1, 80))->index;
    // Drop the first service, reorder the rest, add a new one.
    std::vector<service_spec> next = {specs[2], specs[1],
                                      service(key4(4, 80), sched_kind::wlc, {})};
    auto s2 = build(b, next, s1.get());
    EXPECT_EQ(s2->find_service(key4(2, 80))->index, i2);
    EXPECT_EQ(s2->find_service(key4(3, 80))->index, i3);
    EXPECT_EQ(s2->find_service(key4(4, 80))->index, i1);  // the freed index
    EXPECT_EQ(s2->find_service(key4(1, 80)), nullptr);
    EXPECT_EQ(s2->service_count(), 3u);
    // Removing services leaves holes; indices from older snapshots stay in range.
    auto s3 = build(b, {}, s2.get());
    EXPECT_EQ(s3->services.size(), s2->services.size());
    EXPECT_EQ(s3->backends.size(), s2->backends.size());
    for (const auto &svc : s3->services) EXPECT_FALSE(svc.in_use);
    EXPECT_EQ(s3->service_count(), 0u);
}

TEST(snapshot, invalid_input_is_refused_with_a_reason) {
    snapshot_limits limits;
    limits.max_services = 4;
    limits.max_backends = 8;
    snapshot_builder b(limits);
    auto expect_error = [&](std::vector<service_spec> specs, const char *needle) {
        auto r = b.build(specs, nullptr);
        EXPECT_EQ(r.snap, nullptr) << needle;
        EXPECT_NE(r.error.find(needle), std::string::npos) << r.error;
    };
    auto ok = service(key4(1, 80), sched_kind::wrr, {backend4(1, 1, 1, 80)});
    expect_error({ok, ok}, "duplicate service");
    auto s = ok;
    s.backends[0].weight = 101;
    expect_error({s}, "weight");
    s = ok;
    s.key.port_be = 0;
    expect_error({s}, "port");
    s = ok;
    s.backends[0].port_be = 0;
    expect_error({s}, "port");
    s = ok;
    s.key.vip = test::v6(1);  // v6 bytes under family v4
    expect_error({s}, "VIP");
    s = ok;
    s.backends[0].family = ip_family::v6;
    expect_error({s}, "nat mode");
    s = ok;
    s.backends[0].addr = ip_addr{};
    expect_error({s}, "valid address");
    s = ok;
    s.mode = fwd_mode::dsr;
    s.backends[0].port_be = htons(8080);
    expect_error({s}, "dsr");
    s = ok;
    s.backends.push_back(backend4(1, 1, 2, 80));
    expect_error({s}, "duplicate backend id");
    s = ok;
    s.backends.push_back(backend4(2, 1, 1, 80));
    expect_error({s}, "same address and port");
    s = ok;
    s.key.proto = ipproto_icmp;
    expect_error({s}, "protocol");
    s = ok;
    s.persistence_timeout_s = 3601;
    expect_error({s}, "persistence");
    s = ok;
    s.sched = sched_kind::source_ip;
    s.maglev_size = 65536;
    expect_error({s}, "Maglev");
    std::vector<service_spec> many;
    for (uint8_t i = 1; i <= 5; i++) many.push_back(service(key4(i, 80), sched_kind::wrr, {}));
    expect_error(many, "too many services");
    s = ok;
    for (uint8_t i = 2; i <= 9; i++) s.backends.push_back(backend4(i, 1, i, 80));
    expect_error({s}, "too many backends");
    // Tunnel mode encapsulates IPv4 in IPv4 and IPv6 in IPv6 and leaves the
    // inner packet unchanged: another family or port is refused, the VIP's builds.
    s = ok;
    s.mode = fwd_mode::tunnel;
    s.backends[0] = {1, test::v6(9), ip_family::v6, htons(80), 10, backend_state::active};
    expect_error({s}, "tunnel mode needs the VIP's address family and port");
    s.backends[0] = {1, ok.backends[0].addr, ip_family::v4, htons(8080), 10, backend_state::active};
    expect_error({s}, "tunnel mode needs the VIP's address family and port");
    s.backends[0] = {1, ok.backends[0].addr, ip_family::v4, ok.key.port_be, 10, backend_state::active};
    EXPECT_TRUE(b.build(std::vector<service_spec>{s}, nullptr).error.empty());
}

TEST(snapshot, scheduler_data_is_shared_until_backends_change) {
    snapshot_limits limits;
    limits.maglev_size = 4093;
    snapshot_builder b(limits);
    std::vector<service_spec> specs = {
        service(key4(1, 80), sched_kind::source_ip,
                {backend4(1, 1, 1, 80), backend4(2, 1, 2, 80), backend4(3, 1, 3, 80)}),
        service(key4(2, 80), sched_kind::wrr, {backend4(4, 1, 4, 80, 5), backend4(5, 1, 5, 80, 1)}),
    };
    auto r1 = b.build(specs, nullptr);
    EXPECT_EQ(r1.maglev_tables_built, 1u);
    auto s1 = std::move(r1.snap);
    const snapshot_service *m1 = s1->find_service(key4(1, 80));
    ASSERT_NE(m1->maglev, nullptr);
    EXPECT_EQ(m1->maglev->size(), 4093u);
    EXPECT_EQ(s1->find_service(key4(2, 80))->wrr_length, 6u);

    specs.push_back(service(key4(3, 80), sched_kind::wrr, {}));
    auto r2 = b.build(specs, s1.get());
    EXPECT_EQ(r2.maglev_tables_built, 0u);
    EXPECT_EQ(r2.snap->find_service(key4(1, 80))->maglev, m1->maglev);  // shared
    EXPECT_EQ(r2.snap->find_service(key4(2, 80))->wrr, s1->find_service(key4(2, 80))->wrr);

    // Draining one of three backends rebuilds the table and moves about a third.
    specs[0].backends[1].state = backend_state::draining;
    auto r3 = b.build(specs, r2.snap.get());
    EXPECT_EQ(r3.maglev_tables_built, 1u);
    EXPECT_NEAR(double(r3.maglev_positions_changed), 4093 / 3.0, 4093 * 0.03);
    const snapshot_service *m3 = r3.snap->find_service(key4(1, 80));
    for (uint32_t p = 0; p < m3->maglev->size(); p++)
        ASSERT_NE(r3.snap->backends[m3->slots[m3->maglev->entries()[p]]].id, 2u);
}

TEST(snapshot, pick_backend_follows_each_scheduler) {
    snapshot_builder b;
    std::vector<service_spec> specs = {
        service(key4(1, 80), sched_kind::wrr,
                {backend4(1, 1, 1, 80, 20), backend4(2, 1, 2, 80, 10), backend4(3, 1, 3, 80, 0),
                 backend4(4, 1, 4, 80, 50, backend_state::draining)}),
        service(key4(2, 80), sched_kind::wlc,
                {backend4(5, 1, 5, 80, 10), backend4(6, 1, 6, 80, 30)}),
        service(key4(3, 80), sched_kind::source_ip,
                {backend4(7, 1, 7, 80), backend4(8, 1, 8, 80),
                 backend4(9, 1, 9, 80, 10, backend_state::draining)}),
        service(key4(4, 80), sched_kind::wrr,
                {backend4(10, 1, 10, 80, 10, backend_state::draining)}),
        service(key4(5, 80), sched_kind::source_ip, {}),
        service(key4(6, 80), sched_kind::wlc, {backend4(11, 1, 11, 80, 0)}),
    };
    auto s = build(b, specs);
    worker_sched ws(b.limits().max_services, b.limits().max_backends, 0);
    auto client = test::v4(18, 100, 1);

    std::map<uint64_t, int> wrr;
    const snapshot_service *w = s->find_service(key4(1, 80));
    for (int i = 0; i < 300; i++) {
        uint32_t slot = pick_backend(*s, *w, ws, client);
        ASSERT_NE(slot, no_backend);
        wrr[s->backends[slot].id]++;
    }
    EXPECT_EQ(wrr, (std::map<uint64_t, int>{{1, 200}, {2, 100}}));  // 0 and draining get none

    // WLC with connections that stay open: shares follow the weights 1:3.
    std::map<uint64_t, int> wlc;
    const snapshot_service *l = s->find_service(key4(2, 80));
    for (int i = 0; i < 400; i++) {
        uint32_t slot = pick_backend(*s, *l, ws, client);
        ASSERT_NE(slot, no_backend);
        ws.counts().opened(s->ref_of(slot));
        wlc[s->backends[slot].id]++;
    }
    EXPECT_EQ(wlc, (std::map<uint64_t, int>{{5, 100}, {6, 300}}));

    // SOURCE_IP: a client sticks to one backend; draining ones get nobody.
    const snapshot_service *m = s->find_service(key4(3, 80));
    std::map<uint64_t, int> src;
    for (uint32_t c = 0; c < 2000; c++) {
        auto addr = test::v4(18, uint8_t(100 + c / 250), uint8_t(c));
        uint32_t slot = pick_backend(*s, *m, ws, addr);
        ASSERT_NE(slot, no_backend);
        EXPECT_EQ(pick_backend(*s, *m, ws, addr), slot);
        src[s->backends[slot].id]++;
    }
    EXPECT_EQ(src.count(9), 0u);
    EXPECT_NEAR(src[7], 1000, 150);

    // Nothing usable: no backend.
    EXPECT_EQ(pick_backend(*s, *s->find_service(key4(4, 80)), ws, client), no_backend);
    EXPECT_EQ(pick_backend(*s, *s->find_service(key4(5, 80)), ws, client), no_backend);
    EXPECT_EQ(pick_backend(*s, *s->find_service(key4(6, 80)), ws, client), no_backend);
}

TEST(snapshot, poison_makes_every_reference_fail) {
    snapshot_builder b;
    auto s = build(b, {service(key4(1, 80), sched_kind::wrr, {backend4(1, 1, 1, 80)})});
    backend_ref r = s->ref_of(s->find_service(key4(1, 80))->slots[0]);
    EXPECT_EQ(s->magic, snapshot::magic_live);
    EXPECT_TRUE(s->backend_valid(r));
    s->poison();
    EXPECT_EQ(s->magic, snapshot::magic_dead);
    EXPECT_FALSE(s->backend_valid(r));
    EXPECT_FALSE(s->services[0].in_use);
}

}  // namespace
}  // namespace nlb
