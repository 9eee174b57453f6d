/* SPDX-License-Identifier: Apache-2.0 */
#include "dataplane_sync.h"

#include "health_probe_targets.h"
#include "health_prober.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <ctime>
#include <set>
#include <utility>

namespace nlb::control {

using clock = std::chrono::steady_clock;

struct dataplane_sync::dataplane {
    std::string target;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<dpv1::Dataplane::Stub> stub;
    // Sync thread only:
    bool need_full = true;   // read ListServices first (new dataplane instance)
    bool need_push = false;  // push the differences even without a change notification
    bool ever_tried = false;
    bool batch_puts = true;  // false once it answered PutServices with UNIMPLEMENTED
    bool resynced = false;  // full_resync done ahead of the push that follows (log "in sync")
    held_services held;
    // Guarded by mu_ (read by status() and the forwarding calls):
    dataplane_status st;
};

sync_plan plan_sync(const std::vector<dpv1::Service> &desired, const held_services &held,
                    uint64_t *next_version) {
    sync_plan plan;
    std::set<std::string> wanted;
    for (const auto &s : desired) {
        std::string key = service_key_text(s.key());
        wanted.insert(key);
        auto it = held.find(key);
        if (it != held.end() && it->second == s.SerializeAsString()) continue;
        plan.puts.emplace_back(s, ++*next_version);
    }
    for (const auto &[key, body] : held) {
        if (wanted.count(key)) continue;
        dpv1::Service s;
        if (!s.ParseFromString(body)) continue;
        plan.deletes.emplace_back(s.key(), ++*next_version);
    }
    return plan;
}

dataplane_sync::dataplane_sync(options opts) : opts_(std::move(opts)) {
    if (!opts_.log) opts_.log = [](int, const std::string &) {};
    store_ = store::open(opts_.state_path);
    next_version_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
    for (auto target : opts_.targets) {
        if (target.rfind("unix:", 0) != 0) target = "unix:" + target;
        auto dp = std::make_unique<dataplane>();
        dp->target = target;
        dp->st.target = target;
        grpc::ChannelArguments args;
        // Reconnect quickly after a dataplane restart (gRPC's default backoff reaches 120 s).
        args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
        args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
        args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
        // ListServices of a dataplane holding 10 000 services is about 5 MB.
        args.SetMaxReceiveMessageSize(max_receive_bytes);
        dp->channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
        dp->stub = dpv1::Dataplane::NewStub(dp->channel);
        dps_.push_back(std::move(dp));
    }
}

dataplane_sync::~dataplane_sync() {
    stop();
}

void dataplane_sync::start() {
    thread_ = std::thread([this] { run(); });
}

void dataplane_sync::stop() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void dataplane_sync::notify() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (!dirty_pending_) dirty_since_ = clock::now();
        dirty_ = true;
        dirty_pending_ = true;
    }
    cv_.notify_one();
}

v1::HealthStatus dataplane_sync::health(const std::string &lb, const std::string &bs,
                                        const v1::Instance &in, std::string *reason) const {
    if (!opts_.prober) return v1::INITIAL;
    auto st = opts_.prober->state({probe_service_name(lb, bs), in.id()});
    if (!st) return v1::INITIAL;
    switch (st->st) {
        case health::status::healthy:
            return v1::HEALTHY;
        case health::status::unhealthy:
            if (reason) *reason = st->last_failure;
            return v1::UNHEALTHY;
        default:
            return v1::INITIAL;
    }
}

std::vector<dataplane_status> dataplane_sync::status() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<dataplane_status> out;
    for (const auto &dp : dps_) out.push_back(dp->st);
    return out;
}

sync_latency dataplane_sync::latency() const {
    std::lock_guard<std::mutex> lock(mu_);
    return latency_;
}

bool dataplane_sync::any_connected() const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto &dp : dps_)
        if (dp->st.connected) return true;
    return false;
}

std::optional<backend_name> dataplane_sync::name_of(uint64_t backend_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(backend_id);
    if (it == names_.end()) return std::nullopt;
    return it->second;
}

