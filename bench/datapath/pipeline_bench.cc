/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whole-pipeline benchmarks: worker::process_burst inside the ring loop, the
 * same loop io_forward_baseline runs with no work (compare the two Mpps).
 *
 *   nat_established/F    F flows already in the table (10 k, 1 M, 10 M),
 *                        ACK segments in a scattered flow order
 *   nat_vs_io_forward/F  nat_established/F and the io-forward loop interleaved
 *                        in one run: both rates, their ratio, nlb's own ns/packet
 *   new_connections      a SYN of a new flow per packet: schedule + insert
 *   two_lcores/...       the same on 1 and on 2 lcores sharing one table
 */
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <atomic>
#include <numeric>
#include <cstdio>
#include <memory>

#include "bench_env.h"
#include "datapath/ring_loop.h"
#include "datapath/traffic.h"
#include "pipeline/testbed.h"

namespace nlb::bench {
namespace {

/*
 * Steps through all flows with a stride coprime with their count: 7 919 by
 * default; with `scattered`, about 0.618 of the count (a golden-ratio stride),
 * so that consecutive packets' flows are far apart in every pass. The flows
 * are opened in order 0, 1, 2 …, so the table allocates their entries in that
 * order: with the 7 919 stride one pass's entries lie 7 919 entries apart and
 * the next pass's next to them, which is kinder to the entry loads than
 * traffic whose flows arrive in no relation to their order of creation.
 */
struct flow_walk {
    uint32_t n, stride, next = 0;
    explicit flow_walk(uint32_t flows, bool scattered = false)
        : n(flows),
          stride(flows <= 7919 ? 1
                 : scattered ? static_cast<uint32_t>(flows * 0.6180339887) | 1u
                             : 7919) {
        while (flows > 1 && std::gcd(stride, flows) != 1) stride += 2;
    }
    uint32_t operator()() {
        uint32_t f = next;
        next += stride;
        if (next >= n) next -= n;
        return f;
    }
};

uint32_t now_ms() { return static_cast<uint32_t>(rte_get_tsc_cycles() / (rte_get_tsc_hz() / 1000)); }

/** The pipeline as a ring_loop work function: keeps what is transmitted, frees the rest. */
uint16_t run_burst(worker &w, snapshot_manager &snaps, rte_mbuf **pkts, uint16_t n) {
    verdict v[max_burst];
    w.process_burst(pkts, n, v, now_ms());
    uint16_t out = 0;
    for (uint16_t i = 0; i < n; i++) {
        if (v[i].act == action::tx)
            pkts[out++] = pkts[i];
        else
            rte_pktmbuf_free(pkts[i]);
    }
    snaps.quiescent(w.index());
    return out;
}

std::unique_ptr<testbed> make_testbed(uint64_t capacity, unsigned workers) {
    testbed_config cfg;
    cfg.conn_capacity = capacity;
    cfg.workers = workers;
    auto tb = std::make_unique<testbed>(cfg);
    tb->publish({testbed::lab_service(ip_family::v4, fwd_mode::nat, sched_kind::wrr, vip_port)});
    return tb;
}

/** Opens flows [first, first + count) through worker w (not timed). */
void open_flows(worker &w, snapshot_manager &snaps, uint32_t first, uint32_t count) {
    auto syn = make_tcp_frame(RTE_TCP_SYN_FLAG);
    rte_mbuf *pkts[burst_size];
    for (uint32_t f = first; f < first + count;) {
        uint16_t n = 0;
        for (; n < burst_size && f < first + count; n++, f++) {
            pkts[n] = rte_pktmbuf_alloc(bench_pool());
            rte_pktmbuf_append(pkts[n], tcp_frame_len);
            write_flow(pkts[n], syn.data(), f);
        }
        uint16_t out = run_burst(w, snaps, pkts, n);
        rte_pktmbuf_free_bulk(pkts, out);
    }
}

void report(benchmark::State &state, uint64_t packets) {
    state.counters["Mpps"] = benchmark::Counter(static_cast<double>(packets) / 1e6,
                                                benchmark::Counter::kIsRate);
    state.SetItemsProcessed(static_cast<int64_t>(packets));
}

/*
 * A table with `flows` established flows, kept across the runs Google
 * Benchmark makes while it sizes the iteration count (building 10 M flows
 * takes seconds); replaced when another size is asked for.
 */
struct established_setup {
    uint32_t flows = 0;
    std::unique_ptr<testbed> tb;
    std::unique_ptr<worker> w;
};

established_setup &established(uint32_t flows) {
    static established_setup s;
    if (s.flows != flows) {
        s.w.reset();
        s.tb.reset();
        s.tb = make_testbed(flows + flows / 4 + 1024, 1);
        s.w = std::make_unique<worker>(0, s.tb->dp);
        s.tb->snapshots->online(0);
        open_flows(*s.w, *s.tb->snapshots, 0, flows);
        s.tb->snapshots->offline(0);
        s.flows = flows;
    }
    return s;
}

/*
 * One benchmark run over the established table of `flows`: worker 0 online
 * for the run (offline again at the end), and what the run dropped (packets
 * received but not forwarded) reported as the counter "dropped".
 */
class established_run {
public:
    established_run(benchmark::State &state, uint32_t flows)
        : state_(state), setup_(established(flows)), tb(*setup_.tb), w(*setup_.w) {
        if (tb.conns->size() != flows) state.SkipWithError("not every flow was opened");
        tb.snapshots->online(0);
        forwarded_before_ = w.counters().forwarded.get();
        rx_before_ = w.counters().rx_packets.get();
    }
    ~established_run() {
        state_.counters["dropped"] = static_cast<double>(
            (w.counters().rx_packets.get() - rx_before_) -
            (w.counters().forwarded.get() - forwarded_before_));
        tb.snapshots->offline(0);
    }
    established_run(const established_run &) = delete;
    established_run &operator=(const established_run &) = delete;

