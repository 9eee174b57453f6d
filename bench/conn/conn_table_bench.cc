/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connection table benchmarks, each beside its baseline from the same run:
 *   - lookup of established flows at 10 k / 1 M / 10 M entries, random order,
 *     batched like the pipeline (hash 32 keys, prefetch buckets, prefetch
 *     entries, look up), against the same without prefetch and against
 *     DPDK's rte_hash (RW_CONCURRENCY_LF) bulk lookup of the same keys;
 *   - insert rate of new nat connections (two keys each) vs rte_hash adding
 *     the same two keys;
 *   - one vs two threads inserting and looking up at once, ours vs rte_hash
 *     (LF + MULTI_WRITER_ADD, which serialises adds on one lock).
 * Counters: bytes_per_conn is what the table maps per connection at its
 * capacity (entries + buckets); touched pages are what it really uses.
 */
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_rcu_qsbr.h>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "conn/conn_table.h"

namespace nlb {
namespace {

constexpr unsigned batch = 32;

flow_key orig_key(uint64_t i, unsigned thread = 0) {
    flow_key k{};
    k.src = ip_addr::from_v4_be(htonl(static_cast<uint32_t>(0x0a000000u + (i & 0xffffff)) +
                                      (thread << 28)));
    k.dst = ip_addr::from_v4_be(htonl(0xc6120101u));
    k.sport = htons(static_cast<uint16_t>(1024 + (i >> 24)));
    k.dport = htons(80);
    k.proto = ipproto_tcp;
    k.family = ip_family::v4;
    return k;
}

flow_key reply_key(const flow_key &o, uint64_t i) {
    flow_key r{};
    r.src = ip_addr::from_v4_be(htonl(0xc6130000u + static_cast<uint32_t>(i % 64)));
    r.dst = o.src;
    r.sport = htons(8080);
    r.dport = o.sport;
    r.proto = o.proto;
    r.family = o.family;
    return r;
}

/* The keys of packets as they arrive: random flows, read sequentially (as from mbufs). */
std::vector<flow_key> packet_stream(const std::vector<flow_key> &keys) {
    std::vector<flow_key> stream(std::min<uint64_t>(keys.size() * 2, 1 << 22));
    std::mt19937_64 rng(42);
    for (auto &k : stream) k = keys[rng() % keys.size()];
    return stream;
}

/* ---- our table, filled with n established nat connections (cached across runs) ---- */

struct conn_fixture {
    uint64_t n = 0;
    std::unique_ptr<conn_table> tab;
    std::vector<flow_key> keys;
    std::vector<flow_key> stream;
};
conn_fixture g_conn;

conn_fixture &conn_fixture_for(uint64_t n) {
    if (g_conn.n == n) return g_conn;
    g_conn = conn_fixture{};
    std::string err;
    g_conn.tab = conn_table::create({n, 1, {}, nullptr}, &err);
    if (!g_conn.tab) return g_conn;
    g_conn.keys.resize(n);
    for (uint64_t i = 0; i < n; i++) {
        g_conn.keys[i] = orig_key(i);
        flow_key r = reply_key(g_conn.keys[i], i);
        conn_value v;
        v.service = static_cast<uint32_t>(i);
        drop_reason why;
        conn *c = g_conn.tab->insert(0, g_conn.keys[i], conn_table::hash(g_conn.keys[i]), &r,
                                     conn_table::hash(r), v, 0, &why);
        if (!c) {
            g_conn.tab.reset();
            return g_conn;
        }
        g_conn.tab->on_packet(c, conn_dir::original, tcp_flag_ack, 0);
    }
    g_conn.stream = packet_stream(g_conn.keys);
    g_conn.n = n;
    return g_conn;
}

void release_conn_fixture() { g_conn = conn_fixture{}; }

/*
 * The same lookups software-pipelined over bursts, as a datapath that works on
 * burst k while burst k+1's entries and burst k+2's buckets are on their way:
 * each iteration hashes and prefetches buckets for burst k+2, prefetches
 * entries for burst k+1 and looks up burst k.
 */
void lookup_pipelined(benchmark::State &state, conn_fixture &f) {
    const conn_table &tab = *f.tab;
    size_t pos = 0, stream_n = f.stream.size();
    uint64_t misses = 0;
    uint32_t h[3][batch];
    const flow_key *k[3][batch];
    auto stage1 = [&](unsigned s) {
        for (unsigned i = 0; i < batch; i++) {
            k[s][i] = &f.stream[pos];
            pos = pos + 1 == stream_n ? 0 : pos + 1;
            h[s][i] = conn_table::hash(*k[s][i]);
            tab.prefetch(h[s][i]);
        }
    };
    stage1(0);
    stage1(1);
    for (unsigned i = 0; i < batch; i++) tab.prefetch_conn(h[0][i]);
    unsigned cur = 0;
    for (auto _ : state) {
        unsigned nx = (cur + 1) % 3, nx2 = (cur + 2) % 3;
        stage1(nx2);
        for (unsigned i = 0; i < batch; i++) tab.prefetch_conn(h[nx][i]);
        for (unsigned i = 0; i < batch; i++) {
            const conn *c = tab.lookup(*k[cur][i], h[cur][i], nullptr);
            misses += c == nullptr;
            benchmark::DoNotOptimize(c);
        }
        cur = nx;
    }
    if (misses) state.SkipWithError("lookup missed an inserted key");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
}
/* Args: entries, prefetch mode: 0 = hash 32 / prefetch buckets / prefetch entries / look up,
 * 1 = no prefetch (baseline), 2 = buckets only, 3 = pipelined over bursts (above). */
void BM_conn_lookup(benchmark::State &state) {
    uint64_t n = static_cast<uint64_t>(state.range(0));
    bool prefetch = state.range(1) != 1;
    bool prefetch_entries = state.range(1) == 0;
    conn_fixture &f = conn_fixture_for(n);
    if (!f.tab) {
        state.SkipWithError("cannot build the table");
        return;
    }
    if (state.range(1) == 3) {
        lookup_pipelined(state, f);
        state.counters["bytes_per_conn"] = static_cast<double>(f.tab->memory_bytes()) /
                                           static_cast<double>(f.tab->capacity());
        return;
    }
    const conn_table &tab = *f.tab;
    size_t pos = 0, stream_n = f.stream.size();
    uint64_t misses = 0;
    uint32_t h[batch];
    const flow_key *k[batch];
    for (auto _ : state) {
        for (unsigned i = 0; i < batch; i++) {
            k[i] = &f.stream[pos];
            pos = pos + 1 == stream_n ? 0 : pos + 1;
            h[i] = conn_table::hash(*k[i]);
            if (prefetch) tab.prefetch(h[i]);
        }
        if (prefetch_entries)
            for (unsigned i = 0; i < batch; i++) tab.prefetch_conn(h[i]);
        for (unsigned i = 0; i < batch; i++) {
            conn_dir d;
            const conn *c = tab.lookup(*k[i], h[i], &d);
            misses += c == nullptr;
            benchmark::DoNotOptimize(c);
        }
    }
    if (misses) state.SkipWithError("lookup missed an inserted key");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
    state.counters["bytes_per_conn"] =
        static_cast<double>(tab.memory_bytes()) / static_cast<double>(tab.capacity());
}
BENCHMARK(BM_conn_lookup)
    ->ArgNames({"entries", "prefetch_mode"})
    ->Args({10'000, 0})
    ->Args({10'000, 1})
    ->Args({10'000, 2})
    ->Args({10'000, 3})
    ->Args({1'000'000, 0})
    ->Args({1'000'000, 1})
    ->Args({1'000'000, 2})
    ->Args({1'000'000, 3})
    ->Args({10'000'000, 0})
    ->Args({10'000'000, 1})
    ->Args({10'000'000, 2})
    ->Args({10'000'000, 3})
    ->MinTime(0.3);

/* ---- rte_hash with the same keys ---- */

struct rte_hash_deleter {
    void operator()(rte_hash *h) const { rte_hash_free(h); }
};
using rte_hash_ptr = std::unique_ptr<rte_hash, rte_hash_deleter>;

rte_hash_ptr make_rte_hash(uint64_t entries, uint32_t flags) {
    static int seq = 0;
    std::string name = "nlb_bench_" + std::to_string(seq++);
    rte_hash_parameters p{};
    p.name = name.c_str();
    p.entries = static_cast<uint32_t>(entries);
    p.key_len = sizeof(flow_key);
    p.hash_func = rte_hash_crc;
    p.hash_func_init_val = 0;
    p.socket_id = SOCKET_ID_ANY;
    p.extra_flag = static_cast<uint8_t>(flags);
    return rte_hash_ptr(rte_hash_create(&p));
}

struct rte_fixture {
    uint64_t n = 0;
    rte_hash_ptr h;
    std::vector<flow_key> keys;
    std::vector<flow_key> stream;
};
rte_fixture g_rte;

rte_fixture &rte_fixture_for(uint64_t n) {
    if (g_rte.n == n) return g_rte;
    release_conn_fixture();
    g_rte = rte_fixture{};
    // Both keys of every connection, as a nat conn table needs.
    g_rte.h = make_rte_hash(2 * n, RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF);
    if (!g_rte.h) return g_rte;
    g_rte.keys.resize(n);
    for (uint64_t i = 0; i < n; i++) {
        g_rte.keys[i] = orig_key(i);
        flow_key r = reply_key(g_rte.keys[i], i);
        void *data = reinterpret_cast<void *>(uintptr_t{i + 1});
        if (rte_hash_add_key_data(g_rte.h.get(), &g_rte.keys[i], data) < 0 ||
            rte_hash_add_key_data(g_rte.h.get(), &r, data) < 0) {
            g_rte.h.reset();
            return g_rte;
        }
    }
    g_rte.stream = packet_stream(g_rte.keys);
    g_rte.n = n;
    return g_rte;
}

void BM_rte_hash_lookup(benchmark::State &state) {
    uint64_t n = static_cast<uint64_t>(state.range(0));
    rte_fixture &f = rte_fixture_for(n);
    if (!f.h) {
        state.SkipWithError("cannot build the rte_hash");
        return;
    }
    size_t pos = 0, stream_n = f.stream.size();
    uint64_t misses = 0;
    const void *k[batch];
    void *data[batch];
    for (auto _ : state) {
        for (unsigned i = 0; i < batch; i++) {
            k[i] = &f.stream[pos];
            pos = pos + 1 == stream_n ? 0 : pos + 1;
        }
        uint64_t hits = 0;
        rte_hash_lookup_bulk_data(f.h.get(), k, batch, &hits, data);
        misses += static_cast<uint64_t>(__builtin_popcountll(~hits & 0xffffffffull));
        benchmark::DoNotOptimize(data);
    }
    if (misses) state.SkipWithError("rte_hash lookup missed an inserted key");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * batch);
}
BENCHMARK(BM_rte_hash_lookup)
    ->ArgNames({"entries"})
    ->Arg(10'000)
    ->Arg(1'000'000)
    ->Arg(10'000'000)
    ->MinTime(0.3);

void BM_release_fixtures(benchmark::State &state) {
    release_conn_fixture();
    g_rte = rte_fixture{};
    for (auto _ : state) {
    }
}
BENCHMARK(BM_release_fixtures)->Iterations(1);

/* ---- insert rate: new nat connections (two keys) into an empty 1 M table ---- */

constexpr uint64_t insert_n = 1'000'000;

void BM_conn_insert(benchmark::State &state) {
    std::string err;
    auto tab = conn_table::create({insert_n, 1, {}, nullptr}, &err);
    std::vector<flow_key> keys(insert_n);
    for (uint64_t i = 0; i < insert_n; i++) keys[i] = orig_key(i);
    uint64_t i = 0, failed = 0;
    for (auto _ : state) {
        const flow_key &o = keys[i];
        flow_key r = reply_key(o, i);
        conn_value v;
        drop_reason why;
        failed += tab->insert(0, o, conn_table::hash(o), &r, conn_table::hash(r), v, 0, &why) ==
                  nullptr;
        i++;
    }
    if (failed) state.SkipWithError("insert failed");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_conn_insert)->Iterations(insert_n);

void BM_rte_hash_insert(benchmark::State &state) {
    rte_hash_ptr h = make_rte_hash(2 * insert_n, RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF);
    std::vector<flow_key> keys(insert_n);
    for (uint64_t i = 0; i < insert_n; i++) keys[i] = orig_key(i);
    uint64_t i = 0, failed = 0;
    for (auto _ : state) {
        const flow_key &o = keys[i];
        flow_key r = reply_key(o, i);
        void *data = reinterpret_cast<void *>(uintptr_t{i + 1});
        failed += rte_hash_add_key_data(h.get(), &o, data) < 0;
        failed += rte_hash_add_key_data(h.get(), &r, data) < 0;
        i++;
    }
    if (failed) state.SkipWithError("rte_hash add failed");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_rte_hash_insert)->Iterations(insert_n);

/*
 * ---- expiry sweep: entries visited per second by expire() over 1 M live,
 * established connections none of which is due (the steady-state cost of
 * the budgeted sweep; a full cycle over n entries takes n / rate seconds) ----
 */
void BM_conn_expire_sweep(benchmark::State &state) {
    conn_fixture &f = conn_fixture_for(1'000'000);
    if (!f.tab) {
        state.SkipWithError("cannot build the table");
        return;
    }
    const unsigned budget = static_cast<unsigned>(state.range(0));
    uint64_t freed = 0;
    for (auto _ : state) {
        freed += f.tab->expire(0, 1000, budget, [](const conn &, conn_free_reason) {});
    }
    if (freed) state.SkipWithError("a live connection was expired");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * budget);
}
BENCHMARK(BM_conn_expire_sweep)->ArgNames({"budget"})->Arg(64)->Arg(1024)->MinTime(0.3);

/*
 * ---- one vs two threads: each iteration is a burst of 8 new connections and
 * 24 batched lookups of random established flows (1 M pre-filled), then a
 * quiescent state; our table also runs its expiry sweep (budget 32). ----
 */

constexpr uint64_t mt_prefill = 1'000'000;
constexpr int64_t mt_bursts = 100'000;  // per thread
constexpr unsigned mt_new = 8, mt_lookups = 24;

struct mt_shared {
    std::unique_ptr<conn_table> tab;
    rte_hash_ptr h;
    rte_rcu_qsbr *qs = nullptr;
    std::vector<flow_key> keys;
    std::vector<flow_key> stream;
} g_mt;

void mt_setup(bool rte) {
    g_mt.keys.resize(mt_prefill);
    for (uint64_t i = 0; i < mt_prefill; i++) g_mt.keys[i] = orig_key(i, 3);
    g_mt.stream = packet_stream(g_mt.keys);
    uint64_t cap = mt_prefill + 2 * mt_bursts * mt_new + 1024;
    if (rte) {
        g_mt.h = make_rte_hash(2 * cap, RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF |
                                            RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD);
        for (uint64_t i = 0; i < mt_prefill; i++) {
            flow_key r = reply_key(g_mt.keys[i], i);
            void *data = reinterpret_cast<void *>(uintptr_t{i + 1});
            rte_hash_add_key_data(g_mt.h.get(), &g_mt.keys[i], data);
            rte_hash_add_key_data(g_mt.h.get(), &r, data);
        }
        return;
    }
    size_t sz = rte_rcu_qsbr_get_memsize(2);
    g_mt.qs = static_cast<rte_rcu_qsbr *>(aligned_alloc(RTE_CACHE_LINE_SIZE, sz));
    rte_rcu_qsbr_init(g_mt.qs, 2);
    conn_timeouts t;
    t.syn_recv_s = 1;  // the new (embryonic) connections expire after 1000 bursts
    std::string err;
    g_mt.tab = conn_table::create({cap, 2, t, g_mt.qs}, &err);
    for (uint64_t i = 0; i < mt_prefill; i++) {
        flow_key r = reply_key(g_mt.keys[i], i);
        drop_reason why;
        conn *c = g_mt.tab->insert(static_cast<unsigned>(i & 1), g_mt.keys[i],
                                   conn_table::hash(g_mt.keys[i]), &r, conn_table::hash(r),
                                   conn_value{}, 0, &why);
        if (c) g_mt.tab->on_packet(c, conn_dir::original, tcp_flag_ack, 0);
    }
}

double thread_cpu_s() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/*
 * Operations per second of each thread's own CPU time, averaged over the
 * threads. On a shared 2-core machine wall-clock scaling also measures the
 * neighbours; this shows what sharing the table costs each thread (cache-line
 * transfers, spinning on rte_hash's writer lock). Scaling with dedicated
 * cores ≈ threads × this / the 1-thread value.
 */
void set_cpu_rate(benchmark::State &state, double cpu_s) {
    state.counters["ops_per_thread_cpu_s"] = benchmark::Counter(
        static_cast<double>(state.iterations()) * (mt_new + mt_lookups) / cpu_s,
        benchmark::Counter::kAvgThreads);
}

/*
 * EAL pinned the main thread to lcore 0's CPU and Google Benchmark's extra
 * threads inherit that mask: without this, "two threads" share one core.
 * Thread i runs on CPU i (the bench binary uses lcores 0-1).
 */
void pin_thread(benchmark::State &state) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(state.thread_index()) % std::thread::hardware_concurrency(),
            &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

double wall_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

/*
 * Aggregate operations per wall-clock second of all threads together, timed
 * by thread 0 from its first iteration to the end barrier of the loop.
 */
void set_aggregate_rate(benchmark::State &state, double wall0) {
    if (state.thread_index() != 0) return;
    double ops = static_cast<double>(state.iterations()) * state.threads() * (mt_new + mt_lookups);
    state.counters["aggregate_ops_per_s"] = ops / (wall_s() - wall0);
}

void mt_teardown() {
    g_mt.tab.reset();
    g_mt.h.reset();
    free(g_mt.qs);
    g_mt = mt_shared{};
}

void BM_conn_mt(benchmark::State &state) {
    pin_thread(state);
    if (state.thread_index() == 0) mt_setup(false);
    unsigned w = static_cast<unsigned>(state.thread_index());
    bool first = true;
    uint64_t next = 0, pos = static_cast<uint64_t>(w) * 7919, misses = 0;
    uint32_t now = 1;
    uint32_t h[mt_lookups];
    const flow_key *k[mt_lookups];
    double cpu0 = 0, wall0 = 0;
    for (auto _ : state) {
        conn_table &tab = *g_mt.tab;  // valid once the loop's start barrier passed
        if (first) {
            rte_rcu_qsbr_thread_register(g_mt.qs, w);
            rte_rcu_qsbr_thread_online(g_mt.qs, w);
            first = false;
            cpu0 = thread_cpu_s();
            wall0 = wall_s();
        }
        for (unsigned i = 0; i < mt_new; i++, next++) {
            flow_key o = orig_key(next, w);
            o.dport = htons(443);
            flow_key r = reply_key(o, next);
            drop_reason why;
            tab.insert(w, o, conn_table::hash(o), &r, conn_table::hash(r), conn_value{}, now,
                       &why);
        }
        for (unsigned i = 0; i < mt_lookups; i++) {
            k[i] = &g_mt.stream[pos % g_mt.stream.size()];
            pos++;
            h[i] = conn_table::hash(*k[i]);
            tab.prefetch(h[i]);
        }
        for (unsigned i = 0; i < mt_lookups; i++) tab.prefetch_conn(h[i]);
        for (unsigned i = 0; i < mt_lookups; i++) misses += tab.lookup(*k[i], h[i], nullptr) == nullptr;
        tab.expire(w, now, 32, [](const conn &, conn_free_reason) {});
        rte_rcu_qsbr_quiescent(g_mt.qs, w);
        now++;
    }
    /* No offline/unregister here: thread 0 frees the variable right after the loop. */
    set_cpu_rate(state, thread_cpu_s() - cpu0);
    set_aggregate_rate(state, wall0);
    if (misses) state.SkipWithError("lookup missed an established flow");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * (mt_new + mt_lookups));
    if (state.thread_index() == 0) mt_teardown();
}
BENCHMARK(BM_conn_mt)->Threads(1)->Threads(2)->Iterations(mt_bursts)->UseRealTime();

void BM_rte_hash_mt(benchmark::State &state) {
    pin_thread(state);
    if (state.thread_index() == 0) mt_setup(true);
    unsigned w = static_cast<unsigned>(state.thread_index());
    if (rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() != 0) {
        state.SkipWithError("cannot register the thread with EAL");
        return;
    }
    uint64_t next = 0, pos = static_cast<uint64_t>(w) * 7919, misses = 0;
    const void *k[mt_lookups];
    void *data[mt_lookups];
    double cpu0 = 0, wall0 = 0;
    bool first = true;
    for (auto _ : state) {
        if (first) {
            cpu0 = thread_cpu_s();
            wall0 = wall_s();
            first = false;
        }
        rte_hash *hh = g_mt.h.get();
        for (unsigned i = 0; i < mt_new; i++, next++) {
            flow_key o = orig_key(next, w);
            o.dport = htons(443);
            flow_key r = reply_key(o, next);
            rte_hash_add_key_data(hh, &o, nullptr);
            rte_hash_add_key_data(hh, &r, nullptr);
        }
        for (unsigned i = 0; i < mt_lookups; i++) {
            k[i] = &g_mt.stream[pos % g_mt.stream.size()];
            pos++;
        }
        uint64_t hits = 0;
        rte_hash_lookup_bulk_data(hh, k, mt_lookups, &hits, data);
        misses += static_cast<uint64_t>(
            __builtin_popcountll(~hits & ((uint64_t{1} << mt_lookups) - 1)));
    }
    set_cpu_rate(state, thread_cpu_s() - cpu0);
    set_aggregate_rate(state, wall0);
    if (misses) state.SkipWithError("rte_hash lookup missed an established flow");
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * (mt_new + mt_lookups));
    if (state.thread_index() == 0) mt_teardown();
}
BENCHMARK(BM_rte_hash_mt)->Threads(1)->Threads(2)->Iterations(mt_bursts)->UseRealTime();

}  // namespace
}  // namespace nlb