grpc::ClientContext *dataplane_sync::with_deadline(grpc::ClientContext *ctx) const {
    ctx->set_deadline(std::chrono::system_clock::now() + opts_.rpc_timeout);
    return ctx;
}

void dataplane_sync::mark_down(dataplane &dp, const std::string &what, const grpc::Status &st) {
    bool was;
    {
        std::lock_guard<std::mutex> lock(mu_);
        was = dp.st.connected;
        dp.st.connected = false;
        dp.st.last_error = what + ": " + st.error_message();
        if (was || !dp.ever_tried) dp.st.unreachable_since = std::chrono::system_clock::now();
    }
    // No full resync on reconnect unless the instance id changed (check_info): our record of
    // what it holds is still right, and a resync would also delete services we never pushed.
    if (was && opts_.on_connection) opts_.on_connection(dp.target, false);
    if (was || !dp.ever_tried)
        opts_.log(1, "Failed to reach dataplane " + dp.target + " (" + what +
                         "): " + st.error_message() + "; retrying");
    dp.ever_tried = true;
}

void dataplane_sync::check_info(dataplane &dp) {
    dpv1::GetInfoRequest req;
    dpv1::GetInfoResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(
        std::chrono::system_clock::now() +
        std::min<std::chrono::milliseconds>(opts_.rpc_timeout, std::chrono::milliseconds(1000)));
    auto st = dp.stub->GetInfo(&ctx, req, &resp);
    if (!st.ok()) {
        mark_down(dp, "GetInfo", st);
        return;
    }
    dp.ever_tried = true;
    std::string old_id;
    bool was;
    {
        std::lock_guard<std::mutex> lock(mu_);
        was = dp.st.connected;
        old_id = dp.st.instance_id;
        dp.st.connected = true;
        dp.st.instance_id = resp.instance_id();
        dp.st.last_error.clear();
        dp.st.unreachable_since = {};
    }
    if (!was && opts_.on_connection) opts_.on_connection(dp.target, true);
    if (old_id.empty()) {
        opts_.log(2, "dataplane " + dp.target + " answers (instance " + resp.instance_id() +
                         "): pushing the full state");
        dp.need_full = true;
    } else if (old_id != resp.instance_id()) {
        opts_.log(2, "dataplane " + dp.target + " restarted (instance " + old_id + " -> " +
                         resp.instance_id() + "): pushing the full state");
        dp.need_full = true;
    } else if (!was) {
        opts_.log(2, "dataplane " + dp.target + " reachable again (same instance)");
        dp.need_push = true;  // what failed meanwhile differs from our record: pushed now
    }
}

bool dataplane_sync::full_resync(dataplane &dp) {
    dpv1::ListServicesRequest req;
    dpv1::ListServicesResponse resp;
    grpc::ClientContext ctx;
    auto st = dp.stub->ListServices(with_deadline(&ctx), req, &resp);
    if (!st.ok()) {
        mark_down(dp, "ListServices", st);
        return false;
    }
    dp.held.clear();
    for (const auto &vs : resp.services()) {
        dp.held[service_key_text(vs.service().key())] = vs.service().SerializeAsString();
        next_version_ = std::max(next_version_, vs.version());
        if (opts_.prober)
            for (const auto &b : vs.service().backends())
                if (b.state() == dpv1::ACTIVE) adopted_.insert(b.id());
    }
    dp.need_full = false;
    std::lock_guard<std::mutex> lock(mu_);
    dp.st.full_syncs++;
    dp.st.instance_id = resp.instance_id();
    return true;
}

