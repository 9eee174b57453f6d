/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nlb.v1.LoadBalancing gRPC service: validates each request
 * (validation.h), checks the SPEC.md rules against the store, and applies
 * every change as one store transaction under one writer lock.
 *
 * Thread safety: handlers may be called from any gRPC thread; they serialise
 * on one mutex (DESIGN.md "One writer"). Errors: api_error.h codes.
 */
#pragma once

#include "api_error.h"
#include "instance_status.h"
#include "nlb.grpc.pb.h"
#include "rate_limit.h"
#include "store.h"

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace nlb::control {

class control_service final : public v1::LoadBalancing::Service {
  public:
    /** `now_unix` gives the wall clock used for draining deadlines (tests may fake it). */
    control_service(store &st, instance_status_source &health,
                    std::function<int64_t()> now_unix = {});

    using ctx = grpc::ServerContext;
    grpc::Status CreateLoadBalancer(ctx *, const v1::CreateLoadBalancerRequest *,
                                    v1::LoadBalancer *) override;
    grpc::Status GetLoadBalancer(ctx *, const v1::GetLoadBalancerRequest *,
                                 v1::LoadBalancer *) override;
    grpc::Status ListLoadBalancers(ctx *, const v1::ListLoadBalancersRequest *,
                                   v1::ListLoadBalancersResponse *) override;
    grpc::Status UpdateLoadBalancer(ctx *, const v1::UpdateLoadBalancerRequest *,
                                    v1::LoadBalancer *) override;
    grpc::Status DeleteLoadBalancer(ctx *, const v1::DeleteLoadBalancerRequest *,
                                    google::protobuf::Empty *) override;

    grpc::Status CreateListener(ctx *, const v1::CreateListenerRequest *, v1::Listener *) override;
    grpc::Status GetListener(ctx *, const v1::GetListenerRequest *, v1::Listener *) override;
    grpc::Status ListListeners(ctx *, const v1::ListListenersRequest *,
                               v1::ListListenersResponse *) override;
    grpc::Status UpdateListener(ctx *, const v1::UpdateListenerRequest *, v1::Listener *) override;
    grpc::Status DeleteListener(ctx *, const v1::DeleteListenerRequest *,
                                google::protobuf::Empty *) override;

    grpc::Status CreateBackendService(ctx *, const v1::CreateBackendServiceRequest *,
                                      v1::BackendService *) override;
    grpc::Status GetBackendService(ctx *, const v1::GetBackendServiceRequest *,
                                   v1::BackendService *) override;
    grpc::Status ListBackendServices(ctx *, const v1::ListBackendServicesRequest *,
                                     v1::ListBackendServicesResponse *) override;
    grpc::Status UpdateBackendService(ctx *, const v1::UpdateBackendServiceRequest *,
                                      v1::BackendService *) override;
    grpc::Status DeleteBackendService(ctx *, const v1::DeleteBackendServiceRequest *,
                                      google::protobuf::Empty *) override;
    grpc::Status SetServerGroup(ctx *, const v1::SetServerGroupRequest *,
                                v1::BackendService *) override;
    grpc::Status GetBackendServiceHealth(ctx *, const v1::GetBackendServiceHealthRequest *,
                                         v1::BackendServiceHealth *) override;

    grpc::Status CreateServerGroup(ctx *, const v1::CreateServerGroupRequest *,
                                   v1::ServerGroup *) override;
    grpc::Status GetServerGroup(ctx *, const v1::GetServerGroupRequest *,
                                v1::ServerGroupView *) override;
    grpc::Status ListServerGroups(ctx *, const v1::ListServerGroupsRequest *,
                                  v1::ListServerGroupsResponse *) override;
    grpc::Status UpdateServerGroup(ctx *, const v1::UpdateServerGroupRequest *,
                                   v1::ServerGroup *) override;
    grpc::Status DeleteServerGroup(ctx *, const v1::DeleteServerGroupRequest *,
                                   google::protobuf::Empty *) override;
    grpc::Status AddInstances(ctx *, const v1::AddInstancesRequest *, v1::ServerGroup *) override;
    grpc::Status RemoveInstances(ctx *, const v1::RemoveInstancesRequest *,
                                 v1::ServerGroup *) override;

    grpc::Status GetStats(ctx *, const v1::GetStatsRequest *, v1::Stats *) override;
    grpc::Status ListConnections(ctx *, const v1::ListConnectionsRequest *,
                                 v1::ListConnectionsResponse *) override;

    /**
     * Every call that changes the desired state first takes a token from
     * `limiter` (nullptr or a disabled limiter: no limit). Call before serving.
     */
    void set_rate_limiter(rate_limiter *limiter) { limiter_ = limiter; }

    /** Opaque page token for a list that continues after `last_name`. */
    static std::string page_token(const std::string &last_name);
    /** The name a page token continues after; throws INVALID_ARGUMENT on a bad token. */
    static std::string after_token(const std::string &token);

  private:
    /** Runs `f` under the writer lock, turning api_error/store_error into a status. */
    template <class F>
    grpc::Status run(F &&f) {
        std::lock_guard<std::mutex> lock(mu_);
        try {
            f();
            return grpc::Status::OK;
        } catch (const api_error &e) {
            return bounded(e).to_status();
        } catch (const store_error &e) {
            return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
        }
    }

    /**
     * `e` cut to fit in gRPC's trailers (a client refuses more than 8 KiB of
     * metadata, which would turn the answer into "metadata size exceeds
     * limit"): each field and description at most 200 characters, the message
     * at most about 2000 ("...; and N more violations"), so a request with many
     * bad fields or a huge value still gets a readable INVALID_ARGUMENT.
     */
    static api_error bounded(const api_error &e);

    /** run() for a call that changes the state: the caller's rate limit first (c may be null). */
    template <class F>
    grpc::Status run_change(ctx *c, F &&f) {
        if (limiter_ && c) {
            auto st = limiter_->admit(*c);
            if (!st.ok()) return st;
        }
        return run(std::forward<F>(f));
    }

    v1::LoadBalancer must_lb(const std::string &name);
    v1::BackendService must_bs(const std::string &lb, const std::string &name);
    v1::ServerGroup must_sg(const std::string &name);
    /** Rule 1: listener protocol must match the backend service's. */
    static void check_protocol_match(const v1::Listener &l, const v1::BackendService &bs);
    /** Rule 2: the group must be in the load balancer's region, VPC and zone. */
    static void check_placement(const v1::LoadBalancer &lb, const v1::ServerGroup &sg);
    /**
     * Moves backend service `bs` (stored state `before`) to group `after_group`:
     * checks placement, records draining for instances that leave (rule 7) and
     * forgets draining records of instances that (re)join.
     */
    void change_group(const v1::BackendService &before, const std::string &after_group);
    /** Instances `gone` left group `sg`: each backend service using it drains them. */
    void instances_left(const v1::ServerGroup &sg, const std::vector<v1::Instance> &gone,
                        const std::vector<v1::Instance> &joined);
    void drain(const v1::BackendService &bs, const v1::ServerGroupType type,
               const v1::Instance &in);
    v1::InstanceHealth member_health(const v1::BackendService &bs, const v1::ServerGroup &sg,
                                     const v1::Instance &in);

    std::mutex mu_;
    store &store_;
    instance_status_source &health_;
    std::function<int64_t()> now_unix_;
    rate_limiter *limiter_ = nullptr;
};

}  // namespace nlb::control
