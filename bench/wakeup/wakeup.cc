/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nlb-bench-wakeup: how long the worker loop (apps/dataplane/worker_loop) takes
 * to forward a packet that arrives after a pause in traffic, with the idle
 * back-off on, beside the same loop with the back-off off (always polling) as
 * the baseline of the same run, and what the back-off saves while idle.
 *
 * One process, no NIC, no root: two net_ring ports, the real worker loop on
 * its own thread, the real pipeline (NAT, a SYN of a new flow per sample).
 * The driver thread waits GAP (nanosleep, so its CPU may idle as a quiet host's
 * would), stamps the TSC, enqueues one SYN on port 0's RX ring and spins on
 * port 1's TX ring until the forwarded packet is there. Latency = that time;
 * wake-up cost = latency with back-off minus latency without, same gap.
 *
 * With --tap (root) the two ports are net_tap devices instead (kernel
 * interfaces nlbwk0/nlbwk1): the driver sends the SYN from an AF_PACKET socket
 * on nlbwk0 and spins on one on nlbwk1 until the forwarded copy is there, so
 * each figure includes the kernel's tap path both ways. Three configurations:
 * polling (the baseline), timed back-off, and back-off waiting for the tap
 * queues' RX interrupts (port key rx_interrupts).
 *
 * usage: nlb-bench-wakeup [--tap] [--samples N] [--sleep-us N] [--deep-sleep-us N]
 *                         [--deep-after-ms N] [--sleep-after-us N]
 */
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fstream>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "datapath/traffic.h"
#include "pipeline/testbed.h"
#include "worker_loop.h"

