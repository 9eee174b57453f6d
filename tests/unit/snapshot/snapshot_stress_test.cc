/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stress test of snapshot publication: worker threads forward continuously
 * (look up services, pick backends, keep "connections", read backend data and
 * check invariants) while the main thread builds and publishes thousands of
 * snapshots that add and remove services and backends.
 *
 * What it catches: a snapshot freed while a worker uses it (freed snapshots
 * are poisoned and quarantined before the memory is released, so a late
 * reader sees magic_dead; under AddressSanitizer a use after the real free
 * is reported; under ThreadSanitizer the free races with the read), a torn or
 * inconsistent snapshot, a backend_ref that survives its backend, and a
 * publish() that returns before its snapshot is visible.
 */
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "snapshot/snapshot_builder.h"
#include "snapshot/snapshot_manager.h"
#include "spec_helpers.h"

namespace nlb {
namespace {

constexpr unsigned pool_services = 48;  // possible services; about half exist at a time
constexpr unsigned max_backends_per_service = 12;

service_key pool_key(unsigned p) {
    // VIPs 198.18.0.1..12, ports 80..83, TCP; every fourth one UDP.
    return test::key4(uint8_t(1 + p / 4), uint16_t(80 + p % 4),
                      p % 4 == 3 ? ipproto_udp : ipproto_tcp);
}

// Backend data is a function of (pool service, backend number) so a worker
// can check every field it reads against the id.
backend_spec pool_backend(unsigned p, unsigned n, uint8_t weight, backend_state st) {
    uint64_t id = (uint64_t(p) << 32) | n;
    return test::backend4(id, uint8_t(p), uint8_t(n + 1), uint16_t(8000 + p), weight, st);
}

struct desired_state {
    std::vector<bool> present = std::vector<bool>(pool_services, false);
    std::vector<std::vector<backend_spec>> backends =
        std::vector<std::vector<backend_spec>>(pool_services);

    std::vector<service_spec> specs() const {
        std::vector<service_spec> out;
        for (unsigned p = 0; p < pool_services; p++) {
            if (!present[p]) continue;
            sched_kind k = p % 3 == 0   ? sched_kind::wrr
                           : p % 3 == 1 ? sched_kind::wlc
                                        : sched_kind::source_ip;
            out.push_back(test::service(pool_key(p), k, backends[p]));
            out.back().version = p;
        }
        return out;
    }