void dataplane_sync::push(dataplane &dp, const desired_services &want) {
    const bool full = dp.need_full || dp.resynced;
    dp.resynced = false;
    if (dp.need_full && !full_resync(dp)) return;
    dp.need_push = false;
    auto plan = plan_sync(want.services, dp.held, &next_version_);
    uint64_t puts = 0, deletes = 0;
    enum class put_result { ok, failed, down };
    // One PutService, again with a new version when the dataplane holds a newer one.
    auto put_one = [&](const dpv1::Service &svc, uint64_t version) {
        const std::string key = service_key_text(svc.key());
        for (int attempt = 0; attempt < 2; attempt++) {
            dpv1::PutServiceRequest req;
            *req.mutable_service() = svc;
            req.set_version(version);
            dpv1::PutServiceResponse resp;
            grpc::ClientContext ctx;
            auto st = dp.stub->PutService(with_deadline(&ctx), req, &resp);
            if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
                mark_down(dp, "PutService " + key, st);
                return put_result::down;
            }
            if (!st.ok()) {
                opts_.log(0, "Failed to put service " + key + " on dataplane " + dp.target + ": " +
                                 st.error_message());
                return put_result::failed;
            }
            if (resp.result() == dpv1::STALE) {
                // It holds a newer version than our counter (clock went back): jump past it.
                next_version_ = std::max(next_version_, resp.version());
                version = ++next_version_;
                continue;
            }
            dp.held[key] = svc.SerializeAsString();
            puts++;
            return put_result::ok;
        }
        return put_result::failed;
    };
    // Many services per PutServices call (one snapshot publication each on the dataplane),
    // in chunks that stay far below gRPC's 4 MB message limit.
    size_t next = 0;
    while (next < plan.puts.size() && dp.batch_puts && plan.puts.size() > 1) {
        dpv1::PutServicesRequest req;
        size_t bytes = 0;
        const size_t first = next;
        while (next < plan.puts.size() && req.puts_size() < static_cast<int>(max_batch_services) &&
               bytes < max_batch_bytes) {
            dpv1::PutServiceRequest *p = req.add_puts();
            *p->mutable_service() = plan.puts[next].first;
            p->set_version(plan.puts[next].second);
            bytes += p->ByteSizeLong();
            next++;
        }
        dpv1::PutServicesResponse resp;
        grpc::ClientContext ctx;
        auto st = dp.stub->PutServices(with_deadline(&ctx), req, &resp);
        if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
            opts_.log(2, "dataplane " + dp.target +
                             " has no PutServices (an older version): one call per service");
            dp.batch_puts = false;
            next = first;
            break;
        }
        if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
            st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
            mark_down(dp, "PutServices", st);
            return;
        }
        if (!st.ok() || resp.results_size() != req.puts_size()) {
            // Refused as a whole (one bad entry): one by one, so the others still go in and
            // the bad one is logged by itself.
            for (size_t i = first; i < next; i++)
                if (put_one(plan.puts[i].first, plan.puts[i].second) == put_result::down) return;
            continue;
        }
        for (size_t i = first; i < next; i++) {
            const auto &r = resp.results(static_cast<int>(i - first));
            const dpv1::Service &svc = plan.puts[i].first;
            if (r.result() == dpv1::STALE) {
                next_version_ = std::max(next_version_, r.version());
                if (put_one(svc, ++next_version_) == put_result::down) return;
                continue;
            }
            dp.held[service_key_text(svc.key())] = svc.SerializeAsString();
            puts++;
        }
    }
    for (; next < plan.puts.size(); next++)
        if (put_one(plan.puts[next].first, plan.puts[next].second) == put_result::down) return;
    for (const auto &[key, version] : plan.deletes) {
        const std::string text = service_key_text(key);
        dpv1::DeleteServiceRequest req;
        *req.mutable_key() = key;
        req.set_version(version);
        dpv1::DeleteServiceResponse resp;
        grpc::ClientContext ctx;
        auto st = dp.stub->DeleteService(with_deadline(&ctx), req, &resp);
        if (st.error_code() == grpc::StatusCode::UNAVAILABLE ||
            st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
            mark_down(dp, "DeleteService " + text, st);
            return;
        }
        if (!st.ok()) {
            opts_.log(0, "Failed to delete service " + text + " on dataplane " + dp.target + ": " +
                             st.error_message());
            continue;
        }
        dp.held.erase(text);
        deletes++;
    }
    if (!plan.puts.empty() || !plan.deletes.empty())
        opts_.log(3, "dataplane " + dp.target + ": " + std::to_string(puts) + " put, " +
                         std::to_string(deletes) + " deleted");
    {
        std::lock_guard<std::mutex> lock(mu_);
        dp.st.puts += puts;
        dp.st.deletes += deletes;
        dp.st.services = dp.held.size();
    }
    if (full)
        opts_.log(2, "dataplane " + dp.target + " in sync: " + std::to_string(dp.held.size()) +
                         " services");
}

