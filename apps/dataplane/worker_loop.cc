/* SPDX-License-Identifier: Apache-2.0 */
#include "worker_loop.h"

#include <rte_cycles.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_pause.h>
#include <rte_ring_elem.h>
#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cstdio>

namespace nlb::dataplane {

namespace {

constexpr uint16_t rx_burst_size = 32;
constexpr uint16_t tx_buffer_size = 64;

struct tx_buffer {
    uint16_t len = 0;
    rte_mbuf *pkts[tx_buffer_size];
};

// The worker lcore is the only writer of its pipeline counters, so the loop may add the
// drops it decides itself (TX refused, ring to the main lcore full) to the same array.
void count_drop(worker &w, drop_reason r, uint64_t n = 1) {
    auto &c = const_cast<worker_counters &>(w.counters());
    c.drops[static_cast<unsigned>(r)].add(n);
}

// The family of the (rewritten) IP packet in an Ethernet frame: the next hop's family.
ip_family frame_family(const rte_mbuf *m) {
    const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
    uint16_t et = static_cast<uint16_t>(f[12] << 8 | f[13]);
    if (et == RTE_ETHER_TYPE_VLAN) et = static_cast<uint16_t>(f[16] << 8 | f[17]);
    return et == RTE_ETHER_TYPE_IPV6 ? ip_family::v6 : ip_family::v4;
}

class loop {
  public:
    explicit loop(worker_context &ctx) : ctx_(ctx), w_(*ctx.pipeline) {}

    void run();

  private:
    void flush(uint16_t port);
    void flush_all() {
        for (uint16_t p = 0; p < ctx_.n_ports; p++) flush(p);
    }
    void queue_tx(uint16_t port, rte_mbuf *m) {
        tx_buffer &b = tx_[port];
        b.pkts[b.len++] = m;
        if (b.len == tx_buffer_size) flush(port);
    }
    unsigned poll_port(uint16_t port, uint32_t now_ms);
    unsigned drain_from_main();
    void idle_sleep(uint32_t us);
    bool arm_rx_interrupts();
    void disarm_rx_interrupts();
    void wait_rx_interrupt();

