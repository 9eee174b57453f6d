/* SPDX-License-Identifier: Apache-2.0 */
#include "health_prober.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <queue>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace nlb::health {

namespace {

using steady = std::chrono::steady_clock;

enum class phase : uint8_t { idle, queued, connecting, sending, reading };

/** One target and its probe in flight; owned by the registry, touched under the mutex. */
struct entry {
    uint64_t id = 0;
    target tgt;
    check_settings cfg;
    std::string request;  // built from cfg and tgt when either changes
    target_state st;
    steady::time_point next_due{};
    uint32_t due_seq = 0;
    bool ever_started = false;

    // The probe in flight: what it started with, so an edit never changes it midway.
    phase ph = phase::idle;
    int fd = -1;
    bool registered = false;  // fd is in the epoll set
    uint32_t watched = 0;     // epoll events asked for
    method probe_method = method::tcp;
    uint8_t probe_classes = 0;
    std::string probe_request;  // reuses its capacity from one probe to the next
    size_t sent = 0;
    uint8_t got_len = 0;
    char got[32];  // the status line decides after 13 bytes
    steady::time_point started{};
    uint32_t probe_seq = 0;
};

struct timer_item {
    steady::time_point when;
    uint64_t id;
    uint32_t seq;
    bool is_deadline;
};
struct later {
    bool operator()(const timer_item &a, const timer_item &b) const { return a.when > b.when; }
};

struct service_counts {
    unsigned initial = 0, healthy = 0, unhealthy = 0;
    bool reported_fail_open = false;
    unsigned total() const { return initial + healthy + unhealthy; }
    bool fail_open() const { return healthy == 0 && unhealthy > 0; }
    unsigned &of(status s) {
        return s == status::healthy ? healthy : s == status::unhealthy ? unhealthy : initial;
    }
};

std::string map_key(const target_key &k) {
    std::string s;
    s.reserve(k.service.size() + 1 + k.instance.size());
    s += k.service;
    s += '\0';
    s += k.instance;
    return s;
}

std::string errno_reason(int err) {
    switch (err) {
        case ECONNREFUSED:
            return "refused";
        case ETIMEDOUT:
            return "timeout";
        case ECONNRESET:
        case ECONNABORTED:
        case EPIPE:
            return "reset";
        case ENETUNREACH:
        case EHOSTUNREACH:
        case ENONET:
            return "no route";
        default:
            return std::string("error: ") + std::strerror(err);
    }
}

uint16_t probe_port(const entry &e) {
    return e.cfg.port ? e.cfg.port : e.tgt.traffic_port;
}

constexpr uint64_t wake_id = 0;
constexpr unsigned launch_budget = 512;  // probes started per loop round at most

}  // namespace

struct health_prober::impl {
    struct change {
        target_key key;
        status from, to;
        std::string reason;
    };

    prober_options opt;
    mutable std::mutex mu;
    std::unordered_map<std::string, std::unique_ptr<entry>> by_key;
    std::unordered_map<uint64_t, entry *> by_id;
    std::unordered_map<std::string, service_counts> services;
    std::unordered_set<std::string> dirty_services;
    std::priority_queue<timer_item, std::vector<timer_item>, later> timers;
    std::deque<uint64_t> waiting;  // may hold ids of removed targets; `queued` counts live ones
    uint64_t queued = 0;
    std::vector<change> changes;
    std::vector<std::pair<std::string, bool>> fail_open_flips;
    uint64_t next_id = 1;
    std::mt19937_64 rng{std::random_device{}()};
    uint64_t in_flight = 0, probes_started = 0, probes_completed = 0;

    int ep = -1, wake_fd = -1;
    std::thread loop_thread;
    std::atomic<bool> stopping{false};
    bool has_cpu_clock = false;  // under mu
    clockid_t cpu_clock{};
    std::chrono::nanoseconds final_cpu{0};
    change_fn change_cb;
    fail_open_fn fail_open_cb;

    explicit impl(prober_options o) : opt(std::move(o)) {
        opt.jitter = std::clamp(opt.jitter, 0.0, 0.5);
        opt.max_in_flight = std::max(opt.max_in_flight, 1u);
    }

