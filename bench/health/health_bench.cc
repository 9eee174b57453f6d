/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Health prober CPU cost on loopback, beside its baseline from the same run:
 *  - BM_health_connect_baseline: a blocking connect + close loop, CPU per
 *    connection of the calling thread (what the kernel charges for the TCP
 *    handshake and teardown alone; the floor for any TCP probe).
 *  - BM_health_prober/targets/interval_ms/http: a health_prober probing
 *    `targets` listeners of an in-process listener_farm; after one interval of
 *    warm-up, the loop thread's CPU over a 3 s window, as % of one core and per
 *    probe. 1000 targets at 500 ms is the probe rate of 10 000 targets at 5 s
 *    (2000 probes/s); prober-scale.sh measures the real 10 000 x 5 s in a
 *    namespace.
 */
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "health_prober.h"
#include "listener_farm.h"

namespace {

using namespace std::chrono;

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string instance_name(int64_t i) {
    std::string s("i");
    s += std::to_string(i);
    return s;
}

void BM_health_connect_baseline(benchmark::State &state) {
    nlb::bench::listener_farm farm("127.0.0.1", 0, 256, false);
    if (!farm.ok()) return state.SkipWithError("listener farm failed");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    const int64_t connects = state.range(0);
    int64_t failed = 0;
    double cpu = 0;
    for (auto _ : state) {
        const double c0 = thread_cpu_seconds();
        for (int64_t i = 0; i < connects; ++i) {
            int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sa.sin_port = htons(farm.ports()[static_cast<size_t>(i) % farm.ports().size()]);
            if (::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof(sa)) != 0) ++failed;
            ::close(fd);
        }
        cpu += thread_cpu_seconds() - c0;
    }
    state.counters["thread_us_per_connect"] =
        1e6 * cpu / static_cast<double>(connects * state.iterations());
    state.counters["failed"] = static_cast<double>(failed);
}
BENCHMARK(BM_health_connect_baseline)->Arg(4000)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_health_prober(benchmark::State &state) {
    const int64_t targets = state.range(0);
    const auto interval = milliseconds(state.range(1));
    const bool http = state.range(2) != 0;
    nlb::bench::listener_farm farm("127.0.0.1", 0, static_cast<unsigned>(targets), http);
    if (!farm.ok()) return state.SkipWithError("listener farm failed (fd limit?)");
    nlb::health::health_prober prober;
    if (!prober.start()) return state.SkipWithError("prober failed to start");
    nlb::health::check_settings s;
    s.m = http ? nlb::health::method::http : nlb::health::method::tcp;
    s.interval = interval;
    nlb::health::target t;
    inet_pton(AF_INET, "127.0.0.1", t.addr.bytes);
    for (int64_t i = 0; i < targets; ++i) {
        t.key = {"bench", instance_name(i)};
        t.traffic_port = farm.ports()[static_cast<size_t>(i)];
        prober.upsert(t, s);
    }
    std::this_thread::sleep_for(interval + milliseconds(200));
    double wall = 0, loop_cpu = 0, probes = 0;
    for (auto _ : state) {
        const auto s0 = prober.stats();
        const auto c0 = prober.loop_cpu_time();
        const auto t0 = steady_clock::now();
        std::this_thread::sleep_for(seconds(3));
        wall += duration<double>(steady_clock::now() - t0).count();
        loop_cpu += duration<double>(prober.loop_cpu_time() - c0).count();
        probes += static_cast<double>(prober.stats().probes_completed - s0.probes_completed);
    }
    int64_t healthy = 0;
    for (int64_t i = 0; i < targets; ++i) {
        auto st = prober.state({"bench", instance_name(i)});
        if (st && st->st == nlb::health::status::healthy) ++healthy;
    }
    prober.stop();
    state.counters["probes_per_s"] = probes / wall;
    state.counters["loop_cpu_pct_of_core"] = 100.0 * loop_cpu / wall;
    state.counters["loop_us_per_probe"] = probes > 0 ? 1e6 * loop_cpu / probes : 0;
    state.counters["healthy"] = static_cast<double>(healthy);
}
BENCHMARK(BM_health_prober)
    ->Args({1000, 500, 0})
    ->Args({1000, 500, 1})
    ->ArgNames({"targets", "interval_ms", "http"})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
