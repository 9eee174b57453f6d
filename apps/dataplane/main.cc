/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-dataplane: reads its configuration, initialises EAL, brings up the
 * ports, builds the datapath (connection, persistence, neighbour and route
 * tables, snapshot manager), launches one worker loop per worker lcore and
 * runs the slow path (ARP/ND, ICMP echo, resolution) on the main lcore until
 * SIGTERM/SIGINT; then stops the workers and the ports and removes its agent
 * socket.
 *
 * Exit codes: 0 clean stop or valid --check-config, 1 start-up failure
 * (EAL, mempool, port), 2 usage or configuration error.
 */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent_ports.h"
#include "agent_service.h"
#include "config.h"
#include "datapath_setup.h"
#include "pipeline/worker.h"
#include "ports.h"
#include "slow_path.h"
#include "snapshot/snapshot_builder.h"
#include "worker_loop.h"

#ifndef NLB_SOURCE_DRIVERS_CFG
#define NLB_SOURCE_DRIVERS_CFG ""
#endif
#ifndef NLB_INSTALLED_DRIVERS_CFG
#define NLB_INSTALLED_DRIVERS_CFG ""
#endif

namespace {

using namespace nlb::dataplane;

std::atomic<bool> stop_requested{false};

void on_signal(int) {
    stop_requested.store(true, std::memory_order_relaxed);
}

void usage(FILE *to) {
    std::fprintf(to,
                 "usage: nlb-dataplane --config FILE [--drivers-cfg DIR] [--no-backoff]\n"
                 "                     [--service SPEC]...\n"
                 "       nlb-dataplane --check-config FILE [--drivers-cfg DIR]\n"
                 "\n"
                 "  --config FILE        run with this configuration (apps/dataplane/README.md)\n"
                 "  --check-config FILE  validate FILE, print \"FILE: OK\" and exit 0, or the\n"
                 "                       first error and exit 2\n"
                 "  --drivers-cfg DIR    where port profiles (NAME.conf) are found; default:\n"
                 "                       ../share/nlb/drivers-cfg next to the binary, else the\n"
                 "                       source tree's drivers-cfg/\n"
                 "  --no-backoff         idle workers keep polling (no pause/sleep back-off)\n"
                 "  --idle-sleep-us N    one idle sleep of a worker, 1..1000 µs (default 20)\n"
                 "  --deep-sleep-us N    sleeps after 50 ms of idleness, 0..1000 µs (default 30;\n"
                 "                       0 = stay with --idle-sleep-us); a worker whose ports all\n"
                 "                       give RX interrupts (rx_interrupts) waits for them then\n"
                 "                       instead, unless N is 0\n"
                 "  --service SPEC       publish this service at start, without the agent:\n"
                 "                       vip=A,port=N,proto=tcp|udp,mode=nat|dsr|tunnel,\n"
                 "                       sched=wrr|wlc|source_ip,backend=ADDR/PORT/WEIGHT,...\n");
}

// --drivers-cfg, else the installed copy beside the binary, else the source tree.
std::string default_drivers_cfg() {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec && *NLB_INSTALLED_DRIVERS_CFG) {
        auto installed = exe.parent_path().parent_path() / NLB_INSTALLED_DRIVERS_CFG;
        if (std::filesystem::is_directory(installed, ec)) return installed.string();
    }
    return NLB_SOURCE_DRIVERS_CFG;
}

struct run_options {
    bool backoff = true;
    uint32_t idle_sleep_us = 0;               // 0 = backoff_config's default
    int deep_sleep_us = -1;                   // -1 = default; 0 = no deep sleeps
    std::vector<nlb::service_spec> services;  // --service: published at start
};

