/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host's own memory, beside the datapath figures: random loads over a
 * mapping the size of the 1 M-flow benchmark's connection table (entries +
 * buckets, ~180 MB), made the way the table is made (conn/mapped_memory.h,
 * transparent huge pages requested).
 *
 *   dram_random_load/chains:1    one chain of dependent loads: the latency
 *                                of one miss (TLB walk included)
 *   dram_random_load/chains:N    N = 4, 16, 32 independent chains interleaved: what a
 *                                core gets with many misses in flight, as a
 *                                batched lookup has
 *
 * A lookup of an established flow costs two such misses (bucket, entry), so
 * ns_per_load bounds what nat_established can reach at 1 M flows on the host
 * it runs on. Each line of the mapping holds the index of the next line of
 * one random cycle through all of them.
 */
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "conn/mapped_memory.h"

namespace nlb::bench {
namespace {

constexpr uint64_t mapping_bytes = 192ull << 20;
constexpr uint64_t line = 64;

struct chase_memory {
    uint64_t *words = nullptr;
    uint64_t lines = 0;
    std::vector<uint64_t> starts;  // spread over the cycle

    chase_memory() {
        std::string err;
        words = static_cast<uint64_t *>(map_memory(mapping_bytes, true, &err));
        if (!words) return;
        lines = mapping_bytes / line;
        std::vector<uint64_t> order(lines);
        std::iota(order.begin(), order.end(), 0);
        std::mt19937_64 rng(7);
        std::shuffle(order.begin(), order.end(), rng);
        for (uint64_t i = 0; i < lines; i++)
            words[order[i] * (line / 8)] = order[(i + 1) % lines] * (line / 8);
        for (uint64_t c = 0; c < 64; c++) starts.push_back(order[c * (lines / 64)] * (line / 8));
    }
    ~chase_memory() { unmap_memory(words, mapping_bytes); }
};

chase_memory &memory() {
    static chase_memory m;
    return m;
}

void dram_random_load(benchmark::State &state) {
    const unsigned chains = static_cast<unsigned>(state.range(0));
    chase_memory &mem = memory();
    if (!mem.words) {
        state.SkipWithError("cannot map the probe's memory");
        return;
    }
    uint64_t pos[64];
    for (unsigned c = 0; c < chains; c++) pos[c] = mem.starts[c];
    constexpr unsigned steps = 256;  // per iteration and chain
    const auto t0 = std::chrono::steady_clock::now();
    for (auto _ : state) {
        for (unsigned s = 0; s < steps; s++)
            for (unsigned c = 0; c < chains; c++) pos[c] = mem.words[pos[c]];
        benchmark::DoNotOptimize(pos);
    }
    const double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    const double loads = static_cast<double>(state.iterations()) * steps * chains;
    state.counters["ns_per_load"] = ns / loads;
    state.SetItemsProcessed(static_cast<int64_t>(loads));
}
BENCHMARK(dram_random_load)->ArgName("chains")->Arg(1)->Arg(4)->Arg(16)->Arg(32)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace nlb::bench