void dataplane_sync::reconcile_prober(const desired_input &in) {
    if (!opts_.prober) return;
    auto want = probe_targets(in);
    std::map<std::string, std::string> next;
    for (const auto &t : want) {
        std::string id = t.t.key.service + "\n" + t.t.key.instance;
        std::string text = probe_target_text(t);
        next[id] = text;
        auto it = probe_targets_.find(id);
        if (it == probe_targets_.end() || it->second != text) opts_.prober->upsert(t.t, t.settings);
    }
    for (const auto &[id, text] : probe_targets_) {
        if (next.count(id)) continue;
        auto nl = id.find('\n');
        opts_.prober->remove({id.substr(0, nl), id.substr(nl + 1)});
    }
    probe_targets_ = std::move(next);
}

void dataplane_sync::run() {
    auto next_info = clock::now();
    for (;;) {
        bool changed, pending;
        clock::time_point since;
        {
            std::unique_lock<std::mutex> lock(mu_);
            cv_.wait_until(lock, next_info, [this] { return dirty_ || stopping_; });
            if (stopping_) return;
            changed = dirty_;
            dirty_ = false;
            pending = dirty_pending_;
            dirty_pending_ = false;
            since = dirty_since_;
        }
        if (clock::now() >= next_info) {
            for (auto &dp : dps_) check_info(*dp);
            // A dataplane that does not answer is asked more often, so a restarted one gets
            // its state soon after its socket appears (the channel reconnects within 100 ms).
            bool all_up = true;
            {
                std::lock_guard<std::mutex> lock(mu_);
                for (const auto &dp : dps_) all_up = all_up && dp->st.connected;
            }
            next_info =
                clock::now() + (all_up ? opts_.info_interval
                                       : std::min(opts_.info_interval, opts_.retry_interval));
        }
        bool need = changed;
        {
            std::lock_guard<std::mutex> lock(mu_);
            for (auto &dp : dps_)
                need = need || ((dp->need_full || dp->need_push) && dp->st.connected);
        }
        if (!need) continue;
        desired_input in;
        try {
            in = load_desired(*store_, static_cast<int64_t>(std::time(nullptr)));
        } catch (const store_error &e) {
            opts_.log(1, std::string("Failed to read the state for the dataplane: ") + e.what() +
                             "; retrying");
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            std::lock_guard<std::mutex> lock(mu_);
            dirty_ = true;
            if (pending && !dirty_pending_) {
                dirty_pending_ = true;
                dirty_since_ = since;
            }
            continue;
        }
        reconcile_prober(in);
        // A dataplane met for the first time (or restarted) is read before translating, so the
        // backends it holds ACTIVE are adopted (adopted_) while this process has not probed them.
        for (auto &dp : dps_) {
            bool up;
            {
                std::lock_guard<std::mutex> lock(mu_);
                up = dp->st.connected;
            }
            if (up && dp->need_full && full_resync(*dp)) dp->resynced = true;
        }
        auto want = translate(
            in, [this](const std::string &lb, const std::string &bs, const v1::Instance &inst) {
                auto h = health(lb, bs, inst);
                if (h == v1::INITIAL &&
                    adopted_.count(backend_id(lb, bs, inst.id(), inst.address())))
                    return v1::HEALTHY;
                return h;
            });
        // Adoption ends when the instance is judged or leaves the desired state.
        for (auto it = adopted_.begin(); it != adopted_.end();) {
            auto n = want.names.find(*it);
            bool keep = n != want.names.end();
            if (keep) {
                auto st = opts_.prober->state(
                    {probe_service_name(n->second.load_balancer, n->second.backend_service),
                     n->second.instance_id});
                keep = !st || st->st == health::status::initial;
            }
            it = keep ? std::next(it) : adopted_.erase(it);
        }
        {
            std::lock_guard<std::mutex> lock(mu_);
            names_ = want.names;
        }
        for (auto &dp : dps_) {
            bool up;
            {
                std::lock_guard<std::mutex> lock(mu_);
                up = dp->st.connected;
            }
            if (up) push(*dp, want);
        }
        if (pending) {
            auto took = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - since);
            std::lock_guard<std::mutex> lock(mu_);
            latency_.pushes++;
            latency_.last = took;
            latency_.max = std::max(latency_.max, took);
        }
    }
}

