/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-dataplane: reads its configuration, initialises EAL, brings up the
 * ports and waits for SIGTERM/SIGINT, then stops the ports and removes its
 * agent socket.
 *
 * Exit codes: 0 clean stop or valid --check-config, 1 start-up failure
 * (EAL, mempool, port), 2 usage or configuration error.
 */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "ports.h"

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
                 "usage: nlb-dataplane --config FILE [--drivers-cfg DIR]\n"
                 "       nlb-dataplane --check-config FILE [--drivers-cfg DIR]\n"
                 "\n"
                 "  --config FILE        run with this configuration (apps/dataplane/README.md)\n"
                 "  --check-config FILE  validate FILE, print \"FILE: OK\" and exit 0, or the\n"
                 "                       first error and exit 2\n"
                 "  --drivers-cfg DIR    where port profiles (NAME.conf) are found; default:\n"
                 "                       ../share/nlb/drivers-cfg next to the binary, else the\n"
                 "                       source tree's drivers-cfg/\n");
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

/*
 * Where the worker loop goes. Workers will be launched here with
 * rte_eal_remote_launch() on config.workers, each polling RX queue i of every
 * port, and the main lcore will run the agent (gRPC on config.agent_socket)
 * and ARP/ND. Neither exists yet, so this only waits for a stop signal: the
 * ports are up but nothing is forwarded.
 */
void run_workers(const dataplane_config &config, const port_set &ports) {
    (void)config;
    (void)ports;
    std::fprintf(stderr,
                 "nlb-dataplane: ports are up; the worker loop is not implemented yet, so no "
                 "packets are forwarded. Waiting for SIGTERM/SIGINT.\n");
    while (!stop_requested.load(std::memory_order_relaxed))
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
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

int run(const dataplane_config &config) {
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
            run_workers(config, ports);
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
    return run(*result.config);
}
