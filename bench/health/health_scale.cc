/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-health-scale: the health prober at scale, for prober-scale.sh.
 *
 *   listen --addr A --first-port P --count N [--http] [--seconds S]
 *       holds N listening sockets A:P..P+N-1 that accept (and answer HTTP)
 *       until SIGTERM/SIGINT or S seconds; prints "listening N" when ready.
 *   probe --addr A --first-port P --count N [--http] [--interval-ms 5000]
 *         [--timeout-ms 2000] [--warmup-s 6] [--seconds 30] [--source IP]
 *         [--max-cpu-pct 20]
 *       probes those N targets with one health_prober; after the warm-up
 *       (the first, spread round) measures the process's CPU (getrusage) and
 *       the loop thread's over the window and prints them as % of one core.
 *       Exit 0 when every target is HEALTHY and the process stayed under
 *       --max-cpu-pct, 1 otherwise.
 *   local ...same options as probe...
 *       both in one process on 127.0.0.1 (ephemeral ports; no root needed);
 *       the process figure then includes the listeners.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "health_prober.h"
#include "listener_farm.h"

namespace {

using namespace std::chrono;

struct args {
    std::string mode;
    std::string addr = "127.0.0.1";
    std::string source;
    unsigned first_port = 20000;
    unsigned count = 1000;
    bool http = false;
    unsigned interval_ms = 5000;
    unsigned timeout_ms = 2000;
    double warmup_s = 6;
    double seconds = 30;
    double max_cpu_pct = 20;
};

bool parse(int argc, char **argv, args *a) {
    if (argc < 2) return false;
    a->mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string k = argv[i];
        auto val = [&](const char *name) -> const char * {
            if (k != name || i + 1 >= argc) return nullptr;
            return argv[++i];
        };
        const char *v;
        if (k == "--http")
            a->http = true;
        else if ((v = val("--addr")))
            a->addr = v;
        else if ((v = val("--source")))
            a->source = v;
        else if ((v = val("--first-port")))
            a->first_port = static_cast<unsigned>(std::atoi(v));
        else if ((v = val("--count")))
            a->count = static_cast<unsigned>(std::atoi(v));
        else if ((v = val("--interval-ms")))
            a->interval_ms = static_cast<unsigned>(std::atoi(v));
        else if ((v = val("--timeout-ms")))
            a->timeout_ms = static_cast<unsigned>(std::atoi(v));
        else if ((v = val("--warmup-s")))
            a->warmup_s = std::atof(v);
        else if ((v = val("--seconds")))
            a->seconds = std::atof(v);
        else if ((v = val("--max-cpu-pct")))
            a->max_cpu_pct = std::atof(v);
        else
            return false;
    }
    return a->mode == "listen" || a->mode == "probe" || a->mode == "local";
}

std::string instance_name(size_t i) {
    std::string s("i");
    s += std::to_string(i);
    return s;
}

double cpu_seconds_self() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int listen_mode(const args &a) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // the farm thread inherits the mask
    nlb::bench::listener_farm farm(a.addr, static_cast<uint16_t>(a.first_port), a.count, a.http);
    if (!farm.ok()) {
        std::fprintf(stderr, "Failed to listen on %s:%u..+%u: %s\n", a.addr.c_str(), a.first_port,
                     a.count, std::strerror(errno));
        return 1;
    }
    std::printf("listening %zu\n", farm.ports().size());
    std::fflush(stdout);
    timespec ts{static_cast<time_t>(a.seconds), 0};
    sigtimedwait(&set, nullptr, &ts);
    std::printf("accepted %llu\n", static_cast<unsigned long long>(farm.accepted()));
    return 0;
}

