/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scheduler costs: Maglev table builds (agent side) and the per-connection
 * pick of each scheduler as a worker runs it (pick_backend on a snapshot).
 * Baseline from the same run: the cheapest conceivable pick, a modulo of the
 * client hash into the service's slot list.
 */
#include <benchmark/benchmark.h>

#include <arpa/inet.h>

#include <vector>

#include "sched/maglev.h"
#include "snapshot/snapshot_builder.h"

namespace nlb::bench {
namespace {

std::vector<maglev_backend> maglev_backends(uint32_t n) {
    std::vector<maglev_backend> b;
    for (uint32_t i = 0; i < n; i++) b.push_back({0x1000 + uint64_t(i) * 7919, 10 + i % 91});
    return b;
}

void maglev_build(benchmark::State &state) {
    auto b = maglev_backends(static_cast<uint32_t>(state.range(0)));
    for (auto _ : state) {
        auto t = maglev_table::build(b, maglev_default_size);
        benchmark::DoNotOptimize(t.entries());
    }
    state.SetLabel("size 65537");
}
BENCHMARK(maglev_build)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->MinTime(0.2);

// One service of n backends with the given scheduler, in a snapshot.
struct one_service {
    std::unique_ptr<snapshot> snap;
    const snapshot_service *svc;
    worker_sched ws{16, 4096, 0};

    one_service(sched_kind kind, uint32_t n) {
        service_spec s{};
        s.key = {ip_addr::from_v4_be(htonl(0xc6120001u)), htons(80), ipproto_tcp, ip_family::v4};
        s.sched = kind;
        for (uint32_t i = 0; i < n; i++)
            s.backends.push_back({i, ip_addr::from_v4_be(htonl(0xc6130000u + i + 1)), ip_family::v4,
                                  htons(8080), uint8_t(10 + i % 91), backend_state::active});
        snapshot_builder b;
        snap = std::move(b.build(std::vector<service_spec>{s}, nullptr).snap);
        svc = snap->find_service(s.key);
    }
};

inline ip_addr client_of(uint32_t i) {
    return ip_addr::from_v4_be(0x000012c6u | (i << 16));
}

void pick_baseline_modulo(benchmark::State &state) {
    one_service o(sched_kind::wrr, static_cast<uint32_t>(state.range(0)));
    uint32_t i = 0;
    for (auto _ : state) {
        uint32_t slot = o.svc->slots[hash_client_ip(client_of(i++)) % o.svc->backend_count];
        benchmark::DoNotOptimize(slot);
    }
}
BENCHMARK(pick_baseline_modulo)->Arg(10)->Arg(100)->MinTime(0.2);

void pick_wrr(benchmark::State &state) {
    one_service o(sched_kind::wrr, static_cast<uint32_t>(state.range(0)));
    uint32_t i = 0;
    for (auto _ : state) {
        uint32_t slot = pick_backend(*o.snap, *o.svc, o.ws, client_of(i++));
        benchmark::DoNotOptimize(slot);
    }
}
BENCHMARK(pick_wrr)->Arg(10)->Arg(100)->MinTime(0.2);

// WLC with connections opening and (after a while) closing, so counts move.
void pick_wlc(benchmark::State &state) {
    one_service o(sched_kind::wlc, static_cast<uint32_t>(state.range(0)));
    std::vector<backend_ref> open(1024, backend_ref{no_backend, 0});
    uint32_t i = 0;
    for (auto _ : state) {
        uint32_t slot = pick_backend(*o.snap, *o.svc, o.ws, client_of(i));
        backend_ref &old = open[i++ & 1023];
        if (old.index != no_backend) o.ws.counts().closed(old);
        old = o.snap->ref_of(slot);
        o.ws.counts().opened(old);
    }
}
BENCHMARK(pick_wlc)->Arg(10)->Arg(100)->MinTime(0.2);

void pick_maglev(benchmark::State &state) {
    one_service o(sched_kind::source_ip, static_cast<uint32_t>(state.range(0)));
    uint32_t i = 0;
    for (auto _ : state) {
        uint32_t slot = pick_backend(*o.snap, *o.svc, o.ws, client_of(i++));
        benchmark::DoNotOptimize(slot);
    }
}
BENCHMARK(pick_maglev)->Arg(10)->Arg(100)->MinTime(0.2);

}  // namespace
}  // namespace nlb::bench