namespace nlb::dataplane {
namespace {

rte_mempool *pool() {
    static rte_mempool *p = rte_pktmbuf_pool_create("wakeup_pool", 4095, 256, 0,
                                                    RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    return p;
}

/** A TCP SYN of flow i to the VIP (bench/datapath/traffic.h), new per sample. */
rte_mbuf *syn(uint32_t flow) {
    static const std::vector<uint8_t> tmpl = nlb::bench::make_tcp_frame(RTE_TCP_SYN_FLAG);
    rte_mbuf *m = rte_pktmbuf_alloc(pool());
    if (!m) return nullptr;
    rte_pktmbuf_append(m, nlb::bench::tcp_frame_len);
    nlb::bench::write_flow(m, tmpl.data(), flow);
    return m;
}

struct stats {
    double p50, p90, p99, max;
};

stats summarise(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
    };
    return {at(0.5), at(0.9), at(0.99), v.back()};
}

enum class port_kind { ring, tap, tap_intr };

/** An AF_PACKET socket on a kernel interface (the tap ports' kernel side). */
int packet_socket(const std::string &ifname) {
    const int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) return -1;
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(ETH_P_ALL);
    a.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (a.sll_ifindex == 0 || bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/** The worker loop on two ring or tap ports, started and stopped per configuration. */
class rig {
  public:
    rig(const backoff_config &b, port_kind kind) : kind_(kind) {
        static int n = 0;
        for (int p = 0; p < 2; p++) {
            const std::string id = std::to_string(n) + "_" + std::to_string(p);
            if (kind == port_kind::ring) {
                rx_[p] =
                    rte_ring_create(("wk_rx" + id).c_str(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
                tx_[p] =
                    rte_ring_create(("wk_tx" + id).c_str(), 256, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
                const int port =
                    rte_eth_from_rings(("net_wk" + id).c_str(), &rx_[p], 1, &tx_[p], 1, 0);
                if (port < 0) die("rte_eth_from_rings failed");
                ids_[p] = static_cast<uint16_t>(port);
            } else {
                const std::string name = "net_tap_wk" + id, ifname = "nlbwk" + std::to_string(p);
                vdevs_[p] = name;
                if (rte_vdev_init(name.c_str(), ("iface=" + ifname).c_str()) != 0 ||
                    rte_eth_dev_get_port_by_name(name.c_str(), &ids_[p]) != 0)
                    die("net_tap set-up failed (root needed)");
                // No IPv6 on the lab interfaces: no router solicitations in the measurement.
                std::ofstream("/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6") << "1";
            }
            rte_eth_conf conf{};
            conf.intr_conf.rxq = kind == port_kind::tap_intr ? 1 : 0;
            if (rte_eth_dev_configure(ids_[p], 1, 1, &conf) != 0 ||
                rte_eth_rx_queue_setup(ids_[p], 0, 64, 0, nullptr, pool()) != 0 ||
                rte_eth_tx_queue_setup(ids_[p], 0, 64, 0, nullptr) != 0 ||
                rte_eth_dev_start(ids_[p]) != 0) {
                die("ring port set-up failed");
            }
        }
        w_ = std::make_unique<worker>(0, tb_.dp);
        ctx_.pipeline = w_.get();
        ctx_.dp = &tb_.dp;
        ctx_.n_ports = 2;
        ctx_.port_ids[0] = ids_[0];
        ctx_.port_ids[1] = ids_[1];
        ctx_.stop = &stop_;
        ctx_.backoff = b;
        ctx_.rx_interrupts = kind == port_kind::tap_intr;
        if (kind != port_kind::ring) {
            in_ = packet_socket("nlbwk0");
            out_ = packet_socket("nlbwk1");
            if (in_ < 0 || out_ < 0) die("AF_PACKET sockets on nlbwk0/nlbwk1 failed");
        }
        ctx_.index = 200 + static_cast<unsigned>(n);  // ring names derive from the index
        std::string error;
        if (!create_worker_rings(&ctx_, 256, &error)) die(error.c_str());
        ctx_.index = 0;
        n++;
        tb_.publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, 80, 3)});
        thread_ = std::thread(worker_main, &ctx_);
        // EAL pinned the main thread (and so this one) to one CPU: let the worker run on
        // any CPU, so the driver's spinning does not delay its wake-ups.
        cpu_set_t all;
        CPU_ZERO(&all);
        for (int c = 0; c < 64; c++) CPU_SET(c, &all);
        pthread_setaffinity_np(thread_.native_handle(), sizeof(all), &all);
    }
    ~rig() {
        stop_ = true;
        thread_.join();
        free_worker_rings(&ctx_);
        if (in_ >= 0) close(in_);
        if (out_ >= 0) close(out_);
        for (int p = 0; p < 2; p++) {
            rte_eth_dev_stop(ids_[p]);
            rte_eth_dev_close(ids_[p]);
            if (!vdevs_[p].empty()) rte_vdev_uninit(vdevs_[p].c_str());
            rte_mbuf *m;
            for (rte_ring *r : {rx_[p], tx_[p]}) {
                if (!r) continue;
                while (rte_ring_dequeue(r, reinterpret_cast<void **>(&m)) == 0) rte_pktmbuf_free(m);
                rte_ring_free(r);
            }
        }
    }

    /** Whether the worker ended up waiting for RX interrupts. */
    bool interrupts() const { return ctx_.counters.rx_interrupts.load(); }

    /** Microseconds from enqueueing a SYN to its forwarded copy on port 1; <0 = lost. */
    double one(uint32_t flow) {
        rte_mbuf *m = syn(flow);
        if (!m) die("mempool empty");
        if (kind_ != port_kind::ring) return one_tap(m);
        const uint64_t hz = rte_get_tsc_hz();
        const uint64_t t0 = rte_rdtsc();
        if (rte_ring_enqueue(rx_[0], m) != 0) die("rx ring full");
        rte_mbuf *out = nullptr;
        while (rte_ring_dequeue(tx_[1], reinterpret_cast<void **>(&out)) != 0) {
            if (rte_rdtsc() - t0 > hz) return -1;  // 1 s: lost
        }
        const uint64_t t1 = rte_rdtsc();
        rte_pktmbuf_free(out);
        return static_cast<double>(t1 - t0) * 1e6 / static_cast<double>(hz);
    }

    /** one() through the kernel: send on nlbwk0, spin until the forwarded SYN is on nlbwk1. */
    double one_tap(rte_mbuf *m) {
        uint8_t frame[256];
        const auto len = rte_pktmbuf_data_len(m);
        std::memcpy(frame, rte_pktmbuf_mtod(m, const uint8_t *), len);
        rte_pktmbuf_free(m);
        uint8_t buf[2048];
        while (recv(out_, buf, sizeof(buf), MSG_DONTWAIT) > 0) {  // stale frames
        }
        const uint64_t hz = rte_get_tsc_hz();
        const uint64_t t0 = rte_rdtsc();
        if (send(in_, frame, len, 0) != static_cast<ssize_t>(len)) die("send on nlbwk0 failed");
        for (;;) {
            sockaddr_ll from{};
            socklen_t fl = sizeof(from);
            const ssize_t got = recvfrom(out_, buf, sizeof(buf), MSG_DONTWAIT,
                                         reinterpret_cast<sockaddr *>(&from), &fl);
            // The forwarded SYN: IPv4 TCP coming in from the tap (not the kernel's own output).
            if (got >= 54 && from.sll_pkttype != PACKET_OUTGOING && buf[12] == 0x08 &&
                buf[13] == 0x00 && buf[23] == IPPROTO_TCP)
                break;
            if (rte_rdtsc() - t0 > hz) return -1;
        }
        const uint64_t t1 = rte_rdtsc();
        return static_cast<double>(t1 - t0) * 1e6 / static_cast<double>(hz);
    }

    /** The worker thread's CPU time in seconds. */
    double cpu_seconds() {
        clockid_t c;
        timespec ts{};
        if (pthread_getcpuclockid(thread_.native_handle(), &c) != 0 || clock_gettime(c, &ts) != 0)
            return 0;
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
    }

  private:
    [[noreturn]] static void die(const char *what) {
        std::fprintf(stderr, "nlb-bench-wakeup: %s\n", what);
        std::exit(1);
    }
    port_kind kind_;
    std::string vdevs_[2];
    int in_ = -1, out_ = -1;
    testbed tb_;
    rte_ring *rx_[2] = {}, *tx_[2] = {};
    uint16_t ids_[2] = {};
    worker_context ctx_;
    std::unique_ptr<worker> w_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

void pause_us(uint64_t us) {
    timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>(us % 1000000) * 1000};
    nanosleep(&ts, nullptr);
}

struct gap {
    const char *name;
    uint64_t us;
    unsigned samples;
};

}  // namespace
}  // namespace nlb::dataplane

int main(int argc, char **argv) {
    using namespace nlb::dataplane;
    unsigned samples = 200;
    bool tap = false;
    backoff_config on;  // the daemon's defaults unless overridden
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--tap") {
            tap = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "nlb-bench-wakeup: %s needs a value\n", a.c_str());
            return 2;
        }
        const auto v = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
        if (a == "--samples")
            samples = std::max(10u, v);
        else if (a == "--sleep-us")
            on.sleep_us = v;
        else if (a == "--deep-sleep-us")
            on.deep_sleep_us = v;
        else if (a == "--deep-after-ms")
            on.deep_after_ms = v;
        else if (a == "--sleep-after-us")
            on.sleep_after_us = v;
        else {
            std::fprintf(stderr, "nlb-bench-wakeup: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    std::vector<std::string> args = {"nlb-bench-wakeup",
                                     "--no-huge",
                                     "--no-shconf",
                                     "--no-pci",
                                     "-m",
                                     "256",
                                     "--log-level=lib.*:error",
                                     "-l",
                                     "0"};
    std::vector<char *> eal_argv;
    for (auto &a : args) eal_argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "nlb-bench-wakeup: EAL initialisation failed\n");
        return 1;
    }
    backoff_config off = on;
    off.enabled = false;
    struct setup {
        const char *name;
        backoff_config b;
        port_kind kind;
    };
    std::vector<setup> setups;
    if (tap) {
        setups = {{"off (base)", off, port_kind::tap},
                  {"timed", on, port_kind::tap},
                  {"rx intr", on, port_kind::tap_intr}};
    } else {
        setups = {{"off (base)", off, port_kind::ring}, {"on", on, port_kind::ring}};
    }
    // The pause before each packet: none (traffic flowing), inside the light-sleep stage,
    // and long enough for the deep-sleep stage (when there is one).
    const uint64_t deep_gap_us = on.deep_after_ms ? (on.deep_after_ms + 20) * 1000ULL : 100000;
    const gap gaps[] = {{"busy (no pause)", 0, samples * 5},
                        {"pause 1 ms (light sleeps)", 1000, samples},
                        {"pause after deep_after", deep_gap_us, std::max(10u, samples / 4)}};
    std::printf(
        "ports: %s; back-off: spin_polls %u, sleep after %u us, sleep %u us, deep after "
        "%u ms, deep sleep %u us, rx interrupt timeout %u ms; %u CPUs\n",
        tap ? "net_tap (nlbwk0 -> nlbwk1, through the kernel)" : "net_ring", on.spin_polls,
        on.sleep_after_us, on.sleep_us, on.deep_after_ms, on.deep_sleep_us, on.intr_timeout_ms,
        std::thread::hardware_concurrency());
    std::printf("%-28s %-10s %8s %8s %8s %8s\n", "pause before a packet", "back-off", "p50 us",
                "p90 us", "p99 us", "max us");
    uint32_t flow = 1;
    std::vector<double> idle_cpu(setups.size());
    int lost = 0;
    for (const gap &g : gaps) {
        std::vector<stats> s(setups.size());
        for (size_t k = 0; k < setups.size(); k++) {
            rig r(setups[k].b, setups[k].kind);
            pause_us(20000);
            if (setups[k].kind == port_kind::tap_intr && !r.interrupts()) {
                std::fprintf(stderr, "nlb-bench-wakeup: the tap ports gave no RX interrupts\n");
                return 1;
            }
            if (&g == &gaps[0]) {  // the idle CPU of each configuration, once
                const double c0 = r.cpu_seconds();
                pause_us(1000000);
                idle_cpu[k] = (r.cpu_seconds() - c0) * 100.0;
            }
            std::vector<double> v;
            for (unsigned i = 0; i < g.samples; i++) {
                if (g.us) pause_us(g.us);
                const double us = r.one(flow++);
                if (us < 0) {
                    lost++;
                    continue;
                }
                v.push_back(us);
            }
            if (v.empty()) {
                std::fprintf(stderr, "nlb-bench-wakeup: every packet was lost\n");
                return 1;
            }
            s[k] = summarise(v);
            std::printf("%-28s %-10s %8.1f %8.1f %8.1f %8.1f\n", g.name, setups[k].name, s[k].p50,
                        s[k].p90, s[k].p99, s[k].max);
        }
        for (size_t k = 1; k < setups.size(); k++)
            std::printf("%-28s %-10s %8.1f %8.1f %8.1f %8.1f\n", "",
                        (std::string("+") + setups[k].name).c_str(), s[k].p50 - s[0].p50,
                        s[k].p90 - s[0].p90, s[k].p99 - s[0].p99, s[k].max - s[0].max);
    }
    for (size_t k = 1; k < setups.size(); k++)
        std::printf(
            "idle worker CPU, back-off %s: %.1f %%; without back-off (baseline): %.1f %%; "
            "ratio %.2f\n",
            setups[k].name, idle_cpu[k], idle_cpu[0],
            idle_cpu[0] > 0 ? idle_cpu[k] / idle_cpu[0] : 0.0);
    if (lost) std::printf("lost packets: %d\n", lost);
    rte_eal_cleanup();
    return lost ? 1 : 0;
}