void print_stats(const std::vector<std::unique_ptr<nlb::worker>> &workers,
                 const std::vector<std::unique_ptr<worker_context>> &contexts,
                 const slow_path &sp) {
    uint64_t drops[nlb::drop_reason_count] = {};
    uint64_t rx = 0, fwd = 0, conns = 0, tx = 0, sleeps = 0, rounds = 0, intr_waits = 0,
             intr_wakeups = 0;
    for (size_t i = 0; i < workers.size(); i++) {
        const nlb::worker_counters &c = workers[i]->counters();
        rx += c.rx_packets.get();
        fwd += c.forwarded.get();
        conns += c.new_conns.get();
        tx += contexts[i]->counters.tx_packets.get();
        sleeps += contexts[i]->counters.sleeps.get();
        rounds += contexts[i]->counters.rounds.get();
        intr_waits += contexts[i]->counters.intr_waits.get();
        intr_wakeups += contexts[i]->counters.intr_wakeups.get();
        for (size_t r = 0; r < nlb::drop_reason_count; r++) drops[r] += c.drops[r].get();
    }
    for (size_t r = 0; r < nlb::drop_reason_count; r++) drops[r] += sp.counters().drops[r].get();
    std::fprintf(stderr,
                 "nlb-dataplane: rx %lu forwarded %lu tx %lu new_conns %lu rounds %lu sleeps %lu "
                 "(rx interrupt waits %lu, woken by a packet %lu); "
                 "slow path: arp replies %lu nd adverts %lu echo replies %lu probes %lu "
                 "announcements %lu learnt %lu\n",
                 (unsigned long)rx, (unsigned long)fwd, (unsigned long)tx, (unsigned long)conns,
                 (unsigned long)rounds, (unsigned long)sleeps, (unsigned long)intr_waits,
                 (unsigned long)intr_wakeups, (unsigned long)sp.counters().arp_replies_sent.get(),
                 (unsigned long)sp.counters().nd_adverts_sent.get(),
                 (unsigned long)sp.counters().echo_replies_sent.get(),
                 (unsigned long)sp.counters().probes_sent.get(),
                 (unsigned long)sp.counters().announcements_sent.get(),
                 (unsigned long)sp.counters().learnt.get());
    for (size_t r = 1; r < nlb::drop_reason_count; r++)
        if (drops[r])
            std::fprintf(stderr, "nlb-dataplane: drop %s %lu\n",
                         nlb::drop_reason_name(static_cast<nlb::drop_reason>(r)),
                         (unsigned long)drops[r]);
}

/*
 * Builds the datapath, launches one worker loop per worker lcore, and runs
 * the slow path (and the agent) on the main lcore until a stop signal; then
 * stops and joins the workers. Returns the exit code.
 */