    /** One burst of the pipeline (run_burst on worker 0). */
    uint16_t burst(rte_mbuf **p, uint16_t n) { return run_burst(w, *tb.snapshots, p, n); }

private:
    benchmark::State &state_;
    established_setup &setup_;
    uint64_t forwarded_before_ = 0, rx_before_ = 0;

public:
    testbed &tb;
    worker &w;
};

void nat_established(benchmark::State &state) {
    const uint32_t flows = static_cast<uint32_t>(state.range(0));
    established_run run(state, flows);
    auto ack = make_tcp_frame(RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG);
    ring_loop loop("bench_nat_est", bench_pool(), 1024, ack.data(), tcp_frame_len);
    flow_walk walk(flows);
    uint64_t packets = 0;
    for (auto _ : state) {
        packets += loop.step([&](rte_mbuf *m) { write_flow(m, ack.data(), walk()); },
                             [&](rte_mbuf **p, uint16_t n) { return run.burst(p, n); });
    }
    report(state, packets);
    state.counters["bytes_per_conn"] = static_cast<double>(run.tb.conns->memory_bytes()) /
                                       static_cast<double>(run.tb.conns->capacity());
}
BENCHMARK(nat_established)->Arg(10'000)->Arg(1'000'000)->Arg(10'000'000)
    ->Unit(benchmark::kNanosecond);

/*
 * nat_established and io_forward_baseline interleaved in one run: each
 * iteration times `slice` bursts of the io-forward loop, then `slice` bursts
 * of nlb's, with the TSC, so that both see the same moments of a shared
 * host's load. Reports both rates, their ratio (nlb / io-forward) and nlb_ns,
 * nlb's own time per packet (the loop's less the io-forward loop's, so the
 * bench's refill and ring cancel out): the figures to compare across runs,
 * builds and hosts when the host's speed drifts.
 */
void nat_vs_io_forward(benchmark::State &state) {
    const uint32_t flows = static_cast<uint32_t>(state.range(0));
    const bool scattered = state.range(1) != 0;
    established_run run(state, flows);
    auto ack = make_tcp_frame(RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG);
    ring_loop nat_loop("bench_nat_iv", bench_pool(), 1024, ack.data(), tcp_frame_len);
    ring_loop io_loop("bench_io_iv", bench_pool(), 1024, ack.data(), tcp_frame_len);
    flow_walk nat_walk(flows, scattered), io_walk(flows, scattered);
    constexpr unsigned slice = 256;
    uint64_t nat_packets = 0, io_packets = 0, nat_cycles = 0, io_cycles = 0;
    for (auto _ : state) {
        uint64_t t0 = rte_rdtsc();
        for (unsigned b = 0; b < slice; b++)
            io_packets += io_loop.step([&](rte_mbuf *m) { write_flow(m, ack.data(), io_walk()); },
                                       [](rte_mbuf **, uint16_t n) { return n; });
        uint64_t t1 = rte_rdtsc();
        for (unsigned b = 0; b < slice; b++)
            nat_packets += nat_loop.step(
                [&](rte_mbuf *m) { write_flow(m, ack.data(), nat_walk()); },
                [&](rte_mbuf **p, uint16_t n) { return run.burst(p, n); });
        uint64_t t2 = rte_rdtsc();
        io_cycles += t1 - t0;
        nat_cycles += t2 - t1;
    }
    const double hz = static_cast<double>(rte_get_tsc_hz());
    const double nat_mpps = nat_cycles ? static_cast<double>(nat_packets) * hz / nat_cycles / 1e6 : 0;
    const double io_mpps = io_cycles ? static_cast<double>(io_packets) * hz / io_cycles / 1e6 : 0;
    state.counters["Mpps"] = nat_mpps;
    state.counters["io_Mpps"] = io_mpps;
    state.counters["ratio"] = io_mpps > 0 ? nat_mpps / io_mpps : 0;
    // nlb's own time per packet: the loop's time less the same loop's with no work.
    state.counters["nlb_ns"] = nat_mpps > 0 && io_mpps > 0 ? 1e3 / nat_mpps - 1e3 / io_mpps : 0;
    state.SetItemsProcessed(static_cast<int64_t>(nat_packets));
}
BENCHMARK(nat_vs_io_forward)
    ->ArgNames({"", "scattered"})
    ->Args({10'000, 0})
    ->Args({1'000'000, 0})
    ->Args({1'000'000, 1})
    ->Unit(benchmark::kMicrosecond);

void new_connections(benchmark::State &state) {
    constexpr uint32_t total = 4'000'000;   // distinct flows available to this run
    auto tb = make_testbed(total + total / 4, 1);
    worker w(0, tb->dp);
    tb->snapshots->online(0);
    auto syn = make_tcp_frame(RTE_TCP_SYN_FLAG);
    ring_loop loop("bench_new_conn", bench_pool(), 1024, syn.data(), tcp_frame_len);
    uint32_t next = 0;
    uint64_t packets = 0;
    for (auto _ : state) {
        packets += loop.step([&](rte_mbuf *m) { write_flow(m, syn.data(), next++ % total); },
                             [&](rte_mbuf **p, uint16_t n) {
                                 uint16_t out = run_burst(w, *tb->snapshots, p, n);
                                 w.expire(now_ms(), 64);   // the worker loop's housekeeping
                                 return out;
                             });
    }
    report(state, packets);
    state.counters["new_conns"] = static_cast<double>(w.counters().new_conns.get());
    state.counters["table_full"] =
        static_cast<double>(w.counters().drops[static_cast<unsigned>(drop_reason::conn_table_full)].get());
    tb->snapshots->offline(0);
}
// A fixed count keeps every SYN a new flow: 3.2 M SYNs into a 5 M table.
BENCHMARK(new_connections)->Iterations(100'000)->Unit(benchmark::kNanosecond);

/*
 * Scaling: `lcores` workers, each on its own EAL lcore with its own ring loop,
 * sharing one connection table; each runs `bursts` bursts. Mode 0: established
 * flows (lookups), mode 1: new connections (inserts). Reports aggregate Mpps.
 * In mode 1 each lane opens 1.28 M new flows from its own range, into a table
 * of 8 M whatever the lcore count: at most a third full, every SYN a new
 * connection, no eviction, so 1 and 2 lcores do the same work per packet.
 */
struct lane {
    testbed *tb;
    worker *w;
    uint32_t first_flow, flows;
    bool syn;
    uint64_t bursts;
    std::atomic<bool> *go;
    uint64_t packets = 0;
};

int run_lane(void *arg) {
    auto *l = static_cast<lane *>(arg);
    auto frame = make_tcp_frame(l->syn ? RTE_TCP_SYN_FLAG : (RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG));
    ring_loop loop("bench_lane", bench_pool(), 1024, frame.data(), tcp_frame_len);
    flow_walk walk(l->flows);
    uint32_t next = 0;
    l->tb->snapshots->online(l->w->index());
    while (!l->go->load()) rte_pause();
    for (uint64_t b = 0; b < l->bursts; b++) {
        l->packets += loop.step(
            [&](rte_mbuf *m) {
                write_flow(m, frame.data(), l->first_flow + (l->syn ? next++ : walk()));
            },
            [&](rte_mbuf **p, uint16_t n) {
                uint16_t out = run_burst(*l->w, *l->tb->snapshots, p, n);
                if (l->syn) l->w->expire(now_ms(), 64);
                return out;
            });
    }
    l->tb->snapshots->offline(l->w->index());
    return 0;
}

void two_lcores(benchmark::State &state) {
    const unsigned lcores = static_cast<unsigned>(state.range(0));
    const bool syn = state.range(1) != 0;
    const unsigned worker_lcore = rte_get_next_lcore(rte_lcore_id(), 1, 0);
    if (lcores == 2 && worker_lcore >= RTE_MAX_LCORE) {
        state.SkipWithError("needs a second EAL lcore");
        return;
    }
    constexpr uint32_t flows_per_lane = 500'000;
    const uint64_t bursts = syn ? 40'000 : 100'000;
    // New connections: lane i opens flows [i * syn_span, i * syn_span + 1.28 M).
    constexpr uint32_t syn_span = 2'000'000;
    const uint64_t capacity = syn ? 8'000'000 : uint64_t{flows_per_lane} * 2 * 2;
    for (auto _ : state) {
        state.PauseTiming();
        auto tb = make_testbed(capacity, 2);
        std::unique_ptr<worker> w[2] = {std::make_unique<worker>(0, tb->dp),
                                         std::make_unique<worker>(1, tb->dp)};
        std::atomic<bool> go{false};
        lane lanes[2];
        for (unsigned i = 0; i < 2; i++) {
            lanes[i] = lane{tb.get(), w[i].get(), i * (syn ? syn_span : flows_per_lane * 2),
                            flows_per_lane, syn, bursts, &go};
            if (!syn) {
                tb->snapshots->online(i);
                open_flows(*w[i], *tb->snapshots, lanes[i].first_flow, flows_per_lane);
                tb->snapshots->offline(i);
            }
        }
        if (lcores == 2) rte_eal_remote_launch(run_lane, &lanes[1], worker_lcore);
        state.ResumeTiming();
        const uint64_t t0 = rte_get_tsc_cycles();
        go = true;
        run_lane(&lanes[0]);
        if (lcores == 2) rte_eal_wait_lcore(worker_lcore);
        const double secs = static_cast<double>(rte_get_tsc_cycles() - t0) / rte_get_tsc_hz();
        state.SetIterationTime(secs);
        const uint64_t packets = lanes[0].packets + (lcores == 2 ? lanes[1].packets : 0);
        state.counters["Mpps"] = static_cast<double>(packets) / secs / 1e6;
        if (syn)  // every SYN should have made a connection
            state.counters["new_conns"] = static_cast<double>(w[0]->counters().new_conns.get() +
                                                              w[1]->counters().new_conns.get());
        state.PauseTiming();
        w[0].reset();
        w[1].reset();
        tb.reset();
        state.ResumeTiming();
    }
}
BENCHMARK(two_lcores)->ArgNames({"lcores", "syn"})->Args({1, 0})->Args({2, 0})->Args({1, 1})->Args({2, 1})
    ->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace nlb::bench