    steady::duration jittered(std::chrono::milliseconds interval) {
        std::uniform_real_distribution<double> d(-opt.jitter, opt.jitter);
        const double f = opt.jitter > 0 ? 1.0 + d(rng) : 1.0;
        auto v = std::chrono::duration_cast<steady::duration>(
            std::chrono::duration<double, std::milli>(static_cast<double>(interval.count()) * f));
        return std::max<steady::duration>(v, std::chrono::milliseconds(1));
    }

    void wake() {
        if (wake_fd < 0) return;
        uint64_t one = 1;
        [[maybe_unused]] ssize_t r = ::write(wake_fd, &one, sizeof(one));
    }

    void set_due(entry &e, steady::time_point when) {
        e.next_due = when;
        ++e.due_seq;
        timers.push({when, e.id, e.due_seq, false});
    }

    void watch(entry &e, uint32_t events) {
        if (e.registered && e.watched == events) return;
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = e.id;
        if (epoll_ctl(ep, e.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, e.fd, &ev) == 0) {
            e.registered = true;
            e.watched = events;
        } else {
            finish(e, false, errno_reason(errno), steady::now());
        }
    }

    void close_probe(entry &e) {
        if (e.fd >= 0) ::close(e.fd);
        e.fd = -1;
        e.registered = false;
        e.watched = 0;
    }

    void count_status(const std::string &service, status s, int delta) {
        auto &c = services[service];
        c.of(s) += delta;
        dirty_services.insert(service);
    }

    /** Ends the probe in flight of `e` with a result and schedules the next one. */
    void finish(entry &e, bool ok, const std::string &reason, steady::time_point now) {
        if (e.fd >= 0 && e.ph == phase::reading) {
            // Read what the server already sent so the close is a FIN, not a RST.
            char scratch[512];
            for (int i = 0; i < 4 && ::recv(e.fd, scratch, sizeof(scratch), 0) > 0; ++i) {
            }
        }
        close_probe(e);
        --in_flight;
        e.ph = phase::idle;
        ++probes_completed;
        e.st.last_probe = std::chrono::system_clock::now();
        e.st.last_duration = std::chrono::duration_cast<std::chrono::microseconds>(now - e.started);
        const status old = e.st.st;
        if (apply_result(e.st, ok, reason, e.cfg.healthy_threshold, e.cfg.unhealthy_threshold)) {
            e.st.last_change = e.st.last_probe;
            count_status(e.tgt.key.service, old, -1);
            count_status(e.tgt.key.service, e.st.st, +1);
            changes.push_back(
                {e.tgt.key, old, e.st.st, e.st.st == status::unhealthy ? reason : std::string()});
        }
        set_due(e, std::max(e.started + jittered(e.cfg.interval), now));
    }