int run_workers(const dataplane_config &config, const port_set &ports, rte_mempool *pool,
                const run_options &options) {
    datapath_objects o;
    std::string error;
    if (!build_datapath(config, ports, &o, &error)) {
        std::fprintf(stderr, "Failed to build the datapath: %s\n", error.c_str());
        return 1;
    }
    const unsigned n_workers = static_cast<unsigned>(config.workers.size());
    std::atomic<bool> workers_stop{false};
    std::vector<std::unique_ptr<nlb::worker>> workers;
    std::vector<std::unique_ptr<worker_context>> contexts;
    slow_path_config sc;
    sc.dp = &o.dp;
    sc.neighbours = o.neighbours.get();
    sc.pool = pool;
    sc.rcu_id = n_workers;
    for (const port_state &p : ports.ports()) {
        sc.port_ids[p.index] = p.port_id;
        sc.own_tx_queue[p.index] = p.tx_queues > n_workers;
        sc.tx_queue[p.index] = static_cast<uint16_t>(n_workers);
    }
    int rc = 0;
    for (unsigned i = 0; i < n_workers && rc == 0; i++) {
        workers.push_back(std::make_unique<nlb::worker>(i, o.dp));
        auto ctx = std::make_unique<worker_context>();
        ctx->index = i;
        ctx->pipeline = workers.back().get();
        ctx->dp = &o.dp;
        ctx->n_ports = o.dp.n_ports;
        std::memcpy(ctx->port_ids, sc.port_ids, sizeof(ctx->port_ids));
        ctx->backoff.enabled = options.backoff;
        if (options.idle_sleep_us) ctx->backoff.sleep_us = options.idle_sleep_us;
        if (options.deep_sleep_us == 0) ctx->backoff.deep_after_ms = 0;
        if (options.deep_sleep_us > 0)
            ctx->backoff.deep_sleep_us = static_cast<uint32_t>(options.deep_sleep_us);
        ctx->rx_interrupts = std::all_of(ports.ports().begin(), ports.ports().end(),
                                         [](const port_state &p) { return p.rx_interrupts; });
        ctx->stop = &workers_stop;
        if (!create_worker_rings(ctx.get(), 1024, &error)) {
            std::fprintf(stderr, "%s\n", error.c_str());
            rc = 1;
        }
        sc.slow_rings.push_back(ctx->slow_ring);
        sc.resolve_rings.push_back(ctx->resolve_ring);
        contexts.push_back(std::move(ctx));
    }
    if (rc != 0) {
        for (auto &c : contexts) free_worker_rings(c.get());
        return rc;
    }
    sc.tx_ring = contexts[0]->tx_ring;
    {
        slow_path sp(sc);
        if (!options.services.empty()) {
            nlb::snapshot_builder builder(o.limits);
            nlb::snapshot_build b = builder.build(options.services, nullptr);
            if (!b.snap) {
                std::fprintf(stderr, "Failed to build the --service snapshot: %s\n",
                             b.error.c_str());
                rc = 2;
            } else {
                o.snapshots->publish(std::move(b.snap));
            }
        }
        unsigned launched = 0;
        for (unsigned i = 0; i < n_workers && rc == 0; i++) {
            if (rte_eal_remote_launch(worker_main, contexts[i].get(), config.workers[i]) != 0) {
                std::fprintf(stderr, "Failed to launch worker %u on lcore %u\n", i,
                             config.workers[i]);
                rc = 1;
                break;
            }
            launched++;
        }
        // The agent: gRPC on its own threads, the only snapshot writer from now on.
        std::unique_ptr<agent_state> agent;
        std::unique_ptr<agent_server> server;
        if (rc == 0) {
            agent_datapath adp;
            adp.conns = o.conns.get();
            adp.snapshots = o.snapshots.get();
            adp.limits = o.limits;
            for (unsigned i = 0; i < n_workers; i++)
                adp.workers.push_back({workers[i].get(), config.workers[i],
                                       &contexts[i]->counters.rounds,
                                       &contexts[i]->counters.idle_rounds});
            adp.ports = agent_ports_of(config, ports);
            adp.rcu_id = static_cast<int>(n_workers + 1);
            adp.main_lcore_drops = sp.counters().drops;
            adp.now_ms = tsc_now_ms;
            agent = std::make_unique<agent_state>(std::move(adp));
            server = std::make_unique<agent_server>(*agent);
            if (!server->start(config.agent_socket, config.agent_group, &error)) {
                std::fprintf(stderr, "%s\n", error.c_str());
                rc = 1;
            }
        }
        if (rc == 0) {
            std::fprintf(stderr,
                         "nlb-dataplane: %u worker(s) forwarding; idle back-off %s; agent on %s\n",
                         n_workers, options.backoff ? "on" : "off", config.agent_socket.c_str());
            // The main lcore: slow path. ARP/ND and echo tolerate a millisecond, so
            // it sleeps 1 ms after an idle poll (each wake-up costs tens of µs of CPU
            // in a VM) and polls again at once while there is work.
            while (!stop_requested.load(std::memory_order_relaxed)) {
                if (sp.poll(tsc_now_ms()) == 0) {
                    timespec ts{0, 1000 * 1000};
                    nanosleep(&ts, nullptr);
                }
            }
        }
        if (server) server->stop();
        workers_stop.store(true, std::memory_order_relaxed);
        for (unsigned i = 0; i < launched; i++) rte_eal_wait_lcore(config.workers[i]);
        sp.poll(tsc_now_ms());
        print_stats(workers, contexts, sp);
    }
    for (auto &c : contexts) free_worker_rings(c.get());
    return rc;
}

bool make_socket_dir(const std::string &socket_path) {
    std::error_code ec;
    auto dir = std::filesystem::path(socket_path).parent_path();
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        std::fprintf(stderr, "Failed to create agent socket directory %s: %s\n", dir.c_str(),
                     ec.message().c_str());
        return false;
    }
    // A socket file left by a previous run that died would make bind() fail later.
    std::filesystem::remove(socket_path, ec);
    return true;
}