    worker_context &ctx_;
    worker &w_;
    tx_buffer tx_[max_ports];
    rte_mbuf *slow_[rx_burst_size];
    resolve_request resolve_[rx_burst_size];
};

void loop::flush(uint16_t port) {
    tx_buffer &b = tx_[port];
    if (b.len == 0) return;
    const uint16_t sent =
        rte_eth_tx_burst(ctx_.port_ids[port], static_cast<uint16_t>(ctx_.index), b.pkts, b.len);
    ctx_.counters.tx_packets.add(sent);
    if (sent < b.len) {
        rte_pktmbuf_free_bulk(b.pkts + sent, b.len - sent);
        count_drop(w_, drop_reason::tx_full, b.len - sent);
    }
    b.len = 0;
}

unsigned loop::poll_port(uint16_t port, uint32_t now_ms) {
    rte_mbuf *pkts[rx_burst_size];
    verdict out[rx_burst_size];
    uint16_t n = rte_eth_rx_burst(ctx_.port_ids[port], static_cast<uint16_t>(ctx_.index), pkts,
                                  rx_burst_size);
    if (n == 0) return 0;
    // A NIC (or af_packet's kernel) that stripped an 802.1Q tag into the mbuf
    // gets it put back, so the pipeline parses the frame as it was on the wire
    // and the packet leaves with its tag (rewrite/eth.h keeps the layout).
    for (uint16_t i = 0; i < n; i++) {
        if (unlikely(pkts[i]->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED)) {
            pkts[i]->ol_flags &= ~(RTE_MBUF_F_RX_VLAN_STRIPPED | RTE_MBUF_F_RX_VLAN);
            if (rte_vlan_insert(&pkts[i]) != 0) {
                // Not enough headroom: drop it rather than forward it untagged.
                rte_pktmbuf_free(pkts[i]);
                count_drop(w_, drop_reason::no_headroom);
                pkts[i] = pkts[n - 1];
                n--;
                i--;
            }
        }
    }
    if (n == 0) return 0;
    w_.process_burst(pkts, n, out, now_ms);
    unsigned n_slow = 0, n_resolve = 0;
    for (uint16_t i = 0; i < n; i++) {
        switch (out[i].act) {
            case action::tx:
                queue_tx(out[i].port, pkts[i]);
                break;
            case action::slow_path:
                slow_[n_slow++] = pkts[i];
                break;
            case action::resolve: {
                resolve_request &r = resolve_[n_resolve++];
                r.m = pkts[i];
                r.next_hop = w_.pending_next_hop(i);
                r.port = out[i].port;
                r.family = frame_family(pkts[i]);
                break;
            }
            case action::drop:
            default:
                rte_pktmbuf_free(pkts[i]);
                break;
        }
    }
    if (n_slow) {
        const unsigned q = rte_ring_enqueue_burst(ctx_.slow_ring, reinterpret_cast<void **>(slow_),
                                                  n_slow, nullptr);
        if (q < n_slow) {
            rte_pktmbuf_free_bulk(slow_ + q, n_slow - q);
            count_drop(w_, drop_reason::slow_path_full, n_slow - q);
        }
    }
    if (n_resolve) {
        const unsigned q = rte_ring_enqueue_burst_elem(ctx_.resolve_ring, resolve_,
                                                       sizeof(resolve_request), n_resolve, nullptr);
        for (unsigned k = q; k < n_resolve; k++) rte_pktmbuf_free(resolve_[k].m);
        if (q < n_resolve) count_drop(w_, drop_reason::slow_path_full, n_resolve - q);
    }
    return n;
}

unsigned loop::drain_from_main() {
    rte_mbuf *pkts[rx_burst_size];
    const unsigned n = rte_ring_dequeue_burst(ctx_.tx_ring, reinterpret_cast<void **>(pkts),
                                              rx_burst_size, nullptr);
    for (unsigned i = 0; i < n; i++) {
        const uint16_t port = pkts[i]->port;
        if (port < ctx_.n_ports) {
            queue_tx(port, pkts[i]);
        } else {
            rte_pktmbuf_free(pkts[i]);
        }
    }
    ctx_.counters.from_main.add(n);
    return n;
}

void loop::idle_sleep(uint32_t us) {
    ctx_.dp->snapshots->offline(ctx_.index);
    timespec ts{0, static_cast<long>(us) * 1000};
    nanosleep(&ts, nullptr);
    ctx_.dp->snapshots->online(ctx_.index);
    ctx_.counters.sleeps.inc();
}

/*
 * Puts the worker's RX queue of every port into this thread's epoll set. All or
 * nothing: a port whose queue cannot interrupt would go unread while the worker
 * waits, so one refusal leaves the worker on timed sleeps.
 */
bool loop::arm_rx_interrupts() {
    const auto q = static_cast<uint16_t>(ctx_.index);
    for (uint16_t p = 0; p < ctx_.n_ports; p++) {
        const int ret = rte_eth_dev_rx_intr_ctl_q(ctx_.port_ids[p], q, RTE_EPOLL_PER_THREAD,
                                                  RTE_INTR_EVENT_ADD, nullptr);
        if (ret != 0) {
            for (uint16_t k = 0; k < p; k++)
                rte_eth_dev_rx_intr_ctl_q(ctx_.port_ids[k], q, RTE_EPOLL_PER_THREAD,
                                          RTE_INTR_EVENT_DEL, nullptr);
            std::fprintf(stderr,
                         "nlb-dataplane: worker %u: port %u gives no RX interrupts (%s); idle "
                         "back-off uses timed sleeps\n",
                         ctx_.index, p, rte_strerror(-ret));
            return false;
        }
    }
    return true;
}

void loop::disarm_rx_interrupts() {
    const auto q = static_cast<uint16_t>(ctx_.index);
    for (uint16_t p = 0; p < ctx_.n_ports; p++)
        rte_eth_dev_rx_intr_ctl_q(ctx_.port_ids[p], q, RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_DEL,
                                  nullptr);
}

/*
 * Waits until one of the worker's RX queues interrupts, or intr_timeout_ms. The
 * interrupts are enabled only for the wait (the busy path never takes one); a
 * packet that came in before they were armed may raise none, so the queues and
 * the main lcore's ring are looked at once more before blocking.
 */
void loop::wait_rx_interrupt() {
    const auto q = static_cast<uint16_t>(ctx_.index);
    for (uint16_t p = 0; p < ctx_.n_ports; p++) rte_eth_dev_rx_intr_enable(ctx_.port_ids[p], q);
    bool pending = !rte_ring_empty(ctx_.tx_ring);
    for (uint16_t p = 0; p < ctx_.n_ports && !pending; p++)
        pending = rte_eth_rx_descriptor_status(ctx_.port_ids[p], q, 0) == RTE_ETH_RX_DESC_DONE;
    if (!pending) {
        rte_epoll_event ev[max_ports];
        ctx_.dp->snapshots->offline(ctx_.index);
        const int n = rte_epoll_wait(RTE_EPOLL_PER_THREAD, ev, max_ports,
                                     static_cast<int>(ctx_.backoff.intr_timeout_ms));
        ctx_.dp->snapshots->online(ctx_.index);
        ctx_.counters.sleeps.inc();
        ctx_.counters.intr_waits.inc();
        if (n > 0) ctx_.counters.intr_wakeups.inc();
    }
    for (uint16_t p = 0; p < ctx_.n_ports; p++) rte_eth_dev_rx_intr_disable(ctx_.port_ids[p], q);
}

void loop::run() {
    // A sleep of sleep_us should wake close to sleep_us, not after the default 50 µs slack.
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t sleep_after = hz / 1000000 * ctx_.backoff.sleep_after_us;
    const uint64_t deep_after =
        ctx_.backoff.deep_after_ms ? hz / 1000 * ctx_.backoff.deep_after_ms : UINT64_MAX;
    const bool intr = ctx_.backoff.enabled && ctx_.rx_interrupts && arm_rx_interrupts();
    ctx_.counters.rx_interrupts.store(intr, std::memory_order_relaxed);
    uint32_t empty_rounds = 0;
    uint64_t idle_since = 0;
    uint32_t last_expire_ms = tsc_now_ms();
    ctx_.dp->snapshots->online(ctx_.index);
    while (!ctx_.stop->load(std::memory_order_relaxed)) {
        const uint32_t now_ms = tsc_now_ms();
        unsigned got = 0;
        for (uint16_t p = 0; p < ctx_.n_ports; p++) got += poll_port(p, now_ms);
        got += drain_from_main();
        flush_all();
        ctx_.dp->snapshots->quiescent(ctx_.index);
        ctx_.counters.rounds.inc();
        if (now_ms != last_expire_ms) {
            // One pass per millisecond; its budget covers the owned connections
            // in expire_cycle_ms (1 M connections: 2000 visits a pass, 2 M/s,
            // where one pass every 8 rounds visited ~14 M/s at 14 Mpps). A pass after a
            // longer wait (an idle worker waiting for an RX interrupt) covers the
            // milliseconds it missed.
            const uint64_t cycle = ctx_.expire_cycle_ms ? ctx_.expire_cycle_ms : 1;
            const uint64_t missed = std::min<uint64_t>(now_ms - last_expire_ms, cycle);
            last_expire_ms = now_ms;
            const uint64_t live = ctx_.dp->conns->stats(ctx_.index).live;
            const unsigned budget = static_cast<unsigned>(std::min<uint64_t>(
                UINT32_MAX,
                missed * std::max<uint64_t>(ctx_.expire_budget, (live + cycle - 1) / cycle)));
            ctx_.counters.expired.add(w_.expire(now_ms, budget));
        }
        if (got) {
            empty_rounds = 0;
            continue;
        }
        ctx_.counters.idle_rounds.inc();
        if (!ctx_.backoff.enabled) continue;
        if (++empty_rounds < ctx_.backoff.spin_polls) continue;
        const uint64_t now = rte_rdtsc();
        if (empty_rounds == ctx_.backoff.spin_polls) idle_since = now;
        if (now - idle_since < sleep_after) {
            rte_pause();
            continue;
        }
        const bool deep = now - idle_since >= deep_after;
        if (deep && intr) {
            wait_rx_interrupt();
        } else {
            idle_sleep(deep ? ctx_.backoff.deep_sleep_us : ctx_.backoff.sleep_us);
        }
    }
    if (intr) disarm_rx_interrupts();
    flush_all();
    ctx_.dp->snapshots->offline(ctx_.index);
}

}  // namespace

uint32_t tsc_now_ms() {
    static const uint64_t per_ms = rte_get_tsc_hz() / 1000;
    return static_cast<uint32_t>(rte_rdtsc() / per_ms);
}

bool create_worker_rings(worker_context *ctx, unsigned size, std::string *error) {
    const std::string suffix = std::to_string(ctx->index);
    const int socket = static_cast<int>(rte_socket_id());
    const unsigned flags = RING_F_SP_ENQ | RING_F_SC_DEQ;
    ctx->slow_ring = rte_ring_create(("nlb_slow_" + suffix).c_str(), size, socket, flags);
    ctx->resolve_ring = rte_ring_create_elem(("nlb_resolve_" + suffix).c_str(),
                                             sizeof(resolve_request), size, socket, flags);
    ctx->tx_ring = rte_ring_create(("nlb_tx_" + suffix).c_str(), size, socket, flags);
    if (!ctx->slow_ring || !ctx->resolve_ring || !ctx->tx_ring) {
        *error = "Failed to create the rings of worker " + suffix + ": " + rte_strerror(rte_errno);
        free_worker_rings(ctx);
        return false;
    }
    return true;
}

void free_worker_rings(worker_context *ctx) {
    rte_mbuf *m;
    for (rte_ring *r : {ctx->slow_ring, ctx->tx_ring}) {
        if (!r) continue;
        while (rte_ring_dequeue(r, reinterpret_cast<void **>(&m)) == 0) rte_pktmbuf_free(m);
        rte_ring_free(r);
    }
    if (ctx->resolve_ring) {
        resolve_request req;
        while (rte_ring_dequeue_elem(ctx->resolve_ring, &req, sizeof(req)) == 0)
            rte_pktmbuf_free(req.m);
        rte_ring_free(ctx->resolve_ring);
    }
    ctx->slow_ring = ctx->resolve_ring = ctx->tx_ring = nullptr;
}

int worker_main(void *arg) {
    auto *ctx = static_cast<worker_context *>(arg);
    loop l(*ctx);
    l.run();
    return 0;
}

}  // namespace nlb::dataplane
