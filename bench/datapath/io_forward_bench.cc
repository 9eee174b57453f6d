/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The baseline every datapath figure is compared with: the same ring loop,
 * the same per-flow header refill, and no processing at all.
 */
#include <benchmark/benchmark.h>

#include "bench_env.h"
#include "datapath/ring_loop.h"
#include "datapath/traffic.h"

namespace nlb::bench {
namespace {

void io_forward_baseline(benchmark::State &state) {
    const uint32_t flows = static_cast<uint32_t>(state.range(0));
    auto frame = make_tcp_frame(RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG);
    ring_loop loop("bench_io_fwd", bench_pool(), 1024, frame.data(), tcp_frame_len);
    uint32_t next = 0;
    uint64_t packets = 0;
    for (auto _ : state) {
        packets += loop.step(
            [&](rte_mbuf *m) {
                write_flow(m, frame.data(), next);
                if (++next == flows) next = 0;
            },
            [](rte_mbuf **, uint16_t n) { return n; });
    }
    state.counters["Mpps"] =
        benchmark::Counter(static_cast<double>(packets) / 1e6, benchmark::Counter::kIsRate);
    state.SetItemsProcessed(static_cast<int64_t>(packets));
}
BENCHMARK(io_forward_baseline)->Arg(10'000)->Arg(1'000'000)->Arg(10'000'000);

}  // namespace
}  // namespace nlb::bench