int probe_mode(const args &a, const std::vector<uint16_t> &ports) {
    nlb::health::prober_options o;
    if (!a.source.empty()) {
        nlb::ip_addr src{};
        if (inet_pton(AF_INET, a.source.c_str(), src.bytes) != 1) {
            std::fprintf(stderr, "Failed to parse --source %s\n", a.source.c_str());
            return 1;
        }
        o.source_v4 = src;
    }
    nlb::bench::raise_fd_limit(ports.size() + 1024);
    nlb::health::health_prober prober(o);
    std::string err;
    if (!prober.start(&err)) {
        std::fprintf(stderr, "Failed to start the prober: %s\n", err.c_str());
        return 1;
    }
    nlb::health::check_settings s;
    s.m = a.http ? nlb::health::method::http : nlb::health::method::tcp;
    s.interval = milliseconds(a.interval_ms);
    s.timeout = milliseconds(a.timeout_ms);
    nlb::health::target t;
    if (inet_pton(AF_INET, a.addr.c_str(), t.addr.bytes) != 1) {
        std::fprintf(stderr, "Failed to parse --addr %s\n", a.addr.c_str());
        return 1;
    }
    t.family = nlb::ip_family::v4;
    for (size_t i = 0; i < ports.size(); ++i) {
        t.key = {"bench", instance_name(i)};
        t.traffic_port = ports[i];
        prober.upsert(t, s);
    }
    std::this_thread::sleep_for(duration<double>(a.warmup_s));
    const auto s0 = prober.stats();
    const double cpu0 = cpu_seconds_self();
    const auto loop0 = prober.loop_cpu_time();
    const auto t0 = steady_clock::now();
    std::this_thread::sleep_for(duration<double>(a.seconds));
    const double wall = duration<double>(steady_clock::now() - t0).count();
    const double cpu = cpu_seconds_self() - cpu0;
    const double loop = duration<double>(prober.loop_cpu_time() - loop0).count();
    const auto s1 = prober.stats();
    unsigned healthy = 0, unhealthy = 0, initial = 0;
    uint64_t failures = 0;
    std::string a_reason;
    for (size_t i = 0; i < ports.size(); ++i) {
        auto st = prober.state({"bench", instance_name(i)});
        if (!st) continue;
        failures += st->failures;
        if (!st->last_failure.empty()) a_reason = st->last_failure;
        switch (st->st) {
            case nlb::health::status::healthy:
                ++healthy;
                break;
            case nlb::health::status::unhealthy:
                ++unhealthy;
                break;
            case nlb::health::status::initial:
                ++initial;
                break;
        }
    }
    prober.stop();
    const double probes = static_cast<double>(s1.probes_completed - s0.probes_completed);
    const double process_pct = 100.0 * cpu / wall;
    std::printf(
        "targets=%zu method=%s interval_ms=%u window_s=%.1f probes=%.0f probes_per_s=%.0f "
        "expected_per_s=%.0f\n",
        ports.size(), a.http ? "http" : "tcp", a.interval_ms, wall, probes, probes / wall,
        1000.0 * static_cast<double>(ports.size()) / a.interval_ms);
    std::printf("healthy=%u unhealthy=%u initial=%u failures=%llu%s%s\n", healthy, unhealthy,
                initial, static_cast<unsigned long long>(failures),
                a_reason.empty() ? "" : " last_failure=", a_reason.c_str());
    std::printf(
        "process_cpu_pct_of_core=%.2f loop_thread_cpu_pct_of_core=%.2f "
        "process_us_per_probe=%.1f\n",
        process_pct, 100.0 * loop / wall, probes > 0 ? 1e6 * cpu / probes : 0.0);
    const bool pass = healthy == ports.size() && process_pct < a.max_cpu_pct;
    std::printf("%s (limit %.0f %% of one core)\n", pass ? "PASS" : "FAIL", a.max_cpu_pct);
    return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
    args a;
    if (!parse(argc, argv, &a)) {
        std::fprintf(stderr,
                     "usage: %s listen|probe|local [--addr A] [--first-port P] [--count N] "
                     "[--http] [--interval-ms MS] [--timeout-ms MS] [--warmup-s S] "
                     "[--seconds S] [--source IP] [--max-cpu-pct PCT]\n",
                     argv[0]);
        return 2;
    }
    if (a.mode == "listen") return listen_mode(a);
    if (a.mode == "probe") {
        std::vector<uint16_t> ports;
        for (unsigned i = 0; i < a.count; ++i)
            ports.push_back(static_cast<uint16_t>(a.first_port + i));
        return probe_mode(a, ports);
    }
    nlb::bench::listener_farm farm(a.addr, 0, a.count, a.http);
    if (!farm.ok()) {
        std::fprintf(stderr, "Failed to open %u listeners: %s\n", a.count, std::strerror(errno));
        return 1;
    }
    return probe_mode(a, farm.ports());
}