std::optional<std::map<uint64_t, int64_t>> dataplane_sync::poll_connections() {
    std::map<uint64_t, int64_t> counts;
    bool any = false;
    for (auto &dp : dps_) {
        dpv1::GetStatsRequest req;
        dpv1::GetStatsResponse resp;
        grpc::ClientContext ctx;
        if (!dp->stub->GetStats(with_deadline(&ctx), req, &resp).ok()) continue;
        any = true;
        for (const auto &svc : resp.services())
            for (const auto &b : svc.backends())
                counts[b.id()] += static_cast<int64_t>(b.counters().active_connections());
    }
    if (!any) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu_);
    connections_ = counts;
    return counts;
}

int64_t dataplane_sync::cached_connections(uint64_t backend_id) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = connections_.find(backend_id);
    return it == connections_.end() ? 0 : it->second;
}

uint64_t dataplane_sync::purge(uint64_t backend_id) {
    uint64_t reset = 0;
    for (auto &dp : dps_) {
        dpv1::PurgeBackendRequest req;
        req.set_backend_id(backend_id);
        dpv1::PurgeBackendResponse resp;
        grpc::ClientContext ctx;
        auto st = dp->stub->PurgeBackend(with_deadline(&ctx), req, &resp);
        if (st.ok())
            reset += resp.connections_reset();
        else
            opts_.log(1, "Failed to purge backend " + std::to_string(backend_id) +
                             " on dataplane " + dp->target + ": " + st.error_message());
    }
    return reset;
}

grpc::Status dataplane_sync::get_stats(const dpv1::GetStatsRequest &req,
                                       std::vector<dpv1::GetStatsResponse> *out) {
    grpc::Status last(grpc::StatusCode::UNAVAILABLE, "no dataplane connected");
    for (auto &dp : dps_) {
        dpv1::GetStatsResponse resp;
        grpc::ClientContext ctx;
        auto st = dp->stub->GetStats(with_deadline(&ctx), req, &resp);
        if (!st.ok()) {
            last = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "dataplane " + dp->target + ": " + st.error_message());
            continue;
        }
        out->push_back(std::move(resp));
    }
    return out->empty() ? last : grpc::Status::OK;
}

grpc::Status dataplane_sync::list_connections(const dpv1::ListConnectionsRequest &req, size_t limit,
                                              std::vector<dpv1::Connection> *out) {
    grpc::Status last(grpc::StatusCode::UNAVAILABLE, "no dataplane connected");
    bool any = false;
    for (auto &dp : dps_) {
        dpv1::ListConnectionsRequest page = req;
        for (;;) {
            if (out->size() >= limit) return grpc::Status::OK;
            page.set_page_size(static_cast<uint32_t>(std::min<size_t>(limit - out->size(), 10000)));
            dpv1::ListConnectionsResponse resp;
            grpc::ClientContext ctx;
            auto st = dp->stub->ListConnections(with_deadline(&ctx), page, &resp);
            if (!st.ok()) {
                last = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    "dataplane " + dp->target + ": " + st.error_message());
                break;
            }
            any = true;
            for (auto &c : *resp.mutable_connections()) {
                if (out->size() >= limit) break;
                out->push_back(std::move(c));
            }
            if (resp.next_page_token().empty()) break;
            page.set_page_token(resp.next_page_token());
        }
    }
    return any ? grpc::Status::OK : last;
}

}  // namespace nlb::control
