/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main() of nlb-bench-datapath: initialises EAL without hugepages (so it runs
 * anywhere, as CI does) with two net_ring vdevs for the io-forward baseline,
 * then runs every registered Google Benchmark.
 */
#include <benchmark/benchmark.h>
#include <rte_eal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_env.h"

namespace nlb::bench {

rte_mempool *bench_pool() {
    static rte_mempool *pool = rte_pktmbuf_pool_create(
        "nlb_bench_pool", 65535, 512, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    return pool;
}

}  // namespace nlb::bench

int main(int argc, char **argv) {
    std::vector<std::string> args = {"nlb-bench-datapath", "--no-huge", "--no-shconf", "--no-pci",
                                     "-m", "2048", "--log-level=lib.*:error", "-l", "0-1"};
    std::vector<char *> eal_argv;
    for (auto &a : args) eal_argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "Failed to initialise EAL for benchmarks\n");
        return 1;
    }
    // The mbuf pool is made here, not by the first benchmark that asks for it: filling 65535
    // mbufs faults in ~150 MB, which landed in that benchmark's timed part (the first
    // two_lcores/syn:1 run measured 1.3 instead of 3.0 Mpps).
    if (!nlb::bench::bench_pool()) {
        std::fprintf(stderr, "Failed to create the benchmarks' mbuf pool\n");
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    rte_eal_cleanup();
    return 0;
}