    void launch(entry &e, steady::time_point now) {
        e.ph = phase::connecting;
        ++in_flight;
        ++probes_started;
        e.ever_started = true;
        e.started = now;
        ++e.probe_seq;
        e.probe_method = e.cfg.m;
        e.probe_classes = e.cfg.normal_classes;
        if (e.probe_method == method::http) e.probe_request.assign(e.request);
        e.sent = 0;
        e.got_len = 0;
        const bool v4 = e.tgt.family == ip_family::v4;
        e.fd = ::socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (e.fd < 0) return finish(e, false, errno_reason(errno), now);
        timers.push({now + e.cfg.timeout, e.id, e.probe_seq, true});

        sockaddr_storage ss{};
        socklen_t len;
        const std::optional<ip_addr> &src = v4 ? opt.source_v4 : opt.source_v6;
        if (src) {
            int one = 1;
            setsockopt(e.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
            len = fill(ss, *src, v4, 0);
            if (::bind(e.fd, reinterpret_cast<sockaddr *>(&ss), len) != 0)
                return finish(e, false, errno_reason(errno), now);
        }
        len = fill(ss, e.tgt.addr, v4, probe_port(e));
        if (::connect(e.fd, reinterpret_cast<sockaddr *>(&ss), len) == 0)
            return on_connected(e, now);
        if (errno != EINPROGRESS) return finish(e, false, errno_reason(errno), now);
        watch(e, EPOLLOUT);
    }

    static socklen_t fill(sockaddr_storage &ss, const ip_addr &a, bool v4, uint16_t port) {
        ss = {};
        if (v4) {
            auto *s = reinterpret_cast<sockaddr_in *>(&ss);
            s->sin_family = AF_INET;
            s->sin_port = htons(port);
            std::memcpy(&s->sin_addr, a.bytes, 4);
            return sizeof(*s);
        }
        auto *s = reinterpret_cast<sockaddr_in6 *>(&ss);
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(port);
        std::memcpy(&s->sin6_addr, a.bytes, 16);
        return sizeof(*s);
    }

    void on_connected(entry &e, steady::time_point now) {
        if (e.probe_method == method::tcp) return finish(e, true, {}, now);
        e.ph = phase::sending;
        try_send(e, now);
    }

    void try_send(entry &e, steady::time_point now) {
        while (e.sent < e.probe_request.size()) {
            ssize_t n = ::send(e.fd, e.probe_request.data() + e.sent,
                               e.probe_request.size() - e.sent, MSG_NOSIGNAL);
            if (n > 0) {
                e.sent += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return watch(e, EPOLLOUT);
            return finish(e, false, n < 0 ? errno_reason(errno) : "reset", now);
        }
        e.ph = phase::reading;
        watch(e, EPOLLIN);
    }

    void try_read(entry &e, steady::time_point now) {
        for (;;) {
            ssize_t n = ::recv(e.fd, e.got + e.got_len, sizeof(e.got) - e.got_len, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                if (errno == EINTR) continue;
                return finish(e, false, errno_reason(errno), now);
            }
            if (n == 0) return finish(e, false, e.got_len ? "bad response" : "closed", now);
            e.got_len = static_cast<uint8_t>(e.got_len + n);
            unsigned code = 0;
            switch (parse_status_line(std::string_view(e.got, e.got_len), &code)) {
                case status_line_result::ok:
                    if (status_is_normal(code, e.probe_classes)) return finish(e, true, {}, now);
                    return finish(e, false, "status " + std::to_string(code), now);
                case status_line_result::bad:
                    return finish(e, false, "bad response", now);
                case status_line_result::need_more:
                    if (e.got_len == sizeof(e.got)) return finish(e, false, "bad response", now);
                    break;
            }
        }
    }

    void handle_io(entry &e, uint32_t events, steady::time_point now) {
        switch (e.ph) {
            case phase::connecting: {
                int err = 0;
                socklen_t l = sizeof(err);
                if (getsockopt(e.fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0) err = errno;
                if (err) return finish(e, false, errno_reason(err), now);
                if (!(events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) return;
                return on_connected(e, now);
            }
            case phase::sending:
                if (events & EPOLLERR) {
                    int err = 0;
                    socklen_t l = sizeof(err);
                    getsockopt(e.fd, SOL_SOCKET, SO_ERROR, &err, &l);
                    return finish(e, false, errno_reason(err ? err : ECONNRESET), now);
                }
                return try_send(e, now);
            case phase::reading:
                return try_read(e, now);
            case phase::idle:
            case phase::queued:
                return;
        }
    }

    entry *find_id(uint64_t id) {
        auto it = by_id.find(id);
        return it == by_id.end() ? nullptr : it->second;
    }

    /**
     * Ends overdue probes, queues due targets, and starts queued ones (FIFO) up
     * to the in-flight cap and to launch_budget per round, so one round never
     * holds the mutex for long (a full queue continues in the next round).
     */
    void fire_timers(steady::time_point now) {
        while (!timers.empty() && timers.top().when <= now) {
            timer_item t = timers.top();
            timers.pop();
            entry *e = find_id(t.id);
            if (!e) continue;
            if (t.is_deadline) {
                if (t.seq == e->probe_seq && e->ph != phase::idle && e->ph != phase::queued)
                    finish(*e, false, "timeout", now);
            } else if (t.seq == e->due_seq && e->ph == phase::idle) {
                e->ph = phase::queued;
                waiting.push_back(e->id);
                ++queued;
            }
        }
        unsigned budget = launch_budget;
        while (budget > 0 && in_flight < opt.max_in_flight && !waiting.empty()) {
            entry *e = find_id(waiting.front());
            waiting.pop_front();
            if (!e || e->ph != phase::queued) continue;
            --queued;
            launch(*e, now);
            --budget;
        }
    }

    int wait_ms(steady::time_point now) const {
        if (!waiting.empty() && in_flight < opt.max_in_flight) return 0;
        if (timers.empty()) return 1000;
        auto d = timers.top().when - now;
        if (d <= steady::duration::zero()) return 0;
        auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
        return static_cast<int>(std::min<int64_t>(ms, 1000));
    }

    void collect_fail_open() {
        for (const auto &name : dirty_services) {
            auto it = services.find(name);
            if (it == services.end()) continue;
            const bool fo = it->second.fail_open();
            if (fo != it->second.reported_fail_open) {
                it->second.reported_fail_open = fo;
                fail_open_flips.emplace_back(name, fo);
            }
            if (it->second.total() == 0) services.erase(it);
        }
        dirty_services.clear();
    }

    void run() {
        {
            std::lock_guard lk(mu);
            has_cpu_clock = pthread_getcpuclockid(pthread_self(), &cpu_clock) == 0;
        }
        epoll_event evs[256];
        std::vector<change> local_changes;
        std::vector<std::pair<std::string, bool>> local_flips;
        int timeout_ms = 0;
        while (!stopping.load(std::memory_order_relaxed)) {
            int n = epoll_wait(ep, evs, 256, timeout_ms);
            {
                std::lock_guard lk(mu);
                const auto now = steady::now();
                for (int i = 0; i < n; ++i) {
                    if (evs[i].data.u64 == wake_id) {
                        uint64_t v;
                        [[maybe_unused]] ssize_t r = ::read(wake_fd, &v, sizeof(v));
                        continue;
                    }
                    entry *e = find_id(evs[i].data.u64);
                    if (e && e->fd >= 0) handle_io(*e, evs[i].events, now);
                }
                fire_timers(now);
                collect_fail_open();
                local_changes.swap(changes);
                local_flips.swap(fail_open_flips);
                timeout_ms = wait_ms(steady::now());
            }
            if (change_cb)
                for (const auto &c : local_changes) change_cb(c.key, c.from, c.to, c.reason);
            if (fail_open_cb)
                for (const auto &f : local_flips) fail_open_cb(f.first, f.second);
            local_changes.clear();
            local_flips.clear();
        }
        std::lock_guard lk(mu);
        final_cpu = cpu_now();
        has_cpu_clock = false;
    }

    std::chrono::nanoseconds cpu_now() const {
        timespec ts{};
        if (!has_cpu_clock || clock_gettime(cpu_clock, &ts) != 0) return final_cpu;
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    }

    /** New settings for an existing target: state kept, next probe uses them. */
    void apply_settings(entry &e, const check_settings &settings, steady::time_point now) {
        e.cfg = settings;
        e.request = build_http_request(settings, e.tgt.addr, e.tgt.family, probe_port(e));
        if (e.ph == phase::idle) {
            // A shorter interval brings the next probe forward; a longer one waits for it.
            auto candidate = (e.ever_started ? e.started : now) + jittered(settings.interval);
            if (candidate < e.next_due) set_due(e, std::max(candidate, now));
        }
    }

    void erase_entry(std::unordered_map<std::string, std::unique_ptr<entry>>::iterator it) {
        entry &e = *it->second;
        if (e.ph == phase::queued)
            --queued;
        else if (e.ph != phase::idle)
            --in_flight;
        close_probe(e);
        count_status(e.tgt.key.service, e.st.st, -1);
        by_id.erase(e.id);
        by_key.erase(it);
    }
};

health_prober::health_prober(prober_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

health_prober::~health_prober() {
    stop();
    std::lock_guard lk(impl_->mu);
    for (auto &kv : impl_->by_key) impl_->close_probe(*kv.second);
    if (impl_->ep >= 0) ::close(impl_->ep);
    if (impl_->wake_fd >= 0) ::close(impl_->wake_fd);
}

bool health_prober::start(std::string *error) {
    impl &m = *impl_;
    if (m.loop_thread.joinable()) return true;
    m.ep = epoll_create1(EPOLL_CLOEXEC);
    m.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_id;
    if (m.ep < 0 || m.wake_fd < 0 || epoll_ctl(m.ep, EPOLL_CTL_ADD, m.wake_fd, &ev) != 0) {
        if (error) *error = std::strerror(errno);
        return false;
    }
    m.stopping = false;
    m.loop_thread = std::thread([&m] { m.run(); });
    return true;
}

void health_prober::stop() {
    impl &m = *impl_;
    if (!m.loop_thread.joinable()) return;
    m.stopping = true;
    m.wake();
    m.loop_thread.join();
    std::lock_guard lk(m.mu);
    for (auto &kv : m.by_key) {
        entry &e = *kv.second;
        if (e.ph != phase::idle && e.ph != phase::queued) {
            m.close_probe(e);
            --m.in_flight;
            e.ph = phase::idle;
        }
    }
}

void health_prober::upsert(const target &t, const check_settings &settings) {
    impl &m = *impl_;
    std::lock_guard lk(m.mu);
    const auto now = steady::now();
    std::string key = map_key(t.key);
    auto it = m.by_key.find(key);
    if (it == m.by_key.end()) {
        auto e = std::make_unique<entry>();
        e->id = m.next_id++;
        e->tgt = t;
        e->cfg = settings;
        e->request = build_http_request(settings, t.addr, t.family, probe_port(*e));
        e->st.last_change = std::chrono::system_clock::now();
        steady::duration first{0};
        if (m.opt.spread_first_probe) {
            std::uniform_int_distribution<int64_t> d(
                0, std::max<int64_t>(
                       std::chrono::duration_cast<steady::duration>(settings.interval).count() - 1,
                       0));
            first = steady::duration(d(m.rng));
        }
        m.set_due(*e, now + first);
        m.count_status(t.key.service, status::initial, +1);
        m.by_id.emplace(e->id, e.get());
        m.by_key.emplace(std::move(key), std::move(e));
    } else {
        it->second->tgt = t;
        m.apply_settings(*it->second, settings, now);
    }
    m.wake();
}

size_t health_prober::update_service(const std::string &service, const check_settings &settings) {
    impl &m = *impl_;
    std::lock_guard lk(m.mu);
    const auto now = steady::now();
    size_t n = 0;
    for (auto &kv : m.by_key) {
        if (kv.second->tgt.key.service != service) continue;
        m.apply_settings(*kv.second, settings, now);
        ++n;
    }
    if (n) m.wake();
    return n;
}

void health_prober::remove(const target_key &key) {
    impl &m = *impl_;
    std::lock_guard lk(m.mu);
    auto it = m.by_key.find(map_key(key));
    if (it == m.by_key.end()) return;
    m.erase_entry(it);
    m.wake();
}

void health_prober::remove_service(const std::string &service) {
    impl &m = *impl_;
    std::lock_guard lk(m.mu);
    for (auto it = m.by_key.begin(); it != m.by_key.end();) {
        auto next = std::next(it);
        if (it->second->tgt.key.service == service) m.erase_entry(it);
        it = next;
    }
    m.wake();
}

std::optional<target_state> health_prober::state(const target_key &key) const {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->by_key.find(map_key(key));
    if (it == impl_->by_key.end()) return std::nullopt;
    return it->second->st;
}

bool health_prober::service_fail_open(const std::string &service) const {
    std::lock_guard lk(impl_->mu);
    auto it = impl_->services.find(service);
    return it != impl_->services.end() && it->second.fail_open();
}

prober_stats health_prober::stats() const {
    std::lock_guard lk(impl_->mu);
    prober_stats s;
    s.targets = impl_->by_key.size();
    s.in_flight = impl_->in_flight;
    s.queued = impl_->queued;
    s.probes_started = impl_->probes_started;
    s.probes_completed = impl_->probes_completed;
    return s;
}

std::chrono::nanoseconds health_prober::loop_cpu_time() const {
    std::lock_guard lk(impl_->mu);
    return impl_->cpu_now();
}

void health_prober::on_change(change_fn fn) {
    impl_->change_cb = std::move(fn);
}
void health_prober::on_fail_open(fail_open_fn fn) {
    impl_->fail_open_cb = std::move(fn);
}

}  // namespace nlb::health
