/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host's own memory, beside the datapath figures: random loads over a
 * mapping of `mb` MB, made the way the connection table is made
 * (conn/mapped_memory.h, transparent huge pages requested). 192 MB is the
 * size of the 1 M-flow benchmark's table (entries + buckets, ~180 MB).
 *
 *   dram_random_load/chains:1/mb:M   one chain of dependent loads: the latency
 *                                    of one miss (TLB walk included)
 *   dram_random_load/chains:N/mb:M   N = 4, 16, 32 independent chains interleaved:
 *                                    what a core gets with many misses in
 *                                    flight, as a batched lookup has
 *
 * A lookup of an established flow costs two such misses (bucket, entry), so
 * ns_per_load bounds what nat_established can reach at 1 M flows on the host
 * it runs on. The sizes around 192 MB show how the cost of a miss grows with
 * the memory a table spreads over (on the 2-vCPU guest of bench/RESULTS.md by
 * a fifth to a half from 192 to 384 MB). Each line of the mapping holds the
 * index of the next line of one random cycle through all of them.
 */
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "conn/mapped_memory.h"

namespace nlb::bench {
namespace {

constexpr uint64_t line = 64;

struct chase_memory {
    uint64_t bytes = 0;
    uint64_t *words = nullptr;
    uint64_t lines = 0;
    std::vector<uint64_t> starts;  // spread over the cycle

    explicit chase_memory(uint64_t mapping_bytes) : bytes(mapping_bytes) {
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
    ~chase_memory() { unmap_memory(words, bytes); }
    chase_memory(const chase_memory &) = delete;
    chase_memory &operator=(const chase_memory &) = delete;
};

/* The mapping of the size asked for, kept while runs ask for the same size. */
chase_memory &memory(uint64_t bytes) {
    static std::unique_ptr<chase_memory> m;
    if (!m || m->bytes != bytes) {
        m.reset();
        m = std::make_unique<chase_memory>(bytes);
    }
    return *m;
}

void dram_random_load(benchmark::State &state) {
    const unsigned chains = static_cast<unsigned>(state.range(0));
    chase_memory &mem = memory(static_cast<uint64_t>(state.range(1)) << 20);
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
BENCHMARK(dram_random_load)
    ->ArgNames({"chains", "mb"})
    ->Args({1, 192})
    ->Args({4, 192})
    ->Args({16, 192})
    ->Args({32, 192})
    ->Args({1, 48})
    ->Args({32, 48})
    ->Args({1, 384})
    ->Args({32, 384})
    ->Args({1, 768})
    ->Args({32, 768})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace nlb::bench