    void mutate(std::mt19937 &rng) {
        unsigned p = rng() % pool_services;
        switch (rng() % 6) {
            case 0:  // add or remove the whole service
                present[p] = !present[p];
                break;
            case 1:
            case 2: {  // add a backend
                auto &b = backends[p];
                if (b.size() >= max_backends_per_service) break;
                unsigned n = rng() % 64;
                for (auto &x : b)
                    if ((x.id & 0xffffffffu) == n) return;
                b.push_back(pool_backend(p, n, uint8_t(rng() % 101), backend_state::active));
                break;
            }
            case 3:  // remove a backend
                if (!backends[p].empty())
                    backends[p].erase(backends[p].begin() + rng() % backends[p].size());
                break;
            default:  // change a weight or state
                if (!backends[p].empty()) {
                    auto &x = backends[p][rng() % backends[p].size()];
                    x.weight = uint8_t(rng() % 101);
                    x.state = rng() % 4 ? backend_state::active : backend_state::draining;
                }
        }
        present[p] = present[p] || rng() % 8 == 0;
    }
};

struct worker_result {
    uint64_t bursts = 0, lookups = 0, picks = 0, refs_checked = 0, refs_stale = 0;
    std::string error;
};

// One "connection": the backend it was given, and what that backend was.
struct conn {
    backend_ref ref;
    uint64_t id;
    uint16_t port_be;
};

void fail(worker_result *r, const std::string &what) {
    if (r->error.empty()) r->error = what;
}

bool check_backend(const snapshot &s, uint32_t slot, uint32_t service_index, worker_result *r) {
    if (slot >= s.backends.size()) return fail(r, "slot out of range"), false;
    const snapshot_backend &b = s.backends[slot];
    if (!b.in_use) return fail(r, "service lists a free slot"), false;
    if (b.service != service_index) return fail(r, "backend of another service"), false;
    unsigned p = unsigned(b.id >> 32), n = unsigned(b.id & 0xffffffffu);
    backend_spec want = pool_backend(p, n, 0, backend_state::active);
    if (!(b.addr == want.addr) || b.port_be != want.port_be || b.weight > 100)
        return fail(r, "backend data does not match its id"), false;
    return true;
}

void worker_loop(snapshot_manager *mgr, unsigned w, const snapshot_limits *limits,
                 std::atomic<bool> *stop, std::atomic<uint64_t> *published_floor,
                 worker_result *r) {
    worker_sched ws(limits->max_services, limits->max_backends, w);
    std::mt19937 rng(1234 + w);
    std::deque<conn> conns;
    uint64_t last_version = 0;
    size_t last_services = 0, last_slots = 0;
    mgr->online(w);
    while (!stop->load(std::memory_order_relaxed)) {
        uint64_t floor = published_floor->load(std::memory_order_acquire);
        const snapshot *s = mgr->current();
        r->bursts++;
        if (!s)
            fail(r, "no snapshot");
        else if (s->magic != snapshot::magic_live)
            fail(r, "snapshot used after it was retired");
        else if (s->version < last_version)
            fail(r, "snapshot version went backwards");
        else if (s->version < floor)
            fail(r, "publish() returned before its snapshot was visible");
        else if (s->services.size() < last_services || s->backends.size() < last_slots)
            fail(r, "services[] or backends[] shrank");
        if (!r->error.empty()) break;
        last_version = s->version;
        last_services = s->services.size();
        last_slots = s->backends.size();

        for (int i = 0; i < 16; i++) {
            unsigned p = rng() % pool_services;
            service_key k = pool_key(p);
            const snapshot_service *svc = s->find_service(k);
            r->lookups++;
            if (!s->is_vip(k.vip, k.family) && svc) fail(r, "service VIP not a VIP");
            if (!svc) continue;
            if (!svc->in_use || !(svc->key == k) || &s->services[svc->index] != svc ||
                svc->version != p)
                fail(r, "inconsistent service");
            if (svc->backend_count > max_backends_per_service) {
                fail(r, "bad backend count");
                break;
            }
            for (uint32_t j = 0; j < svc->backend_count; j++)
                check_backend(*s, svc->slots[j], svc->index, r);
            if (svc->sched == sched_kind::wrr)
                for (uint32_t j = 0; j < svc->wrr_length; j++)
                    if (svc->wrr[j] >= svc->backend_count) fail(r, "WRR entry out of range");

            ip_addr client = test::v4(18, 200, uint8_t(rng()));
            uint32_t slot = pick_backend(*s, *svc, ws, client);
            if (slot == no_backend) continue;
            r->picks++;
            if (!check_backend(*s, slot, svc->index, r)) break;
            if (!s->backends[slot].accepts_new())
                fail(r, "picked a backend that takes no new connections");
            backend_ref ref = s->ref_of(slot);
            ws.counts().opened(ref);
            conns.push_back({ref, s->backends[slot].id, s->backends[slot].port_be});
            if (conns.size() > 256) {
                ws.counts().closed(conns.front().ref);
                conns.pop_front();
            }
        }
        // Established connections: a still-valid reference must name the
        // very backend the connection was given.
        for (size_t i = 0; i < conns.size(); i += 7) {
            const conn &c = conns[i];
            r->refs_checked++;
            if (!s->backend_valid(c.ref)) {
                r->refs_stale++;
                continue;
            }
            const snapshot_backend &b = s->backends[c.ref.index];
            if (b.id != c.id || b.port_be != c.port_be)
                fail(r, "a valid backend_ref names another backend");
        }
        if (!r->error.empty()) break;
        mgr->quiescent(w);
        // Idle now and then, as a worker with empty RX queues does. It also
        // gives the CPU back: this test runs more threads than the machine
        // may have cores, and an online worker that the kernel preempted
        // holds publication up for a whole time slice.
        if (r->bursts % 4 == 0) {
            mgr->offline(w);
            std::this_thread::yield();
            mgr->online(w);
        }
    }
    mgr->offline(w);
}

TEST(snapshot_stress, workers_forward_while_snapshots_change) {
    const unsigned workers = 3;
    const unsigned publications = 5000;
    snapshot_limits limits;
    limits.max_services = 64;
    limits.max_backends = 1024;
    limits.maglev_size = 251;
    snapshot_builder builder(limits);

    // Retired snapshots are poisoned and kept a while before the memory goes
    // back to the allocator, so a reader that should not hold one any more
    // sees magic_dead rather than whatever reuses the memory.
    std::deque<snapshot *> quarantine;
    uint64_t freed = 0;
    std::string error;
    auto mgr = snapshot_manager::create(workers, &error, [&](snapshot *s) {
        s->poison();
        quarantine.push_back(s);
        freed++;
        if (quarantine.size() > 32) {
            delete quarantine.front();
            quarantine.pop_front();
        }
    });
    ASSERT_TRUE(mgr) << error;

    desired_state state;
    std::mt19937 rng(99);
    for (int i = 0; i < 40; i++) state.mutate(rng);
    auto first = builder.build(state.specs(), nullptr);
    ASSERT_TRUE(first.error.empty()) << first.error;
    ASSERT_TRUE(mgr->publish(std::move(first.snap)));

    std::atomic<bool> stop{false};
    std::atomic<uint64_t> floor{0};
    std::vector<worker_result> results(workers);
    std::vector<std::thread> threads;
    for (unsigned w = 0; w < workers; w++)
        threads.emplace_back(worker_loop, mgr.get(), w, &limits, &stop, &floor, &results[w]);

    auto t0 = std::chrono::steady_clock::now();
    uint64_t slow = 0;
    std::chrono::steady_clock::duration publishing{};
    for (unsigned i = 0; i < publications; i++) {
        state.mutate(rng);
        auto b = builder.build(state.specs(), mgr->current());
        ASSERT_TRUE(b.error.empty()) << b.error;
        uint64_t version = b.snap->version;
        auto p0 = std::chrono::steady_clock::now();
        if (!mgr->publish(std::move(b.snap), std::chrono::seconds(5))) slow++;
        publishing += std::chrono::steady_clock::now() - p0;
        floor.store(version, std::memory_order_release);
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stop = true;
    for (auto &t : threads) t.join();

    EXPECT_EQ(slow, 0u) << "a publish waited more than 5 s for the workers";
    EXPECT_EQ(mgr->publications(), publications + 1);
    EXPECT_EQ(freed + mgr->retired(), publications);
    uint64_t picks = 0, checked = 0, stale = 0;
    for (unsigned w = 0; w < workers; w++) {
        EXPECT_EQ(results[w].error, "") << "worker " << w;
        EXPECT_GT(results[w].bursts, 100u) << "worker " << w;
        picks += results[w].picks;
        checked += results[w].refs_checked;
        stale += results[w].refs_stale;
    }
    EXPECT_GT(picks, 1000u);
    EXPECT_GT(stale, 0u);  // backends did go away under live connections
    std::printf(
        "[ stress   ] %u publications in %.2f s (%.0f us each, %.0f us of it in publish()), "
        "%llu picks, %llu refs checked (%llu stale)\n",
        publications, seconds, seconds * 1e6 / publications,
        std::chrono::duration<double>(publishing).count() * 1e6 / publications,
        (unsigned long long)picks, (unsigned long long)checked, (unsigned long long)stale);
    mgr.reset();
    for (auto *s : quarantine) delete s;
}

}  // namespace
}  // namespace nlb
