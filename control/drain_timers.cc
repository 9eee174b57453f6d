/* SPDX-License-Identifier: Apache-2.0 */
#include "drain_timers.h"

#include <algorithm>
#include <ctime>
#include <utility>

namespace nlb::control {

drain_end drain_due(const draining_instance &d, int64_t now_unix,
                    const std::optional<std::map<uint64_t, int64_t>> &connections) {
    if (d.deadline_unix <= now_unix) return drain_end::deadline;
    if (!connections) return drain_end::not_yet;
    auto it = connections->find(
        backend_id(d.load_balancer, d.backend_service, d.instance.id(), d.instance.address()));
    if (it == connections->end() || it->second <= 0) return drain_end::idle;
    return drain_end::not_yet;
}

drain_timers::drain_timers(options opts) : opts_(std::move(opts)) {
    if (!opts_.log) opts_.log = [](int, const std::string &) {};
    if (!opts_.now_unix) opts_.now_unix = [] { return static_cast<int64_t>(std::time(nullptr)); };
    store_ = store::open(opts_.state_path);
}

drain_timers::~drain_timers() {
    stop();
}

void drain_timers::start() {
    thread_ = std::thread([this] { run(); });
}

void drain_timers::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void drain_timers::purge_due() {
    const auto now = std::chrono::steady_clock::now();
    auto due = std::partition(purges_.begin(), purges_.end(),
                              [&](const auto &p) { return p.first > now; });
    for (auto it = due; it != purges_.end(); ++it) {
        uint64_t reset = opts_.sync->purge(it->second);
        if (reset)
            opts_.log(3, "purged backend " + std::to_string(it->second) + ": " +
                             std::to_string(reset) + " idle connections forgotten");
    }
    purges_.erase(due, purges_.end());
}

size_t drain_timers::tick() {
    purge_due();
    auto records = load_all_draining(*store_);
    if (records.empty()) return 0;
    // Connections are read after the records: a record is never judged by older counts.
    auto connections = opts_.sync->poll_connections();
    const int64_t now = opts_.now_unix();
    size_t ended = 0;
    for (const auto &d : records) {
        auto why = drain_due(d, now, connections);
        if (why == drain_end::not_yet) continue;
        const uint64_t id =
            backend_id(d.load_balancer, d.backend_service, d.instance.id(), d.instance.address());
        {
            store::transaction tx(*store_);
            store_->remove_draining(d.load_balancer, d.backend_service, d.instance.id());
            tx.commit();
        }
        purges_.emplace_back(std::chrono::steady_clock::now() + opts_.purge_grace, id);
        int64_t left = 0;
        if (connections) {
            auto it = connections->find(id);
            if (it != connections->end()) left = it->second;
        }
        opts_.log(2, "drain of instance " + d.instance.id() + " (" + d.instance.address() +
                         ") from " + d.load_balancer + "/" + d.backend_service + " ended: " +
                         (why == drain_end::deadline
                              ? "timeout passed, " + std::to_string(left) + " connections to reset"
                              : std::string("no connections left")));
        ended++;
    }
    if (ended) {
        ended_ += ended;
        opts_.sync->notify();
    }
    return ended;
}

void drain_timers::run() {
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait_for(lock, opts_.poll_interval, [this] { return stopping_; });
            if (stopping_) return;
        }
        try {
            tick();
        } catch (const store_error &e) {
            opts_.log(1, std::string("Failed to check draining instances: ") + e.what());
        }
    }
}

}  // namespace nlb::control