int run(const dataplane_config &config, const run_options &options) {
    std::vector<std::string> args = eal_arguments(config);
    args.insert(args.begin(), "nlb-dataplane");
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        std::fprintf(stderr, "Failed to initialise EAL: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    int rc = 0;
    {
        for (unsigned w : config.workers) {
            if (!rte_lcore_is_enabled(w)) {
                std::fprintf(stderr, "Failed to use worker lcore %u: not enabled in EAL\n", w);
                rte_eal_cleanup();
                return 1;
            }
        }
        uint16_t max_mtu = 0;
        for (const port_config &p : config.ports) max_mtu = std::max(max_mtu, p.mtu);
        // Room for the largest frame plus an outer IPv6 header (tunnel mode) in one segment.
        unsigned data_room = std::max<unsigned>(RTE_MBUF_DEFAULT_BUF_SIZE,
                                                RTE_PKTMBUF_HEADROOM + max_mtu + 18 + 40 + 4);
        rte_mempool *pool = rte_pktmbuf_pool_create(
            "nlb_mbufs", config.mempool_size, config.mempool_cache, 0,
            static_cast<uint16_t>(data_room), static_cast<int>(rte_socket_id()));
        if (!pool) {
            std::fprintf(stderr, "Failed to create the mbuf pool (%u mbufs): %s\n",
                         config.mempool_size, rte_strerror(rte_errno));
            rte_eal_cleanup();
            return 1;
        }
        port_set ports;
        std::string error;
        if (!ports.start_all(config.ports, pool, &error)) {
            std::fprintf(stderr, "%s\n", error.c_str());
            rc = 1;
        } else if (!make_socket_dir(config.agent_socket)) {
            rc = 1;
        } else {
            for (const port_state &p : ports.ports()) {
                link_status l = port_link(p);
                std::fprintf(stderr,
                             "nlb-dataplane: port %u %s (%s, %s) mac %s mtu %u queues %u/%u rss %s "
                             "link %s %u Mb/s\n",
                             p.index, p.name.c_str(), p.device.c_str(), p.driver.c_str(),
                             format_mac(p.mac).c_str(), p.mtu, p.rx_queues, p.tx_queues,
                             p.rss_enabled ? "on" : "off", l.up ? "up" : "down", l.speed_mbps);
            }
            rc = run_workers(config, ports, pool, options);
            std::fprintf(stderr, "nlb-dataplane: stopping\n");
        }
        ports.stop_all();
        std::error_code ec;
        std::filesystem::remove(config.agent_socket, ec);
        rte_mempool_free(pool);
    }
    rte_eal_cleanup();
    return rc;
}

}  // namespace

int main(int argc, char **argv) {
    std::string config_path, drivers_cfg;
    bool check_only = false;
    run_options options_run;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto value = [&](const char *flag) -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "nlb-dataplane: %s needs a value\n", flag);
                usage(stderr);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--config") {
            config_path = value("--config");
        } else if (a == "--check-config") {
            config_path = value("--check-config");
            check_only = true;
        } else if (a == "--drivers-cfg") {
            drivers_cfg = value("--drivers-cfg");
        } else if (a == "--idle-sleep-us") {
            options_run.idle_sleep_us =
                static_cast<uint32_t>(std::strtoul(value("--idle-sleep-us").c_str(), nullptr, 10));
            if (options_run.idle_sleep_us == 0 || options_run.idle_sleep_us > 1000) {
                std::fprintf(stderr, "nlb-dataplane: --idle-sleep-us must be 1..1000\n");
                return 2;
            }
        } else if (a == "--deep-sleep-us") {
            options_run.deep_sleep_us =
                static_cast<int>(std::strtol(value("--deep-sleep-us").c_str(), nullptr, 10));
            if (options_run.deep_sleep_us < 0 || options_run.deep_sleep_us > 1000) {
                std::fprintf(stderr, "nlb-dataplane: --deep-sleep-us must be 0..1000\n");
                return 2;
            }
        } else if (a == "--no-backoff") {
            options_run.backoff = false;
        } else if (a == "--service") {
            nlb::service_spec svc;
            std::string err;
            if (!parse_service(value("--service"), &svc, &err)) {
                std::fprintf(stderr, "nlb-dataplane: --service: %s\n", err.c_str());
                return 2;
            }
            options_run.services.push_back(std::move(svc));
        } else if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        } else {
            std::fprintf(stderr, "nlb-dataplane: unknown argument '%s'\n", a.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (config_path.empty()) {
        usage(stderr);
        return 2;
    }
    load_options options;
    options.drivers_cfg_dir = drivers_cfg.empty() ? default_drivers_cfg() : drivers_cfg;
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    options.cpu_count = cpus > 0 ? static_cast<unsigned>(cpus) : 0;
    config_result result = load_config(config_path, options);
    if (!result.ok()) {
        std::fprintf(stderr, "%s\n", result.error.c_str());
        return 2;
    }
    if (check_only) {
        std::printf("%s: OK\n", config_path.c_str());
        return 0;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    return run(*result.config, options_run);
}
