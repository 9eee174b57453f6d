/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot costs: the VIP lookup a worker does per packet of an unknown flow
 * (baseline from the same run: std::unordered_map over the same keys), and
 * building + publishing a snapshot of 1000 services × 10 backends, from
 * scratch and after a one-backend change.
 */
#include <benchmark/benchmark.h>

#include <arpa/inet.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "snapshot/snapshot_builder.h"
#include "snapshot/snapshot_manager.h"

namespace nlb::bench {
namespace {

// 1000 services: VIPs 198.18.0.1..250 × ports 80..83; schedulers mixed
// (every third is SOURCE_IP with a 65537-position Maglev table) unless
// wrr_only.
std::vector<service_spec> thousand_services(bool wrr_only) {
    std::vector<service_spec> out;
    for (uint32_t i = 0; i < 1000; i++) {
        service_spec s{};
        s.key = {ip_addr::from_v4_be(htonl(0xc6120000u + 1 + i / 4)), htons(uint16_t(80 + i % 4)),
                 ipproto_tcp, ip_family::v4};
        s.sched = wrr_only ? sched_kind::wrr : static_cast<sched_kind>(i % 3);
        for (uint32_t j = 0; j < 10; j++)
            s.backends.push_back(
                {uint64_t(i) << 8 | j, ip_addr::from_v4_be(htonl(0xc6130000u + i * 16 + j + 1)),
                 ip_family::v4, htons(8080), uint8_t(10 + j), backend_state::active});
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<service_key> probe_keys(const std::vector<service_spec> &specs) {
    std::vector<service_key> keys;
    for (uint32_t i = 0; i < 4096; i++) keys.push_back(specs[(i * 2654435761u) % specs.size()].key);
    return keys;
}

void vip_lookup_snapshot(benchmark::State &state) {
    auto specs = thousand_services(true);
    snapshot_builder b;
    auto snap = std::move(b.build(specs, nullptr).snap);
    auto keys = probe_keys(specs);
    uint32_t i = 0;
    for (auto _ : state) {
        const service_key &k = keys[i++ & 4095];
        benchmark::DoNotOptimize(snap->find_service(k.vip, k.port_be, k.proto, k.family));
    }
}
BENCHMARK(vip_lookup_snapshot)->MinTime(0.2);

struct key_hash {
    size_t operator()(const service_key &k) const {
        return std::hash<std::string_view>()(
            std::string_view(reinterpret_cast<const char *>(&k), sizeof(k)));
    }
};

void vip_lookup_baseline_unordered_map(benchmark::State &state) {
    auto specs = thousand_services(true);
    std::unordered_map<service_key, uint32_t, key_hash> map;
    for (uint32_t i = 0; i < specs.size(); i++) map[specs[i].key] = i;
    auto keys = probe_keys(specs);
    uint32_t i = 0;
    for (auto _ : state) benchmark::DoNotOptimize(map.find(keys[i++ & 4095]));
}
BENCHMARK(vip_lookup_baseline_unordered_map)->MinTime(0.2);

void is_vip(benchmark::State &state) {
    auto specs = thousand_services(true);
    snapshot_builder b;
    auto snap = std::move(b.build(specs, nullptr).snap);
    auto keys = probe_keys(specs);
    uint32_t i = 0;
    for (auto _ : state) {
        const service_key &k = keys[i++ & 4095];
        benchmark::DoNotOptimize(snap->is_vip(k.vip, k.family));
    }
}
BENCHMARK(is_vip)->MinTime(0.2);

// Build from scratch (no previous snapshot) and publish, replacing the last
// one. Arg 0: all WRR; arg 1: a third each WRR, WLC, SOURCE_IP (333 Maglev
// tables of 65537 positions each).
void snapshot_build_publish_full(benchmark::State &state) {
    auto specs = thousand_services(state.range(0) == 0);
    snapshot_builder b;
    std::string error;
    auto mgr = snapshot_manager::create(4, &error);
    for (auto _ : state) {
        auto r = b.build(specs, nullptr);
        mgr->publish(std::move(r.snap));
    }
    state.SetLabel(state.range(0) == 0 ? "1000 svc x 10, WRR" : "1000 svc x 10, mixed");
}
BENCHMARK(snapshot_build_publish_full)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(0.5);

// The agent's usual case: one backend's weight changes, the rest is shared
// with the previous snapshot (slots, generations, WRR sequences, Maglev).
void snapshot_build_publish_one_change(benchmark::State &state) {
    auto specs = thousand_services(state.range(0) == 0);
    snapshot_builder b;
    std::string error;
    auto mgr = snapshot_manager::create(4, &error);
    mgr->publish(std::move(b.build(specs, nullptr).snap));
    uint32_t n = 0;
    for (auto _ : state) {
        backend_spec &x = specs[(n * 7) % specs.size()].backends[n % 10];
        x.weight = uint8_t(x.weight == 100 ? 1 : x.weight + 1);
        n++;
        auto r = b.build(specs, mgr->current());
        mgr->publish(std::move(r.snap));
    }
    state.SetLabel(state.range(0) == 0 ? "1000 svc x 10, WRR" : "1000 svc x 10, mixed");
}
BENCHMARK(snapshot_build_publish_one_change)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);

}  // namespace
}  // namespace nlb::bench
