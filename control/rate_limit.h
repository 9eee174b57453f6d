/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-client token buckets for the calls that change the desired state
 * (nlb-control --rate-limit N/s --rate-burst B) of TCP clients. A client is
 * identified by its verified TLS certificate identity when it has one, else
 * by its peer address without the port ("ipv4:198.18.0.1"). Unix-socket
 * clients are not limited: they are local operators admitted by the socket's
 * mode and group, and gRPC does not tell one from another (no peer uid), so
 * one bucket for all of them would let one script starve the others.
 *
 * Thread safety: admit() may be called from any gRPC thread (one mutex).
 */
#pragma once

#include <grpcpp/grpcpp.h>

#include <google/protobuf/duration.pb.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <string>
#include <unordered_map>

#include "nlb.pb.h"

namespace nlb::control {

class rate_limiter {
  public:
    /** `per_second` <= 0 turns the limit off; `burst` < 1 means max(1, per_second). */
    rate_limiter(double per_second, double burst)
        : rate_(per_second), burst_(burst >= 1 ? burst : std::max(1.0, per_second)) {}

    bool enabled() const { return rate_ > 0; }

    /** The identity a call's bucket is kept under ("" for a unix-socket client: no limit). */
    static std::string identity(const grpc::ServerContext &ctx) {
        auto auth = ctx.auth_context();
        if (auth && auth->IsPeerAuthenticated()) {
            for (const auto &v : auth->GetPeerIdentity())
                return "tls:" + std::string(v.data(), v.size());
        }
        std::string peer = ctx.peer();
        if (peer.rfind("unix", 0) == 0) return "";
        auto colon = peer.rfind(':');
        auto first = peer.find(':');
        if (colon != std::string::npos && colon != first) peer.resize(colon);
        return peer;
    }

    /**
     * Takes one token from the caller's bucket: OK, or RESOURCE_EXHAUSTED
     * whose message says the limit and when to retry, with a
     * google.rpc.RetryInfo status detail carrying the same delay.
     */
    grpc::Status admit(const grpc::ServerContext &ctx) {
        if (!enabled()) return grpc::Status::OK;
        const std::string who = identity(ctx);
        if (who.empty()) return grpc::Status::OK;
        const auto now = std::chrono::steady_clock::now();
        double wait_s;
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (buckets_.size() > max_clients) forget_full(now);
            auto [it, fresh] = buckets_.try_emplace(who, bucket{burst_, now});
            bucket &b = it->second;
            if (!fresh) refill(b, now);
            if (b.tokens >= 1) {
                b.tokens -= 1;
                return grpc::Status::OK;
            }
            wait_s = (1 - b.tokens) / rate_;
        }
        auto ms = static_cast<int64_t>(std::ceil(wait_s * 1000));
        std::string msg = "rate limit exceeded: at most " + number(rate_) +
                          " changes per second (burst " + number(burst_) + ") per client (" +
                          who + "); retry in " + std::to_string(ms) + " ms";
        google::protobuf::Duration delay;
        delay.set_seconds(ms / 1000);
        delay.set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
        // google.rpc.RetryInfo { google.protobuf.Duration retry_delay = 1; }
        std::string d = delay.SerializeAsString();
        std::string retry_info = std::string(1, '\x0a') + static_cast<char>(d.size()) + d;
        nlb::v1::Status st;
        st.set_code(static_cast<int32_t>(grpc::StatusCode::RESOURCE_EXHAUSTED));
        st.set_message(msg);
        auto *any = st.add_details();
        any->set_type_url("type.googleapis.com/google.rpc.RetryInfo");
        any->set_value(retry_info);
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, msg, st.SerializeAsString());
    }

  private:
    struct bucket {
        double tokens;
        std::chrono::steady_clock::time_point at;
    };
    static constexpr size_t max_clients = 10000;

    void refill(bucket &b, std::chrono::steady_clock::time_point now) const {
        double dt = std::chrono::duration<double>(now - b.at).count();
        b.tokens = std::min(burst_, b.tokens + dt * rate_);
        b.at = now;
    }
    /** Drops the buckets that have refilled (they equal a fresh one). */
    void forget_full(std::chrono::steady_clock::time_point now) {
        for (auto it = buckets_.begin(); it != buckets_.end();) {
            refill(it->second, now);
            it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
        }
    }
    static std::string number(double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return buf;
    }

    const double rate_, burst_;
    std::mutex mu_;
    std::unordered_map<std::string, bucket> buckets_;
};

}  // namespace nlb::control
